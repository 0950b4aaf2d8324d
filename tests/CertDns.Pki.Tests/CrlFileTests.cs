using System.Numerics;
using CertDns.Core;

namespace CertDns.Pki.Tests;

public class CrlFileTests
{
    [PeerTheory(TestData.PycaCustom)]
    [InlineData("crl_bad_version.pem", "bad version: INTEGER 2")]
    [InlineData("crl_invalid_time.der", "invalid time encoding in thisUpdate")]
    [InlineData("crl_dup_entry_ext.pem", "duplicate entry extension 2.5.29.21 (entry 1)")]
    [InlineData("crl_md2_unknown_crit_entry_ext.pem", "unknown critical entry extension 1.2.3.4 (entry 1)")]
    [InlineData("crl_unsupported_reason.pem", "unsupported reason code 12 (entry 1)")]
    [InlineData("crl_inval_cert_issuer_entry_ext.pem", "invalid certificateIssuer entry extension (entry 1)")]
    public void Parse_PycaEdgeCase_RefusedWithReason(string file, string reason)
    {
        var e = Assert.Throws<BadInputException>(() => TestData.Crl("pyca-custom", file));
        Assert.Equal(file, e.Input);
        Assert.StartsWith(reason, e.Reason);
    }

    [PeerTheory(TestData.PycaCustom)]
    [InlineData("crl_empty.pem", 0)]
    [InlineData("crl_empty_no_sequence.der", 0)]
    [InlineData("crl_no_next_update.pem", 0)]
    [InlineData("crl_unrecognized_extension.der", 0)] // 1.2.3.4.5 is not critical: ignored (RFC 5280 5.2)
    [InlineData("crl_ian_aia_aki.pem", 0)]
    [InlineData("crl_all_reasons.pem", 12)]
    [InlineData("crl_almost_10k.pem", 9999)]
    public void Parse_PycaAcceptable_EntryCount(string file, int entries)
    {
        var crl = TestData.Crl("pyca-custom", file);
        Assert.Equal(2, crl.Version);
        Assert.Equal(entries, crl.EntryCount);
        Assert.Equal(entries, crl.Entries().Count());
    }

    [PeerFact(TestData.PycaCustom)]
    public void Parse_NoNextUpdate_NextUpdateNull()
    {
        var crl = TestData.Crl("pyca-custom", "crl_no_next_update.pem");
        Assert.Null(crl.NextUpdate);
        Assert.Equal(BigInteger.One, crl.Number);
        Assert.Equal(new DateTimeOffset(2015, 12, 20, 23, 44, 47, TimeSpan.Zero), crl.ThisUpdate);
    }

    [PeerFact(TestData.PycaCustom)]
    public void Parse_EmptyAuthorityKeyIdentifier_AuthorityKeyIdNull()
    {
        // crl_empty.pem's AKI is an empty SEQUENCE: no keyIdentifier.
        Assert.Null(TestData.Crl("pyca-custom", "crl_empty.pem").AuthorityKeyId);
        Assert.Equal(Convert.FromHexString("7975BB843ACB2CDE7A09BE311B43BC1C2A4D5358"), TestData.Crl("pyca-custom", "crl_ian_aia_aki.pem").AuthorityKeyId);
    }

    [PeerFact(TestData.PycaCustom)]
    public void Parse_DeltaCrlIndicator_DeltaBaseNumberSet()
    {
        var crl = TestData.Crl("pyca-custom", "crl_delta_crl_indicator.pem");
        Assert.Equal(BigInteger.Parse("12345678901234567890"), crl.DeltaBaseNumber);
        Assert.Equal(BigInteger.Parse("12345678901234567891"), crl.Number);
    }

    [PeerFact(TestData.PycaCustom)]
    public void Parse_FullCrl_DeltaBaseNumberNull()
    {
        Assert.Null(TestData.Crl("pyca-custom", "crl_empty.pem").DeltaBaseNumber);
    }

