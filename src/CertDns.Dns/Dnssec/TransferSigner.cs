using CertDns.Core;

namespace CertDns.Dns.Dnssec;

/// <summary>
/// The pre-signed form of the zone that AXFR and IXFR carry to secondaries (NSD, Knot, BIND serve only what they are
/// given): every record of the unsigned transfer with the RRSIGs of its RRset, the DNSKEY RRset signed by the KSKs,
/// NSEC3PARAM at the apex and the NSEC3 chain (RFC 5155, <see cref="Nsec3Parameters.Default"/>) with its RRSIGs, so a
/// secondary answers and denies names provably and without letting them be walked.
/// <para>
/// Signatures are made once per RRset and window and kept (<see cref="TransferSignatureCache"/>): a second AXFR signs nothing
/// that did not change. Each serial keeps the window it was first signed in (<see cref="WindowFor"/>), aligned on
/// <see cref="Step"/>, so every transfer of one serial carries the same RRSIGs and an IXFR step can delete exactly
/// the ones a secondary holds. A step across a new window, one whose old RRSIGs are not held, and the first step after
/// the process starts (the secondaries may hold another process's signatures: ECDSA signatures differ each time)
/// cannot be journalled: <see cref="SignStep"/> says so and the journal starts afresh (secondaries transfer the whole
/// zone).
/// </para>
/// </summary>
public sealed class TransferSigner
{
    /// <summary>The window boundary: signatures are renewed at most once a day.</summary>
    public static readonly TimeSpan DefaultStep = TimeSpan.FromDays(1);

    /// <summary>How long a transfer's signatures hold: a secondary that loses its primary keeps validating this long.</summary>
    public static readonly TimeSpan DefaultValidity = TimeSpan.FromDays(14);

    private const ushort ClassIn = 1;

    private Zone _zone;
    private volatile DnssecKeySet _keys;
    private readonly int _rrsigLength;
    private readonly Lock _lock = new();
    private (uint Serial, SignatureWindow Window) _newest;
    private (uint Serial, SignatureWindow Window) _older;
    private TransferSignatureCache? _cache;
    private TransferSignatureCache? _previousCache;
    private (uint Serial, DateTimeOffset At, Nsec3Chain Chain)? _chain;
    private bool _stepped;

    /// <summary>A signer of <paramref name="zone"/>'s transfers with <paramref name="keys"/>.</summary>
    public TransferSigner(Zone zone, DnssecKeySet keys, Nsec3Parameters? parameters = null, TimeSpan? step = null, TimeSpan? validity = null)
    {
        ArgumentNullException.ThrowIfNull(zone);
        ArgumentNullException.ThrowIfNull(keys);
        if (!string.Equals(keys.Zone.TrimEnd('.'), zone.Apex, StringComparison.OrdinalIgnoreCase))
            throw new ArgumentException($"the key set is for {keys.Zone}, not the zone {zone.Apex}", nameof(keys));
        (_zone, _keys) = (zone, keys);
        Parameters = parameters ?? Nsec3Parameters.Default;
        Step = step ?? DefaultStep;
        Validity = validity ?? DefaultValidity;
        _rrsigLength = RrsigSigner.RdataLength(keys.ZoneWire);
    }

    /// <summary>
    /// Signs <paramref name="zone"/> from now on (a configuration reload changed its name servers, SOA fields or TTLs;
    /// the serial advance that follows empties the journal, so no step spans the two).
    /// </summary>
    public void Use(Zone zone)
    {
        ArgumentNullException.ThrowIfNull(zone);
        lock (_lock)
        {
            _zone = zone;
            _chain = null;
        }
    }

    /// <summary>
    /// Signs with <paramref name="keys"/> from now on (a rollover's phase). The signatures held stay for the keys that
    /// still sign (they are found by key tag); the serial advance that follows empties the journal, so no step spans
    /// two key sets and secondaries transfer the whole zone with the new DNSKEY RRset.
    /// </summary>
    public void Use(DnssecKeySet keys)
    {
        ArgumentNullException.ThrowIfNull(keys);
        if (keys.Zone != _keys.Zone) throw new ArgumentException($"the key set is for {keys.Zone}, not {_keys.Zone}", nameof(keys));
        _keys = keys;
    }

    /// <summary>The NSEC3 parameters of the chain.</summary>
    public Nsec3Parameters Parameters { get; }

    /// <summary>The boundary windows are aligned on.</summary>
    public TimeSpan Step { get; }

    /// <summary>How long signatures hold from their inception.</summary>
    public TimeSpan Validity { get; }

