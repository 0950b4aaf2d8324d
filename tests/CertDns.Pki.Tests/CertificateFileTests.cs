using System.Security.Cryptography;
using System.Text;
using CertDns.Core;

namespace CertDns.Pki.Tests;

public class CertificateFileTests
{
    [PeerFact(TestData.Pkits)]
    public void Read_PkitsGoodCa_FieldsFromOriginalDer()
    {
        var der = TestData.Bytes("pkits", "certs", "GoodCACert.crt");
        var cert = Assert.Single(CertificateFile.Read(der, "GoodCACert.crt"));
        Assert.Equal(der, cert.Der);
        Assert.Equal(SHA256.HashData(der), cert.Sha256);
        Assert.Equal(SHA1.HashData(der), cert.Sha1);
        Assert.Equal(MD5.HashData(der), cert.Md5);
        Assert.Equal("CN=Good CA,O=Test Certificates 2011,C=US", cert.Subject);
        Assert.Equal("CN=Trust Anchor,O=Test Certificates 2011,C=US", cert.Issuer);
        Assert.Equal([0x02], cert.Serial);
        Assert.True(cert.IsCa);
        Assert.True(cert.CanSignCrl);
        Assert.Equal(new DateTimeOffset(2010, 1, 1, 8, 30, 0, TimeSpan.Zero), cert.NotBefore);
        Assert.Equal(new DateTimeOffset(2030, 12, 31, 8, 30, 0, TimeSpan.Zero), cert.NotAfter);
        Assert.Equal(Convert.FromHexString("580184241BBC2B52944A3DA510721451F5AF3AC9"), cert.SubjectKeyId);
        Assert.NotNull(cert.AuthorityKeyId);
    }

    [PeerFact(TestData.Pkits)]
    public void Read_Certificate_SpkiFingerprintMatchesDotnet()
    {
        var der = TestData.Bytes("pkits", "certs", "GoodCACert.crt");
        using var x509 = System.Security.Cryptography.X509Certificates.X509CertificateLoader.LoadCertificate(der);
        var spki = x509.PublicKey.ExportSubjectPublicKeyInfo();
        var cert = Assert.Single(CertificateFile.Read(der, "c"));
        Assert.Equal(SHA256.HashData(spki), cert.SpkiSha256);
        Assert.Equal(x509.SubjectName.RawData, cert.SubjectDer);
        Assert.Equal(x509.IssuerName.RawData, cert.IssuerDer);
    }

    [PeerFact(TestData.Pkits)]
    public void Read_PemBundleWithTextAndOtherBlocks_EveryCertificate()
    {
        var a = TestData.Bytes("pkits", "certs", "GoodCACert.crt");
        var b = TestData.Bytes("pkits", "certs", "TrustAnchorRootCertificate.crt");
        var text = "Bundle for tests\n" + TestAuthority.ToPem("CERTIFICATE", a)
            + "some words in between\n" + TestAuthority.ToPem("PRIVATE KEY", [1, 2, 3])
            + TestAuthority.ToPem("CERTIFICATE", b) + "trailer\n";
        var certs = CertificateFile.Read(Encoding.ASCII.GetBytes(text), "bundle.pem");
        Assert.Equal(2, certs.Count);
        Assert.Equal(a, certs[0].Der);
        Assert.Equal(b, certs[1].Der);
    }

    [PeerFact(TestData.Pkits)]
    public void Read_Base64WithoutArmour_Decoded()
    {
        var der = TestData.Bytes("pkits", "certs", "GoodCACert.crt");
        var cert = Assert.Single(CertificateFile.Read(Encoding.ASCII.GetBytes(Convert.ToBase64String(der)), "b64"));
        Assert.Equal(der, cert.Der);
    }

    [PeerFact(TestData.RealCrls)]
    public void Read_PemIssuerCertificate_Parsed()
    {
        var cert = TestData.Certificate("real-crls", "issuers", "EE-GovCA2018.pem.crt");
        Assert.Contains("CN=EE-GovCA2018", cert.Subject);
        Assert.True(cert.IsCa);
    }

    [PeerFact(TestData.RealCrls)]
    public void Read_CertificateWithDistributionPoints_UrisListed()
    {
        var cert = TestData.Certificate("real-crls", "issuers", "D-TRUST_Root_CA_1_2017.crt");
        Assert.Equal(
            [
                "ldap://directory.d-trust.net/CN=D-TRUST%20Root%20CA%201%202017,O=D-Trust%20GmbH,C=DE?certificaterevocationlist",
                "http://crl.d-trust.net/crl/d-trust_root_ca_1_2017.crl",
            ],
            cert.CrlDistributionPoints);
        Assert.Empty(TestData.Certificate("real-crls", "issuers", "EE-GovCA2018.pem.crt").CrlDistributionPoints);
    }

