using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;

namespace CertDns.Dns;

/// <summary>What the check of a request's TSIG found (RFC 8945 section 5.2).</summary>
internal enum TsigStatus
{
    /// <summary>The TSIG verified, within the time window.</summary>
    Valid,

    /// <summary>A TSIG out of place or malformed (section 5.1, 5.2.2.3): FORMERR, nothing signed.</summary>
    FormErr,

    /// <summary>No key by that name and algorithm (section 5.2.1): NOTAUTH/BADKEY, unsigned.</summary>
    BadKey,

    /// <summary>The MAC does not verify (section 5.2.2): NOTAUTH/BADSIG, unsigned.</summary>
    BadSig,

    /// <summary>The MAC verifies but the time is outside the fudge (section 5.2.3): NOTAUTH/BADTIME, signed.</summary>
    BadTime,

    /// <summary>A truncated MAC (section 5.2.2.3): CertDns takes only full-length MACs: NOTAUTH/BADTRUNC, unsigned.</summary>
    BadTrunc,
}

/// <summary>A request's TSIG as read and checked: what the response needs to answer or sign it.</summary>
internal sealed class TsigRequest
{
    public TsigStatus Status { get; init; }

    /// <summary>The key, for <see cref="TsigStatus.Valid"/> and <see cref="TsigStatus.BadTime"/>.</summary>
    public TsigKey? Key { get; init; }

    /// <summary>The key name and algorithm as the request gave them (canonical wire form), echoed in errors.</summary>
    public byte[] NameWire { get; init; } = [];

    public byte[] AlgorithmWire { get; init; } = [];

    public ulong TimeSigned { get; init; }

    public byte[] Mac { get; init; } = [];

    public ushort OriginalId { get; init; }

    /// <summary>Where the TSIG record starts: the message before it is what the MAC covers.</summary>
    public int Start { get; init; }

    public static readonly TsigRequest Malformed = new() { Status = TsigStatus.FormErr };
}

/// <summary>
/// TSIG (RFC 8945) on the wire: reads and checks a request's TSIG, signs responses and every message of a zone transfer
/// (section 5.3.1), and signs NOTIFY requests and checks their answers. HMAC over the digest components of section 4.3;
/// MACs compared in constant time. Truncated MACs (section 5.2.2.3) are refused: BADTRUNC for a well-formed one, FORMERR
/// for one under 10 octets or half the hash.
/// </summary>
internal static class Tsig
{
    public const ushort Type = 250;
    public const ushort ClassAny = 255;
    public const int NotAuth = 9;
    public const ushort BadSig = 16, BadKey = 17, BadTime = 18, BadTrunc = 22;

    /// <summary>The time window we sign with; RFC 8945 section 10 recommends 300 seconds.</summary>
    public const ushort Fudge = 300;

    /// <summary>Room a TSIG record needs at most: key name, algorithm name, the fixed fields, a 64-octet MAC, 6 of other data.</summary>
    public static int MaxRecordLength(TsigKey key) => key.NameWire.Length + 10 + key.AlgorithmWire.Length + 16 + 64 + 6;

