using System.Diagnostics;
using CertDns.Core;
using CertDns.Pki;
using CertDns.Store;

namespace CertDns.Ingest.Tests;

/// <summary>
/// CRL acceptance against CRLs from elsewhere (../shared/testdata): what must be accepted is, with the entries
/// openssl reports; what must be refused is, with its reason, and the store file is byte-for-byte unchanged.
/// </summary>
public sealed class CrlAcceptanceTests : IDisposable
{
    private readonly StoreFile _store = new();

    public void Dispose() => _store.Dispose();

    /// <summary>
    /// Registers the CA as a store from before CA checks (schema 5) holds it: most of these issuers are expired,
    /// intermediates of roots not here, or v1 certificates that `ca add` now refuses, and it is their CRLs on trial.
    /// </summary>
    private void AddCa(params string[] path)
    {
        using var store = _store.Open();
        var c = CertificateFile.Read(File.ReadAllBytes(TestData.Path(path)), path[^1])[0];
        store.Cas.Add(new CaRecord(c.Sha256, c.Subject, c.SubjectDer, c.SubjectKeyId, c.SpkiSha256, c.NotBefore, c.NotAfter,
            c.CanSignCrl ?? true, c.Der, null, Anchor: CaAnchor.Migrated), []);
    }

    private CrlIngestResult Ingest(params string[] path)
    {
        using var store = _store.Open();
        return new CrlIngestor(store).Ingest(path[^1], File.ReadAllBytes(TestData.Path(path)));
    }

    private string Refused(params string[] path)
    {
        var before = _store.Bytes();
        var e = Assert.Throws<BadInputException>(() => Ingest(path));
        Assert.Equal(before, _store.Bytes());
        Assert.Equal(path[^1], e.Input);
        return e.Reason;
    }

    [PeerFact(TestData.PycaCustom)]
    public void Ingest_PycaValidSignature_Accepted()
    {
        AddCa("pyca-custom", "valid_signature_cert.pem");

        var result = Ingest("pyca-custom", "valid_signature_crl.pem");

        Assert.NotNull(result.Change);
    }

    [PeerFact(TestData.PycaCustom)]
    public void Ingest_PycaInvalidSignature_RefusedAndStoreUnchanged()
    {
        AddCa("pyca-custom", "invalid_signature_cert.pem");

        Assert.Contains("signature", Refused("pyca-custom", "invalid_signature_crl.pem"));
    }

    public static TheoryData<string, string, string> PkitsRefusals => new()
    {
        { "BadCRLSignatureCACert.crt", "BadCRLSignatureCACRL.crl", "signature does not verify" },
        { "BadCRLIssuerNameCACert.crt", "BadCRLIssuerNameCACRL.crl", "not a registered CA" },
        { "UnknownCRLExtensionCACert.crt", "UnknownCRLExtensionCACRL.crl", "unknown critical CRL extension" },
        { "UnknownCRLEntryExtensionCACert.crt", "UnknownCRLEntryExtensionCACRL.crl", "unknown critical entry extension" },
    };

    [PeerTheory(TestData.Pkits)]
    [MemberData(nameof(PkitsRefusals))]
    public void Ingest_PkitsBadCrl_RefusedWithReasonAndStoreUnchanged(string caCert, string crl, string reason)
    {
        AddCa("pkits", "certs", caCert);

        Assert.Contains(reason, Refused("pkits", "crls", crl), StringComparison.OrdinalIgnoreCase);
    }

    [PeerFact(TestData.Pkits)]
    public void Ingest_PkitsGoodCaCrl_AcceptedWithItsTwoKeyCompromiseEntries()
    {
        AddCa("pkits", "certs", "GoodCACert.crt");

        var result = Ingest("pkits", "crls", "GoodCACRL.crl");

        Assert.Equal(2, result.Entries);
        Assert.Equal(2, result.Change!.Added);
        using var store = _store.Open();
        var ca = Assert.Single(store.Cas.List());
        var crl = CrlFile.Parse(File.ReadAllBytes(TestData.Path("pkits", "crls", "GoodCACRL.crl")), "GoodCACRL.crl");
        foreach (var entry in crl.Entries())
            Assert.Equal(RevocationReason.KeyCompromise, store.Crls.FindRevocation(ca.Id, entry.Serial.ToArray())!.Value.Reason);
        Assert.Equal(2, store.Crls.RevocationCount(ca.Id));
    }

