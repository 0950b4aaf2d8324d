namespace CertDns.Core;

/// <summary>A CA as coverage sees it: its id, its name for TXT, its subject (DER Name) for name matching, and the CA whose
/// key verified it (null for an anchor): keys, not names, decide which CRLs speak for it.</summary>
public sealed record CoverageCa(long Id, string Name, byte[] SubjectDer, long? ParentId = null);

/// <summary>
/// One CRL series as loaded: the CRL issuer's current full CRL with the delta that applies to it (RFC 5280 5.2.4).
/// </summary>
/// <param name="Id">The store's id of the series.</param>
/// <param name="CaId">The CA that issued (signed) the series' CRLs.</param>
/// <param name="Scope">Its issuingDistributionPoint, as plain values.</param>
/// <param name="Facts">Number (with the delta's), thisUpdate and the earlier of the two nextUpdates.</param>
/// <param name="DeltaNumber">The applied delta CRL's number, or null when no delta applies.</param>
public sealed record CrlSeries(long Id, long CaId, CrlScope Scope, CrlFacts Facts, string? DeltaNumber);

/// <summary>What the current CRLs say of one certificate.</summary>
/// <param name="Revocation">The entry that decides (hold yields to any other reason), or null when none lists it.</param>
/// <param name="Crl">The covering CRL whose nextUpdate decides freshness, or null when none covers the certificate.</param>
/// <param name="Gap">Why no current CRL covers it although some were ingested; null when one covers it or none exists. The
/// same (issuer, cause) gives the same string instance, so callers may compare by reference.</param>
public readonly record struct CoverageJudgement(RevocationFacts? Revocation, CrlFacts? Crl, string? Gap);

/// <summary>
/// The RFC 5280 6.3.3 rules for which current CRL covers which certificate, and what it lists for it: series per CRL
/// issuer and distribution point, scope (user, CA, attribute certificates), reason partitions, delta overlay
/// (5.2.4, removeFromCRL), indirect CRLs (5.3.3) and distribution point matching (6.3.3 (b)), and the precedence
/// between several entries. Pure: no storage; a loader feeds it the series and the entries, then asks per certificate.
/// </summary>
/// <remarks>
/// Judgements are per issuing CA and certificate, so the same rules judge a CA's own certificate under its parent's
/// series (pass <c>isCa: true</c>): chain-aware trust can judge each CA once and let the evaluator fold the chain's
/// statuses by precedence, instead of judging a chain per certificate. <see cref="Judge"/> keeps small caches and is
/// for one thread at a time; adding entries is done before judging.
/// </remarks>
public sealed class CrlCoverage
{
    private readonly CrlSeries[] _series;
    private readonly Dictionary<long, int> _seriesIndex;
    private readonly Dictionary<long, CoverageCa> _cas;
    // CAs that share a subject AND a trust anchor (a self-issued key rollover, a separate CRL-signing key under its CA)
    // issue and revoke as one authority (RFC 5280 5.1.2.3, 6.3.3 (f): the CRL's path must end at the certificate's
    // anchor). A same-named CA of another anchor (a twin with another key) is another authority.
    private readonly Dictionary<long, long[]> _sameName;
    private readonly Dictionary<long, long> _groupOf;
    // Indirect entries name their certificate issuer by name only (RFC 5280 5.3.3): they are keyed by name, and count
    // only for certificates that name the CRL's issuer as their cRLIssuer (6.3.3 (b)(1)).
    private readonly Dictionary<long, long> _nameGroupOf;
    private readonly Dictionary<long, long> _anchorOf;
    private readonly HashSet<long> _ambiguous;
    private readonly Dictionary<SerialKey, int> _first = [];
    private readonly Dictionary<SerialKey, int> _firstIndirect = [];
    private readonly List<Entry> _entries = [];
    private readonly Dictionary<(long, string), string> _gaps = [];
    private readonly byte[][]?[] _crlNames;
    private readonly bool[] _disabled;
    // Consecutive certificates mostly carry the same points: the last decoding and each series' last answers are kept.
    private byte[]? _lastEncoded;
    private CrlDistributionPoint[]? _lastPoints;
    private readonly (CrlDistributionPoint[]? Points, bool Covers)[] _lastOwn, _lastOther;
    private long _lastCa = -1, _lastGroup, _lastNameGroup, _lastAnchor;
    private long[] _issuers = [];