    /// <summary>The signatures held, and the octets they take.</summary>
    public (int Count, long Bytes) Cached
    {
        get
        {
            var cache = Volatile.Read(ref _cache);
            return cache is null ? (0, 0) : (cache.Count, cache.Bytes);
        }
    }

    /// <summary>
    /// The window <paramref name="serial"/>'s signatures are made in: the one it was first signed in; for a serial not
    /// signed yet the newest serial's while less than half of its validity has passed at <paramref name="at"/>, else
    /// the window aligned at <paramref name="at"/>. The newest two serials are remembered.
    /// </summary>
    public SignatureWindow WindowFor(uint serial, DateTimeOffset at)
    {
        lock (_lock)
        {
            if (_newest.Window != default && _newest.Serial == serial) return _newest.Window;
            if (_older.Window != default && _older.Serial == serial) return _older.Window;
            // A new serial keeps the newest serial's window while half its validity is left, so the whole zone is signed
            // again (and every secondary transfers it whole) once in half a validity, not at every window step.
            var window = _newest.Window != default && at >= _newest.Window.InceptionTime && at < _newest.Window.InceptionTime + Validity / 2
                ? _newest.Window
                : SignatureWindow.Aligned(at, Step, Validity);
            (_older, _newest) = (_newest, (serial, window));
            return window;
        }
    }

    /// <summary>
    /// What a secondary holding <paramref name="serial"/> was given, as one line for the served-serial file: the key set's
    /// <see cref="DnssecKeySet.Signature"/> and the serial's signature window (fixed here, at <paramref name="at"/>, if
    /// no transfer fixed it yet). A restart compares it with its own (<see cref="Adopt"/>).
    /// </summary>
    public string FormOf(uint serial, DateTimeOffset at)
    {
        var window = WindowFor(serial, at);
        return string.Create(System.Globalization.CultureInfo.InvariantCulture, $"signed {_keys.Signature}; window {window.Inception} {window.Expiration}");
    }

    /// <summary>
    /// After a restart: takes on the window <paramref name="serial"/> was signed in by the previous process, from its
    /// <see cref="FormOf"/> line, when that line names this signer's keys. The serial's signatures are then made in the
    /// window the secondaries already hold, and <see cref="RenewalDue"/> knows when to supersede it. False when the line
    /// is not this signer's form (unsigned, other keys, unreadable): the secondaries hold another zone under that serial.
    /// </summary>
    public bool Adopt(uint serial, string? form)
    {
        var prefix = $"signed {_keys.Signature}; window ";
        if (form is null || !form.StartsWith(prefix, StringComparison.Ordinal)) return false;
        var parts = form[prefix.Length..].Split(' ');
        if (parts.Length != 2
            || !uint.TryParse(parts[0], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var inception)
            || !uint.TryParse(parts[1], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var expiration)
            || expiration <= inception)
            return false;
        lock (_lock)
        {
            (_older, _newest) = (_newest, (serial, new SignatureWindow(inception, expiration)));
        }
        return true;
    }

    /// <summary>
    /// When <paramref name="serial"/> must be superseded by a newer serial: half the validity after its signatures'
    /// inception. Secondaries serve the RRSIGs they were given until those expire and then answer bogus; a newer serial,
    /// signed in a newer window (<see cref="WindowFor"/>), reaches them with the other half left. Null when this process has
    /// not signed <paramref name="serial"/>.
    /// </summary>
    public DateTimeOffset? RenewalDue(uint serial)
    {
        lock (_lock)
        {
            var window = _newest.Window != default && _newest.Serial == serial ? _newest.Window
                : _older.Window != default && _older.Serial == serial ? _older.Window
                : default;
            return window == default ? null : window.InceptionTime + Validity / 2;
        }
    }

