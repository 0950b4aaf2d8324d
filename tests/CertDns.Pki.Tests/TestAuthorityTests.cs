using System.Numerics;
using CertDns.Core;

namespace CertDns.Pki.Tests;

public class TestAuthorityTests
{
    private static readonly DateTimeOffset Now = new(2026, 1, 15, 12, 0, 0, TimeSpan.Zero);

    [Theory]
    [InlineData(TestKeyType.EcdsaP256)]
    [InlineData(TestKeyType.Rsa2048)]
    [InlineData(TestKeyType.Ed25519)]
    public void Issue_Certificate_IssuedByItsCaOnly(TestKeyType type)
    {
        var ca = new TestAuthority("Round Trip CA", type);
        var other = new TestAuthority("Round Trip CA", type); // same name, other key
        var cert = Assert.Single(CertificateFile.Read(ca.Issue("mx.example.org", Now.AddDays(-1), Now.AddDays(90)), "ee"));
        Assert.True(cert.IsIssuedBy(ca.Certificate));
        Assert.False(cert.IsIssuedBy(other.Certificate));
        Assert.False(cert.IsIssuedBy(new TestAuthority("Another CA", type).Certificate));
        Assert.True(ca.Certificate.IsIssuedBy(ca.Certificate));
        Assert.Equal("CN=mx.example.org", cert.Subject);
        Assert.Equal(ca.Certificate.Subject, cert.Issuer);
        Assert.Equal(ca.Certificate.SubjectKeyId, cert.AuthorityKeyId);
        Assert.NotNull(cert.SubjectKeyId);
        Assert.False(cert.IsCa);
        Assert.False(cert.CanSignCrl);
        Assert.Equal(Now.AddDays(-1), cert.NotBefore);
    }

    [Fact]
    public void Constructor_Ca_KeyUsageAndBasicConstraints()
    {
        var ca = new TestAuthority("Props CA");
        Assert.True(ca.Certificate.IsCa);
        Assert.True(ca.Certificate.CanSignCrl);
        Assert.Equal("CN=Props CA,O=CertDns Test", ca.Certificate.Subject);
        Assert.Equal(ca.CertificateDer, Assert.Single(CertificateFile.Read(System.Text.Encoding.ASCII.GetBytes(ca.CertificatePem), "pem")).Der);
        Assert.StartsWith("-----BEGIN CERTIFICATE-----\n", ca.CertificatePem);
    }

    [Fact]
    public void Issue_GivenSerial_SerialKeptMinimal()
    {
        var ca = new TestAuthority("Serial CA");
        var cert = CertificateFile.Read(ca.Issue("a", Now, Now.AddDays(1), [0x00, 0x8F, 0x01]), "ee")[0];
        Assert.Equal([0x8F, 0x01], cert.Serial);
        var random = CertificateFile.Read(ca.Issue("b", Now, Now.AddDays(1)), "ee")[0];
        Assert.Equal(16, random.Serial.Length);
    }

    [Fact]
    public void Issue_SharedKeyPair_SameSpkiDifferentCertificates()
    {
        var ca = new TestAuthority("Key CA");
        var key = TestKeyPair.Create();
        var a = CertificateFile.Read(ca.Issue("a.example", Now, Now.AddDays(1), key: key), "a")[0];
        var b = CertificateFile.Read(ca.Issue("b.example", Now, Now.AddDays(1), key: key), "b")[0];
        var c = CertificateFile.Read(ca.Issue("c.example", Now, Now.AddDays(1)), "c")[0];
        Assert.Equal(a.SpkiSha256, b.SpkiSha256);
        Assert.NotEqual(a.Sha256, b.Sha256);
        Assert.NotEqual(a.SpkiSha256, c.SpkiSha256);
        Assert.Equal(System.Security.Cryptography.SHA256.HashData(key.SubjectPublicKeyInfo), a.SpkiSha256);
    }