    /// <summary>The rules over these CAs and current series.</summary>
    public CrlCoverage(IEnumerable<CoverageCa> cas, IEnumerable<CrlSeries> series)
    {
        _cas = cas.ToDictionary(c => c.Id);
        _series = [.. series];
        _seriesIndex = _series.Select((s, i) => (s.Id, i)).ToDictionary(x => x.Id, x => x.i);
        _anchorOf = _cas.Values.ToDictionary(c => c.Id, c => AnchorOf(c.Id));
        var names = _cas.Values.GroupBy(c => Convert.ToHexString(c.SubjectDer)).ToList();
        _ambiguous = [.. names.Where(g => g.Count() > 1).SelectMany(g => g.Select(c => c.Id))];
        _nameGroupOf = names.SelectMany(g => g.Select(c => (c.Id, Group: g.Min(x => x.Id)))).ToDictionary(x => x.Id, x => x.Group);
        var groups = _cas.Values.GroupBy(c => (Convert.ToHexString(c.SubjectDer), _anchorOf[c.Id])).ToList();
        _sameName = groups.SelectMany(g => g.Select(c => (c.Id, Ids: g.Select(x => x.Id).ToArray()))).ToDictionary(x => x.Id, x => x.Ids);
        _groupOf = groups.SelectMany(g => g.Select(c => (c.Id, Group: g.Min(x => x.Id)))).ToDictionary(x => x.Id, x => x.Group);
        _crlNames = _series.Select(s => s.Scope.PointNames?.ToArray()).ToArray();
        _lastOwn = new (CrlDistributionPoint[]?, bool)[_series.Length];
        _disabled = new bool[_series.Length];
        _lastOther = new (CrlDistributionPoint[]?, bool)[_series.Length];
    }

    /// <summary>The current series.</summary>
    public IReadOnlyList<CrlSeries> Series => _series;

    /// <summary>
    /// From now on the series signed by <paramref name="caId"/> cover and list nothing: its own certificate is revoked
    /// or on hold on its parent's CRL, so its CRLs are no longer authoritative (RFC 5280 6.3.3 (f): the CRL issuer's path
    /// must validate; PKITS 4.4.21, a revoked CRL-signing certificate).
    /// </summary>
    public void Disable(long caId)
    {
        for (int k = 0; k < _series.Length; k++)
            if (_series[k].CaId == caId) _disabled[k] = true;
    }

    /// <summary>The anchor at the top of a CA's parent chain (itself for an anchor; a loop or a missing parent ends the walk).</summary>
    private long AnchorOf(long id)
    {
        var seen = new HashSet<long>();
        while (seen.Add(id) && _cas.TryGetValue(id, out var ca) && ca.ParentId is { } parent && _cas.ContainsKey(parent)) id = parent;
        return id;
    }

    /// <summary>Whether any series looks at the certificate's kind (end entity or CA): otherwise callers need not read it.</summary>
    public bool NeedsKind => _series.Any(s => s.Scope.OnlyUser || s.Scope.OnlyCa);

    /// <summary>Whether any series looks at the certificate's distribution points: otherwise callers need not read them.</summary>
    public bool NeedsPoints => _series.Any(s => s.Scope.PointNames is not null || s.Scope.Indirect);

    /// <summary>Whether any entry was added: otherwise callers need not read serials.</summary>
    public bool NeedsSerials => _first.Count > 0 || _firstIndirect.Count > 0;