    /// <summary>
    /// Finds and checks the TSIG of <paramref name="message"/>: null when there is none (or the message is too broken
    /// to tell: the responder then says FORMERR). Allocates nothing for a message without a TSIG. The clock is read
    /// only for a MAC that verified, to judge its time; a null one leaves the time to the caller
    /// (<see cref="VerifyResponse"/> judges it after verifying again with the request's MAC).
    /// </summary>
    public static TsigRequest? Check(ReadOnlySpan<byte> message, IReadOnlyList<TsigKey> keys, TimeProvider? clock)
    {
        if (message.Length < DnsQuery.HeaderLength) return null;
        int arCount = BinaryPrimitives.ReadUInt16BigEndian(message[10..]);
        if (arCount == 0) return null;
        int tsigAt = Locate(message, out bool misplaced);
        if (misplaced) return TsigRequest.Malformed;
        if (tsigAt < 0) return null;

        int pos = tsigAt;
        Span<byte> name = stackalloc byte[256];
        Span<byte> algorithm = stackalloc byte[256];
        if (!ReadName(message, ref pos, name, out int nameLength) || pos + 10 > message.Length) return TsigRequest.Malformed;
        ushort @class = BinaryPrimitives.ReadUInt16BigEndian(message[(pos + 2)..]);
        uint ttl = BinaryPrimitives.ReadUInt32BigEndian(message[(pos + 4)..]);
        int rdEnd = pos + 10 + BinaryPrimitives.ReadUInt16BigEndian(message[(pos + 8)..]);
        pos += 10;
        // Section 4.2: CLASS ANY, TTL 0; the record is the message's last octets.
        if (@class != ClassAny || ttl != 0 || rdEnd != message.Length) return TsigRequest.Malformed;
        if (!ReadName(message, ref pos, algorithm, out int algorithmLength) || pos + 10 > rdEnd) return TsigRequest.Malformed;
        ulong time = ReadU48(message[pos..]);
        ushort fudge = BinaryPrimitives.ReadUInt16BigEndian(message[(pos + 6)..]);
        int macSize = BinaryPrimitives.ReadUInt16BigEndian(message[(pos + 8)..]);
        pos += 10;
        if (pos + macSize + 6 > rdEnd) return TsigRequest.Malformed;
        var mac = message.Slice(pos, macSize);
        pos += macSize;
        ushort originalId = BinaryPrimitives.ReadUInt16BigEndian(message[pos..]);
        ushort error = BinaryPrimitives.ReadUInt16BigEndian(message[(pos + 2)..]);
        int otherLength = BinaryPrimitives.ReadUInt16BigEndian(message[(pos + 4)..]);
        var other = message.Slice(pos + 6, Math.Max(0, Math.Min(otherLength, rdEnd - pos - 6)));
        if (pos + 6 + otherLength != rdEnd) return TsigRequest.Malformed;

        var nameWire = name[..nameLength].ToArray();
        var algorithmWire = algorithm[..algorithmLength].ToArray();
        TsigKey? key = null;
        foreach (var k in keys)
        {
            if (k.NameWire.AsSpan().SequenceEqual(nameWire) && k.AlgorithmWire.AsSpan().SequenceEqual(algorithmWire))
            {
                key = k;
                break;
            }
        }
        var macCopy = mac.ToArray();
        TsigRequest Result(TsigStatus status, TsigKey? k) => new()
        {
            Status = status, Key = k, NameWire = nameWire, AlgorithmWire = algorithmWire, TimeSigned = time,
            Mac = status is TsigStatus.Valid or TsigStatus.BadTime ? macCopy : [], OriginalId = originalId, Start = tsigAt,
        };
        if (key is null) return Result(TsigStatus.BadKey, null);
        // Section 5.2.2.3: longer than the hash, or shorter than 10 octets or half the hash, is FORMERR.
        if (macSize > key.MacLength || macSize < 10 || macSize < key.MacLength / 2) return TsigRequest.Malformed;
        if (macSize < key.MacLength) return Result(TsigStatus.BadTrunc, key);

        Span<byte> expected = stackalloc byte[64];
        int written = Compute(key, [], message[..tsigAt], (ushort)(arCount - 1), originalId, timersOnly: false, time, fudge, error, other, expected);
        if (!CryptographicOperations.FixedTimeEquals(expected[..written], mac)) return Result(TsigStatus.BadSig, null);
        // The clock is read only here, for a signed request: most queries carry no TSIG, and a reading costs.
        if (clock is not null && Math.Abs(clock.GetUtcNow().ToUnixTimeSeconds() - (long)time) > fudge) return Result(TsigStatus.BadTime, key);
        return Result(TsigStatus.Valid, key);
    }

