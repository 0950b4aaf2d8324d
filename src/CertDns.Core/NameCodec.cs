namespace CertDns.Core;

/// <summary>
/// What <see cref="NameCodec.Decode"/> read from a name: the same facts as <see cref="QueryName"/>, with the
/// digest written to the caller's span instead of an array.
/// </summary>
/// <param name="Kind">How to answer it.</param>
/// <param name="View">The view label, if any.</param>
/// <param name="IsKey">Whether <c>.key</c> marks a SubjectPublicKeyInfo fingerprint.</param>
/// <param name="Digest">The digest kind, for <see cref="NameKind.Fingerprint"/>.</param>
/// <param name="DigestLength">How many octets of the digest span were written.</param>
/// <param name="UnknownIsNoData">An unregistered fingerprint answers NODATA, not NXDOMAIN (see <see cref="QueryName"/>).</param>
/// <param name="TestStatus">The status a test entry stands for.</param>
public readonly record struct DecodedName(
    NameKind Kind,
    ZoneView View = ZoneView.Combined,
    bool IsKey = false,
    DigestKind Digest = DigestKind.Sha256,
    int DigestLength = 0,
    bool UnknownIsNoData = false,
    CertStatus TestStatus = CertStatus.Unknown);

/// <summary>
/// SPEC section 1 over wire-format labels, without allocating: the one query-name decoder, used per packet by
/// the DNS responder and, through <see cref="QueryName.Parse(IReadOnlyList{string})"/>, by the CLI.
/// </summary>
public static class NameCodec
{
    /// <summary>The longest digest a name carries (SHA-256).</summary>
    public const int MaxDigestLength = 32;

    private const int MaxLabels = 127;

    private static readonly byte[][] TestLabels = [.. QueryName.TestEntries.Keys.Select(k => System.Text.Encoding.ASCII.GetBytes(k))];
    private static readonly CertStatus[] TestStatuses = [.. QueryName.TestEntries.Values];

    /// <summary>Decodes the labels below the apex.</summary>
    /// <param name="labels">Length-prefixed labels, leftmost first, without the apex and the root octet (the wire form).
    /// Each length is at most 63 and the labels fill the span exactly; anything else decodes as non-existent.</param>
    /// <param name="digest">At least <see cref="MaxDigestLength"/> octets for the decoded digest.</param>
    public static DecodedName Decode(ReadOnlySpan<byte> labels, Span<byte> digest)
    {
        Span<byte> starts = stackalloc byte[MaxLabels];
        int count = 0;
        for (int pos = 0; pos < labels.Length; pos += 1 + labels[pos])
        {
            int length = labels[pos];
            if (length is 0 or > QueryName.MaxLabelLength || pos + 1 + length > labels.Length || count == MaxLabels || pos > byte.MaxValue)
                return new DecodedName(NameKind.NonExistent);
            starts[count++] = (byte)pos;
        }
        if (count == 0) return new DecodedName(NameKind.Apex);

        // Reserved labels are read right to left from the apex: the view, then the key marker.
        int end = count;
        var view = ZoneView.Combined;
        if (Is(labels, starts[end - 1], "bl"u8)) { view = ZoneView.Block; end--; }
        else if (Is(labels, starts[end - 1], "wl"u8)) { view = ZoneView.Allow; end--; }
        bool isKey = false;
        if (end > 0 && Is(labels, starts[end - 1], "key"u8)) { isKey = true; end--; }
        // The view and key labels exist as prefixes of every name below them.
        if (end == 0) return new DecodedName(NameKind.EmptyNonTerminal, view, isKey);

        if (!isKey)
        {
            // The label next to the apex (or the view) decides for every name below it (RFC 8020 section 2): invalid and
            // the test entries are leaves, so below them nothing exists, whatever the rest would read as.
            int top = starts[end - 1];
            if (Is(labels, top, "invalid"u8)) return new DecodedName(NameKind.NonExistent, view);
            for (int i = 0; i < TestLabels.Length; i++)
            {
                if (!Is(labels, top, TestLabels[i])) continue;
                return end == 1 ? new DecodedName(NameKind.TestEntry, view, TestStatus: TestStatuses[i]) : new DecodedName(NameKind.NonExistent, view);
            }
        }

        if (TryDecodeHex(labels, starts[..end], digest, out int octets))
        {
            var digestKind = octets switch { 32 => DigestKind.Sha256, 28 => DigestKind.Sha256Prefix, 20 => DigestKind.Sha1, _ => DigestKind.Md5 };
            return new DecodedName(NameKind.Fingerprint, view, isKey, digestKind, octets, UnknownIsNoData: octets < 32);
        }

        int joined = 0;
        bool hex = true, base32 = true;
        for (int i = 0; i < end; i++)
        {
            var label = Label(labels, starts[i]);
            joined += label.Length;
            foreach (var c in label)
            {
                hex &= char.IsAsciiHexDigit((char)c);
                base32 &= char.IsAsciiLetter((char)c) || c is >= (byte)'2' and <= (byte)'7';
            }
        }

        if (hex)
        {
            if (joined > 64) return new DecodedName(NameKind.NonExistent, view, isKey);
            // A 52-char label made only of a-f and 2-7 is valid base32 too: try it as SHA-256.
            if (end == 1 && joined == 52 && base32 && TryDecodeBase32(Label(labels, 0), digest))
                return new DecodedName(NameKind.Fingerprint, view, isKey, DigestKind.Sha256, 32, UnknownIsNoData: true);
            DigestKind kind;
            switch (joined)
            {
                case 64: kind = DigestKind.Sha256; break;
                case 56: kind = DigestKind.Sha256Prefix; break;
                case 40: kind = DigestKind.Sha1; break;
                case 32: kind = DigestKind.Md5; break;
                default: return new DecodedName(NameKind.EmptyNonTerminal, view, isKey);
            }
            int nibble = 0;
            for (int i = 0; i < end; i++)
            {
                foreach (var c in Label(labels, starts[i]))
                {
                    int v = HexValue(c);
                    if ((nibble & 1) == 0) digest[nibble >> 1] = (byte)(v << 4);
                    else digest[nibble >> 1] |= (byte)v;
                    nibble++;
                }
            }
            return new DecodedName(NameKind.Fingerprint, view, isKey, kind, joined / 2, UnknownIsNoData: joined < 64);
        }

        if (base32)
        {
            // Below a 52-character base32 label (not all hex) nothing can exist: that label is a whole SHA-256 name, or
            // no name at all, and either way NXDOMAIN covers what is under it (RFC 8020 section 2).
            if (end > 1 && labels[starts[end - 1]] == 52) return new DecodedName(NameKind.NonExistent, view, isKey);
            if (end == 1 && joined == 52)
            {
                return TryDecodeBase32(Label(labels, 0), digest)
                    ? new DecodedName(NameKind.Fingerprint, view, isKey, DigestKind.Sha256, 32)
                    : new DecodedName(NameKind.NonExistent, view, isKey);
            }
            // SPEC: all-base32 names shorter than 64 answer NODATA, whatever they may become.
            if (joined < 64) return new DecodedName(NameKind.EmptyNonTerminal, view, isKey);
        }
        return new DecodedName(NameKind.NonExistent, view, isKey);
    }

