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
        var serial = Hex.Lower(cert.Serial);
        var by = $"by \"{ca.Name}\" serial {serial}";
        CertStatus status;
        string text;

        if (cert.Block is { } block)
        {
            status = CertStatus.Blocked;
            text = $"blocked: {block.Reason} since {Date(block.Since)}";
        }
        else if (cert.Revocation is { Reason: not RevocationReason.CertificateHold and not RevocationReason.RemoveFromCrl } revoked)
        {
            status = CertStatus.Revoked;
            text = $"revoked {RevocationReasons.Name(revoked.Reason)} {Time(revoked.RevokedAt)} {by}{CrlNote(revoked.CrlNumber)}";
        }
        else if (cert.Revocation is { Reason: RevocationReason.CertificateHold } held)
        {
            status = CertStatus.Hold;
            text = $"hold certificateHold {Time(held.RevokedAt)} {by}{CrlNote(held.CrlNumber)}";
        }
        else if (!ca.Trusted)
        {
            status = CertStatus.Untrusted;
            var when = ca.DistrustedAt is { } at ? $" {Date(at)}" : "";
            var why = string.IsNullOrEmpty(ca.DistrustReason) ? "" : $": {ca.DistrustReason}";
            text = $"untrusted: issuer \"{ca.Name}\" distrusted{when}{why}; serial {serial}";
        }
        else if (now > cert.NotAfter)
        {
            status = CertStatus.Expired;
            text = $"expired {Time(cert.NotAfter)}; issued {by}";
        }
        else if (now < cert.NotBefore)
        {
            // Not yet valid is outside the validity period too: not `valid`, and closest to expired.
            status = CertStatus.Expired;
            text = $"not valid before {Time(cert.NotBefore)}; issued {by}";
        }
        else if (crl is null)
        {
            status = CertStatus.Stale;
            text = ca.NoCrlReason is { } why ? $"stale: {why}; issued {by}" : $"stale: no CRL ingested for \"{ca.Name}\"; serial {serial}";
        }
        else if (crl.NextUpdate is { } next && now > next)
        {
            status = CertStatus.Stale;
            text = $"stale: CRL{CrlNote(crl.Number, "")} of \"{ca.Name}\" expired {Time(next)}; serial {serial}";
        }
        else
        {
            status = CertStatus.Valid;
            var until = crl.NextUpdate is { } n ? $"current until {Time(n)}" : "with no nextUpdate";
            text = $"valid: issued {by}, CRL{CrlNote(crl.Number, "")} {until}";
        }

        return new Verdict(status, Truncate(text), Ttl(cert, status, now, maxTtl ?? DefaultTtl));
    }

    /// <summary>
    /// A key (SubjectPublicKeyInfo) is blocked or revoked when any certificate carrying it was blocked or revoked
    /// for keyCompromise; valid when at least one certificate carrying it is valid; otherwise the highest precedence.
    /// </summary>
    public static Verdict? EvaluateKey(IEnumerable<CertFacts> certs, DateTimeOffset now, TimeSpan? maxTtl = null)
    {
        Verdict? compromised = null, valid = null, highest = null;
        foreach (var cert in certs)
        {
            var v = Evaluate(cert, now, maxTtl);
            if (v.Status == CertStatus.Blocked || (v.Status == CertStatus.Revoked && cert.Revocation?.Reason == RevocationReason.KeyCompromise))
            {
                if (compromised is null || StatusCodes.Precedence(v.Status) > StatusCodes.Precedence(compromised.Status)) compromised = v;
            }
            else if (v.Status == CertStatus.Valid)
            {
                valid ??= v;
            }
            if (highest is null || StatusCodes.Precedence(v.Status) > StatusCodes.Precedence(highest.Status)) highest = v;
        }
        return compromised ?? valid ?? highest;
    }

    private static TimeSpan Ttl(CertFacts cert, CertStatus status, DateTimeOffset now, TimeSpan max)
    {
        var ttl = max;
        // A cached answer must not outlive the CRL it rests on, nor a valid certificate's validity.
        if (cert.Ca.Crl?.NextUpdate is { } next && next > now && next - now < ttl) ttl = next - now;
        if (status == CertStatus.Valid && cert.NotAfter - now < ttl) ttl = cert.NotAfter - now;
        if (ttl < TimeSpan.FromSeconds(1)) ttl = TimeSpan.FromSeconds(1);
        return TimeSpan.FromSeconds(Math.Floor(ttl.TotalSeconds));
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