    /// <summary>
    /// Where the TSIG record starts, or -1 without one. <paramref name="misplaced"/> when a TSIG is anywhere but last in
    /// the additional section (section 5.1: FORMERR). A message whose sections cannot be walked has no TSIG here.
    /// </summary>
    internal static int Locate(ReadOnlySpan<byte> m, out bool misplaced)
    {
        misplaced = false;
        int qd = BinaryPrimitives.ReadUInt16BigEndian(m[4..]);
        int records = BinaryPrimitives.ReadUInt16BigEndian(m[6..]) + BinaryPrimitives.ReadUInt16BigEndian(m[8..]) + BinaryPrimitives.ReadUInt16BigEndian(m[10..]);
        int pos = DnsQuery.HeaderLength;
        for (int i = 0; i < qd; i++)
        {
            if (!DnsQuery.SkipName(m, ref pos) || pos + 4 > m.Length) return -1;
            pos += 4;
        }
        int found = -1;
        for (int i = 0; i < records; i++)
        {
            int start = pos;
            if (!DnsQuery.SkipName(m, ref pos) || pos + 10 > m.Length) return -1;
            ushort type = BinaryPrimitives.ReadUInt16BigEndian(m[pos..]);
            pos += 10 + BinaryPrimitives.ReadUInt16BigEndian(m[(pos + 8)..]);
            if (pos > m.Length) return -1;
            if (type != Type) continue;
            if (i != records - 1 || BinaryPrimitives.ReadUInt16BigEndian(m[10..]) == 0)
            {
                misplaced = true;
                return -1;
            }
            found = start;
        }
        return found;
    }

    /// <summary>
    /// The MAC of section 4.3: the prior MAC (length first) when there is one, the message as it is without its TSIG
    /// (with the original ID and <paramref name="arCount"/>), then the TSIG variables, or only the timers (section 5.3.1).
    /// </summary>
    internal static int Compute(TsigKey key, ReadOnlySpan<byte> priorMac, ReadOnlySpan<byte> message, ushort arCount, ushort originalId,
        bool timersOnly, ulong time, ushort fudge, ushort error, ReadOnlySpan<byte> other, Span<byte> mac)
    {
        using var hmac = key.CreateHmac();
        Span<byte> two = stackalloc byte[2];
        if (!priorMac.IsEmpty || timersOnly)
        {
            BinaryPrimitives.WriteUInt16BigEndian(two, (ushort)priorMac.Length);
            hmac.AppendData(two);
            hmac.AppendData(priorMac);
        }
        BinaryPrimitives.WriteUInt16BigEndian(two, originalId);
        hmac.AppendData(two);
        hmac.AppendData(message[2..10]);
        BinaryPrimitives.WriteUInt16BigEndian(two, arCount);
        hmac.AppendData(two);
        hmac.AppendData(message[DnsQuery.HeaderLength..]);
        Span<byte> variables = stackalloc byte[256 + 8 + 256 + 16];
        int at = 0;
        if (!timersOnly)
        {
            key.NameWire.CopyTo(variables);
            at = key.NameWire.Length;
            BinaryPrimitives.WriteUInt16BigEndian(variables[at..], ClassAny);
            BinaryPrimitives.WriteUInt32BigEndian(variables[(at + 2)..], 0);
            at += 6;
            key.AlgorithmWire.CopyTo(variables[at..]);
            at += key.AlgorithmWire.Length;
        }
        WriteU48(variables[at..], time);
        BinaryPrimitives.WriteUInt16BigEndian(variables[(at + 6)..], fudge);
        at += 8;
        if (!timersOnly)
        {
            BinaryPrimitives.WriteUInt16BigEndian(variables[at..], error);
            BinaryPrimitives.WriteUInt16BigEndian(variables[(at + 2)..], (ushort)other.Length);
            at += 4;
        }
        hmac.AppendData(variables[..at]);
        if (!timersOnly) hmac.AppendData(other);
        return hmac.GetHashAndReset(mac);
    }

