using System.Text;

namespace CertDns.Core;

/// <summary>
/// SPEC section 2: the one implementation of status evaluation, used by DNS answers and <c>certdns lookup</c>.
/// </summary>
public static class StatusEvaluator
{
    /// <summary>Positive TTL when nothing shortens it.</summary>
    public static readonly TimeSpan DefaultTtl = TimeSpan.FromSeconds(300);

    /// <summary>TXT strings are one character-string: at most 255 octets (RFC 1035 section 3.3).</summary>
    public const int MaxTextOctets = 255;

    /// <summary>Evaluates one certificate at <paramref name="now"/>.</summary>
    public static Verdict Evaluate(CertFacts cert, DateTimeOffset now, TimeSpan? maxTtl = null)
    {
        var ca = cert.Ca;
        var crl = ca.Crl;
        var status = Status(cert.Block is not null, cert.Revocation?.Reason, ca, cert.NotBefore, cert.NotAfter, now, out _, out var decider);
        var serial = Hex.Lower(cert.Serial);
        var by = $"by \"{ca.Name}\" serial {serial}";
        string text = decider is not null ? ChainText(status, decider, now, serial) : status switch
        {
            CertStatus.Blocked => $"blocked: {cert.Block!.Reason} since {Date(cert.Block.Since)}",
            CertStatus.Revoked => $"revoked {RevocationReasons.Name(cert.Revocation!.Reason)} {Time(cert.Revocation.RevokedAt)} {by}{CrlNote(cert.Revocation.CrlNumber)}",
            CertStatus.Hold => $"hold certificateHold {Time(cert.Revocation!.RevokedAt)} {by}{CrlNote(cert.Revocation.CrlNumber)}",
            CertStatus.Untrusted => $"untrusted: issuer \"{ca.Name}\" distrusted{(ca.DistrustedAt is { } at ? $" {Date(at)}" : "")}"
                + $"{(string.IsNullOrEmpty(ca.DistrustReason) ? "" : $": {ca.DistrustReason}")}; serial {serial}",
            CertStatus.Expired when now > cert.NotAfter => $"expired {Time(cert.NotAfter)}; issued {by}",
            CertStatus.Expired => $"not valid before {Time(cert.NotBefore)}; issued {by}",
            CertStatus.Stale when crl is null => ca.NoCrlReason is { } why ? $"stale: {why}; issued {by}" : $"stale: no CRL ingested for \"{ca.Name}\"; serial {serial}",
            CertStatus.Stale => $"stale: CRL{CrlNote(crl.Number, "")} of \"{ca.Name}\" expired {Time(crl.NextUpdate!.Value)}; serial {serial}",
            _ => $"valid: issued {by}, CRL{CrlNote(crl!.Number, "")} {(crl.NextUpdate is { } n ? $"current until {Time(n)}" : "with no nextUpdate")}",
        };
        // TXT strings never carry control characters: CA names come from certificates, reasons from stores of any age.
        return new Verdict(status, Truncate(SafeText.OneLine(text)), Ttl(ca, status, cert.NotAfter, now, maxTtl ?? DefaultTtl));
    }

    /// <summary>
    /// The status alone, from the facts a compact snapshot keeps per certificate: what DNS answers A queries with,
    /// without building any text. <see cref="Evaluate"/> rests on it, so both agree by construction.
    /// </summary>
    public static CertStatus Status(bool blocked, RevocationReason? revocation, CaFacts ca, DateTimeOffset notBefore, DateTimeOffset notAfter, DateTimeOffset now) =>
        Status(blocked, revocation, ca, notBefore, notAfter, now, out _);

    /// <summary>
    /// The status, and <paramref name="until"/>: the first instant after <paramref name="now"/> at which time alone
    /// gives another status, or null when only a write can change it (revoked, held, blocked, untrusted, expired). Comparisons are "now &gt; notAfter" and "now &gt; nextUpdate", so those change the second after.
    /// </summary>
    public static CertStatus Status(bool blocked, RevocationReason? revocation, CaFacts ca, DateTimeOffset notBefore, DateTimeOffset notAfter,
        DateTimeOffset now, out DateTimeOffset? until) =>
        Status(blocked, revocation, ca, notBefore, notAfter, now, out until, out _);

