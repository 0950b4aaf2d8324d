using System.Formats.Asn1;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace CertDns.Bench;

/// <summary>
/// A P-256 CA made with the platform's crypto, and CRLs of a million entries or more written with AsnWriter and signed
/// by it: CertificateRevocationListBuilder's AddEntry and BouncyCastle's generator are too slow at that size.
/// </summary>
internal sealed class BenchCa : IDisposable
{
    private const string EcdsaWithSha256 = "1.2.840.10045.4.3.2";
    private readonly ECDsa _key = ECDsa.Create(ECCurve.NamedCurves.nistP256);

    public BenchCa(string subject, DateTimeOffset now)
    {
        var request = new CertificateRequest(subject, _key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        Certificate = request.CreateSelfSigned(now.AddDays(-1), now.AddYears(5));
    }

    public X509Certificate2 Certificate { get; }

    /// <summary>The CA's key, for what signs certificates.</summary>
    public ECDsa Key => _key;

    /// <summary>
    /// A signed v2 CRL with cRLNumber and authorityKeyIdentifier. Each entry: a serial (positive, minimal: the DER
    /// INTEGER's octets), its revocation time and a reasonCode, or none when null.
    /// </summary>
    public byte[] Crl(int number, DateTimeOffset thisUpdate, DateTimeOffset nextUpdate, IEnumerable<(byte[] Serial, DateTimeOffset RevokedAt, byte? Reason)> entries, int expected)
    {
        var tbs = new AsnWriter(AsnEncodingRules.DER, initialCapacity: expected * 52 + 4096);
        using (tbs.PushSequence())
        {
            tbs.WriteInteger(1);
            using (tbs.PushSequence()) tbs.WriteObjectIdentifier(EcdsaWithSha256);
            tbs.WriteEncodedValue(Certificate.SubjectName.RawData);
            tbs.WriteUtcTime(thisUpdate);
            tbs.WriteUtcTime(nextUpdate);
            using (tbs.PushSequence())
            {
                foreach (var (serial, at, reason) in entries)
                {
                    using (tbs.PushSequence())
                    {
                        tbs.WriteIntegerUnsigned(serial);
                        tbs.WriteUtcTime(at);
                        if (reason is not { } code) continue;
                        using (tbs.PushSequence())
                        using (tbs.PushSequence())
                        {
                            tbs.WriteObjectIdentifier("2.5.29.21");
                            tbs.WriteOctetString([0x0A, 0x01, code]);
                        }
                    }
                }
            }
            using (tbs.PushSequence(new Asn1Tag(TagClass.ContextSpecific, 0)))
            using (tbs.PushSequence())
            {
                using (tbs.PushSequence())
                {
                    tbs.WriteObjectIdentifier("2.5.29.20");
                    var crlNumber = new AsnWriter(AsnEncodingRules.DER);
                    crlNumber.WriteInteger(number);
                    tbs.WriteOctetString(crlNumber.Encode());
                }
                var aki = X509AuthorityKeyIdentifierExtension.CreateFromCertificate(Certificate, true, false);
                using (tbs.PushSequence())
                {
                    tbs.WriteObjectIdentifier(aki.Oid!.Value!);
                    tbs.WriteOctetString(aki.RawData);
                }
            }
        }
        var signed = tbs.Encode();
        var outer = new AsnWriter(AsnEncodingRules.DER, initialCapacity: signed.Length + 256);
        using (outer.PushSequence())
        {
            outer.WriteEncodedValue(signed);
            using (outer.PushSequence()) outer.WriteObjectIdentifier(EcdsaWithSha256);
            outer.WriteBitString(_key.SignData(signed, HashAlgorithmName.SHA256, DSASignatureFormat.Rfc3279DerSequence));
        }
        return outer.Encode();
    }

    public void Dispose()
    {
        Certificate.Dispose();
        _key.Dispose();
    }
}