    /// <summary>
    /// Signs the response in <paramref name="buffer"/> (<paramref name="length"/> octets) to a request whose MAC was
    /// <paramref name="requestMac"/>, appending the TSIG record; returns the new length, or 0 when it does not fit.
    /// </summary>
    public static int SignResponse(Span<byte> buffer, int length, TsigKey key, ReadOnlySpan<byte> requestMac, ushort originalId, ulong time,
        ushort error = 0, ReadOnlySpan<byte> other = default)
    {
        Span<byte> mac = stackalloc byte[64];
        ushort arCount = BinaryPrimitives.ReadUInt16BigEndian(buffer[10..]);
        int macLength = Compute(key, requestMac, buffer[..length], arCount, originalId, timersOnly: false, time, Fudge, error, other, mac);
        return Append(buffer, length, key.NameWire, key.AlgorithmWire, time, mac[..macLength], originalId, error, other);
    }

    /// <summary>Appends a TSIG record and counts it in ARCOUNT; 0 when it does not fit.</summary>
    internal static int Append(Span<byte> buffer, int length, ReadOnlySpan<byte> name, ReadOnlySpan<byte> algorithm, ulong time,
        ReadOnlySpan<byte> mac, ushort originalId, ushort error, ReadOnlySpan<byte> other)
    {
        int rdLength = algorithm.Length + 16 + mac.Length + other.Length;
        if (length + name.Length + 10 + rdLength > buffer.Length) return 0;
        var w = new WireWriter(buffer[length..]);
        w.Bytes(name);
        w.U16(Type);
        w.U16(ClassAny);
        w.U32(0);
        w.U16(rdLength);
        w.Bytes(algorithm);
        WriteU48(w.Take(6), time);
        w.U16(Fudge);
        w.U16(mac.Length);
        w.Bytes(mac);
        w.U16(originalId);
        w.U16(error);
        w.U16(other.Length);
        w.Bytes(other);
        BinaryPrimitives.WriteUInt16BigEndian(buffer[10..], (ushort)(BinaryPrimitives.ReadUInt16BigEndian(buffer[10..]) + 1));
        return length + w.Position;
    }

    /// <summary>
    /// The answer to a request whose TSIG failed (section 5.2): NOTAUTH with the TSIG error, the question echoed;
    /// unsigned (MAC size 0, section 5.3.2) except BADTIME, which is signed and carries our time. FORMERR carries no TSIG.
    /// </summary>
    public static int WriteError(ReadOnlySpan<byte> query, Span<byte> response, TsigRequest request, long now)
    {
        if (response.Length < DnsQuery.HeaderLength) return 0;
        int questionEnd = DnsQuery.HeaderLength;
        bool question = BinaryPrimitives.ReadUInt16BigEndian(query[4..]) == 1 && DnsQuery.SkipName(query, ref questionEnd) && questionEnd + 4 <= query.Length;
        questionEnd = question ? questionEnd + 4 : DnsQuery.HeaderLength;
        var w = new WireWriter(response);
        w.Bytes(query[..2]);
        // QR, the opcode echoed, RD copied.
        w.U8((byte)(0x80 | (query[2] & 0x79)));
        w.U8((byte)(request.Status == TsigStatus.FormErr ? ResponseCode.FormErr : NotAuth));
        w.U16(question ? 1 : 0);
        w.U32(0);
        w.U16(0);
        w.Bytes(query[DnsQuery.HeaderLength..questionEnd]);
        if (w.Overflow) return 0;
        int length = w.Position;
        if (request.Status == TsigStatus.FormErr) return length;
        if (request.Status == TsigStatus.BadTime && request.Key is { } key)
        {
            // Section 5.2.3: signed with the request's key and Time Signed, our time in Other Data.
            Span<byte> ours = stackalloc byte[6];
            WriteU48(ours, (ulong)now);
            return SignResponse(response, length, key, request.Mac, request.OriginalId, request.TimeSigned, BadTime, ours);
        }
        ushort error = request.Status switch
        {
            TsigStatus.BadKey => BadKey,
            TsigStatus.BadTrunc => BadTrunc,
            _ => BadSig,
        };
        return Append(response, length, request.NameWire, request.AlgorithmWire, (ulong)now, [], request.OriginalId, error, []);
    }