    /// <summary>
    /// Adds one entry of a current series: <paramref name="issuerCaId"/> is the certificate's issuer (the CRL's own
    /// issuer, or another for an indirect CRL's entries). Returns false when the series or the issuer is not known
    /// (a superseded series, a removed CA): the entry then counts for nothing.
    /// </summary>
    public bool AddEntry(long seriesId, bool delta, long issuerCaId, ReadOnlySpan<byte> serial, RevocationReason reason, long revokedAt)
    {
        if (!_seriesIndex.TryGetValue(seriesId, out var s) || !_groupOf.TryGetValue(issuerCaId, out var group)) return false;
        // An entry for the CRL issuer's own authority is keyed by that authority; one for another issuer (an indirect
        // CRL's certificateIssuer) by that issuer's name, to be matched only where a certificate delegates to this CRL.
        bool own = _groupOf.TryGetValue(_series[s].CaId, out var seriesGroup) && seriesGroup == group;
        var first = own ? _first : _firstIndirect;
        // A serial listed by several series (a partition, a delta, an indirect CRL) chains to its other entries.
        var key = SerialKey.Of(own ? group : _nameGroupOf[issuerCaId], serial);
        _entries.Add(new Entry(s, delta, reason, revokedAt, first.TryGetValue(key, out var next) ? next : -1));
        first[key] = _entries.Count - 1;
        return true;
    }

    /// <summary>
    /// What the current CRLs say of a certificate of <paramref name="caId"/>: which cover it, what they list.
    /// </summary>
    /// <param name="caId">The CA whose key verified the certificate.</param>
    /// <param name="isCa">Whether it is a CA certificate (only read when <see cref="NeedsKind"/>).</param>
    /// <param name="serial">Its serial (only read when <see cref="NeedsSerials"/>).</param>
    /// <param name="points">Its distribution points in <see cref="CrlPointCodec"/> form, or null for none.</param>
    public CoverageJudgement Judge(long caId, bool isCa, ReadOnlySpan<byte> serial, byte[]? points)
    {
        if (caId != _lastCa) (_lastCa, _issuers, _lastGroup, _lastNameGroup, _lastAnchor) = (caId, _sameName[caId], _groupOf[caId], _nameGroupOf[caId], _anchorOf[caId]);
        var decoded = Decode(points);
        int chain = _first.Count == 0 ? -1 : _first.GetValueOrDefault(SerialKey.Of(_lastGroup, serial), -1);
        int indirectChain = _firstIndirect.Count == 0 ? -1 : _firstIndirect.GetValueOrDefault(SerialKey.Of(_lastNameGroup, serial), -1);

        RevocationFacts? revocation = null;
        int reasons = 0;
        CrlFacts? covering = null;
        string? gap = null;
        for (int k = 0; k < _series.Length; k++)
        {
            if (_disabled[k]) continue;
            var s = _series[k];
            bool direct = Array.IndexOf(_issuers, s.CaId) >= 0;
            if (!direct && !s.Scope.Indirect) continue;
            // The certificate names its cRLIssuer by name: when two registered CAs have that name (a twin with another key),
            // only the one under the certificate's own trust anchor is the one it meant (RFC 5280 6.3.3 (f)).
            if (!direct && _ambiguous.Contains(s.CaId) && _anchorOf[s.CaId] != _lastAnchor) continue;
            string? outOfScope = OutOfScope(k, direct, isCa, decoded);
            // An entry counts only when the CRL covers the certificate: for another issuer's indirect CRL, only where the
            // certificate names that CRL issuer as its cRLIssuer (RFC 5280 6.3.3 (b)(1)). Nobody else's CRL revokes it.
            if (outOfScope is null)
            {
                var found = direct && chain >= 0 ? Listed(k, chain) : null;
                if (indirectChain >= 0 && Listed(k, indirectChain) is { } named && (found is null || Precedence(named.Reason) > Precedence(found.Reason))) found = named;
                if (found is not null && (revocation is null || Precedence(found.Reason) > Precedence(revocation.Reason)))
                    revocation = found;
            }
            if (outOfScope is not null)
            {
                gap ??= Gap(s.CaId, outOfScope);
                continue;
            }
            reasons |= s.Scope.Reasons ?? CrlScope.AllReasons;
            // With several covering CRLs (reason partitions, a delta) the earliest nextUpdate decides freshness.
            if (covering is null || (s.Facts.NextUpdate is { } n && (covering.NextUpdate is not { } m || n < m))) covering = s.Facts;
        }
        if (covering is not null && (reasons & CrlScope.AllReasons) != CrlScope.AllReasons)
        {
            gap = "only some revocation reasons (onlySomeReasons)";
            covering = null;
        }
        return new CoverageJudgement(revocation, covering, covering is null ? gap : null);
    }

