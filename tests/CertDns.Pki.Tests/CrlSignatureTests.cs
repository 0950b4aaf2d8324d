using CertDns.Core;

namespace CertDns.Pki.Tests;

public class CrlSignatureTests
{
    /// <summary>
    /// Regression: ECDsa.VerifyData over a span copied the whole tbsCertList into a pooled array, a second copy of a
    /// 48 MB CRL for the whole ingest (issue #17's peak-memory target). Hashed in place, the check allocates little.
    /// </summary>
    [Fact]
    public void VerifySignedBy_LargeP256Crl_DoesNotCopyTheSignedPart()
    {
        var ca = new TestAuthority("Copy CA");
        var now = DateTimeOffset.UtcNow;
        var entries = Enumerable.Range(1, 40_000).Select(i => (BitConverter.GetBytes(i).Reverse().Prepend((byte)1).ToArray(), now.AddDays(-1), RevocationReason.KeyCompromise));
        var crl = CrlFile.Parse(ca.CreateCrl(1, now.AddMinutes(-1), now.AddDays(1), entries), "big.crl");

        long before = GC.GetAllocatedBytesForCurrentThread();
        crl.VerifySignedBy(ca.Certificate);
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        // The first check in the process: a pooled copy would be allocated now, and kept.
        Assert.True(allocated < crl.Tbs.Length / 4, $"{allocated} octets allocated to verify a {crl.Tbs.Length}-octet tbsCertList");
    }

    [PeerFact(TestData.PycaCustom)]
    public void VerifySignedBy_PycaValidSignature_Succeeds()
    {
        var crl = TestData.Crl("pyca-custom", "valid_signature_crl.pem");
        crl.VerifySignedBy(TestData.Certificate("pyca-custom", "valid_signature_cert.pem"));
    }

    [PeerFact(TestData.PycaCustom)]
    public void VerifySignedBy_PycaInvalidSignature_Refused()
    {
        var crl = TestData.Crl("pyca-custom", "invalid_signature_crl.pem");
        var e = Assert.Throws<BadInputException>(() => crl.VerifySignedBy(TestData.Certificate("pyca-custom", "invalid_signature_cert.pem")));
        Assert.StartsWith("signature does not verify with the key of", e.Reason);
    }

    [PeerFact(TestData.Pkits)]
    public void VerifySignedBy_PkitsGoodCa_TwoKeyCompromiseEntries()
    {
        var crl = TestData.Crl("pkits", "crls", "GoodCACRL.crl");
        crl.VerifySignedBy(TestData.Certificate("pkits", "certs", "GoodCACert.crt"));
        // openssl crl -inform DER -text: serials 0E and 0F, keyCompromise, 2010-01-01 08:30:00 and :01.
        var entries = crl.Entries().ToList();
        Assert.Equal(2, entries.Count);
        Assert.Equal([0x0E], entries[0].Serial.ToArray());
        Assert.Equal([0x0F], entries[1].Serial.ToArray());
        Assert.All(entries, e => Assert.Equal(RevocationReason.KeyCompromise, e.Reason));
        Assert.Equal(new DateTimeOffset(2010, 1, 1, 8, 30, 0, TimeSpan.Zero), entries[0].RevokedAt);
        Assert.Equal(new DateTimeOffset(2010, 1, 1, 8, 30, 1, TimeSpan.Zero), entries[1].RevokedAt);
        Assert.Equal(System.Numerics.BigInteger.One, crl.Number);
        Assert.Equal("CN=Good CA,O=Test Certificates 2011,C=US", crl.Issuer);
    }

    [PeerTheory(TestData.Pkits)]
    [InlineData("BadCRLSignatureCACRL.crl", "BadCRLSignatureCACert.crt", "signature does not verify with the key of")]
    [InlineData("BadCRLIssuerNameCACRL.crl", "BadCRLIssuerNameCACert.crt", "issuer \"")]
    [InlineData("keyUsageCriticalcRLSignFalseCACRL.crl", "keyUsageCriticalcRLSignFalseCACert.crt", "CA \"")]
    [InlineData("keyUsageNotCriticalcRLSignFalseCACRL.crl", "keyUsageNotCriticalcRLSignFalseCACert.crt", "CA \"")]
    public void VerifySignedBy_PkitsBadCrl_Refused(string crlFile, string caFile, string reason)
    {
        var crl = TestData.Crl("pkits", "crls", crlFile);
        var e = Assert.Throws<BadInputException>(() => crl.VerifySignedBy(TestData.Certificate("pkits", "certs", caFile)));
        Assert.StartsWith(reason, e.Reason);
        Assert.Equal(crlFile, e.Input);
    }