    /// <summary>
    /// The status folded along the chain: the certificate's own, and each intermediate's above it as its parent judges
    /// it (<see cref="CaFacts.Link"/>); the worst by precedence decides, the certificate's own first among equals.
    /// <paramref name="decider"/> is the link that decided, or null when the certificate's own facts did. The walk is
    /// the chain's depth, with no allocation: a snapshot keeps one link per CA, not per certificate.
    /// </summary>
    private static CertStatus Status(bool blocked, RevocationReason? revocation, CaFacts ca, DateTimeOffset notBefore, DateTimeOffset notAfter,
        DateTimeOffset now, out DateTimeOffset? until, out CaLink? decider)
    {
        ArgumentNullException.ThrowIfNull(ca);
        var status = Own(blocked, revocation, ca, notBefore, notAfter, now, out until);
        decider = null;
        int depth = 0;
        for (var link = ca.Link; link is not null && depth < MaxDepth; link = link.Issuer.Link, depth++)
        {
            var above = Own(false, link.Revocation?.Reason, link.Issuer, link.NotBefore, link.NotAfter, now, out var changes);
            if (StatusCodes.Precedence(above) > StatusCodes.Precedence(status)) (status, decider) = (above, link);
            if (changes is { } at && (until is null || at < until)) until = at;
        }
        // Revoked, held, blocked and untrusted change only by a write, wherever on the chain they come from.
        if (StatusCodes.Precedence(status) > StatusCodes.Precedence(CertStatus.Expired)) until = null;
        return status;
    }

    /// <summary>Chains are short; a deeper one (a damaged store) is cut here rather than walked forever.</summary>
    private const int MaxDepth = 32;

    private static CertStatus Own(bool blocked, RevocationReason? revocation, CaFacts ca, DateTimeOffset notBefore, DateTimeOffset notAfter,
        DateTimeOffset now, out DateTimeOffset? until)
    {
        until = null;
        if (blocked) return CertStatus.Blocked;
        // removeFromCRL is only meaningful in delta CRLs: an entry carrying it revokes nothing.
        if (revocation is { } reason and not RevocationReason.CertificateHold and not RevocationReason.RemoveFromCrl) return CertStatus.Revoked;
        if (revocation is RevocationReason.CertificateHold) return CertStatus.Hold;
        if (!ca.Trusted) return CertStatus.Untrusted;
        if (now > notAfter) return CertStatus.Expired;
        // Not yet valid is outside the validity period too: not `valid`, and closest to expired.
        if (now < notBefore)
        {
            until = notBefore;
            return CertStatus.Expired;
        }
        until = SecondAfter(notAfter);
        if (ca.Crl is null || ca.Crl.StaleAt(now))
        {
            // Stale until a new CRL is written; expiry still turns it into `expired`.
            return CertStatus.Stale;
        }
        if (SecondAfter(ca.Crl.NextUpdate) is { } updated && (until is null || updated < until)) until = updated;
        return CertStatus.Valid;
    }

    /// <summary>The second after <paramref name="t"/>; null for none, or for the end of the calendar (nothing to wait for).</summary>
    private static DateTimeOffset? SecondAfter(DateTimeOffset? t) =>
        t is { } at && at < DateTimeOffset.MaxValue.AddSeconds(-1) ? at.AddSeconds(1) : null;

    /// <summary>
    /// A key (SubjectPublicKeyInfo) is blocked or revoked when any certificate carrying it was blocked or revoked
    /// for keyCompromise; valid when at least one certificate carrying it is valid; otherwise the highest precedence.
    /// </summary>
    public static Verdict? EvaluateKey(IEnumerable<CertFacts> certs, DateTimeOffset now, TimeSpan? maxTtl = null)
    {
        var pick = new KeyPick();
        var verdicts = new List<Verdict>();
        foreach (var cert in certs)
        {
            var v = Evaluate(cert, now, maxTtl);
            pick.Add(v.Status, cert.Revocation?.Reason == RevocationReason.KeyCompromise, verdicts.Count);
            verdicts.Add(v);
        }
        return pick.Chosen < 0 ? null : verdicts[pick.Chosen];
    }

    /// <summary>The TTL of an answer: the cap, shortened to the CRL's nextUpdate and, for valid, to notAfter; at least 1 s.</summary>
    public static TimeSpan Ttl(CaFacts ca, CertStatus status, DateTimeOffset notAfter, DateTimeOffset now, TimeSpan max)
    {
        ArgumentNullException.ThrowIfNull(ca);
        var ttl = max;
        // A cached answer must not outlive the CRL it rests on, nor a valid certificate's validity.
        if (ca.Crl?.NextUpdate is { } next && next > now && next - now < ttl) ttl = next - now;
        // Nor the CRLs the chain above rests on.
        int depth = 0;
        for (var link = ca.Link; link is not null && depth < MaxDepth; link = link.Issuer.Link, depth++)
            if (link.Issuer.Crl?.NextUpdate is { } above && above > now && above - now < ttl) ttl = above - now;
        if (status == CertStatus.Valid && notAfter - now < ttl) ttl = notAfter - now;
        if (ttl < TimeSpan.FromSeconds(1)) ttl = TimeSpan.FromSeconds(1);
        return TimeSpan.FromSeconds(Math.Floor(ttl.TotalSeconds));
    }

