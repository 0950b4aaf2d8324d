using CertDns.Core;

namespace CertDns.Store;

/// <summary>
/// A CA certificate to register: an intermediate under the CA whose key verified it (<paramref name="ParentSha256"/>,
/// already registered or earlier in the same batch), or an anchor, saying why it is one (<see cref="CaAnchor"/>).
/// An intermediate's <paramref name="Certificate"/> is stored as a certificate of its parent (its CaId is the parent's,
/// whatever it says), so the parent's CRLs judge it like any other and its status folds into everything below it.
/// </summary>
public sealed record CaRecord(
    byte[] Sha256,
    string Subject,
    byte[] SubjectDer,
    byte[]? KeyId,
    byte[] SpkiSha256,
    DateTimeOffset NotBefore,
    DateTimeOffset NotAfter,
    bool CanSignCrl,
    byte[] Der,
    string? AbuseContact,
    byte[]? ParentSha256 = null,
    string Anchor = CaAnchor.Operator,
    CertRecord? Certificate = null);

/// <summary>Why a CA without a parent is trusted: the values of <see cref="CaRow.Anchor"/>.</summary>
public static class CaAnchor
{
    /// <summary>A self-signed CA whose self-signature verified.</summary>
    public const string SelfSigned = "self-signed";

    /// <summary>The operator said <c>--anchor</c>: trusted on its own, its issuer unknown here.</summary>
    public const string Operator = "operator";

    /// <summary>Registered before CA checks existed (schema 5): kept as an anchor, unchecked.</summary>
    public const string Migrated = "migrated";
}

/// <summary>A registered CA as stored.</summary>
public sealed class CaRow
{
    public long Id { get; init; }
    public byte[] Sha256 { get; init; } = [];
    public string Subject { get; init; } = "";
    public byte[] SubjectDer { get; init; } = [];
    public byte[]? KeyId { get; init; }
    public long NotBefore { get; init; }
    public long NotAfter { get; init; }
    public bool CanSignCrl { get; init; }
    public byte[] Der { get; init; } = [];
    public bool Trusted { get; init; }
    public long? DistrustedAt { get; init; }
    public string? DistrustReason { get; init; }
    public string? AbuseContact { get; init; }
    public long AddedAt { get; init; }

    /// <summary>The CA whose key verified this one, or null for an anchor.</summary>
    public long? ParentId { get; init; }

    /// <summary>Why an anchor is trusted (<see cref="CaAnchor"/>), or null for an intermediate.</summary>
    public string? Anchor { get; init; }
}

/// <summary>
/// A certificate to register; <see cref="CaId"/> is the CA whose key verified it, <see cref="CrlPoints"/> its
/// cRLDistributionPoints as decoded by CertDns.Pki.
/// </summary>
public sealed record CertRecord(
    byte[] Sha256,
    byte[] Sha1,
    byte[] Md5,
    byte[] SpkiSha256,
    long CaId,
    byte[] Serial,
    string? Subject,
    DateTimeOffset NotBefore,
    DateTimeOffset NotAfter,
    byte[]? Der,
    bool IsCa = false,
    IReadOnlyList<CrlDistributionPoint>? CrlPoints = null);

/// <summary>A registered certificate as stored (without its DER).</summary>
public sealed class CertRow
{
    public long Id { get; init; }
    public byte[] Sha256 { get; init; } = [];
    public long CaId { get; init; }
    public byte[] Serial { get; init; } = [];
    public string? Subject { get; init; }
    public long NotBefore { get; init; }
    public long NotAfter { get; init; }
}

/// <summary>An accepted CRL to record.</summary>
/// <param name="CaId">The CA whose key verified it.</param>
/// <param name="Number">cRLNumber as decimal text, or null.</param>
/// <param name="ThisUpdate">thisUpdate.</param>
/// <param name="NextUpdate">nextUpdate, or null when absent.</param>
/// <param name="Sha256">SHA-256 of the file as given.</param>
/// <param name="Source">File name or URL.</param>
/// <param name="Scope">Its issuingDistributionPoint; <see cref="CrlScope.Complete"/> when it has none.</param>
/// <param name="DeltaBase">BaseCRLNumber of a delta CRL; null for a full CRL.</param>
public sealed record CrlRecord(
    long CaId,
    string? Number,
    DateTimeOffset ThisUpdate,
    DateTimeOffset? NextUpdate,
    byte[] Sha256,
    string Source,
    string? DeltaBase,
    CrlScope? Scope = null)
{
    /// <summary>Whether this is a delta CRL.</summary>
    public bool IsDelta => DeltaBase is not null;
}

/// <summary>A CRL as stored.</summary>
public sealed class CrlRow
{
    public long Id { get; init; }
    public long CaId { get; init; }
    public string? Number { get; init; }
    public long ThisUpdate { get; init; }
    public long? NextUpdate { get; init; }
    public byte[] Sha256 { get; init; } = [];
    public string Source { get; init; } = "";
    public string? DeltaBase { get; init; }
    public long? ScopeId { get; init; }
    public bool IsDelta { get; init; }
    public long EntryCount { get; init; }
    public long IngestedAt { get; init; }
}

/// <summary>One revoked serial of a CRL.</summary>
/// <param name="Serial">Serial number contents without leading zero octets.</param>
/// <param name="RevokedAt">revocationDate.</param>
/// <param name="Reason">reasonCode; removeFromCRL in a delta CRL lifts an entry of its base.</param>
/// <param name="IssuerCaId">The certificate's issuer when it is not the CRL's own (indirect CRL entries); 0 for the CRL issuer.</param>
public readonly record struct RevocationRecord(ReadOnlyMemory<byte> Serial, DateTimeOffset RevokedAt, RevocationReason Reason, long IssuerCaId = 0);

/// <summary>What replacing a CA's revocations changed.</summary>
public sealed record RevocationChange(long CrlId, int Added, int Removed, int Total);

/// <summary>A local listing (operator block or complaint threshold).</summary>
public sealed class ListingRow
{
    public byte[] Sha256 { get; init; } = [];
    public string Reason { get; init; } = "";
    public long Since { get; init; }
    public string Source { get; init; } = "";
}

/// <summary>One line of the append-only audit log.</summary>
public sealed class AuditRow
{
    public long Id { get; init; }
    public long At { get; init; }
    public string Actor { get; init; } = "";
    public string Action { get; init; } = "";
    public string Subject { get; init; } = "";
    public string? Reason { get; init; }
}