    /// <summary>Section 5.3.1: signs each message of a transfer, the first over the request's MAC, each later one over the one before.</summary>
    internal sealed class TransferSigner(TsigKey key, byte[] requestMac, ushort originalId, TimeProvider time)
    {
        private readonly byte[] _buffer = new byte[2 + 65535];
        private byte[] _prior = requestMac;
        private bool _first = true;

        /// <summary>The frame (TCP length first) with a TSIG appended; valid until the next call.</summary>
        public ReadOnlyMemory<byte> Sign(ReadOnlyMemory<byte> frame)
        {
            var span = frame.Span;
            span.CopyTo(_buffer);
            var message = _buffer.AsSpan(2);
            int length = span.Length - 2;
            ulong now = (ulong)time.GetUtcNow().ToUnixTimeSeconds();
            Span<byte> mac = stackalloc byte[64];
            ushort arCount = BinaryPrimitives.ReadUInt16BigEndian(message[10..]);
            int macLength = Compute(key, _prior, message[..length], arCount, originalId, timersOnly: !_first, now, Fudge, 0, [], mac);
            _first = false;
            _prior = mac[..macLength].ToArray();
            int signed = Append(message, length, key.NameWire, key.AlgorithmWire, now, mac[..macLength], originalId, 0, []);
            if (signed == 0) throw new InvalidOperationException("a transfer message leaves no room for its TSIG");
            BinaryPrimitives.WriteUInt16BigEndian(_buffer, (ushort)signed);
            return _buffer.AsMemory(0, 2 + signed);
        }
    }

    /// <summary>
    /// Checks the TSIG of a response to our request (a NOTIFY's acknowledgement) signed with <paramref name="key"/>:
    /// present, last, the same key and algorithm, no TSIG error, a MAC over our request's MAC that verifies, in time.
    /// </summary>
    public static bool VerifyResponse(ReadOnlySpan<byte> response, TsigKey key, ReadOnlySpan<byte> requestMac, long now, out string why)
    {
        why = "";
        var checkedRequest = Check(response, [key], clock: null);
        if (checkedRequest is null)
        {
            why = "missing (unsigned)";
            return false;
        }
        if (checkedRequest.Status is TsigStatus.FormErr or TsigStatus.BadKey or TsigStatus.BadTrunc)
        {
            why = checkedRequest.Status == TsigStatus.BadKey ? $"signed with another key ({TsigKey.Describe(checkedRequest.NameWire)})" : "malformed TSIG";
            return false;
        }
        // Check verified the MAC without a prior one; a response's covers the request's MAC: verify again with it.
        int at = checkedRequest.Start;
        int pos = at;
        DnsQuery.SkipName(response, ref pos);
        pos += 10;
        DnsQuery.SkipName(response, ref pos);
        ulong time = ReadU48(response[pos..]);
        ushort fudge = BinaryPrimitives.ReadUInt16BigEndian(response[(pos + 6)..]);
        int macSize = BinaryPrimitives.ReadUInt16BigEndian(response[(pos + 8)..]);
        var mac = response.Slice(pos + 10, macSize);
        pos += 10 + macSize;
        ushort originalId = BinaryPrimitives.ReadUInt16BigEndian(response[pos..]);
        ushort error = BinaryPrimitives.ReadUInt16BigEndian(response[(pos + 2)..]);
        var other = response.Slice(pos + 6, BinaryPrimitives.ReadUInt16BigEndian(response[(pos + 4)..]));
        if (error != 0)
        {
            why = $"TSIG error {error}";
            return false;
        }
        Span<byte> expected = stackalloc byte[64];
        ushort arCount = (ushort)(BinaryPrimitives.ReadUInt16BigEndian(response[10..]) - 1);
        int written = Compute(key, requestMac, response[..at], arCount, originalId, timersOnly: false, time, fudge, error, other, expected);
        if (macSize != written || !CryptographicOperations.FixedTimeEquals(expected[..written], mac))
        {
            why = "a bad signature";
            return false;
        }
        if (Math.Abs(now - (long)time) > fudge)
        {
            why = "signed outside the time window";
            return false;
        }
        return true;
    }

