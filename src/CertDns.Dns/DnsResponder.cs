using System.Buffers.Binary;
using System.Net.Sockets;
using System.Text;
using CertDns.Core;

namespace CertDns.Dns;

/// <summary>
/// Answers one DNS message for the status zone (SPEC sections 1 and 2): reads the wire format by hand and
/// encodes the response into a caller-provided buffer. Thread-safe; every query reads the snapshot once.
/// </summary>
public sealed class DnsResponder
{
    /// <summary>The largest DNS message (TCP's 16-bit length prefix).</summary>
    public const int MaxMessageSize = 65535;

    /// <summary>RFC 1035 section 4.2.1: the UDP limit without EDNS.</summary>
    public const int ClassicUdpSize = 512;

    private const ushort ClassIn = 1;
    private const ushort ClassAny = 255;
    private const ushort PointerToQuestion = 0xC000 | DnsQuery.HeaderLength;
    private const int OptLength = 11;

    private static readonly string[] TestTexts = Enum.GetValues<CertStatus>().Select(TestEntryText).ToArray();

    /// <summary>The TXT of an RFC 5782 test entry, the same in answers, zone transfers and exports.</summary>
    internal static string TestEntryText(CertStatus status) => "test entry: " + StatusCodes.Name(status);

    private readonly ZoneOptions _options;
    private readonly SnapshotHolder _snapshots;
    private readonly TimeProvider _time;
    private readonly byte[][] _apexLabels;
    private readonly EncodedName _nsName;
    private readonly EncodedName _hostmaster;
    private readonly byte[][]? _nsLabelsBelowApex;
    private readonly byte[] _nsAddress;
    private readonly ushort _nsAddressType;
    private readonly TimeSpan _maxTtl;
    private readonly uint _negativeTtl;
    private readonly int _udpPayloadSize;

    /// <summary>Prepares the zone's fixed names and records.</summary>
    /// <exception cref="ArgumentException">A name in <paramref name="options"/> is not a valid DNS name, or a time is negative.</exception>
    public DnsResponder(ZoneOptions options, SnapshotHolder snapshots, TimeProvider time)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(snapshots);
        ArgumentNullException.ThrowIfNull(time);
        _options = options;
        _snapshots = snapshots;
        _time = time;

        _apexLabels = Labels(options.Apex, nameof(options.Apex));
        if (_apexLabels.Length == 0) throw new ArgumentException("The apex must not be the root.", nameof(options));
        var nsLabels = Labels(options.NsName, nameof(options.NsName));
        _nsName = Encode(nsLabels);
        _hostmaster = Encode(Labels(options.Hostmaster, nameof(options.Hostmaster)));
        if (IsBelowApex(nsLabels)) _nsLabelsBelowApex = nsLabels[..^_apexLabels.Length];

        _nsAddress = options.NsAddress?.GetAddressBytes() ?? [];
        _nsAddressType = options.NsAddress?.AddressFamily == AddressFamily.InterNetworkV6 ? RecordType.Aaaa : RecordType.A;