    [Theory]
    [InlineData("", "no certificate found")]
    [InlineData("just some words", "no certificate found")]
    [InlineData("-----BEGIN X509 CRL-----\nAAAA\n-----END X509 CRL-----\n", "no certificate found")]
    public void Read_NoCertificate_Refused(string text, string reason)
    {
        var e = Assert.Throws<BadInputException>(() => CertificateFile.Read(Encoding.ASCII.GetBytes(text), "in.pem"));
        Assert.StartsWith(reason, e.Reason);
        Assert.Equal("in.pem", e.Input);
    }

    [PeerFact(TestData.Pkits)]
    public void Read_TruncatedDer_Refused()
    {
        var der = TestData.Bytes("pkits", "certs", "GoodCACert.crt");
        var e = Assert.Throws<BadInputException>(() => CertificateFile.Read(der[..(der.Length - 10)], "cut.der"));
        Assert.StartsWith("truncated DER", e.Reason);
    }

    [PeerFact(TestData.Pkits)]
    public void Read_CrlGivenAsCertificate_NotACertificate()
    {
        var e = Assert.Throws<BadInputException>(() => CertificateFile.Read(TestData.Bytes("pkits", "crls", "GoodCACRL.crl"), "crl"));
        Assert.StartsWith("not a certificate", e.Reason);
    }

    [Fact]
    public void Read_GarbageInsideSequence_NotACertificate()
    {
        byte[] der = [0x30, 0x03, 0x02, 0x01, 0x05];
        var e = Assert.Throws<BadInputException>(() => CertificateFile.Read(der, "g"));
        Assert.StartsWith("not a certificate", e.Reason);
    }

    [PeerTheory(TestData.Pkits)]
    [InlineData("GoodCACert.crt", "TrustAnchorRootCertificate.crt", true)]
    [InlineData("GoodsubCACert.crt", "GoodCACert.crt", true)]
    [InlineData("DSACACert.crt", "TrustAnchorRootCertificate.crt", true)]
    [InlineData("ValidDSASignaturesTest4EE.crt", "DSACACert.crt", true)] // DSA signature
    [InlineData("GoodCACert.crt", "GoodCACert.crt", false)]
    [InlineData("GoodsubCACert.crt", "TrustAnchorRootCertificate.crt", false)]
    [InlineData("InvalidEESignatureTest3EE.crt", "GoodCACert.crt", false)] // name matches, signature does not
    public void IsIssuedBy_PkitsPairs_AsExpected(string subject, string issuer, bool expected)
    {
        var s = TestData.Certificate("pkits", "certs", subject);
        var i = TestData.Certificate("pkits", "certs", issuer);
        Assert.Equal(expected, s.IsIssuedBy(i));
    }

    [Fact]
    public void IsIssuedBy_SameNameOtherKeyBetweenChecks_EachKeyDecides()
    {
        // The verifying thread keeps the last CA key it imported: a rollover CA of the same name must not reuse it.
        var old = new TestAuthority("Rollover CA");
        var rolled = new TestAuthority("Rollover CA");
        var now = DateTimeOffset.UtcNow;
        var byOld = Assert.Single(CertificateFile.Read(old.Issue("a.example", now.AddDays(-1), now.AddDays(30)), "a"));
        var byRolled = Assert.Single(CertificateFile.Read(rolled.Issue("b.example", now.AddDays(-1), now.AddDays(30)), "b"));
        Assert.True(byOld.IsIssuedBy(old.Certificate));
        Assert.False(byOld.IsIssuedBy(rolled.Certificate));
        Assert.True(byRolled.IsIssuedBy(rolled.Certificate));
        Assert.False(byRolled.IsIssuedBy(old.Certificate));
        Assert.True(byOld.IsIssuedBy(old.Certificate));
    }

    [PeerFact(TestData.RealCrls)]
    public void IsIssuedBy_RealPssRoot_SelfSigned()
    {
        var root = TestData.Certificate("real-crls", "issuers", "D-TRUST_Root_CA_1_2017.crt");
        Assert.True(root.IsIssuedBy(root));
    }

    [PeerFact(TestData.Pkits, TestData.PycaCustom)]
    public void CanSignCrl_NoKeyUsageExtension_Null()
    {
        // pyca's valid_signature_cert.pem has no keyUsage: any use is allowed, and it does sign its CRL.
        Assert.Null(TestData.Certificate("pyca-custom", "valid_signature_cert.pem").CanSignCrl);
        Assert.False(TestData.Certificate("pkits", "certs", "keyUsageCriticalcRLSignFalseCACert.crt").CanSignCrl);
    }
}