    /// <summary>
    /// The whole signed zone in transfer order: SOA, the apex RRsets (NS, DNSKEY, NSEC3PARAM) and glue, every name's
    /// A and TXT, the NSEC3 chain, each RRset followed by its RRSIGs, and the SOA again.
    /// </summary>
    public IEnumerable<ZoneRecord> Axfr(StatusSnapshot snapshot, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(snapshot);
        var window = WindowFor(snapshot.Serial, now);
        var cache = CacheFor(window);
        var chain = Chain(snapshot, now, keep: false);
        // One key set for the whole transfer, whatever a rollover swaps in meanwhile.
        var keys = _keys;
        var apexRecords = _zone.ApexRecords(snapshot.Serial).ToList();
        var dnskeys = keys.DnskeyRdatas.Select(r => new ZoneRecord(_zone.Apex, DnssecType.Dnskey, (int)_zone.ApexTtl, r)).ToList();
        var nsec3Param = new ZoneRecord(_zone.Apex, DnssecType.Nsec3Param, (int)_zone.ApexTtl, Parameters.ParamRdata());
        // The apex's RRsets, then the glue's, grouped by owner and type as they come.
        var rrsets = new List<List<ZoneRecord>> { apexRecords.Take(1).ToList() };
        foreach (var record in apexRecords.Skip(1).Concat(dnskeys).Append(nsec3Param))
        {
            var last = rrsets[^1];
            if (last[0].Type == record.Type && string.Equals(last[0].Owner, record.Owner, StringComparison.OrdinalIgnoreCase)) last.Add(record);
            else rrsets.Add([record]);
        }
        foreach (var rrset in rrsets)
        {
            foreach (var record in rrset) yield return record;
            foreach (var rrsig in Rrsigs(keys, rrset, (uint)rrset[0].Ttl, window, cache, sign: true)!) yield return rrsig;
        }
        var one = new List<ZoneRecord>(1) { default };
        foreach (var record in _zone.EntryRecords(snapshot, now))
        {
            // A name's A and its TXT are an RRset each; the TXT RDATA is valid until the next record is asked for, so
            // it is signed before the record is passed on.
            one[0] = record;
            var rrsigs = Rrsigs(keys, one, EntryTtl, window, cache, sign: true)!;
            yield return record;
            foreach (var rrsig in rrsigs) yield return rrsig;
        }
        foreach (var record in chain.Records((int)_zone.NegativeTtl))
        {
            one[0] = record;
            var rrsigs = Rrsigs(keys, one, _zone.NegativeTtl, window, cache, sign: true)!;
            yield return record;
            foreach (var rrsig in rrsigs) yield return rrsig;
        }
        yield return apexRecords[0];
    }

    /// <summary>
    /// Adds to an IXFR step's <paramref name="deleted"/> and <paramref name="added"/> records (the names' A and TXT that
    /// changed from <paramref name="before"/> to <paramref name="now"/>) what the signed zone changes with them: the
    /// RRSIGs of those RRsets, the old SOA's RRSIG and the new one's, and the NSEC3 records that changed with theirs.
    /// False when the step cannot be signed (see the class): the journal then starts afresh.
    /// </summary>
    internal bool SignStep(StatusSnapshot before, DateTimeOffset beforeAt, StatusSnapshot now, DateTimeOffset nowAt, List<ZoneRecord> deleted, List<ZoneRecord> added)
    {
        ArgumentNullException.ThrowIfNull(before);
        ArgumentNullException.ThrowIfNull(now);
        if (!_stepped)
        {
            // Secondaries may hold the signatures of another process for the serial before: they transfer the whole zone once.
            _stepped = true;
            Chain(now, nowAt);
            return false;
        }
        var window = WindowFor(before.Serial, beforeAt);
        if (WindowFor(now.Serial, nowAt) != window) return false;
        var cache = CacheFor(window);
        var keys = _keys;
        var oldChain = Chain(before, beforeAt);
        var newChain = Chain(now, nowAt);
        var nsec3Deleted = new List<ZoneRecord>();
        var nsec3Added = new List<ZoneRecord>();
        Nsec3Chain.Difference(oldChain, newChain, (int)_zone.NegativeTtl, nsec3Deleted, nsec3Added);

        var signedDeleted = new List<ZoneRecord>();
        var signedAdded = new List<ZoneRecord>();
        var gone = new List<UInt128>();
        var one = new List<ZoneRecord>(1) { default };
        // Each RRset that went: its RRSIGs as the secondaries hold them, or the step cannot be written.
        foreach (var (records, ttl) in new[] { (deleted, EntryTtl), (nsec3Deleted, _zone.NegativeTtl), ([_zone.Soa(before.Serial)], _zone.ApexTtl) })
        {
            foreach (var record in records)
            {
                one[0] = record;
                var rrsigs = Rrsigs(keys, one, ttl, window, cache, sign: false, gone);
                if (rrsigs is null) return false;
                signedDeleted.AddRange(rrsigs);
            }
        }
        var kept = new List<UInt128>();
        foreach (var (records, ttl) in new[] { (added, EntryTtl), (nsec3Added, _zone.NegativeTtl), ([_zone.Soa(now.Serial)], _zone.ApexTtl) })
        {
            foreach (var record in records)
            {
                one[0] = record;
                signedAdded.AddRange(Rrsigs(keys, one, ttl, window, cache, sign: true, kept)!);
            }
        }
        // The signatures of RRsets no longer published are dropped, unless the same RRset came back in this step.
        foreach (var id in gone.Except(kept)) cache.Remove(id);
        deleted.AddRange(nsec3Deleted);
        deleted.AddRange(signedDeleted);
        added.AddRange(nsec3Added);
        added.AddRange(signedAdded);
        return true;
    }