    /// <summary>The TSIG error of a message's TSIG record by name (BADSIG ...), or null without a readable one.</summary>
    public static string? ErrorOf(ReadOnlySpan<byte> message)
    {
        if (message.Length < DnsQuery.HeaderLength) return null;
        int at = Locate(message, out _);
        if (at < 0 || !DnsQuery.SkipName(message, ref at) || at + 10 > message.Length) return null;
        at += 10;
        if (!DnsQuery.SkipName(message, ref at) || at + 10 > message.Length) return null;
        at += 10 + BinaryPrimitives.ReadUInt16BigEndian(message[(at + 8)..]);
        if (at + 4 > message.Length) return null;
        return BinaryPrimitives.ReadUInt16BigEndian(message[(at + 2)..]) switch
        {
            0 => null,
            BadSig => "BADSIG",
            BadKey => "BADKEY",
            BadTime => "BADTIME",
            BadTrunc => "BADTRUNC",
            var other => other.ToString(System.Globalization.CultureInfo.InvariantCulture),
        };
    }

    /// <summary>Reads a name (following compression pointers backwards) into canonical form: lower case, uncompressed.</summary>
    internal static bool ReadName(ReadOnlySpan<byte> m, ref int pos, Span<byte> output, out int written)
    {
        written = 0;
        int at = pos;
        bool jumped = false;
        for (int hops = 0; hops < 128; hops++)
        {
            if (at >= m.Length) return false;
            int length = m[at];
            if (length == 0)
            {
                output[written++] = 0;
                if (!jumped) pos = at + 1;
                return true;
            }
            if ((length & 0xC0) == 0xC0)
            {
                if (at + 2 > m.Length) return false;
                int target = ((length & 0x3F) << 8) | m[at + 1];
                if (target >= at) return false;
                if (!jumped) pos = at + 2;
                jumped = true;
                at = target;
                continue;
            }
            if ((length & 0xC0) != 0 || at + 1 + length > m.Length || written + 1 + length + 1 > 255) return false;
            output[written++] = (byte)length;
            for (int i = 0; i < length; i++)
            {
                byte c = m[at + 1 + i];
                output[written++] = c is >= (byte)'A' and <= (byte)'Z' ? (byte)(c + 32) : c;
            }
            at += 1 + length;
        }
        return false;
    }

    /// <summary>A name in wire form, lower case.</summary>
    internal static byte[] EncodeName(string name)
    {
        var bytes = new List<byte>();
        foreach (var label in name.ToLowerInvariant().TrimEnd('.').Split('.', StringSplitOptions.RemoveEmptyEntries))
        {
            bytes.Add((byte)label.Length);
            bytes.AddRange(Encoding.ASCII.GetBytes(label));
        }
        bytes.Add(0);
        return [.. bytes];
    }

    internal static ulong ReadU48(ReadOnlySpan<byte> s) => ((ulong)BinaryPrimitives.ReadUInt16BigEndian(s) << 32) | BinaryPrimitives.ReadUInt32BigEndian(s[2..]);

    internal static void WriteU48(Span<byte> s, ulong value)
    {
        BinaryPrimitives.WriteUInt16BigEndian(s, (ushort)(value >> 32));
        BinaryPrimitives.WriteUInt32BigEndian(s[2..], (uint)value);
    }
}