    /// <summary>
    /// The current CRL of a CA that goes stale first: among the CA's own series (its name's, deltas folded in), the
    /// earliest nextUpdate, as each series is judged for the certificates it covers; null when the CA has none. For
    /// listings (`status`, `ca list`): the same per-series facts the snapshot judges, never a second reading of the store.
    /// </summary>
    public CrlFacts? Freshness(long caId)
    {
        if (!_sameName.TryGetValue(caId, out var issuers)) return null;
        CrlFacts? first = null;
        foreach (var s in _series)
        {
            if (Array.IndexOf(issuers, s.CaId) < 0) continue;
            if (first is null || (s.Facts.NextUpdate is { } n && (first.NextUpdate is not { } m || n < m))) first = s.Facts;
        }
        return first;
    }

    /// <summary>Of two entries for one certificate, which decides: a hold yields to any other reason.</summary>
    public static int Precedence(RevocationReason reason) => reason == RevocationReason.CertificateHold ? 1 : 2;

    private CrlDistributionPoint[]? Decode(byte[]? points)
    {
        if (points is null) return null;
        if (_lastEncoded is null || !points.AsSpan().SequenceEqual(_lastEncoded))
            (_lastEncoded, _lastPoints) = (points, CrlPointCodec.DecodePoints(points));
        return _lastPoints;
    }

    /// <summary>
    /// Why series k does not cover a certificate, or null when it does (RFC 5280 6.3.3 (b)): a series of the
    /// certificate's issuer (<paramref name="direct"/>) or another issuer's indirect CRL.
    /// </summary>
    private string? OutOfScope(int k, bool direct, bool isCa, CrlDistributionPoint[]? points)
    {
        var scope = _series[k].Scope;
        // Another issuer's indirect CRL covers the certificate only through a point naming it as cRLIssuer.
        if (!direct && !Covers(k, points, own: false)) return "an indirect CRL of another issuer";
        if (scope.OnlyAttribute) return "only attribute certificates";
        if (scope.OnlyUser && isCa) return "only end-entity certificates";
        if (scope.OnlyCa && !isCa) return "only CA certificates";
        // A CRL naming a distribution point is a partition: a certificate naming none needs a complete CRL (PKITS 4.14.9).
        // A complete CRL of the issuer covers all its certificates: at the least as RFC 5280's fallback to "any CRL
        // issued by the certificate issuer" with the issuer's name as the point.
        if (direct && _crlNames[k] is not null && !Covers(k, points, own: true))
            return points is null ? "one distribution point, and the certificate names none" : "another distribution point";
        return null;
    }