    /// <summary>The original TTL an entry's RRSIGs carry: the largest its TTL can be, as the TTL counts down.</summary>
    private uint EntryTtl => (uint)_zone.Options.MaxTtl;

    /// <summary>
    /// The RRSIG records of <paramref name="rrset"/> (one owner and type), one per signing key, from the cache or, when
    /// <paramref name="sign"/>, made now; null when one is not held and not to be made. Their TTL is the RRset's.
    /// </summary>
    private List<ZoneRecord>? Rrsigs(DnssecKeySet keys, List<ZoneRecord> rrset, uint originalTtl, SignatureWindow window, TransferSignatureCache cache, bool sign, List<UInt128>? ids = null)
    {
        var first = rrset[0];
        var owner = CanonicalName.FromText(first.Owner);
        var rdatas = new ReadOnlyMemory<byte>[rrset.Count];
        for (int i = 0; i < rrset.Count; i++) rdatas[i] = Canonical(rrset[i]);
        var result = new List<ZoneRecord>();
        Span<byte> rrsig = stackalloc byte[_rrsigLength];
        foreach (var key in keys.SignersFor(first.Type))
        {
            var id = TransferSignatureCache.Id(key.KeyTag, owner, first.Type, originalTtl, rdatas);
            var held = cache.Get(id);
            if (held is null)
            {
                if (!sign) return null;
                int length = RrsigSigner.Sign(owner, first.Type, ClassIn, originalTtl, rdatas, window, key, keys.ZoneWire, rrsig);
                held = cache.Add(id, rrsig[..length]);
            }
            ids?.Add(id);
            result.Add(new ZoneRecord(first.Owner, DnssecType.Rrsig, first.Ttl, held));
        }
        return result;
    }

    /// <summary>
    /// RDATA as it is signed (RFC 4034 section 6.2 item 3): the names in NS and SOA RDATA in lower case, the rest as is.
    /// </summary>
    private static ReadOnlyMemory<byte> Canonical(ZoneRecord record)
    {
        if (record.Type is not (RecordType.Ns or RecordType.Soa)) return record.Rdata.ToArray();
        var rdata = record.Rdata.ToArray();
        // The names are all but the SOA's five 32-bit numbers; a length octet (below 64) is no letter.
        int names = record.Type == RecordType.Soa ? rdata.Length - 20 : rdata.Length;
        for (int i = 0; i < names; i++) rdata[i] = CanonicalName.LowerByte(rdata[i]);
        return rdata;
    }

    /// <summary>The cache of <paramref name="window"/>: the newest two windows are kept, older signatures dropped.</summary>
    private TransferSignatureCache CacheFor(SignatureWindow window)
    {
        lock (_lock)
        {
            if (_cache?.Window == window) return _cache;
            if (_previousCache?.Window == window) return _previousCache;
            (_previousCache, _cache) = (_cache, new TransferSignatureCache(window, _rrsigLength));
            return _cache;
        }
    }

    /// <summary>
    /// The NSEC3 chain of <paramref name="snapshot"/>'s names as published at <paramref name="at"/>: the journal's newest
    /// is kept (<paramref name="keep"/>) for the next step's comparison; an AXFR's, made at its own moment, is not.
    /// </summary>
    private Nsec3Chain Chain(StatusSnapshot snapshot, DateTimeOffset at, bool keep = true)
    {
        lock (_lock)
        {
            if (_chain is { } kept && kept.Serial == snapshot.Serial && kept.At == at) return kept.Chain;
        }
        var chain = new Nsec3Chain(_zone.Apex, Parameters);
        foreach (var record in _zone.ApexRecords(snapshot.Serial)) chain.Add(record.Owner, Nsec3Chain.Types(record.Type, DnssecType.Rrsig));
        chain.Add(_zone.Apex, Nsec3Chain.Types(DnssecType.Dnskey, DnssecType.Nsec3Param, DnssecType.Rrsig));
        var entry = Nsec3Chain.Types(RecordType.A, RecordType.Txt, DnssecType.Rrsig);
        foreach (var record in _zone.EntryRecords(snapshot, at))
        {
            if (record.Type == RecordType.A) chain.Add(record.Owner, entry);
        }
        chain.Seal();
        if (keep)
        {
            lock (_lock) _chain = (snapshot.Serial, at, chain);
        }
        return chain;
    }
}
