using System.Formats.Asn1;
using System.Numerics;
using CertDns.Pki;

namespace CertDns.EndToEnd.Tests;

/// <summary>
/// Issue 12 item 9, through the real program: a CRL whose nextUpdate is before its thisUpdate, a CRL number over
/// 20 octets (RFC 5280 5.2.3) and a certificate whose inner and outer signature algorithms differ are refused
/// with one line and exit 1, and nothing is stored.
/// </summary>
public sealed class CrlSanityTests : IDisposable
{
    private readonly TempDir _dir = new();
    private readonly TestAuthority _ca = new("Sanity CA");

    public CrlSanityTests()
    {
        File.WriteAllText(_dir.File("ca.pem"), _ca.CertificatePem);
        Assert.Equal(0, CertDnsProcess.Run(_dir.Path, "ca", "add", "ca.pem").ExitCode);
    }

    public void Dispose() => _dir.Dispose();

    private void AssertRefused(string reason, params string[] args)
    {
        var before = File.ReadAllBytes(_dir.File("certdns.db"));
        var result = CertDnsProcess.Run(_dir.Path, args);

        Assert.Equal(1, result.ExitCode);
        var line = Assert.Single(result.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Contains(reason, line);
        Assert.DoesNotContain("   at ", result.Stderr + result.Stdout);
        Assert.Equal(before, File.ReadAllBytes(_dir.File("certdns.db")));
    }

    [Fact]
    public void CrlIngest_NextUpdateBeforeThisUpdate_Refused()
    {
        var now = DateTimeOffset.UtcNow;
        File.WriteAllBytes(_dir.File("crl.der"), _ca.CreateCrl(1, now.AddMinutes(-5), now.AddDays(-1), []));

        AssertRefused("crl.der: nextUpdate", "crl", "ingest", "crl.der");
    }

    [Theory]
    [InlineData(21)]
    [InlineData(200)]
    public void CrlIngest_CrlNumberOver20Octets_Refused(int octets)
    {
        var now = DateTimeOffset.UtcNow;
        // A positive INTEGER of exactly this many content octets (its top bit clear).
        var number = BigInteger.One << (8 * octets - 2);
        File.WriteAllBytes(_dir.File("crl.der"), _ca.CreateCrl(number, now.AddMinutes(-5), now.AddDays(7), []));

        AssertRefused($"cRLNumber is {octets} octets long; RFC 5280 allows at most 20", "crl", "ingest", "crl.der");
    }

    [Fact]
    public void CrlIngest_CrlNumberOf20Octets_Accepted()
    {
        var now = DateTimeOffset.UtcNow;
        File.WriteAllBytes(_dir.File("crl.der"), _ca.CreateCrl(BigInteger.One << (8 * 20 - 2), now.AddMinutes(-5), now.AddDays(7), []));

        var result = CertDnsProcess.Run(_dir.Path, "crl", "ingest", "crl.der");

        Assert.True(result.ExitCode == 0, result.Stderr);
    }

    /// <summary>The certificate with its outer signatureAlgorithm swapped for ecdsa-with-SHA384 (the TBS says SHA-256).</summary>
    private static byte[] WithOuterAlgorithm(byte[] der, string oid)
    {
        var reader = new AsnReader(der, AsnEncodingRules.DER).ReadSequence();
        var tbs = reader.ReadEncodedValue();
        reader.ReadEncodedValue();
        var signature = reader.ReadEncodedValue();
        var writer = new AsnWriter(AsnEncodingRules.DER);
        using (writer.PushSequence())
        {
            writer.WriteEncodedValue(tbs.Span);
            using (writer.PushSequence()) writer.WriteObjectIdentifier(oid);
            writer.WriteEncodedValue(signature.Span);
        }
        return writer.Encode();
    }

    [Fact]
    public void CertsAdd_InnerAndOuterSignatureAlgorithmsDiffer_Refused()
    {
        var now = DateTimeOffset.UtcNow;
        var der = WithOuterAlgorithm(_ca.Issue("mixed.example", now.AddDays(-1), now.AddDays(30)), "1.2.840.10045.4.3.3");
        File.WriteAllText(_dir.File("mixed.pem"), TestAuthority.ToPem("CERTIFICATE", der));

        AssertRefused("signature algorithm in tbsCertificate (1.2.840.10045.4.3.2", "certs", "add", "mixed.pem");
    }

    [Fact]
    public void CaAdd_InnerAndOuterSignatureAlgorithmsDiffer_Refused()
    {
        var other = new TestAuthority("Mixed CA");
        File.WriteAllText(_dir.File("mixed-ca.pem"), TestAuthority.ToPem("CERTIFICATE", WithOuterAlgorithm(other.CertificateDer, "1.2.840.10045.4.3.3")));

        AssertRefused("differs from the outer one", "ca", "add", "mixed-ca.pem");
    }
}