    public static TheoryData<string, string, string> RealCrls => new()
    {
        // CRL, its issuer certificate, openssl -inform for counting
        { "d-trust_root_ca_1_2017.crl", "D-TRUST_Root_CA_1_2017.crt", "PEM" },   // RSA-PSS / SHA-512
        { "EE-GovCA2018.crl", "EE-GovCA2018.pem.crt", "DER" },                 // ECDSA / SHA-512
        { "belgium2.crl", "belgiumrs2.crt", "DER" },
        { "belgium2.pem.crl", "belgiumrs2.crt", "PEM" },
        { "root_issued_CRL.crl", "root_CRL_issuer.pem", "DER" },               // Penneo, RSA-PSS
    };

    [PeerTheory(TestData.RealCrls, Peer.Openssl)]
    [MemberData(nameof(RealCrls))]
    public void Ingest_RealCrlWithIssuer_AcceptedWithOpensslEntryCount(string crl, string issuer, string form)
    {
        AddCa("real-crls", "issuers", issuer);

        var result = Ingest("real-crls", crl);

        Assert.Equal(OpensslEntryCount(TestData.Path("real-crls", crl), form), result.Entries);
        using var store = _store.Open();
        Assert.Equal(result.Entries, store.Crls.RevocationCount(result.Ca.Id));
    }

    [PeerFact(TestData.RealCrls)]
    public void Ingest_Realts2019_RefusedAsItDoesNotVerify()
    {
        AddCa("real-crls", "issuers", "realts2019.crt");

        Assert.Contains("signature", Refused("real-crls", "realts2019.crl"));
    }

    [PeerFact(TestData.RealCrls)]
    public void Ingest_CitizenCaCrlWithWrongIssuerCertificate_RefusedAsNotRegistered()
    {
        // citizen_ca.cer is "Citizen CA" serialNumber 201011; the CRL is from 201631 (openssl agrees: no issuer).
        AddCa("real-crls", "issuers", "citizen_ca.cer");

        Assert.Contains("not a registered CA", Refused("real-crls", "eidc201631.crl"));
    }

    [PeerFact(TestData.Pkits)]
    public void Ingest_SameCrlTwice_SecondIsNoOpAndStoreUnchanged()
    {
        AddCa("pkits", "certs", "GoodCACert.crt");
        Ingest("pkits", "crls", "GoodCACRL.crl");
        var before = _store.Bytes();

        var again = Ingest("pkits", "crls", "GoodCACRL.crl");

        Assert.Null(again.Change);
        Assert.Equal(before, _store.Bytes());
    }

    [Fact]
    public void Ingest_OlderCrlNumber_RefusedAsRollBack()
    {
        var ca = new TestAuthority("Rollback CA");
        using (var store = _store.Open())
        {
            new CaRegistry(store).Add("ca", ca.CertificateDer, [], null);
            new CrlIngestor(store).Ingest("crl-5", ca.CreateCrl(5, DateTimeOffset.UtcNow.AddHours(-1), DateTimeOffset.UtcNow.AddDays(1), []));
        }
        var before = _store.Bytes();
        using (var store = _store.Open())
        {
            var e = Assert.Throws<BadInputException>(() => new CrlIngestor(store).Ingest("crl-4",
                ca.CreateCrl(4, DateTimeOffset.UtcNow.AddMinutes(-1), DateTimeOffset.UtcNow.AddDays(1), [])));
            Assert.Contains("roll-back", e.Reason);
        }
        Assert.Equal(before, _store.Bytes());
    }

    [PeerFact(TestData.Pkits)]
    public void Ingest_UnknownIssuer_RefusedAndStoreUnchanged()
    {
        using (_store.Open()) { }

        Assert.Contains("not a registered CA", Refused("pkits", "crls", "GoodCACRL.crl"));
    }

    /// <summary>Counts entries the way an operator would check: `openssl crl -text`.</summary>
    private static int OpensslEntryCount(string path, string form)
    {
        var info = new ProcessStartInfo("openssl") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in new[] { "crl", "-inform", form, "-in", path, "-noout", "-text" }) info.ArgumentList.Add(a);
        using var p = Process.Start(info)!;
        var text = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        Assert.Equal(0, p.ExitCode);
        return text.Split('\n').Count(l => l.TrimStart().StartsWith("Serial Number:", StringComparison.Ordinal));
    }
}