    [PeerTheory(TestData.PycaCustom)]
    [InlineData("crl_idp_fullname_only.pem", "http://myhost.com/myca.crl", false, false, false, false, false, "")]
    [InlineData("crl_idp_fullname_only_user.pem", "http://myhost.com/myca.crl", false, true, false, false, false, "")]
    [InlineData("crl_idp_fullname_only_aa.pem", "http://myhost.com/myca.crl", false, false, false, true, false, "")]
    [InlineData("crl_idp_fullname_indirect_crl.pem", "http://myhost.com/myca.crl", false, false, false, false, true, "")]
    [InlineData("crl_idp_only_ca.pem", "", true, false, true, false, false, "")]
    [InlineData("crl_idp_relativename_only.pem", "", true, false, false, false, false, "")]
    [InlineData("crl_idp_reasons_only.pem", "", false, false, false, false, false, "KeyCompromise")]
    [InlineData("crl_idp_relative_user_all_reasons.pem", "", true, true, false, false, false,
        "KeyCompromise,CaCompromise,AffiliationChanged,Superseded,CessationOfOperation,CertificateHold,PrivilegeWithdrawn,AaCompromise")]
    public void Parse_IssuingDistributionPoint_FlagsParsed(string file, string uri, bool relative, bool onlyUser, bool onlyCa,
        bool onlyAttribute, bool indirect, string reasons)
    {
        var idp = TestData.Crl("pyca-custom", file).DistributionPoint;
        Assert.NotNull(idp);
        Assert.Equal(uri.Length == 0 ? [] : new[] { uri }, idp.Names);
        Assert.Equal(relative, idp.HasRelativeName);
        Assert.Equal(onlyUser, idp.OnlyUserCerts);
        Assert.Equal(onlyCa, idp.OnlyCaCerts);
        Assert.Equal(onlyAttribute, idp.OnlyAttributeCerts);
        Assert.Equal(indirect, idp.IndirectCrl);
        if (reasons.Length == 0)
        {
            Assert.Null(idp.OnlySomeReasons);
        }
        else
        {
            Assert.NotNull(idp.OnlySomeReasons);
            var expected = reasons.Split(',').Select(Enum.Parse<RevocationReason>).ToHashSet();
            Assert.True(expected.SetEquals(idp.OnlySomeReasons));
        }
    }

    [PeerFact(TestData.PycaCustom)]
    public void Entries_AllReasons_EveryReasonInOrder()
    {
        var entries = TestData.Crl("pyca-custom", "crl_all_reasons.pem").Entries().ToList();
        // Serial 00 has no reasonCode; 01..0A carry codes 0..10 without 7; 0B repeats keyCompromise (openssl crl -text).
        RevocationReason[] expected =
        [
            RevocationReason.Unspecified, RevocationReason.Unspecified, RevocationReason.KeyCompromise,
            RevocationReason.CaCompromise, RevocationReason.AffiliationChanged, RevocationReason.Superseded,
            RevocationReason.CessationOfOperation, RevocationReason.CertificateHold, RevocationReason.RemoveFromCrl,
            RevocationReason.PrivilegeWithdrawn, RevocationReason.AaCompromise, RevocationReason.KeyCompromise,
        ];
        Assert.Equal(expected, entries.Select(e => e.Reason));
        Assert.Equal(Enumerable.Range(0, 12).Select(i => new[] { (byte)i }), entries.Select(e => e.Serial.ToArray()));
        Assert.All(entries, e => Assert.Equal(new DateTimeOffset(2015, 1, 1, 0, 0, 0, TimeSpan.Zero), e.RevokedAt));
    }

    [PeerFact(TestData.RealCrls)]
    public void Parse_PemAndDerOfSameCrl_SameContentDifferentFileHash()
    {
        var der = TestData.Crl("real-crls", "belgium2.crl");
        var pem = TestData.Crl("real-crls", "belgium2.pem.crl");
        Assert.Equal(der.Der.ToArray(), pem.Der.ToArray());
        Assert.NotEqual(der.Sha256, pem.Sha256);
        Assert.Equal(System.Security.Cryptography.SHA256.HashData(TestData.Bytes("real-crls", "belgium2.pem.crl")), pem.Sha256);
        Assert.Equal(1, der.Version);
    }

