using System.Buffers.Binary;
using CertDns.Core;
using CertDns.Dns.Dnssec;

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

    private readonly SnapshotHolder _snapshots;
    private readonly TimeProvider _time;
    // The zone's identity, swapped whole on a configuration reload: each query reads it once, so no answer mixes two.
    private volatile Identity _identity;

    /// <summary>Everything an answer takes from the zone's configuration, built once per zone and never changed.</summary>
    private sealed class Identity
    {
        public Identity(ZoneOptions options, OnlineSigner? signer)
        {
            Options = options;
            Signer = signer;
            Zone = new Zone(options);
            ApexLabels = Zone.ApexLabels;
            NameServers = [.. Zone.NameServers];
            GlueCount = Zone.Glue.Count;
            MaxTtl = TimeSpan.FromSeconds(options.MaxTtl);
            UdpPayloadSize = Math.Clamp(options.UdpPayloadSize, ClassicUdpSize, MaxMessageSize);
        }

        public ZoneOptions Options { get; }
        public Zone Zone { get; }
        public byte[][] ApexLabels { get; }
        public NameServer[] NameServers { get; }
        public int GlueCount { get; }
        public TimeSpan MaxTtl { get; }
        public int UdpPayloadSize { get; }

        /// <summary>The zone's online signer when DNSSEC is on (zone.dnssec), else null: answers are as unsigned zones get.</summary>
        public OnlineSigner? Signer { get; }
    }

    /// <summary>Prepares the zone's fixed names and records.</summary>
    /// <exception cref="ArgumentException">A name in <paramref name="options"/> is not a valid DNS name, or a time is negative.</exception>
    public DnsResponder(ZoneOptions options, SnapshotHolder snapshots, TimeProvider time)
        : this(options, snapshots, time, null)
    {
    }

    /// <summary>Prepares the zone, signed online with <paramref name="signer"/>'s keys when it is not null (SPEC section 2.12).</summary>
    /// <exception cref="ArgumentException">As the other constructor; or the key set is another zone's.</exception>
    public DnsResponder(ZoneOptions options, SnapshotHolder snapshots, TimeProvider time, OnlineSigner? signer)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(snapshots);
        ArgumentNullException.ThrowIfNull(time);
        _snapshots = snapshots;
        _time = time;
        _signer = signer;
        _identity = new Identity(options, signer);
        if (signer is not null && !signer.Keys.Zone.Equals(_identity.Zone.Apex.ToLowerInvariant() + ".", StringComparison.Ordinal))
            throw new ArgumentException($"the key set is for {signer.Keys.Zone}, the zone is {_identity.Zone.Apex}", nameof(signer));
    }

    private volatile OnlineSigner? _signer;
    private readonly Lock _swap = new();

    /// <summary>The online signer (null: the zone is not signed).</summary>
    public OnlineSigner? Signer => _signer;

    /// <summary>
    /// Signs with <paramref name="keys"/> from the next query on (a rollover's phase, or a rewritten key set file): a new
    /// online signer, whose caches start empty (no signature by a key that stopped signing is served from them), swapped
    /// in with the zone as one reference, and the transfers' signer told. The caller advances the serial, so secondaries
    /// transfer the zone with the new DNSKEY RRset and RRSIGs.
    /// </summary>
    /// <exception cref="InvalidOperationException">The zone is not signed.</exception>
    /// <exception cref="ArgumentException">The key set is another zone's.</exception>
    public void UseKeys(DnssecKeySet keys)
    {
        ArgumentNullException.ThrowIfNull(keys);
        lock (_swap)
        {
            if (_signer is null) throw new InvalidOperationException("the zone is not signed: no keys to replace");
            if (!keys.Zone.Equals(_identity.Zone.Apex.ToLowerInvariant() + ".", StringComparison.Ordinal))
                throw new ArgumentException($"the key set is for {keys.Zone}, the zone is {_identity.Zone.Apex}", nameof(keys));
            var signer = new OnlineSigner(keys);
            _identity = new Identity(_identity.Options, signer);
            _signer = signer;
            TransferSigner?.Use(keys);
        }
    }

    /// <summary>The differences between published serials that IXFR answers from; null sends the whole zone to every IXFR.</summary>
    public ZoneJournal? Journal { get; init; }

    /// <summary>For a signed zone, the signer of its transfers (AXFR and IXFR carry the pre-signed zone, NSEC3 and RRSIGs).</summary>
    public Dnssec.TransferSigner? TransferSigner { get; init; }

    /// <summary>The zone model every record of the apex comes from (the one in use now).</summary>
    public Zone Zone => _identity.Zone;

    /// <summary>The clock answers are evaluated by (a certificate's validity, a CRL's nextUpdate, signature windows).</summary>
    public TimeProvider Time => _time;

    /// <summary>The zone this responder serves (as in use now).</summary>
    public ZoneOptions Options => _identity.Options;

    /// <summary>
    /// Serves <paramref name="options"/> from the next query on: the new zone is built and checked off to the side, then
    /// published with one reference swap, so every answer is wholly the old zone's or wholly the new one's. The apex
    /// stays (a running server answers one zone); the caller advances the serial, as for any change of the zone.
    /// </summary>
    /// <returns>The zone now served.</returns>
    /// <exception cref="ArgumentException">The options are not a valid zone, or name another apex; the old zone stays.</exception>
    public Zone UseZone(ZoneOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        lock (_swap)
        {
            var next = new Identity(options, _signer);
            if (!next.Zone.Apex.Equals(_identity.Zone.Apex, StringComparison.OrdinalIgnoreCase))
                throw new ArgumentException($"the zone is {_identity.Zone.Apex}: another apex ({next.Zone.Apex}) needs a restart", nameof(options));
            _identity = next;
            return next.Zone;
        }
    }

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
    /// <param name="tcp">Whether the query came over TCP; transfers are TCP-only (over UDP an allowed IXFR gets the SOA).</param>
    /// <param name="transferAllowed">Whether the client's address is on the transfer ACL.</param>
    /// <param name="transfer">The transfer to send (the return value is then 0), or null for an ordinary answer.</param>
    public int Respond(ReadOnlySpan<byte> query, Span<byte> response, int maxResponseSize, bool tcp, bool transferAllowed, out TransferMessages? transfer) =>
        Respond(query, response, maxResponseSize, tcp, transferAllowed, default, null, out transfer);

    /// <summary>
    /// Answers <paramref name="query"/> from the client at <paramref name="clientAddress"/>: as the other overloads do,
    /// with its DNS cookie checked and answered (<see cref="Cookies"/>), and over UDP the answer charged to
    /// <paramref name="limiter"/> unless the client showed a valid server cookie.
    /// </summary>
    /// <param name="query">One DNS message, exactly as received (for TCP, without the length prefix).</param>
    /// <param name="response">Where to write the answer; 65535 bytes hold any answer.</param>
    /// <param name="maxResponseSize">A further cap on the response, as for the ordinary answer.</param>
    /// <param name="tcp">Whether the query came over TCP (never rate-limited).</param>
    /// <param name="transferAllowed">Whether the client's address is on the transfer ACL.</param>
    /// <param name="clientAddress">The client's address, 4 or 16 octets (an IPv4-mapped one as its 4).</param>
    /// <param name="limiter">The response rate limiter for this listener, or null for none.</param>
    /// <param name="transfer">The transfer to send (the return value is then 0), or null for an ordinary answer.</param>
    /// <returns>The response length, or 0 when nothing is to be sent (not to be answered, or rate-limited).</returns>
    public int Respond(ReadOnlySpan<byte> query, Span<byte> response, int maxResponseSize, bool tcp, bool transferAllowed,
        ReadOnlySpan<byte> clientAddress, RateLimiter? limiter, out TransferMessages? transfer) =>
        Respond(query, response, maxResponseSize, tcp, transferAllowed, clientAddress, limiter, _time.GetUtcNow(), out transfer);

    /// <summary>
    /// As the overload without <paramref name="at"/>, answered as of <paramref name="at"/>, a reading of <see cref="Time"/>:
    /// the UDP loop reads the clock once for the queries one receive brought (they all arrived before it), not once each.
    /// </summary>
    public int Respond(ReadOnlySpan<byte> query, Span<byte> response, int maxResponseSize, bool tcp, bool transferAllowed,
        ReadOnlySpan<byte> clientAddress, RateLimiter? limiter, DateTimeOffset at, out TransferMessages? transfer)
    {
        CertStatus status = CertStatus.Unknown;
        ZoneView view = ZoneView.Combined;
        var cookie = CookieOutcome.None;
        int length = RespondCore(query, response, maxResponseSize, tcp, transferAllowed, clientAddress, at, out transfer, ref status, ref view, ref cookie);
        if (transfer is not null) Counters.Transfer(transfer.Kind);
        else if (length > 0) Counters.Query(tcp, response[3] & 0x0F, status, view);
        if (cookie != CookieOutcome.None) Counters.Cookie(cookie);
        // Response rate limiting (UDP only): a client that proved its address with a server cookie is not limited.
        if (limiter is not null && !tcp && length > 0 && cookie != CookieOutcome.Valid)
        {
            var kind = Classify(response);
            switch (limiter.Check(clientAddress, kind))
            {
                case RateDecision.Drop:
                    Counters.RateLimited();
                    return 0;
                case RateDecision.Slip:
                    Counters.Slipped();
                    return Slip(query, response, kind);
            }
        }
        return length;
    }

    /// <summary>
    /// The server cookies queries' COOKIE options are checked against and answered with (RFC 7873, RFC 9018); null
    /// (the default): cookies are off and COOKIE options are ignored (RFC 7873 section 5.2.1).
    /// </summary>
    public ServerCookies? Cookies { get; init; }

    /// <summary>The kind of a response written, for the rate limiter.</summary>
    private static ResponseKind Classify(ReadOnlySpan<byte> response) => (response[3] & 0x0F) switch
    {
        ResponseCode.NoError => BinaryPrimitives.ReadUInt16BigEndian(response[6..]) > 0 ? ResponseKind.Answer : ResponseKind.NoData,
        ResponseCode.NxDomain => ResponseKind.NxDomain,
        _ => ResponseKind.Error,
    };

    /// <summary>
    /// A slipped response: TC=1, the question and the OPT (no cookie), never longer than the query, so a flood gains
    /// nothing by it and a real client asks again over TCP (RFC 2181 section 9). A slipped answer says SERVFAIL: a
    /// client that ignores TC must not read a listed certificate's truncated answer as "not listed" (fail closed).
    /// Denials and errors keep saying what they said.
    /// </summary>
    private int Slip(ReadOnlySpan<byte> query, Span<byte> response, ResponseKind kind)
    {
        Span<ushort> labelStarts = stackalloc ushort[DnsQuery.MaxLabels];
        var q = new DnsQuery(query, labelStarts);
        bool question = q.Parse() && !q.NoQuestion;
        int rcode = kind switch
        {
            ResponseKind.NoData => ResponseCode.NoError,
            ResponseKind.NxDomain => ResponseCode.NxDomain,
            _ => ResponseCode.ServFail,
        };
        var buffer = response[..Math.Min(response.Length, query.Length)];
        return question ? Truncated(_identity, ref q, buffer, rcode) : BareTruncated(ref q, buffer, rcode);
    }

    /// <summary>The header alone, TC set: all a slip of an unparsed query says.</summary>
    private static int BareTruncated(ref DnsQuery q, Span<byte> buffer, int rcode)
    {
        var w = new WireWriter(buffer);
        WriteHeader(ref w, ref q, rcode, authoritative: false);
        buffer[2] |= 0x02;
        BinaryPrimitives.WriteUInt16BigEndian(buffer[4..], 0);
        return DnsQuery.HeaderLength;
    }

    /// <summary>What the answer path counts; read by the metrics endpoint.</summary>
    public QueryCounters Counters { get; } = new();

    private int RespondCore(ReadOnlySpan<byte> query, Span<byte> response, int maxResponseSize, bool tcp, bool transferAllowed, ReadOnlySpan<byte> clientAddress,
        DateTimeOffset at, out TransferMessages? transfer, ref CertStatus answered, ref ZoneView answeredView, ref CookieOutcome cookie)
    {
        transfer = null;
        var z = _identity;
        // RFC 1035 section 4.1.1: without a whole header there is no ID to answer; responses are never answered.
        if (query.Length < DnsQuery.HeaderLength || (query[2] & 0x80) != 0) return 0;

        Span<ushort> labelStarts = stackalloc ushort[DnsQuery.MaxLabels];
        var q = new DnsQuery(query, labelStarts);
        bool wellFormed = q.Parse();

        int limit = tcp ? MaxMessageSize : q.HasOpt ? Math.Clamp((int)q.UdpPayloadSize, ClassicUdpSize, z.UdpPayloadSize) : ClassicUdpSize;
        limit = Math.Min(Math.Min(limit, maxResponseSize), response.Length);
        if (limit < DnsQuery.HeaderLength) return 0;
        var buffer = response[..limit];

        int opcode = (query[2] >> 3) & 0xF;
        if (opcode != 0) return Error(z, ref q, buffer, ResponseCode.NotImp);
        if (!wellFormed) return Error(z, ref q, buffer, ResponseCode.FormErr);
        // DNS cookies (RFC 7873 section 5.2): every response to a COOKIE carries the client's cookie and a server cookie.
        Span<byte> responseCookie = stackalloc byte[ServerCookies.ResponseLength];
        if (Cookies is { } cookies && q.HasCookie)
        {
            cookie = cookies.Check(q.Cookie, clientAddress, responseCookie);
            // Section 5.2.2: a COOKIE of a length no cookie has is a malformed query.
            if (cookie == CookieOutcome.Malformed) return Error(z, ref q, buffer, ResponseCode.FormErr);
            q.ResponseCookie = responseCookie;
        }
        if (q.NoQuestion)
        {
            // Section 5.4: no question, only a COOKIE, asks for a server cookie: NOERROR, or BADCOOKIE when the one it
            // showed is not valid. Anything else without a question is malformed (RFC 9619).
            if (cookie == CookieOutcome.None) return Error(z, ref q, buffer, ResponseCode.FormErr);
            return Error(z, ref q, buffer, cookie == CookieOutcome.Invalid ? ResponseCode.BadCookie : ResponseCode.NoError);
        }
        // RFC 6891 section 6.1.3: we speak EDNS version 0 only.
        if (q.HasOpt && q.EdnsVersion > 0) return Error(z, ref q, buffer, ResponseCode.BadVers);
        if (q.QClass != ClassIn && q.QClass != ClassAny) return Error(z, ref q, buffer, ResponseCode.Refused);
        // RFC 5936 section 4.2: AXFR is TCP-only; other transfers only to the ACL's clients, only of the apex.
        if (q.QType == RecordType.Axfr && !tcp) return Error(z, ref q, buffer, ResponseCode.FormErr);
        if (q.QType is RecordType.Axfr or RecordType.Ixfr)
        {
            // An IXFR whose SOA could not be read is no transfer request we can serve: refused like any other.
            if (transferAllowed && tcp && (q.QType == RecordType.Axfr || q.IxfrSerial is not null)
                && q.LabelCount == z.ApexLabels.Length && EndsWithApex(z, ref q, 0))
            {
                transfer = ZoneTransfer.Start(q.Id, q.Question, _snapshots.Current, z.Zone, at,
                    q.QType == RecordType.Ixfr ? q.IxfrSerial : null, Journal, TransferSigner);
                return 0;
            }
            // RFC 1995 section 2: an IXFR over UDP whose answer does not fit one packet gets the current SOA alone, which
            // tells the client to ask over TCP (or, at its own serial, that it is current). Ours never fits: the SOA it is.
            if (transferAllowed && !tcp && q.QType == RecordType.Ixfr && q.IxfrSerial is not null
                && q.LabelCount == z.ApexLabels.Length && EndsWithApex(z, ref q, 0))
                return IxfrOverUdp(z, ref q, buffer);
            Counters.TransferRefused();
            return Error(z, ref q, buffer, ResponseCode.Refused);
        }

        int below = q.LabelCount - z.ApexLabels.Length;
        if (below < 0 || !EndsWithApex(z, ref q, below)) return Error(z, ref q, buffer, ResponseCode.Refused);

        try
        {
            return Answer(z, ref q, buffer, below, at, ref answered, ref answeredView);
        }
        catch (DirectoryUnavailableException)
        {
            // A SHA-1, MD5 or key lookup could not reach the store: say so, rather than deny a listed certificate.
            return Error(z, ref q, buffer, ResponseCode.ServFail);
        }
    }

    /// <summary>Whether <paramref name="query"/>'s question asks for IXFR (a cheap look before the full parse).</summary>
    internal static bool AsksIxfr(ReadOnlySpan<byte> query)
    {
        int pos = DnsQuery.HeaderLength;
        while (pos < query.Length && query[pos] != 0)
        {
            if ((query[pos] & 0xC0) != 0) return false;
            pos += 1 + query[pos];
        }
        return pos + 3 <= query.Length && BinaryPrimitives.ReadUInt16BigEndian(query[(pos + 1)..]) == RecordType.Ixfr;
    }

    private int Answer(Identity z, ref DnsQuery q, Span<byte> buffer, int below, DateTimeOffset now, ref CertStatus answered, ref ZoneView answeredView)
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
        // DNSSEC (SPEC section 2.12): signatures only for a signed zone and a client that set DO; every RRset written
        // below gets its RRSIGs right after it, from the signer's cache. nsecTypes is the NSEC bitmap of what exists
        // at the name, for a denial.
        var signer = q.DnssecOk ? z.Signer : null;
        var (window, intoStep) = signer is null ? default : OnlineSigner.WindowAt(now);
        Span<byte> keyBuffer = signer is null ? default : stackalloc byte[RrsetKey.MaxLength];
        ReadOnlySpan<byte> nsecTypes = NsecBitmaps.Empty;

        if (below == 0)
        {
            nsecTypes = NsecBitmaps.Apex;
            if (qtype is RecordType.Soa or RecordType.Any)
            {
                // RFC 8482 section 4.2: ANY gets one RRset, and the SOA is the one a resolver needs.
                WriteSoa(z, ref w, apexPointer, z.Zone.ApexTtl, snapshot.Serial);
                answers = 1;
                if (signer is not null) answers += WriteRrsigs(ref w, signer, SoaKey(z, keyBuffer, snapshot.Serial), window, intoStep, false, apexPointer, z.Zone.ApexTtl);
            }
            else if (qtype == DnssecType.Dnskey && z.Signer is not null)
            {
                // The DNSKEY RRset is the zone's data once it is signed, asked with DO or not.
                var dnskeys = z.Signer.Keys.DnskeyRdatas;
                for (int i = 0; i < dnskeys.Count; i++)
                {
                    WriteRecordStart(ref w, apexPointer, DnssecType.Dnskey, z.Zone.ApexTtl);
                    w.U16(dnskeys[i].Length);
                    w.Bytes(dnskeys[i].Span);
                }
                answers = dnskeys.Count;
                if (signer is not null) answers += WriteRrsigs(ref w, signer, DnskeyKey(z, keyBuffer), window, intoStep, false, apexPointer, z.Zone.ApexTtl);
            }
            else if (qtype == RecordType.Ns)
            {
                // Where each NS RDATA starts, so the glue's owner can point at it.
                Span<int> rdataAt = stackalloc int[Zone.MaxNameServers];
                for (int i = 0; i < z.NameServers.Length; i++) rdataAt[i] = WriteNs(z, ref w, z.NameServers[i], apexPointer);
                answers = z.NameServers.Length;
                if (signer is not null) answers += WriteRrsigs(ref w, signer, NsKey(z, keyBuffer), window, intoStep, false, apexPointer, z.Zone.ApexTtl);
                // In-zone name servers: their addresses go along, as glue would (RFC 1034 section 4.3.2).
                for (int i = 0; i < z.NameServers.Length; i++)
                {
                    var glue = z.NameServers[i].Glue;
                    for (int g = 0; g < glue.Count; g++) WriteNsAddress(ref w, z.NameServers[i], glue[g], rdataAt[i], apexPointer);
                }
                additional = z.GlueCount;
            }
        }
        else if (NameServerAt(z, ref q, below) is { } nameServer)
        {
            // RFC 8482: ANY gets one RRset, the first address's type.
            ushort type = qtype == RecordType.Any && nameServer.Glue.Count > 0 ? nameServer.Glue[0].Type : qtype;
            var glueKey = signer is null ? default : new RrsetKey(keyBuffer, nameServer.Wire, type, z.Zone.ApexTtl);
            // Indexed, not foreach: an IReadOnlyList's enumerator is an allocation per query.
            for (int g = 0; g < nameServer.Glue.Count; g++)
            {
                var glue = nameServer.Glue[g];
                if (glue.Type != type) continue;
                WriteRecordStart(ref w, PointerToQuestion, glue.Type, (uint)glue.Ttl);
                w.U16(glue.Rdata.Length);
                w.Bytes(glue.Rdata.Span);
                answers++;
                if (signer is not null) glueKey.Add(glue.Rdata.Span);
            }
            if (signer is not null && answers > 0) answers += WriteRrsigs(ref w, signer, glueKey.Span, window, intoStep, false, PointerToQuestion, z.Zone.ApexTtl);
            nsecTypes = NsecBitmaps.Addresses(nameServer);
        }
        else if (IsAboveNameServer(z, ref q, below))
        {
            // An empty non-terminal on the way to an in-zone name server: it exists (RFC 8020), with no data.
        }
        else
        {
            // The labels below the apex, still in wire form, go straight to the codec: nothing is copied or allocated.
            Span<byte> digest = stackalloc byte[NameCodec.MaxDigestLength];
            var name = NameCodec.Decode(q.Message[DnsQuery.HeaderLength..q.LabelStart(below)], digest);
            digest = digest[..name.DigestLength];
            answeredView = name.View;
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
                        verdict = snapshot.Evaluate(name.Digest, digest, name.IsKey, now, z.MaxTtl);
                        (found, cacheFor) = verdict is { } v ? (v.Status, v.Ttl) : (CertStatus.Unknown, TimeSpan.Zero);
                    }
                    else
                    {
                        found = snapshot.Answer(name.Digest, digest, name.IsKey, now, z.MaxTtl, out cacheFor);
                    }
                    // A status the view does not publish is, to that view's clients, not listed at all.
                    if (found != CertStatus.Unknown && StatusCodes.VisibleIn(found, name.View))
                    {
                        status = found;
                        ttl = (uint)Math.Clamp(cacheFor.TotalSeconds, 0, z.Options.MaxTtl);
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
                        ttl = (uint)z.Options.MaxTtl;
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

            answered = status;
            if (status != CertStatus.Unknown)
            {
                nsecTypes = NsecBitmaps.Listed;
                int rdataAt = 0;
                if (qtype is RecordType.A or RecordType.Any)
                {
                    // RFC 8482: ANY at a listed name gets the A record only.
                    var address = StatusCodes.Address(status);
                    WriteRecordStart(ref w, PointerToQuestion, RecordType.A, ttl);
                    w.U16(address.Length);
                    rdataAt = w.Position;
                    w.Bytes(address);
                    answers = 1;
                }
                else if (qtype == RecordType.Txt)
                {
                    var text = name.Kind == NameKind.TestEntry ? TestTexts[(int)status] : verdict!.Text;
                    rdataAt = w.Position + 12;
                    WriteTxt(ref w, text, ttl);
                    answers = 1;
                }
                // Signed with the zone's largest TTL as the original, so the signature holds whatever TTL the CRL
                // leaves this answer (RFC 4035 section 5.3.3 takes the original TTL from the RRSIG).
                if (signer is not null && answers == 1 && !w.Overflow)
                {
                    var key = new RrsetKey(keyBuffer, QueryName(ref q), qtype == RecordType.Txt ? RecordType.Txt : RecordType.A, (uint)z.Options.MaxTtl);
                    key.Add(buffer[rdataAt..w.Position]);
                    answers += WriteRrsigs(ref w, signer, key.Span, window, intoStep, false, PointerToQuestion, ttl);
                }
            }
            else if (rcode == ResponseCode.NxDomain)
            {
                nsecTypes = NsecBitmaps.NxName;
            }
        }

        int authority = 0;
        if (answers == 0)
        {
            // RFC 2308 section 3: NXDOMAIN and NODATA carry the SOA so the denial can be cached.
            WriteSoa(z, ref w, apexPointer, z.Zone.NegativeTtl, snapshot.Serial);
            authority = 1;
            if (signer is not null)
            {
                authority += WriteRrsigs(ref w, signer, SoaKey(z, keyBuffer, snapshot.Serial), window, intoStep, false, apexPointer, z.Zone.NegativeTtl);
                authority += WriteCompactDenial(ref w, signer, z, ref q, keyBuffer, window, intoStep, nsecTypes);
                // RFC 9824 section 3: the name that does not exist answers NOERROR with NXNAME in the NSEC, unless
                // the client asked for the real RCODE with CO (section 4).
                if (rcode == ResponseCode.NxDomain && !q.CompactOk) rcode = ResponseCode.NoError;
            }
        }
        if (q.HasOpt)
        {
            WriteOpt(z, ref w, 0, ref q);
            additional++;
        }
        if (w.Overflow) return Truncated(z, ref q, buffer, rcode);

        buffer[3] = (byte)((buffer[3] & 0xF0) | rcode);
        BinaryPrimitives.WriteUInt16BigEndian(buffer[6..], (ushort)answers);
        BinaryPrimitives.WriteUInt16BigEndian(buffer[8..], (ushort)authority);
        BinaryPrimitives.WriteUInt16BigEndian(buffer[10..], (ushort)additional);
        return w.Position;
    }

    /// <summary>RFC 2181 section 9: what fits is the header, the question and the OPT, with TC set.</summary>
    private static int Truncated(Identity z, ref DnsQuery q, Span<byte> buffer, int rcode)
    {
        var w = new WireWriter(buffer);
        WriteHeader(ref w, ref q, rcode, authoritative: true);
        w.Bytes(q.Question);
        if (q.HasOpt) WriteOpt(z, ref w, 0, ref q);
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
    private static int Error(Identity z, ref DnsQuery q, Span<byte> buffer, int rcode)
    {
        var w = new WireWriter(buffer);
        WriteHeader(ref w, ref q, rcode, authoritative: false);
        bool question = q.QuestionEnd > 0;
        if (question) w.Bytes(q.Question);
        // RFC 6891 section 7: a responder that understood the OPT includes one, also in errors.
        if (q.HasOpt) WriteOpt(z, ref w, rcode >> 4, ref q);
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

    private static void WriteOpt(Identity z, ref WireWriter w, int extendedRcode, ref DnsQuery q)
    {
        var cookie = q.ResponseCookie;
        w.U8(0);
        w.U16(RecordType.Opt);
        w.U16(z.UdpPayloadSize);
        // EXTENDED-RCODE, VERSION 0, and DO copied from the query (RFC 3225 section 3); CO copied when the zone is
        // signed, saying we understood it (RFC 9824 section 4).
        uint flags = (q.DnssecOk ? DnssecType.DnssecOkFlag : 0u) | (q.CompactOk && z.Signer is not null ? DnssecType.CompactOkFlag : 0u);
        w.U32(((uint)extendedRcode << 24) | flags);
        if (cookie.IsEmpty)
        {
            w.U16(0);
            return;
        }
        // RFC 7873 section 4: the COOKIE option, the client cookie followed by our server cookie.
        w.U16(4 + cookie.Length);
        w.U16(OptionCode.Cookie);
        w.U16(cookie.Length);
        w.Bytes(cookie);
    }

    /// <summary>RFC 1995 section 2: the current SOA alone, AA, in the answer section.</summary>
    private int IxfrOverUdp(Identity z, ref DnsQuery q, Span<byte> buffer)
    {
        var w = new WireWriter(buffer);
        WriteHeader(ref w, ref q, ResponseCode.NoError, authoritative: true);
        w.Bytes(q.Question);
        WriteSoa(z, ref w, PointerToQuestion, z.Zone.ApexTtl, _snapshots.Current.Serial);
        if (q.HasOpt) WriteOpt(z, ref w, 0, ref q);
        if (w.Overflow) return Truncated(z, ref q, buffer, ResponseCode.NoError);
        BinaryPrimitives.WriteUInt16BigEndian(buffer[6..], 1);
        BinaryPrimitives.WriteUInt16BigEndian(buffer[10..], (ushort)(q.HasOpt ? 1 : 0));
        return w.Position;
    }

    /// <summary>The RRSIGs of the RRset <paramref name="key"/> describes, owned by <paramref name="ownerPointer"/>; returns how many.</summary>
    private static int WriteRrsigs(ref WireWriter w, OnlineSigner signer, scoped ReadOnlySpan<byte> key, SignatureWindow window, uint intoStep,
        bool negative, ushort ownerPointer, uint ttl)
    {
        var signatures = signer.Signatures(key, window, negative, OnlineSigner.Step, intoStep);
        foreach (var rrsig in signatures)
        {
            WriteRecordStart(ref w, ownerPointer, DnssecType.Rrsig, ttl);
            w.U16(rrsig.Length);
            w.Bytes(rrsig);
        }
        return signatures.Length;
    }

    /// <summary>
    /// Compact Denial of Existence (RFC 9824 section 3): one NSEC at the query name, next name <c>\000.qname</c>, the
    /// types that exist there (<paramref name="types"/>: NXNAME for a name that does not), and its RRSIGs; the TTL
    /// is the negative TTL (RFC 4034 section 4). Returns the records written.
    /// </summary>
    private static int WriteCompactDenial(ref WireWriter w, OnlineSigner signer, Identity z, ref DnsQuery q, scoped Span<byte> keyBuffer,
        SignatureWindow window, uint intoStep, scoped ReadOnlySpan<byte> types)
    {
        var qname = QueryName(ref q);
        uint ttl = z.Zone.NegativeTtl;
        var key = new RrsetKey(keyBuffer, qname, DnssecType.Nsec, ttl);
        var rdata = key.BeginRdata();
        rdata[0] = 1;
        rdata[1] = 0;
        int length = 2 + CanonicalName.CopyLower(qname, rdata[2..]);
        types.CopyTo(rdata[length..]);
        length += types.Length;
        key.EndRdata(length);
        WriteRecordStart(ref w, PointerToQuestion, DnssecType.Nsec, ttl);
        w.U16(length);
        // The next name is written out, never compressed (RFC 4034 section 4.1.1), lower case as signed.
        w.Bytes(rdata[..length]);
        return 1 + WriteRrsigs(ref w, signer, key.Span, window, intoStep, types == NsecBitmaps.NxName, PointerToQuestion, ttl);
    }

    /// <summary>The question's name, uncompressed as received.</summary>
    private static ReadOnlySpan<byte> QueryName(ref DnsQuery q) => q.Message[DnsQuery.HeaderLength..(q.QuestionEnd - 4)];

    private static ReadOnlySpan<byte> SoaKey(Identity z, Span<byte> keyBuffer, uint serial)
    {
        var key = new RrsetKey(keyBuffer, z.Zone.ApexWire, RecordType.Soa, z.Zone.ApexTtl);
        var rdata = key.BeginRdata();
        int n = CanonicalName.CopyLower(z.Zone.NameServers[0].Wire, rdata);
        n += CanonicalName.CopyLower(z.Zone.HostmasterWire, rdata[n..]);
        BinaryPrimitives.WriteUInt32BigEndian(rdata[n..], serial);
        BinaryPrimitives.WriteUInt32BigEndian(rdata[(n + 4)..], (uint)z.Options.Refresh);
        BinaryPrimitives.WriteUInt32BigEndian(rdata[(n + 8)..], (uint)z.Options.Retry);
        BinaryPrimitives.WriteUInt32BigEndian(rdata[(n + 12)..], (uint)z.Options.Expire);
        BinaryPrimitives.WriteUInt32BigEndian(rdata[(n + 16)..], (uint)z.Options.Minimum);
        key.EndRdata(n + 20);
        return keyBuffer[..key.Length];
    }

    private static ReadOnlySpan<byte> NsKey(Identity z, Span<byte> keyBuffer)
    {
        var key = new RrsetKey(keyBuffer, z.Zone.ApexWire, RecordType.Ns, z.Zone.ApexTtl);
        foreach (var ns in z.NameServers)
        {
            var rdata = key.BeginRdata();
            key.EndRdata(CanonicalName.CopyLower(ns.Wire, rdata));
        }
        return keyBuffer[..key.Length];
    }

    private static ReadOnlySpan<byte> DnskeyKey(Identity z, Span<byte> keyBuffer)
    {
        var key = new RrsetKey(keyBuffer, z.Zone.ApexWire, DnssecType.Dnskey, z.Zone.ApexTtl);
        var dnskeys = z.Signer!.Keys.DnskeyRdatas;
        for (int i = 0; i < dnskeys.Count; i++) key.Add(dnskeys[i].Span);
        return keyBuffer[..key.Length];
    }

    private static void WriteRecordStart(ref WireWriter w, ushort owner, ushort type, uint ttl)
    {
        w.U16(owner);
        w.U16(type);
        w.U16(ClassIn);
        w.U32(ttl);
    }

    private static void WriteSoa(Identity z, ref WireWriter w, ushort apexPointer, uint ttl, uint serial)
    {
        WriteRecordStart(ref w, apexPointer, RecordType.Soa, ttl);
        int lengthAt = w.Position;
        w.U16(0);
        int start = w.Position;
        z.Zone.WriteSoaRdata(ref w, serial, apexPointer);
        w.PatchU16(lengthAt, w.Position - start);
    }

    /// <returns>Where the NS RDATA (the name server's name) starts.</returns>
    private static int WriteNs(Identity z, ref WireWriter w, NameServer ns, ushort apexPointer)
    {
        WriteRecordStart(ref w, apexPointer, RecordType.Ns, z.Zone.ApexTtl);
        int lengthAt = w.Position;
        w.U16(0);
        int start = w.Position;
        ns.Name_.Write(ref w, apexPointer);
        w.PatchU16(lengthAt, w.Position - start);
        return start;
    }

    /// <summary>A name server's address as additional data, its owner pointing at the NS RDATA already written.</summary>
    private static void WriteNsAddress(ref WireWriter w, NameServer ns, ZoneRecord glue, int nsRdataAt, ushort apexPointer)
    {
        if (nsRdataAt < 0x4000) w.U16(0xC000 | nsRdataAt);
        else ns.Name_.Write(ref w, apexPointer);
        w.U16(glue.Type);
        w.U16(ClassIn);
        w.U32((uint)glue.Ttl);
        w.U16(glue.Rdata.Length);
        w.Bytes(glue.Rdata.Span);
    }

    private static void WriteTxt(ref WireWriter w, string text, uint ttl)
    {
        WriteRecordStart(ref w, PointerToQuestion, RecordType.Txt, ttl);
        int lengthAt = w.Position;
        w.U16(0);
        int start = w.Position;
        ZoneRecord.WriteTxtRdata(ref w, text);
        w.PatchU16(lengthAt, w.Position - start);
    }

    private static bool EndsWithApex(Identity z, ref DnsQuery q, int below)
    {
        for (int i = 0; i < z.ApexLabels.Length; i++)
        {
            if (!AsciiEquals(q.Label(below + i), z.ApexLabels[i])) return false;
        }
        return true;
    }

    /// <summary>The in-zone name server whose name the query asks, or null.</summary>
    private static NameServer? NameServerAt(Identity z, ref DnsQuery q, int below)
    {
        foreach (var ns in z.NameServers)
        {
            if (ns.LabelsBelowApex is { } labels && labels.Length == below && LabelsEqual(ref q, 0, labels, 0, below)) return ns;
        }
        return null;
    }

    /// <summary>Whether the query name is a proper ancestor (below the apex) of an in-zone name server's name.</summary>
    private static bool IsAboveNameServer(Identity z, ref DnsQuery q, int below)
    {
        foreach (var ns in z.NameServers)
        {
            if (ns.LabelsBelowApex is { } labels && labels.Length > below && LabelsEqual(ref q, 0, labels, labels.Length - below, below)) return true;
        }
        return false;
    }

    private static bool LabelsEqual(ref DnsQuery q, int from, byte[][] labels, int labelsFrom, int count)
    {
        for (int i = 0; i < count; i++)
        {
            if (!AsciiEquals(q.Label(from + i), labels[labelsFrom + i])) return false;
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
}