    [PeerFact(TestData.Pkits)]
    public void VerifySignedBy_PkitsCaWithoutCrlSign_ReasonNamesKeyUsage()
    {
        var crl = TestData.Crl("pkits", "crls", "keyUsageCriticalcRLSignFalseCACRL.crl");
        var e = Assert.Throws<BadInputException>(() => crl.VerifySignedBy(TestData.Certificate("pkits", "certs", "keyUsageCriticalcRLSignFalseCACert.crt")));
        Assert.EndsWith("may not sign CRLs (keyUsage lacks cRLSign)", e.Reason);
    }

    [PeerFact(TestData.Pkits)]
    public void VerifySignedBy_PkitsIssuerName_ReasonQuotesBothNames()
    {
        var crl = TestData.Crl("pkits", "crls", "BadCRLIssuerNameCACRL.crl");
        var ca = TestData.Certificate("pkits", "certs", "BadCRLIssuerNameCACert.crt");
        var e = Assert.Throws<BadInputException>(() => crl.VerifySignedBy(ca));
        Assert.Equal($"issuer \"{crl.Issuer}\" does not match CA \"{ca.Subject}\"", e.Reason);
    }

    [PeerTheory(TestData.Pkits)]
    [InlineData("DSACACRL.crl", "DSACACert.crt")] // DSA with SHA-1
    [InlineData("GoodsubCACRL.crl", "GoodsubCACert.crt")]
    [InlineData("TrustAnchorRootCRL.crl", "TrustAnchorRootCertificate.crt")]
    [InlineData("UTF8StringCaseInsensitiveMatchCACRL.crl", "UTF8StringCaseInsensitiveMatchCACert.crt")] // names match only under RFC 5280 rules
    [InlineData("RolloverfromPrintableStringtoUTF8StringCACRL.crl", "RolloverfromPrintableStringtoUTF8StringCACert.crt")]
    [InlineData("keyUsageNotCriticalCACRL.crl", "keyUsageNotCriticalCACert.crt")]
    public void VerifySignedBy_PkitsGoodCrl_Succeeds(string crlFile, string caFile)
    {
        TestData.Crl("pkits", "crls", crlFile).VerifySignedBy(TestData.Certificate("pkits", "certs", caFile));
    }

    [PeerTheory(TestData.RealCrls)]
    [InlineData("d-trust_root_ca_1_2017.crl", "D-TRUST_Root_CA_1_2017.crt", 0, "1.2.840.113549.1.1.10")] // RSASSA-PSS
    [InlineData("EE-GovCA2018.crl", "EE-GovCA2018.pem.crt", 1, "1.2.840.10045.4.3.4")] // ECDSA with SHA-512
    [InlineData("belgium2.crl", "belgiumrs2.crt", 0, "1.2.840.113549.1.1.5")]
    [InlineData("belgium2.pem.crl", "belgiumrs2.crt", 0, "1.2.840.113549.1.1.5")]
    [InlineData("root_issued_CRL.crl", "root_CRL_issuer.pem", 0, "1.2.840.113549.1.1.10")] // Penneo, RSASSA-PSS
    public void VerifySignedBy_RealCrlAndIssuer_Succeeds(string crlFile, string caFile, int entries, string algorithm)
    {
        var crl = TestData.Crl("real-crls", crlFile);
        crl.VerifySignedBy(TestData.Certificate("real-crls", "issuers", caFile));
        Assert.Equal(entries, crl.EntryCount);
        Assert.Equal(algorithm, crl.SignatureAlgorithm);
    }

    [PeerFact(TestData.RealCrls)]
    public void VerifySignedBy_Realts2019_Refused()
    {
        // Same name, different key: the fixture is a wrong-issuer case (openssl: verify failure).
        var crl = TestData.Crl("real-crls", "realts2019.crl");
        var e = Assert.Throws<BadInputException>(() => crl.VerifySignedBy(TestData.Certificate("real-crls", "issuers", "realts2019.crt")));
        Assert.StartsWith("signature does not verify", e.Reason);
    }

    [PeerFact(TestData.RealCrls)]
    public void VerifySignedBy_CitizenCa201631WithCa201011_IssuerMismatch()
    {
        // citizen_ca.cer is "Citizen CA" serialNumber 201011; the CRL is from 201631.
        var crl = TestData.Crl("real-crls", "eidc201631.crl");
        var e = Assert.Throws<BadInputException>(() => crl.VerifySignedBy(TestData.Certificate("real-crls", "issuers", "citizen_ca.cer")));
        Assert.Contains("does not match CA", e.Reason);
        Assert.Contains("201631", e.Reason);
        Assert.Contains("201011", e.Reason);
    }
}
