namespace CertDns.Core;

/// <summary>What is known of a CA when a snapshot is built.</summary>
/// <param name="Id">The store's id of the CA.</param>
/// <param name="Name">Subject as text, for TXT strings.</param>
/// <param name="Trusted">False once the operator distrusted it.</param>
/// <param name="DistrustedAt">When it was distrusted.</param>
/// <param name="DistrustReason">Why.</param>
/// <param name="Crl">The current CRL that covers the certificate at hand, or null when none was ingested or none covers it.</param>
/// <param name="NoCrlReason">Why no CRL covers the certificate although some were ingested (scope, partial reasons), for TXT.</param>
/// <param name="Link">For an intermediate, its own certificate as its parent's CRLs judge it (the chain above it); null for an anchor.</param>
public sealed record CaFacts(long Id, string Name, bool Trusted, DateTimeOffset? DistrustedAt = null, string? DistrustReason = null, CrlFacts? Crl = null,
    string? NoCrlReason = null, CaLink? Link = null);

/// <summary>
/// An intermediate CA's own certificate as a certificate of its parent: what the chain adds to every certificate the
/// intermediate issued. Built once per CA and snapshot (parent first), so the fold costs nothing per certificate.
/// </summary>
/// <param name="Name">The intermediate's subject, for TXT.</param>
/// <param name="Serial">Its certificate's serial, or empty when its certificate is not stored.</param>
/// <param name="NotBefore">Its notBefore.</param>
/// <param name="NotAfter">Its notAfter.</param>
/// <param name="Revocation">Its entry on the parent's current CRL (or ARL), or null.</param>
/// <param name="Issuer">The parent as it judges this certificate: trust, the covering CRL (or why none), and its own link.</param>
public sealed record CaLink(string Name, byte[] Serial, DateTimeOffset NotBefore, DateTimeOffset NotAfter, RevocationFacts? Revocation, CaFacts Issuer);

/// <summary>The newest CRL of a CA.</summary>
/// <param name="Number">CRL number as decimal text, or null when the CRL has none.</param>
/// <param name="ThisUpdate">thisUpdate.</param>
/// <param name="NextUpdate">nextUpdate, or null when the CRL gives none (RFC 5280 requires it; without it the CRL is never stale).</param>
public sealed record CrlFacts(string? Number, DateTimeOffset ThisUpdate, DateTimeOffset? NextUpdate)
{
    /// <summary>Whether the CRL is past its nextUpdate at <paramref name="now"/> (without one it never is).</summary>
    public bool StaleAt(DateTimeOffset now) => NextUpdate is { } next && now > next;
}

/// <summary>An entry on a CA's current CRL.</summary>
public sealed record RevocationFacts(RevocationReason Reason, DateTimeOffset RevokedAt, string? CrlNumber);

/// <summary>A local-policy listing.</summary>
/// <param name="Reason">Shown in TXT, e.g. "3 abuse complaints" or the operator's reason.</param>
/// <param name="Since">When it was listed.</param>
public sealed record BlockFacts(string Reason, DateTimeOffset Since);

/// <summary>Everything status evaluation needs about one registered certificate.</summary>
public sealed record CertFacts(
    byte[] Sha256,
    byte[] Sha1,
    byte[] Md5,
    byte[] SpkiSha256,
    byte[] Serial,
    DateTimeOffset NotBefore,
    DateTimeOffset NotAfter,
    CaFacts Ca,
    RevocationFacts? Revocation = null,
    BlockFacts? Block = null);

/// <summary>The outcome of status evaluation: the status, its TXT string and the TTL it may be cached for.</summary>
public sealed record Verdict(CertStatus Status, string Text, TimeSpan Ttl);