    /// <summary>
    /// RFC 5280 6.3.3 (b): a point of the certificate without cRLIssuer is served by its issuer's CRLs (<paramref name="own"/>);
    /// one with a cRLIssuer only by that issuer's indirect CRLs. When the CRL names a point, one of its names must be one
    /// of the point's. Names compare as DER, relative names having been made whole when they were decoded.
    /// </summary>
    private bool Covers(int k, CrlDistributionPoint[]? points, bool own)
    {
        var scope = _series[k].Scope;
        if (points is null || (!own && !scope.Indirect)) return false;
        ref var last = ref (own ? ref _lastOwn[k] : ref _lastOther[k]);
        if (ReferenceEquals(last.Points, points)) return last.Covers;
        bool covers = false;
        foreach (var point in points)
        {
            covers = point.CrlIssuers is { } issuers
                ? scope.Indirect && ServedHere(k, point, issuers)
                : own && point.Names is { } names && NamesMatch(k, names);
            if (covers) break;
        }
        last = (points, covers);
        return covers;
    }

    /// <summary>A point whose cRLIssuer names this series' CRL issuer, and whose name (if any) matches the CRL's point.</summary>
    private bool ServedHere(int k, CrlDistributionPoint point, IReadOnlyList<byte[]> issuers)
    {
        var issuer = _cas[_series[k].CaId].SubjectDer;
        bool issuerMatches = false;
        foreach (var name in issuers) issuerMatches |= name.AsSpan().SequenceEqual(issuer);
        // A point naming no point of its own is served by the cRLIssuer's CRL that names none either.
        return issuerMatches && (_crlNames[k] is null || (point.Names is { } names && NamesMatch(k, names)));
    }

    private bool NamesMatch(int k, IReadOnlyList<byte[]> names)
    {
        if (_crlNames[k] is not { } crl) return true;
        foreach (var name in names)
            foreach (var c in crl)
                if (c.AsSpan().SequenceEqual(name)) return true;
        return false;
    }

    /// <summary>One string per (CRL issuer, cause): the same reference each time.</summary>
    private string Gap(long caId, string outOfScope)
    {
        if (!_gaps.TryGetValue((caId, outOfScope), out var text)) _gaps[(caId, outOfScope)] = text = $"the CRL of \"{_cas[caId].Name}\" covers {outOfScope}";
        return text;
    }

    /// <summary>What series i lists for the certificate whose serial chain starts at <paramref name="at"/>.</summary>
    private RevocationFacts? Listed(int i, int at)
    {
        var s = _series[i];
        (RevocationReason Reason, long At)? baseEntry = null, deltaEntry = null;
        for (int e = at; e >= 0; e = _entries[e].Next)
        {
            var entry = _entries[e];
            if (entry.Series != i) continue;
            if (entry.Delta) deltaEntry = (entry.Reason, entry.At);
            else baseEntry = (entry.Reason, entry.At);
        }
        // A delta entry overrides its base; removeFromCRL in the delta lifts the base's hold (RFC 5280 5.3.1).
        if (s.DeltaNumber is not null && deltaEntry is { } d)
            return d.Reason == RevocationReason.RemoveFromCrl ? null : new(d.Reason, DateTimeOffset.FromUnixTimeSeconds(d.At), s.DeltaNumber);
        return baseEntry is { } b ? new(b.Reason, DateTimeOffset.FromUnixTimeSeconds(b.At), s.Facts.Number) : null;
    }

    private readonly record struct Entry(int Series, bool Delta, RevocationReason Reason, long At, int Next);

    /// <summary>
    /// An issuer and serial as a value key. RFC 5280 serials are at most 20 octets and are kept exactly; a longer
    /// (non-conforming) one is keyed by its SHA-256, which no CA can make collide with another of its serials.
    /// </summary>
    private readonly record struct SerialKey(long Ca, int Length, ulong A, ulong B, ulong C)
    {
        public static SerialKey Of(long ca, ReadOnlySpan<byte> serial)
        {
            Span<byte> packed = stackalloc byte[32];
            packed.Clear();
            if (serial.Length <= 24) serial.CopyTo(packed);
            else System.Security.Cryptography.SHA256.HashData(serial, packed);
            return new SerialKey(ca, serial.Length, BitConverter.ToUInt64(packed), BitConverter.ToUInt64(packed[8..]), BitConverter.ToUInt64(packed[16..]));
        }
    }
}