    [Theory]
    [InlineData(TestKeyType.EcdsaP256)]
    [InlineData(TestKeyType.Rsa2048)]
    [InlineData(TestKeyType.Ed25519)]
    public void CreateCrl_RoundTrip_VerifiesAndEntriesComeBack(TestKeyType type)
    {
        var ca = new TestAuthority("CRL CA", type);
        (byte[], DateTimeOffset, RevocationReason)[] revoked =
        [
            ([0x01], Now.AddDays(-3), RevocationReason.KeyCompromise),
            ([0x00, 0x80], Now.AddDays(-2), RevocationReason.CertificateHold),
            ([0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01], Now.AddDays(-1), RevocationReason.Unspecified),
            ([0x02], Now.AddDays(-1), RevocationReason.AaCompromise),
        ];
        var der = ca.CreateCrl(new BigInteger(1000), Now, Now.AddDays(7), revoked);
        var crl = CrlFile.Parse(der, "test.crl");
        crl.VerifySignedBy(ca.Certificate);
        Assert.Equal(2, crl.Version);
        Assert.Equal(new BigInteger(1000), crl.Number);
        Assert.Equal(ca.Certificate.SubjectKeyId, crl.AuthorityKeyId);
        Assert.Equal(Now, crl.ThisUpdate);
        Assert.Equal(Now.AddDays(7), crl.NextUpdate);
        Assert.Equal(ca.Certificate.Subject, crl.Issuer);
        var entries = crl.Entries().ToList();
        Assert.Equal(4, crl.EntryCount);
        Assert.Equal(new byte[][] { [0x01], [0x80], revoked[2].Item1, [0x02] }, entries.Select(e => e.Serial.ToArray()));
        Assert.Equal(revoked.Select(r => r.Item2), entries.Select(e => e.RevokedAt));
        Assert.Equal(revoked.Select(r => r.Item3), entries.Select(e => e.Reason));
        Assert.All(entries, e => Assert.Null(e.CertificateIssuerDer));

        var e = Assert.Throws<BadInputException>(() => crl.VerifySignedBy(new TestAuthority("CRL CA", type).Certificate));
        Assert.StartsWith("signature does not verify", e.Reason);
    }

    [Fact]
    public void CreateCrl_NoNextUpdate_Null()
    {
        var ca = new TestAuthority("CRL CA");
        var crl = CrlFile.Parse(ca.CreateCrl(BigInteger.One, Now, null, []), "empty.crl");
        crl.VerifySignedBy(ca.Certificate);
        Assert.Null(crl.NextUpdate);
        Assert.Equal(0, crl.EntryCount);
    }

    [Fact]
    public void VerifySignedBy_CrlFromOtherCa_IssuerMismatch()
    {
        var crl = CrlFile.Parse(new TestAuthority("One CA").CreateCrl(BigInteger.One, Now, null, []), "one.crl");
        var e = Assert.Throws<BadInputException>(() => crl.VerifySignedBy(new TestAuthority("Two CA").Certificate));
        Assert.Equal("issuer \"CN=One CA,O=CertDns Test\" does not match CA \"CN=Two CA,O=CertDns Test\"", e.Reason);
    }

    [Fact]
    public void Parse_TruncatedCrl_Refused()
    {
        var der = SampleCrl();
        foreach (var cut in new[] { 1, 2, 10, der.Length / 2, der.Length - 1 })
        {
            var e = Assert.Throws<BadInputException>(() => CrlFile.Parse(der[..cut], "cut.crl"));
            Assert.StartsWith("truncated DER", e.Reason);
        }
    }

    [Theory]
    [InlineData(new byte[] { 0x00 })]
    [InlineData(new byte[] { 0x0D, 0x0A })]
    [InlineData(new byte[] { 0x30, 0x00 })]
    public void Parse_TrailingGarbage_Refused(byte[] garbage)
    {
        var e = Assert.Throws<BadInputException>(() => CrlFile.Parse([.. SampleCrl(), .. garbage], "long.crl"));
        Assert.Equal($"trailing garbage: {garbage.Length} bytes after the CRL", e.Reason);
    }

    [Fact]
    public void Parse_PemOfTestCrl_SameDer()
    {
        var der = SampleCrl();
        var pem = System.Text.Encoding.ASCII.GetBytes("CRL follows\n" + TestAuthority.ToPem("X509 CRL", der));
        Assert.Equal(der, CrlFile.Parse(pem, "pem").Der.ToArray());
    }

    [Fact]
    public void Parse_TamperedTbs_SignatureRefused()
    {
        var ca = new TestAuthority("Tamper CA");
        var der = ca.CreateCrl(BigInteger.One, Now, null, [([0x05], Now, RevocationReason.KeyCompromise)]);
        // Flip the revoked serial 05 -> 06: still well-formed, no longer what was signed.
        var tampered = (byte[])der.Clone();
        for (int i = 0; i < der.Length - 2; i++)
        {
            if (der[i] == 0x02 && der[i + 1] == 0x01 && der[i + 2] == 0x05) { tampered[i + 2] = 0x06; break; }
        }
        Assert.NotEqual(der, tampered);
        var crl = CrlFile.Parse(tampered, "t.crl");
        Assert.Equal([0x06], crl.Entries().Single().Serial.ToArray());
        var e = Assert.Throws<BadInputException>(() => crl.VerifySignedBy(ca.Certificate));
        Assert.StartsWith("signature does not verify", e.Reason);
    }

    private static byte[] SampleCrl() => new TestAuthority("Sample CA").CreateCrl(
        new BigInteger(7), Now, Now.AddDays(1), [([0x0A], Now.AddHours(-1), RevocationReason.Superseded)]);
}