    [PeerTheory(TestData.RealCrls)]
    [InlineData("crl-expiredCertsOnCRL-UTCTime.crl", 11219)]
    [InlineData("crl_with_expiredCertsOnCRL_extension.crl", 367)]
    [InlineData("eidc201631.crl", 9257)]
    [InlineData("http___crl.certum.pl_qca14.crl", 556)]
    [InlineData("http___crl.e-szigno.hu_qkca2009.crl", 616)]
    [InlineData("LTGRCA.crl", 4)]
    [InlineData("LTRCA.crl", 3)]
    [InlineData("belgium4.crl", 0)]
    [InlineData("demo_LevelACAOK.crl", 2)]
    [InlineData("demo_LevelBCAOK.crl", 0)]
    [InlineData("demo_LevelBCA_ROK.crl", 0)]
    [InlineData("demo_RootCAOK.crl", 1)]
    [InlineData("pt_crl_with_critical_extension.crl", 10)] // the critical extension is issuingDistributionPoint, which we know
    [InlineData("realts2019.crl", 0)]
    public void Parse_RealCrl_EntryCountAsOpenssl(string file, int entries)
    {
        // Counts measured with `openssl crl -text | grep -c "Serial Number:"`.
        var crl = TestData.Crl("real-crls", file);
        Assert.Equal(entries, crl.EntryCount);
        Assert.Equal(entries, crl.Entries().Count());
    }

    [PeerFact(TestData.RealCrls)]
    public void Parse_ExpiredCertsOnCrlAsUtcTime_Accepted()
    {
        var crl = TestData.Crl("real-crls", "crl-expiredCertsOnCRL-UTCTime.crl");
        Assert.NotNull(crl.ExpiredCertsOnCrl);
    }

    [PeerFact(TestData.RealCrls)]
    public void Entries_BelgianCitizenCa_822OnHold()
    {
        var crl = TestData.Crl("real-crls", "eidc201631.crl");
        Assert.Equal(822, crl.Entries().Count(e => e.Reason == RevocationReason.CertificateHold));
        Assert.Equal("SERIALNUMBER=201631,CN=Citizen CA,C=BE", crl.Issuer);
    }

    [PeerFact(TestData.RealCrls)]
    public async Task Parse_Base64WithTrailingBytes_RefusedWithinTimeout()
    {
        // infinite-loop.crl is base64 without armour; it encodes the CRL followed by CR LF. OpenSSL's d2i ignores
        // the two bytes; we refuse them, because bytes outside the signed structure are never meant to be there.
        var task = Task.Run(() => Assert.Throws<BadInputException>(() => TestData.Crl("real-crls", "infinite-loop.crl")));
        var first = await Task.WhenAny(task, Task.Delay(TimeSpan.FromSeconds(10)));
        Assert.True(first == task, "parsing infinite-loop.crl did not finish within 10 s");
        Assert.Equal("trailing garbage: 2 bytes after the CRL", (await task).Reason);
    }

    [PeerFact(TestData.RealCrls)]
    public void Parse_Base64WithoutArmour_Accepted()
    {
        var der = TestData.Bytes("real-crls", "belgium2.crl");
        var text = System.Text.Encoding.ASCII.GetBytes(Convert.ToBase64String(der, Base64FormattingOptions.InsertLineBreaks));
        Assert.Equal(der, CrlFile.Parse(text, "b64").Der.ToArray());
    }

