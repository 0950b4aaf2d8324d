using System.Buffers.Binary;

namespace CertDns.Dns;

/// <summary>
/// A query read straight off the wire: the header, the one question, and the OPT pseudo-record. Nothing is
/// copied; label positions go into a caller-provided span so parsing allocates nothing.
/// </summary>
internal ref struct DnsQuery
{
    public const int HeaderLength = 12;

    /// <summary>RFC 1035 section 3.1: a name is at most 255 octets on the wire, so at most 127 labels.</summary>
    public const int MaxLabels = 127;

    private const int MaxNameLength = 255;

    private readonly ReadOnlySpan<byte> _message;
    private readonly Span<ushort> _labelStarts;

    public DnsQuery(ReadOnlySpan<byte> message, Span<ushort> labelStarts)
    {
        _message = message;
        _labelStarts = labelStarts;
    }

    /// <summary>The offset just past the question, or 0 when no single question could be read.</summary>
    public int QuestionEnd { get; private set; }

    public ushort QType { get; private set; }

    public ushort QClass { get; private set; }

    /// <summary>How many labels the question name has (the root not counted).</summary>
    public int LabelCount { get; private set; }

    /// <summary>Whether exactly one well-formed OPT record was read.</summary>
    public bool HasOpt { get; private set; }

    public ushort UdpPayloadSize { get; private set; }

    public byte EdnsVersion { get; private set; }

    /// <summary>The OPT's DO bit (RFC 3225 section 3): copied into the response's OPT.</summary>
    public bool DnssecOk { get; private set; }

    /// <summary>The OPT's CO bit (Compact Answers OK, RFC 9824 section 4): the client wants NXDOMAIN back from a compact denial.</summary>
    public bool CompactOk { get; private set; }

    /// <summary>Whether the OPT carried a COOKIE option (RFC 7873 section 4); the first one counts.</summary>
    public bool HasCookie { get; private set; }

    /// <summary>The COOKIE option's data (client cookie, then any server cookie), unchecked; empty without one.</summary>
    public readonly ReadOnlySpan<byte> Cookie => HasCookie ? _message.Slice(_cookieStart, _cookieLength) : default;

    /// <summary>
    /// A query without a question (QDCOUNT 0): only a request for a server cookie may be one (RFC 7873 section 5.4);
    /// <see cref="QuestionEnd"/> stays 0.
    /// </summary>
    public bool NoQuestion { get; private set; }

    /// <summary>The COOKIE option the response's OPT carries (client cookie and server cookie); empty for none.</summary>
    public ReadOnlySpan<byte> ResponseCookie { get; set; }

    private int _cookieStart;
    private int _cookieLength;

    /// <summary>For IXFR, the serial of the SOA the client sent in its authority section; null when none could be read.</summary>
    public uint? IxfrSerial { get; private set; }

    /// <summary>The message ID.</summary>
    public readonly ushort Id => BinaryPrimitives.ReadUInt16BigEndian(_message);

    public readonly ReadOnlySpan<byte> Message => _message;

    /// <summary>The question section exactly as received (case preserved).</summary>
    public readonly ReadOnlySpan<byte> Question => _message[HeaderLength..QuestionEnd];

    /// <summary>The offset of label <paramref name="index"/>'s length octet in the message.</summary>
    public readonly int LabelStart(int index) => _labelStarts[index];

    /// <summary>The octets of label <paramref name="index"/>, leftmost first.</summary>
    public readonly ReadOnlySpan<byte> Label(int index)
    {
        int start = _labelStarts[index];
        return _message.Slice(start + 1, _message[start]);
    }

    /// <summary>
    /// Reads the message; false when it is malformed (FORMERR). What was read before the fault stays readable, so
    /// the error response can echo the question when it parsed.
    /// </summary>
    public bool Parse()
    {
        var m = _message;
        int qdCount = BinaryPrimitives.ReadUInt16BigEndian(m[4..]);
        int anCount = BinaryPrimitives.ReadUInt16BigEndian(m[6..]);
        int nsCount = BinaryPrimitives.ReadUInt16BigEndian(m[8..]);
        int arCount = BinaryPrimitives.ReadUInt16BigEndian(m[10..]);
        // RFC 9619: a query carries exactly one question; RFC 7873 section 5.4: or none, to learn a server cookie.
        if (qdCount > 1) return false;
        if (qdCount == 0) return ParseWithoutQuestion(m, anCount, nsCount, arCount);

        int pos = HeaderLength;
        int nameLength = 1;
        int labels = 0;
        while (true)
        {
            if (pos >= m.Length) return false;
            int length = m[pos];
            if (length == 0)
            {
                pos++;
                break;
            }
            // 0xC0 is a compression pointer (nothing precedes the question to point at); 0x40 and 0x80 are the
            // extended and reserved label types (RFC 6891 section 5). Either way a label above 63 octets.
            if ((length & 0xC0) != 0) return false;
            nameLength += length + 1;
            if (nameLength > MaxNameLength || pos + 1 + length > m.Length) return false;
            _labelStarts[labels++] = (ushort)pos;
            pos += 1 + length;
        }
        if (pos + 4 > m.Length) return false;
        QType = BinaryPrimitives.ReadUInt16BigEndian(m[pos..]);
        QClass = BinaryPrimitives.ReadUInt16BigEndian(m[(pos + 2)..]);
        pos += 4;
        QuestionEnd = pos;
        LabelCount = labels;

        // Only IXFR carries a record before the additional section: the client's SOA, in the authority section (RFC 1995).
        if (anCount != 0 || (nsCount != 0 && QType != RecordType.Ixfr)) return false;
        for (int i = 0; i < nsCount; i++)
        {
            if (!SkipName(m, ref pos) || pos + 10 > m.Length) return false;
            int rdataEnd = pos + 10 + BinaryPrimitives.ReadUInt16BigEndian(m[(pos + 8)..]);
            if (rdataEnd > m.Length) return false;
            // RFC 1995 section 3: the client's SOA comes first; its SERIAL follows MNAME and RNAME (names may be compressed).
            if (i == 0 && BinaryPrimitives.ReadUInt16BigEndian(m[pos..]) == RecordType.Soa)
            {
                int at = pos + 10;
                if (SkipName(m, ref at) && SkipName(m, ref at) && at + 4 <= rdataEnd) IxfrSerial = BinaryPrimitives.ReadUInt32BigEndian(m[at..]);
            }
            pos = rdataEnd;
        }

        return ParseAdditional(m, pos, arCount);
    }

    /// <summary>A header and the additional section only: the caller answers it only when it asks for a cookie.</summary>
    private bool ParseWithoutQuestion(ReadOnlySpan<byte> m, int anCount, int nsCount, int arCount)
    {
        NoQuestion = true;
        if (anCount != 0 || nsCount != 0) return false;
        return ParseAdditional(m, HeaderLength, arCount);
    }

    private bool ParseAdditional(ReadOnlySpan<byte> m, int pos, int arCount)
    {
        bool sawOpt = false;
        for (int i = 0; i < arCount; i++)
        {
            if (pos >= m.Length) return false;
            bool root = m[pos] == 0;
            if (!SkipName(m, ref pos)) return false;
            if (pos + 10 > m.Length) return false;
            ushort type = BinaryPrimitives.ReadUInt16BigEndian(m[pos..]);
            ushort @class = BinaryPrimitives.ReadUInt16BigEndian(m[(pos + 2)..]);
            uint ttl = BinaryPrimitives.ReadUInt32BigEndian(m[(pos + 4)..]);
            int rdLength = BinaryPrimitives.ReadUInt16BigEndian(m[(pos + 8)..]);
            pos += 10;
            if (pos + rdLength > m.Length) return false;
            if (type == RecordType.Opt)
            {
                // RFC 6891 section 6.1.1: one OPT at most, owned by the root.
                if (sawOpt || !root) return false;
                sawOpt = true;
                UdpPayloadSize = @class;
                EdnsVersion = (byte)(ttl >> 16);
                DnssecOk = (ttl & 0x8000) != 0;
                CompactOk = (ttl & 0x4000) != 0;
                HasOpt = true;
                FindCookie(m.Slice(pos, rdLength), pos);
            }
            pos += rdLength;
        }
        // Trailing bytes mean the counts lie: FORMERR rather than guessing.
        return pos == m.Length;
    }

    /// <summary>
    /// RFC 6891 section 6.1.2: the OPT's RDATA is {code, length, data} options. The first COOKIE (code 10) is noted;
    /// options that overrun the RDATA end the search, as they always went unread.
    /// </summary>
    private void FindCookie(ReadOnlySpan<byte> rdata, int offset)
    {
        int at = 0;
        while (at + 4 <= rdata.Length)
        {
            int code = BinaryPrimitives.ReadUInt16BigEndian(rdata[at..]);
            int length = BinaryPrimitives.ReadUInt16BigEndian(rdata[(at + 2)..]);
            if (at + 4 + length > rdata.Length) return;
            if (code == OptionCode.Cookie)
            {
                HasCookie = true;
                _cookieStart = offset + at + 4;
                _cookieLength = length;
                return;
            }
            at += 4 + length;
        }
    }

    /// <summary>Skips a name past the question (authority, additional, RDATA), where compression pointers are allowed.</summary>
    internal static bool SkipName(ReadOnlySpan<byte> m, ref int pos)
    {
        int nameLength = 1;
        while (true)
        {
            if (pos >= m.Length) return false;
            int length = m[pos];
            if (length == 0)
            {
                pos++;
                return true;
            }
            switch (length & 0xC0)
            {
                case 0xC0:
                    if (pos + 2 > m.Length) return false;
                    // Only backwards pointers can be valid, so no loop is possible past this check.
                    if ((((length & 0x3F) << 8) | m[pos + 1]) >= pos) return false;
                    pos += 2;
                    return true;
                case 0:
                    nameLength += length + 1;
                    if (nameLength > MaxNameLength || pos + 1 + length > m.Length) return false;
                    pos += 1 + length;
                    break;
                default:
                    return false;
            }
        }
    }
}

/// <summary>The RR types this server reads or writes (RFC 1035, RFC 3596, RFC 6891, RFC 1995, RFC 5936).</summary>
internal static class RecordType
{
    public const ushort A = 1;
    public const ushort Ns = 2;
    public const ushort Soa = 6;
    public const ushort Txt = 16;
    public const ushort Aaaa = 28;
    public const ushort Opt = 41;
    public const ushort Ixfr = 251;
    public const ushort Axfr = 252;
    public const ushort Any = 255;
}

/// <summary>EDNS option codes this server reads or writes (RFC 6891 section 6.1.2).</summary>
internal static class OptionCode
{
    /// <summary>RFC 7873 section 4.</summary>
    public const ushort Cookie = 10;
}

/// <summary>Response codes (RFC 1035 section 4.1.1, RFC 6891 section 9).</summary>
internal static class ResponseCode
{
    public const int NoError = 0;
    public const int FormErr = 1;
    public const int ServFail = 2;
    public const int NxDomain = 3;
    public const int NotImp = 4;
    public const int Refused = 5;
    public const int BadVers = 16;
    /// <summary>RFC 7873 section 8.</summary>
    public const int BadCookie = 23;
}