    /// <summary>The TXT when a CA above decided: it names that CA and why, then the certificate's own serial.</summary>
    private static string ChainText(CertStatus status, CaLink link, DateTimeOffset now, string serial)
    {
        var parent = link.Issuer;
        var ca = $"CA \"{link.Name}\"";
        var by = $"by \"{parent.Name}\"{(link.Serial.Length > 0 ? $" serial {Hex.Lower(link.Serial)}" : "")}";
        return status switch
        {
            CertStatus.Revoked => $"revoked {RevocationReasons.Name(link.Revocation!.Reason)} {Time(link.Revocation.RevokedAt)}: {ca} revoked {by}{CrlNote(link.Revocation.CrlNumber)}; serial {serial}",
            CertStatus.Hold => $"hold certificateHold {Time(link.Revocation!.RevokedAt)}: {ca} on hold {by}{CrlNote(link.Revocation.CrlNumber)}; serial {serial}",
            CertStatus.Untrusted => $"untrusted: {ca} issued by \"{parent.Name}\", distrusted{(parent.DistrustedAt is { } at ? $" {Date(at)}" : "")}"
                + $"{(string.IsNullOrEmpty(parent.DistrustReason) ? "" : $": {parent.DistrustReason}")}; serial {serial}",
            CertStatus.Expired when now > link.NotAfter => $"expired: {ca} expired {Time(link.NotAfter)}; serial {serial}",
            CertStatus.Expired => $"expired: {ca} not valid before {Time(link.NotBefore)}; serial {serial}",
            _ when parent.Crl is null => $"stale: {ca}: {parent.NoCrlReason ?? $"no CRL ingested for \"{parent.Name}\""}; serial {serial}",
            _ => $"stale: {ca}: CRL{CrlNote(parent.Crl.Number, "")} of \"{parent.Name}\" expired {Time(parent.Crl.NextUpdate!.Value)}; serial {serial}",
        };
    }

    private static string CrlNote(string? number, string prefix = " (") => number is null ? "" : prefix.Length == 0 ? $" {number}" : $" (CRL {number})";

    private static string Time(DateTimeOffset t) => TimeText.Utc(t);

    private static string Date(DateTimeOffset t) => TimeText.Date(t);

    /// <summary>Cuts a string to at most 255 UTF-8 octets without splitting a character.</summary>
    public static string Truncate(string text)
    {
        if (Encoding.UTF8.GetByteCount(text) <= MaxTextOctets) return text;
        var sb = new StringBuilder();
        int bytes = 0;
        foreach (var rune in text.EnumerateRunes())
        {
            if (bytes + rune.Utf8SequenceLength > MaxTextOctets) break;
            bytes += rune.Utf8SequenceLength;
            sb.Append(rune.ToString());
        }
        return sb.ToString();
    }
}

/// <summary>
/// The key rule of <see cref="StatusEvaluator.EvaluateKey"/> as an accumulator over the certificates carrying a key,
/// so the DNS path can apply it to snapshot records without building a list.
/// </summary>
public struct KeyPick
{
    private int _compromised, _valid, _highest;
    private CertStatus _compromisedStatus, _highestStatus;
    private bool _any;

    /// <summary>The candidate chosen so far, or -1 before any was added.</summary>
    public readonly int Chosen => !_any ? -1 : _compromised >= 0 ? _compromised : _valid >= 0 ? _valid : _highest;

    /// <summary>The candidate of the highest precedence added (the first among equals), or -1 before any was added.</summary>
    public readonly int Worst => !_any ? -1 : _highest;

    /// <summary>Considers one certificate carrying the key.</summary>
    /// <param name="status">Its status.</param>
    /// <param name="keyCompromise">Whether its revocation reason is keyCompromise.</param>
    /// <param name="candidate">The caller's index for it, returned by <see cref="Chosen"/>.</param>
    public void Add(CertStatus status, bool keyCompromise, int candidate)
    {
        if (!_any)
        {
            _any = true;
            _compromised = _valid = -1;
            _highest = candidate;
            _highestStatus = status;
        }
        else if (StatusCodes.Precedence(status) > StatusCodes.Precedence(_highestStatus))
        {
            _highest = candidate;
            _highestStatus = status;
        }
        if (status == CertStatus.Blocked || (status == CertStatus.Revoked && keyCompromise))
        {
            if (_compromised < 0 || StatusCodes.Precedence(status) > StatusCodes.Precedence(_compromisedStatus))
            {
                _compromised = candidate;
                _compromisedStatus = status;
            }
        }
        else if (status == CertStatus.Valid && _valid < 0)
        {
            _valid = candidate;
        }
    }
}