    [PeerTheory(TestData.Pkits)]
    [InlineData("UnknownCRLExtensionCACRL.crl", "unknown critical CRL extension 2.16.840.1.101.2.1.12.2")]
    [InlineData("UnknownCRLEntryExtensionCACRL.crl", "unknown critical entry extension 2.16.840.1.101.2.1.12.2 (entry 1)")]
    public void Parse_PkitsUnknownCriticalExtension_Refused(string file, string reason)
    {
        var e = Assert.Throws<BadInputException>(() => TestData.Crl("pkits", "crls", file));
        Assert.Equal(reason, e.Reason);
    }

    [PeerFact(TestData.Pkits)]
    public void Parse_EveryOtherPkitsCrl_Accepted()
    {
        string[] refused = ["UnknownCRLExtensionCACRL.crl", "UnknownCRLEntryExtensionCACRL.crl"];
        var files = Directory.GetFiles(TestData.Path("pkits", "crls"), "*.crl");
        Assert.True(files.Length > 150);
        foreach (var file in files.Where(f => !refused.Contains(System.IO.Path.GetFileName(f))))
        {
            var crl = CrlFile.Parse(File.ReadAllBytes(file), file);
            Assert.Equal(crl.EntryCount, crl.Entries().Count());
        }
    }

    [PeerFact(TestData.Pkits)]
    public void Entries_PkitsNegativeAndLongSerials_LongKeptNegativeKeyedApartFromPositive()
    {
        var longSerial = TestData.Crl("pkits", "crls", "LongSerialNumberCACRL.crl").Entries().Select(e => e.Serial.ToArray()).ToList();
        Assert.Contains(longSerial, s => s.Length == 20);
        var negative = TestData.Crl("pkits", "crls", "NegativeSerialNumberCACRL.crl").Entries().Select(e => e.Serial.ToArray()).ToList();
        // A negative serial gets 00 in front, so -1 (ff) never matches the positive 255 (00 ff, kept as ff).
        Assert.Contains(negative, s => s.Length >= 2 && s[0] == 0 && s[1] >= 0x80);
    }

    [PeerFact(TestData.Pkits)]
    public void Entries_IndirectCrl_CertificateIssuerCarriedForward()
    {
        // PKITS indirectCRLCA5CRL: certificateIssuer on entries 02 (CA6), 05 (CA7), 08 (CA6), 0A (CA5); it applies
        // until the next one (RFC 5280 5.3.3). Entry 01 precedes any, so it is the CRL issuer's (null).
        var crl = TestData.Crl("pkits", "crls", "indirectCRLCA5CRL.crl");
        Assert.True(crl.DistributionPoint?.IndirectCrl);
        Assert.Empty(crl.DistributionPoint!.Names); // its fullName holds directoryNames only
        const string ca5 = "OU=indirectCRL CA5, O=Test Certificates 2011, C=US";
        const string ca6 = "CN=indirectCRL CA6, O=Test Certificates 2011, C=US";
        const string ca7 = "CN=indirectCRL CA7, O=Test Certificates 2011, C=US";
        string?[] expected = [null, ca6, ca6, ca6, ca7, ca7, ca7, ca6, ca6, ca5, ca5];
        var actual = crl.Entries()
            .Select(e => e.CertificateIssuerDer is null ? null : new System.Security.Cryptography.X509Certificates.X500DistinguishedName(e.CertificateIssuerDer).Name)
            .ToList();
        Assert.Equal(expected, actual);
    }

    [Theory]
    [InlineData("")]
    [InlineData("hello, this is text")]
    [InlineData("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")]
    public void Parse_NotACrl_Refused(string text)
    {
        var e = Assert.Throws<BadInputException>(() => CrlFile.Parse(System.Text.Encoding.ASCII.GetBytes(text), "x"));
        Assert.StartsWith("not a CRL", e.Reason);
    }

    [PeerFact(TestData.Pkits)]
    public void Parse_CertificateAsCrl_Refused()
    {
        var e = Assert.Throws<BadInputException>(() => CrlFile.Parse(TestData.Bytes("pkits", "certs", "GoodCACert.crt"), "cert"));
        Assert.Equal("cert", e.Input);
    }
}
