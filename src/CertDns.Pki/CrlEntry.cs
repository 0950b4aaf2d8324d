using CertDns.Core;

namespace CertDns.Pki;

/// <summary>
/// One revokedCertificates entry, as <see cref="ParsedCrl.Entries"/> yields it while re-walking the DER.
/// </summary>
/// <param name="Serial">Serial number contents, big-endian, leading zero octets removed (as
/// <see cref="ParsedCertificate.Serial"/>): a slice of the CRL's bytes, not a copy. A negative serial (non-conforming)
/// is a copy with 00 in front, so it cannot match a positive one.</param>
/// <param name="RevokedAt">revocationDate.</param>
/// <param name="Reason">reasonCode, <see cref="RevocationReason.Unspecified"/> when absent.</param>
/// <param name="InvalidityDate">invalidityDate entry extension, when present.</param>
/// <param name="CertificateIssuerDer">DER Name of the certificate's issuer in an indirect CRL: the directoryName
/// of the last certificateIssuer extension at or before this entry (RFC 5280 5.3.3); null means the CRL issuer.</param>
public readonly record struct CrlEntry(
    ReadOnlyMemory<byte> Serial,
    DateTimeOffset RevokedAt,
    RevocationReason Reason,
    DateTimeOffset? InvalidityDate,
    byte[]? CertificateIssuerDer);
