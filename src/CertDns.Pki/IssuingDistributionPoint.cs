using CertDns.Core;

namespace CertDns.Pki;

/// <summary>
/// The issuingDistributionPoint CRL extension (RFC 5280 5.2.5): which certificates and reasons a CRL covers.
/// </summary>
/// <param name="Names">URIs of the distributionPoint fullName; other name forms are not listed.</param>
/// <param name="HasRelativeName">The distributionPoint is a nameRelativeToCRLIssuer.</param>
/// <param name="OnlyUserCerts">onlyContainsUserCerts.</param>
/// <param name="OnlyCaCerts">onlyContainsCACerts.</param>
/// <param name="OnlyAttributeCerts">onlyContainsAttributeCerts.</param>
/// <param name="IndirectCrl">indirectCRL: entries may name another issuer with certificateIssuer.</param>
/// <param name="OnlySomeReasons">onlySomeReasons as revocation reasons; null when the CRL covers every reason.</param>
/// <param name="Der">The extension's value (DER IssuingDistributionPoint): CRLs with equal values form one series.</param>
/// <param name="PointNames">The distributionPoint's names, each one GeneralName as DER, a relative name given as the full name it
/// stands for (see <see cref="DistributionPoints.PointNames"/>); null when absent.</param>
public sealed record IssuingDistributionPoint(
    byte[] Der,
    IReadOnlyList<byte[]>? PointNames,
    IReadOnlyList<string> Names,
    bool HasRelativeName,
    bool OnlyUserCerts,
    bool OnlyCaCerts,
    bool OnlyAttributeCerts,
    bool IndirectCrl,
    IReadOnlySet<RevocationReason>? OnlySomeReasons);