    /// <summary>
    /// The names asked most, a whole digest in hex in labels of even length (the split SHA-256 form is two of 32):
    /// each label checked and decoded in one vectorised pass. False for anything else (a label of odd length, another
    /// length in all, a character that is not hex), which the character loops of <see cref="Decode"/> then read: a
    /// profile of serve at 100k put a fifth of its CPU in those loops, one branch per character each.
    /// </summary>
    private static bool TryDecodeHex(ReadOnlySpan<byte> labels, ReadOnlySpan<byte> starts, Span<byte> digest, out int octets)
    {
        octets = 0;
        int joined = 0;
        foreach (var start in starts)
        {
            if ((labels[start] & 1) != 0) return false;
            joined += labels[start];
        }
        // 52 is not here: a 52-character label may be base32 as well, which the loops decide.
        if (joined is not (64 or 56 or 40 or 32)) return false;
        foreach (var start in starts)
        {
            if (Convert.FromHexString(Label(labels, start), digest[octets..], out _, out int written) != System.Buffers.OperationStatus.Done)
                return false;
            octets += written;
        }
        return true;
    }

    private static ReadOnlySpan<byte> Label(ReadOnlySpan<byte> labels, int start) => labels.Slice(start + 1, labels[start]);

    /// <summary>RFC 4343: ASCII case-insensitive; <paramref name="lower"/> is lower case.</summary>
    private static bool Is(ReadOnlySpan<byte> labels, int start, ReadOnlySpan<byte> lower)
    {
        var label = Label(labels, start);
        if (label.Length != lower.Length) return false;
        for (int i = 0; i < label.Length; i++)
        {
            int c = label[i];
            if (c is >= 'A' and <= 'Z') c |= 0x20;
            if (c != lower[i]) return false;
        }
        return true;
    }

    private static int HexValue(byte c) => c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10;

    /// <summary>Unpadded RFC 4648 base32 of 52 characters into 32 octets; false when the spare bits are not zero.</summary>
    private static bool TryDecodeBase32(ReadOnlySpan<byte> text, Span<byte> bytes)
    {
        int buffer = 0, bits = 0, i = 0;
        foreach (var ch in text)
        {
            int c = ch | 0x20;
            int v = c is >= 'a' and <= 'z' ? c - 'a' : ch is >= (byte)'2' and <= (byte)'7' ? ch - '2' + 26 : -1;
            if (v < 0) return false;
            buffer = (buffer << 5) | v;
            bits += 5;
            if (bits >= 8)
            {
                bytes[i++] = (byte)(buffer >> (bits - 8));
                bits -= 8;
            }
            buffer &= (1 << bits) - 1;
        }
        // Non-canonical encodings (spare bits set) would give two names for one digest.
        return buffer == 0;
    }
}
