using System.Formats.Asn1;

namespace CertDns.Pki;

/// <summary>
/// A forward-only DER reader over a span that remembers absolute offsets, so callers can keep slices of the
/// original bytes instead of copies. A ref struct: walking a million entries allocates nothing.
/// </summary>
internal ref struct DerCursor
{
    private const AsnEncodingRules Rules = AsnEncodingRules.DER;
    private readonly ReadOnlySpan<byte> _data;
    private readonly int _base;
    private int _pos;

    public DerCursor(ReadOnlySpan<byte> data, int baseOffset)
    {
        _data = data;
        _base = baseOffset;
        _pos = 0;
    }

    public readonly bool HasData => _pos < _data.Length;

    /// <summary>Absolute offset of the next element in the original buffer.</summary>
    public readonly int Offset => _base + _pos;

    public readonly int Remaining => _data.Length - _pos;

    private readonly ReadOnlySpan<byte> Rest => _data[_pos..];

    public readonly Asn1Tag PeekTag() => Asn1Tag.Decode(Rest, out _);

    /// <summary>Whether the next element has this class and number (constructed or not).</summary>
    public readonly bool NextIs(Asn1Tag tag) => HasData && PeekTag().HasSameClassAndValue(tag);

    /// <summary>Reads a constructed element with the given tag and returns a cursor over its contents.</summary>
    public DerCursor ReadConstructed(Asn1Tag tag, string what)
    {
        var actual = Asn1Tag.Decode(Rest, out _);
        if (!actual.HasSameClassAndValue(tag) || !actual.IsConstructed)
        {
            throw new AsnContentException($"{what}: expected {Describe(tag)}, found {Describe(actual)}");
        }
        AsnDecoder.ReadEncodedValue(Rest, Rules, out int contentOffset, out int contentLength, out int consumed);
        var inner = new DerCursor(_data.Slice(_pos + contentOffset, contentLength), _base + _pos + contentOffset);
        _pos += consumed;
        return inner;
    }

    public DerCursor ReadSequence(string what) => ReadConstructed(Asn1Tag.Sequence, what);

    /// <summary>Reads any element and returns its whole encoding (tag, length, contents).</summary>
    public ReadOnlySpan<byte> ReadEncoded(out int absoluteOffset)
    {
        absoluteOffset = Offset;
        AsnDecoder.ReadEncodedValue(Rest, Rules, out _, out _, out int consumed);
        var encoded = _data.Slice(_pos, consumed);
        _pos += consumed;
        return encoded;
    }

    /// <summary>The next element's whole encoding, without consuming it.</summary>
    public readonly ReadOnlySpan<byte> PeekEncoded()
    {
        AsnDecoder.ReadEncodedValue(Rest, Rules, out _, out _, out int consumed);
        return _data.Slice(_pos, consumed);
    }

    /// <summary>Reads a primitive element with the given tag and returns its contents.</summary>
    public ReadOnlySpan<byte> ReadPrimitive(Asn1Tag tag, string what, out int absoluteOffset)
    {
        var actual = Asn1Tag.Decode(Rest, out _);
        if (!actual.HasSameClassAndValue(tag) || actual.IsConstructed)
        {
            throw new AsnContentException($"{what}: expected {Describe(tag)}, found {Describe(actual)}");
        }
        AsnDecoder.ReadEncodedValue(Rest, Rules, out int contentOffset, out int contentLength, out int consumed);
        absoluteOffset = _base + _pos + contentOffset;
        var content = _data.Slice(_pos + contentOffset, contentLength);
        _pos += consumed;
        return content;
    }

    /// <summary>Reads an INTEGER and returns its two's-complement content octets (validated minimal).</summary>
    public ReadOnlySpan<byte> ReadInteger(out int absoluteOffset, Asn1Tag? tag = null)
    {
        absoluteOffset = Offset + HeaderLength();
        var value = AsnDecoder.ReadIntegerBytes(Rest, Rules, out int consumed, tag);
        _pos += consumed;
        return value;
    }

    public System.Numerics.BigInteger ReadBigInteger(Asn1Tag? tag = null)
    {
        var value = AsnDecoder.ReadInteger(Rest, Rules, out int consumed, tag);
        _pos += consumed;
        return value;
    }

    public bool ReadBoolean(Asn1Tag? tag = null)
    {
        var value = AsnDecoder.ReadBoolean(Rest, Rules, out int consumed, tag);
        _pos += consumed;
        return value;
    }

    public ReadOnlySpan<byte> ReadOctetString(out int absoluteOffset, Asn1Tag? tag = null)
    {
        absoluteOffset = Offset + HeaderLength();
        // DER forbids the constructed form, so the contents are one contiguous slice.
        if (!AsnDecoder.TryReadPrimitiveOctetString(Rest, Rules, out var value, out int consumed, tag))
        {
            throw new AsnContentException("constructed OCTET STRING in DER");
        }
        _pos += consumed;
        return value;
    }

    public ReadOnlySpan<byte> ReadBitString(out int unusedBits, Asn1Tag? tag = null)
    {
        if (!AsnDecoder.TryReadPrimitiveBitString(Rest, Rules, out unusedBits, out var value, out int consumed, tag))
        {
            throw new AsnContentException("constructed BIT STRING in DER");
        }
        _pos += consumed;
        return value;
    }

    public string ReadObjectIdentifier()
    {
        var value = AsnDecoder.ReadObjectIdentifier(Rest, Rules, out int consumed);
        _pos += consumed;
        return value;
    }

    /// <summary>Reads an OBJECT IDENTIFIER and returns its content octets without decoding them.</summary>
    public ReadOnlySpan<byte> ReadObjectIdentifierBytes()
    {
        var content = ReadPrimitive(Asn1Tag.ObjectIdentifier, "OBJECT IDENTIFIER", out _);
        if (content.IsEmpty || (content[^1] & 0x80) != 0)
        {
            throw new AsnContentException("malformed OBJECT IDENTIFIER");
        }
        return content;
    }

    public string ReadCharacterString(UniversalTagNumber type, Asn1Tag? tag = null)
    {
        var value = AsnDecoder.ReadCharacterString(Rest, Rules, type, out int consumed, tag);
        _pos += consumed;
        return value;
    }

    /// <summary>Reads a Time (UTCTime or GeneralizedTime) under DER rules: Z-terminated, with seconds.</summary>
    public DateTimeOffset ReadTime(string what)
    {
        try
        {
            var tag = PeekTag();
            DateTimeOffset value;
            int consumed;
            if (tag.HasSameClassAndValue(Asn1Tag.UtcTime))
            {
                // RFC 5280 4.1.2.5.1: YY >= 50 means 19YY.
                value = AsnDecoder.ReadUtcTime(Rest, Rules, out consumed, twoDigitYearMax: 2049);
            }
            else if (tag.HasSameClassAndValue(Asn1Tag.GeneralizedTime))
            {
                value = AsnDecoder.ReadGeneralizedTime(Rest, Rules, out consumed);
            }
            else
            {
                throw new CrlFormatException($"{what} is not a UTCTime or GeneralizedTime");
            }
            _pos += consumed;
            return value;
        }
        catch (AsnContentException)
        {
            throw new CrlFormatException($"invalid time encoding in {what}");
        }
    }

    private readonly int HeaderLength()
    {
        AsnDecoder.ReadEncodedValue(Rest, Rules, out int contentOffset, out _, out _);
        return contentOffset;
    }

    public readonly void EnsureEnd(string what)
    {
        if (HasData)
        {
            throw new CrlFormatException($"unexpected data after {what}");
        }
    }

    private static string Describe(Asn1Tag tag) => tag.TagClass == TagClass.Universal
        ? ((UniversalTagNumber)tag.TagValue).ToString()
        : $"[{tag.TagValue}]";
}

