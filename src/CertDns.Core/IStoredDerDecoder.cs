namespace CertDns.Core;

/// <summary>
/// Reads what stores of schema 4 and earlier kept as DER, for the one-way migration to plain values. The store reads no
/// ASN.1 itself: CertDns.Pki implements this (<c>DistributionPoints.Legacy</c>) and the process that opens stores passes it on.
/// </summary>
public interface IStoredDerDecoder
{
    /// <summary>A certificate's stored cRLDistributionPoints (DER values back to back) as plain points.</summary>
    IReadOnlyList<CrlDistributionPoint> CertificatePoints(byte[] der);

    /// <summary>A CRL series' stored DistributionPointName (made whole) as its names.</summary>
    IReadOnlyList<byte[]> PointNames(byte[] pointNameDer);
}