        foreach (var (value, name) in new[]
        {
            (options.Refresh, nameof(options.Refresh)), (options.Retry, nameof(options.Retry)), (options.Expire, nameof(options.Expire)),
            (options.Minimum, nameof(options.Minimum)), (options.ApexTtl, nameof(options.ApexTtl)), (options.MaxTtl, nameof(options.MaxTtl)),
        })
        {
            if (value < 0) throw new ArgumentException($"{name} must not be negative.", nameof(options));
        }
        _maxTtl = TimeSpan.FromSeconds(options.MaxTtl);
        // RFC 2308 section 3: the negative TTL is the lesser of the SOA's TTL and its MINIMUM.
        _negativeTtl = (uint)Math.Min(options.ApexTtl, options.Minimum);
        _udpPayloadSize = Math.Clamp(options.UdpPayloadSize, ClassicUdpSize, MaxMessageSize);
    }

    /// <summary>The zone this responder serves.</summary>
    public ZoneOptions Options => _options;

    /// <summary>
    /// Answers <paramref name="query"/> into <paramref name="response"/>.
    /// </summary>
    /// <param name="query">One DNS message, exactly as received (for TCP, without the length prefix).</param>
    /// <param name="response">Where to write the answer; 65535 bytes hold any answer.</param>
    /// <param name="maxResponseSize">
    /// A further cap on the response: 65535 for TCP. Over UDP the limit is the client's (512 without EDNS, else its
    /// advertised size, never above <see cref="ZoneOptions.UdpPayloadSize"/>) and this only lowers it.
    /// </param>
    /// <param name="tcp">Whether the query came over TCP (no truncation limit of its own; zone transfer rules).</param>
    /// <returns>The response length, or 0 when the message must not be answered.</returns>
    public int Respond(ReadOnlySpan<byte> query, Span<byte> response, int maxResponseSize, bool tcp) =>
        Respond(query, response, maxResponseSize, tcp, transferAllowed: false, out _);

    /// <summary>
    /// Answers <paramref name="query"/> as <see cref="Respond(ReadOnlySpan{byte}, Span{byte}, int, bool)"/> does, or,
    /// for an AXFR or IXFR of the apex over TCP from a client the transfer ACL lets in, starts the transfer instead:
    /// the one parse of the question decides (RFC 5936 section 4.2, RFC 1995), as NSD's answer_axfr_ixfr does.
    /// </summary>
    /// <param name="query">One DNS message, exactly as received (for TCP, without the length prefix).</param>
    /// <param name="response">Where to write the answer; 65535 bytes hold any answer.</param>
    /// <param name="maxResponseSize">A further cap on the response, as for the ordinary answer.</param>
    /// <param name="tcp">Whether the query came over TCP; transfers are TCP-only.</param>
    /// <param name="transferAllowed">Whether the client's address is on the transfer ACL.</param>
    /// <param name="transfer">The transfer to send (the return value is then 0), or null for an ordinary answer.</param>
    public int Respond(ReadOnlySpan<byte> query, Span<byte> response, int maxResponseSize, bool tcp, bool transferAllowed, out TransferMessages? transfer)
    {
        transfer = null;
        // RFC 1035 section 4.1.1: without a whole header there is no ID to answer; responses are never answered.
        if (query.Length < DnsQuery.HeaderLength || (query[2] & 0x80) != 0) return 0;

        Span<ushort> labelStarts = stackalloc ushort[DnsQuery.MaxLabels];
        var q = new DnsQuery(query, labelStarts);
        bool wellFormed = q.Parse();

        int limit = tcp ? MaxMessageSize : q.HasOpt ? Math.Clamp((int)q.UdpPayloadSize, ClassicUdpSize, _udpPayloadSize) : ClassicUdpSize;
        limit = Math.Min(Math.Min(limit, maxResponseSize), response.Length);
        if (limit < DnsQuery.HeaderLength) return 0;
        var buffer = response[..limit];

        int opcode = (query[2] >> 3) & 0xF;
        if (opcode != 0) return Error(ref q, buffer, ResponseCode.NotImp);
        if (!wellFormed) return Error(ref q, buffer, ResponseCode.FormErr);
        // RFC 6891 section 6.1.3: we speak EDNS version 0 only.
        if (q.HasOpt && q.EdnsVersion > 0) return Error(ref q, buffer, ResponseCode.BadVers);
        if (q.QClass != ClassIn && q.QClass != ClassAny) return Error(ref q, buffer, ResponseCode.Refused);
        // RFC 5936 section 4.2: AXFR is TCP-only; other transfers only to the ACL's clients, only of the apex.
        if (q.QType == RecordType.Axfr && !tcp) return Error(ref q, buffer, ResponseCode.FormErr);
        if (q.QType is RecordType.Axfr or RecordType.Ixfr)
        {
            // An IXFR whose SOA could not be read is no transfer request we can serve: refused like any other.
            if (transferAllowed && tcp && (q.QType == RecordType.Axfr || q.IxfrSerial is not null)
                && q.LabelCount == _apexLabels.Length && EndsWithApex(ref q, 0))
            {
                transfer = ZoneTransfer.Start(q.Id, q.Question, _snapshots.Current, _options, _time.GetUtcNow(),
                    q.QType == RecordType.Ixfr ? q.IxfrSerial : null);
                return 0;
            }
            return Error(ref q, buffer, ResponseCode.Refused);
        }

        int below = q.LabelCount - _apexLabels.Length;
        if (below < 0 || !EndsWithApex(ref q, below)) return Error(ref q, buffer, ResponseCode.Refused);

        try
        {
            return Answer(ref q, buffer, below);
        }
        catch (DirectoryUnavailableException)
        {
            // A SHA-1, MD5 or key lookup could not reach the store: say so, rather than deny a listed certificate.
            return Error(ref q, buffer, ResponseCode.ServFail);
        }
    }

    private int Answer(ref DnsQuery q, Span<byte> buffer, int below)
    {
        var snapshot = _snapshots.Current;
        // Owners point back into the question: the whole name at offset 12, the apex at its own label.
        ushort apexPointer = (ushort)(0xC000 | q.LabelStart(below));

        var w = new WireWriter(buffer);
        WriteHeader(ref w, ref q, ResponseCode.NoError, authoritative: true);
        w.Bytes(q.Question);

        int rcode = ResponseCode.NoError;
        int answers = 0, additional = 0;
        ushort qtype = q.QType;

        if (below == 0)
        {
            if (qtype is RecordType.Soa or RecordType.Any)
            {
                // RFC 8482 section 4.2: ANY gets one RRset, and the SOA is the one a resolver needs.
                WriteSoa(ref w, apexPointer, (uint)_options.ApexTtl, snapshot.Serial);
                answers = 1;
            }
            else if (qtype == RecordType.Ns)
            {
                int nsRdataAt = WriteNs(ref w, apexPointer);
                answers = 1;
                // In-zone name server: its address goes along, as glue would (RFC 1034 section 4.3.2).
                if (_nsLabelsBelowApex is not null && _nsAddress.Length > 0)
                {
                    WriteNsAddress(ref w, nsRdataAt, apexPointer);
                    additional = 1;
                }
            }
        }
        else if (IsNsName(ref q, below))
        {
            if (_nsAddress.Length > 0 && (qtype == _nsAddressType || qtype == RecordType.Any))
            {
                WriteRecordStart(ref w, PointerToQuestion, _nsAddressType, (uint)_options.ApexTtl);
                w.U16(_nsAddress.Length);
                w.Bytes(_nsAddress);
                answers = 1;
            }
        }
        else
        {
            // The labels below the apex, still in wire form, go straight to the codec: nothing is copied or allocated.
            Span<byte> digest = stackalloc byte[NameCodec.MaxDigestLength];
            var name = NameCodec.Decode(q.Message[DnsQuery.HeaderLength..q.LabelStart(below)], digest);
            digest = digest[..name.DigestLength];
            var now = _time.GetUtcNow();
            CertStatus status = CertStatus.Unknown;
            Verdict? verdict = null;
            uint ttl = 0;
            switch (name.Kind)
            {
                case NameKind.Fingerprint:
                    CertStatus found;
                    TimeSpan cacheFor;
                    if (qtype == RecordType.Txt)
                    {
                        // One lookup that also describes what it found: the text is built only when asked for.
                        verdict = snapshot.Evaluate(name.Digest, digest, name.IsKey, now, _maxTtl);
                        (found, cacheFor) = verdict is { } v ? (v.Status, v.Ttl) : (CertStatus.Unknown, TimeSpan.Zero);
                    }
                    else
                    {
                        found = snapshot.Answer(name.Digest, digest, name.IsKey, now, _maxTtl, out cacheFor);
                    }
                    // A status the view does not publish is, to that view's clients, not listed at all.
                    if (found != CertStatus.Unknown && StatusCodes.VisibleIn(found, name.View))
                    {
                        status = found;
                        ttl = (uint)Math.Clamp(cacheFor.TotalSeconds, 0, _options.MaxTtl);
                    }
                    else if (!name.UnknownIsNoData)
                    {
                        // RFC 8020: NXDOMAIN only where no longer name can exist below.
                        rcode = ResponseCode.NxDomain;
                    }
                    break;
                case NameKind.TestEntry:
                    // RFC 5782 section 5: test entries exist only in views that publish their code.
                    if (StatusCodes.VisibleIn(name.TestStatus, name.View))
                    {
                        status = name.TestStatus;
                        ttl = (uint)_options.MaxTtl;
                    }
                    else
                    {
                        rcode = ResponseCode.NxDomain;
                    }
                    break;
                case NameKind.NonExistent:
                    rcode = ResponseCode.NxDomain;
                    break;
            }

            if (status != CertStatus.Unknown)
            {
                if (qtype is RecordType.A or RecordType.Any)
                {
                    // RFC 8482: ANY at a listed name gets the A record only.
                    var address = StatusCodes.Address(status);
                    WriteRecordStart(ref w, PointerToQuestion, RecordType.A, ttl);
                    w.U16(address.Length);
                    w.Bytes(address);
                    answers = 1;
                }
                else if (qtype == RecordType.Txt)
                {
                    var text = name.Kind == NameKind.TestEntry ? TestTexts[(int)status] : verdict!.Text;
                    WriteTxt(ref w, text, ttl);
                    answers = 1;
                }
            }
        }

        int authority = 0;
        if (answers == 0)
        {
            // RFC 2308 section 3: NXDOMAIN and NODATA carry the SOA so the denial can be cached.
            WriteSoa(ref w, apexPointer, _negativeTtl, snapshot.Serial);
            authority = 1;
        }
        if (q.HasOpt)
        {
            WriteOpt(ref w, 0);
            additional++;
        }
        if (w.Overflow) return Truncated(ref q, buffer, rcode);

        buffer[3] = (byte)((buffer[3] & 0xF0) | rcode);
        BinaryPrimitives.WriteUInt16BigEndian(buffer[6..], (ushort)answers);
        BinaryPrimitives.WriteUInt16BigEndian(buffer[8..], (ushort)authority);
        BinaryPrimitives.WriteUInt16BigEndian(buffer[10..], (ushort)additional);
        return w.Position;
    }

    /// <summary>RFC 2181 section 9: what fits is the header, the question and the OPT, with TC set.</summary>
    private int Truncated(ref DnsQuery q, Span<byte> buffer, int rcode)
    {
        var w = new WireWriter(buffer);
        WriteHeader(ref w, ref q, rcode, authoritative: true);
        w.Bytes(q.Question);
        if (q.HasOpt) WriteOpt(ref w, 0);
        buffer[2] |= 0x02;
        if (w.Overflow)
        {
            // Not even the question fits the caller's limit: the bare header still tells the client to retry.
            BinaryPrimitives.WriteUInt16BigEndian(buffer[4..], 0);
            return DnsQuery.HeaderLength;
        }
        BinaryPrimitives.WriteUInt16BigEndian(buffer[10..], (ushort)(q.HasOpt ? 1 : 0));
        return w.Position;
    }

    /// <summary>An error answer: the question echoed when it parsed, the OPT when the query had one.</summary>
    private int Error(ref DnsQuery q, Span<byte> buffer, int rcode)
    {
        var w = new WireWriter(buffer);
        WriteHeader(ref w, ref q, rcode, authoritative: false);
        bool question = q.QuestionEnd > 0;
        if (question) w.Bytes(q.Question);
        // RFC 6891 section 7: a responder that understood the OPT includes one, also in errors.
        if (q.HasOpt) WriteOpt(ref w, rcode >> 4);
        if (w.Overflow)
        {
            BinaryPrimitives.WriteUInt16BigEndian(buffer[4..], 0);
            return DnsQuery.HeaderLength;
        }
        BinaryPrimitives.WriteUInt16BigEndian(buffer[4..], (ushort)(question ? 1 : 0));
        BinaryPrimitives.WriteUInt16BigEndian(buffer[10..], (ushort)(q.HasOpt ? 1 : 0));
        return w.Position;
    }

    private static void WriteHeader(ref WireWriter w, ref DnsQuery q, int rcode, bool authoritative)
    {
        var query = q.Message;
        w.Bytes(query[..2]);
        // QR, the opcode echoed, AA for our own data, RD copied (RFC 1035 section 4.1.1); RA stays 0.
        w.U8((byte)(0x80 | (query[2] & 0x78) | (authoritative ? 0x04 : 0) | (query[2] & 0x01)));
        // CD copied (RFC 4035 section 3.1.6); the low four bits of the RCODE.
        w.U8((byte)((query[3] & 0x10) | (rcode & 0x0F)));
        w.U16(1);
        w.U16(0);
        w.U16(0);
        w.U16(0);
    }

    private void WriteOpt(ref WireWriter w, int extendedRcode)
    {
        w.U8(0);
        w.U16(RecordType.Opt);
        w.U16(_udpPayloadSize);
        // EXTENDED-RCODE, VERSION 0, and DO cleared: we sign nothing (RFC 3225 section 3).
        w.U32((uint)extendedRcode << 24);
        w.U16(0);
    }

    private static void WriteRecordStart(ref WireWriter w, ushort owner, ushort type, uint ttl)
    {
        w.U16(owner);
        w.U16(type);
        w.U16(ClassIn);
        w.U32(ttl);
    }

    private void WriteSoa(ref WireWriter w, ushort apexPointer, uint ttl, uint serial)
    {
        WriteRecordStart(ref w, apexPointer, RecordType.Soa, ttl);
        int lengthAt = w.Position;
        w.U16(0);
        int start = w.Position;
        WriteName(ref w, _nsName, apexPointer);
        WriteName(ref w, _hostmaster, apexPointer);
        w.U32(serial);
        w.U32((uint)_options.Refresh);
        w.U32((uint)_options.Retry);
        w.U32((uint)_options.Expire);
        w.U32((uint)_options.Minimum);
        w.PatchU16(lengthAt, w.Position - start);
    }

    /// <returns>Where the NS RDATA (the name server's name) starts.</returns>
    private int WriteNs(ref WireWriter w, ushort apexPointer)
    {
        WriteRecordStart(ref w, apexPointer, RecordType.Ns, (uint)_options.ApexTtl);
        int lengthAt = w.Position;
        w.U16(0);
        int start = w.Position;
        WriteName(ref w, _nsName, apexPointer);
        w.PatchU16(lengthAt, w.Position - start);
        return start;
    }

    /// <summary>The name server's address as additional data, its owner pointing at the NS RDATA just written.</summary>
    private void WriteNsAddress(ref WireWriter w, int nsRdataAt, ushort apexPointer)
    {
        if (nsRdataAt < 0x4000) w.U16(0xC000 | nsRdataAt);
        else WriteName(ref w, _nsName, apexPointer);
        w.U16(_nsAddressType);
        w.U16(ClassIn);
        w.U32((uint)_options.ApexTtl);
        w.U16(_nsAddress.Length);
        w.Bytes(_nsAddress);
    }

    private static void WriteTxt(ref WireWriter w, string text, uint ttl)
    {
        WriteRecordStart(ref w, PointerToQuestion, RecordType.Txt, ttl);
        // One character-string of at most 255 octets (RFC 1035 section 3.3.14); the evaluator keeps texts that short.
        int octets = Math.Min(Encoding.UTF8.GetByteCount(text), StatusEvaluator.MaxTextOctets);
        w.U16(octets + 1);
        w.U8((byte)octets);
        var target = w.Take(octets);
        if (target.Length == octets) Encoding.UTF8.GetBytes(text.AsSpan(), target);
    }

    private static void WriteName(ref WireWriter w, EncodedName name, ushort apexPointer)
    {
        w.Bytes(name.Wire);
        if (name.EndsAtApex) w.U16(apexPointer);
    }

    private bool EndsWithApex(ref DnsQuery q, int below)
    {
        for (int i = 0; i < _apexLabels.Length; i++)
        {
            if (!AsciiEquals(q.Label(below + i), _apexLabels[i])) return false;
        }
        return true;
    }

    private bool IsNsName(ref DnsQuery q, int below)
    {
        if (_nsLabelsBelowApex is null || _nsLabelsBelowApex.Length != below) return false;
        for (int i = 0; i < below; i++)
        {
            if (!AsciiEquals(q.Label(i), _nsLabelsBelowApex[i])) return false;
        }
        return true;
    }

    /// <summary>RFC 4343: DNS names compare case-insensitively in ASCII only.</summary>
    private static bool AsciiEquals(ReadOnlySpan<byte> label, byte[] lower)
    {
        if (label.Length != lower.Length) return false;
        for (int i = 0; i < label.Length; i++)
        {
            int c = label[i];
            if (c is >= 'A' and <= 'Z') c += 'a' - 'A';
            if (c != lower[i]) return false;
        }
        return true;
    }

    private bool IsBelowApex(byte[][] labels)
    {
        if (labels.Length < _apexLabels.Length) return false;
        int offset = labels.Length - _apexLabels.Length;
        for (int i = 0; i < _apexLabels.Length; i++)
        {
            if (!labels[offset + i].AsSpan().SequenceEqual(_apexLabels[i])) return false;
        }
        return true;
    }

    /// <summary>A zone name pre-encoded: labels, then either a pointer to the apex or the root octet.</summary>
    private EncodedName Encode(byte[][] labels)
    {
        bool inZone = IsBelowApex(labels);
        int count = inZone ? labels.Length - _apexLabels.Length : labels.Length;
        var wire = new List<byte>();
        for (int i = 0; i < count; i++)
        {
            wire.Add((byte)labels[i].Length);
            wire.AddRange(labels[i]);
        }
        if (!inZone) wire.Add(0);
        return new EncodedName(wire.ToArray(), inZone);
    }

    private static byte[][] Labels(string name, string what)
    {
        var trimmed = name.TrimEnd('.');
        if (trimmed.Length == 0) return [];
        var labels = trimmed.Split('.').Select(l => Encoding.ASCII.GetBytes(l.ToLowerInvariant())).ToArray();
        if (labels.Any(l => l.Length is 0 or > QueryName.MaxLabelLength) || labels.Sum(l => l.Length + 1) + 1 > 255 || !Ascii.IsValid(trimmed))
            throw new ArgumentException($"{what} \"{name}\" is not a valid DNS name.", nameof(name));
        return labels;
    }

    private readonly record struct EncodedName(byte[] Wire, bool EndsAtApex);
}