/// <summary>Internal signal for a precise refusal reason; turned into <see cref="CertDns.Core.BadInputException"/> at the boundary.</summary>
internal sealed class CrlFormatException(string reason) : Exception(reason);

internal static class DerUtil
{
    /// <summary>
    /// Drops leading zero octets of an INTEGER's contents, so 00 8f and 8f give the same key; zero stays one 00.
    /// </summary>
    public static ReadOnlySpan<byte> TrimSerial(ReadOnlySpan<byte> contents)
    {
        int i = 0;
        while (i < contents.Length - 1 && contents[i] == 0) i++;
        return IsNegative(contents) ? NegativeKey(contents) : contents[i..];
    }

    /// <summary>A negative serial (non-conforming, RFC 5280 4.1.2.2, but PKITS 4.4.14 has one).</summary>
    public static bool IsNegative(ReadOnlySpan<byte> contents) => contents.Length > 0 && (contents[0] & 0x80) != 0;

    /// <summary>
    /// The key of a negative serial: 00 before its contents. Trimmed positive serials never start with 00 unless
    /// they are zero, so -1 (ff) and 255 (00 ff, trimmed to ff) no longer collide.
    /// </summary>
    public static byte[] NegativeKey(ReadOnlySpan<byte> contents) => [0x00, .. contents];

    /// <summary>Offset of the first byte after the leading zeros that <see cref="TrimSerial"/> drops.</summary>
    public static int TrimSerialOffset(ReadOnlySpan<byte> contents)
    {
        int i = 0;
        while (i < contents.Length - 1 && contents[i] == 0) i++;
        return i;
    }

    /// <summary>
    /// Reads the tag and definite length of the element at the start of <paramref name="data"/> without requiring
    /// its contents to be present; false when the header itself is malformed or cut short.
    /// </summary>
    public static bool TryReadHeader(ReadOnlySpan<byte> data, out byte tag, out int headerLength, out long contentLength)
    {
        tag = 0;
        headerLength = 0;
        contentLength = 0;
        if (data.Length < 2) return false;
        tag = data[0];
        if ((tag & 0x1F) == 0x1F) return false;
        byte first = data[1];
        if (first < 0x80)
        {
            headerLength = 2;
            contentLength = first;
            return true;
        }
        int count = first & 0x7F;
        if (count == 0 || count > 4 || data.Length < 2 + count) return false;
        long length = 0;
        for (int i = 0; i < count; i++) length = (length << 8) | data[2 + i];
        headerLength = 2 + count;
        contentLength = length;
        return true;
    }
}
