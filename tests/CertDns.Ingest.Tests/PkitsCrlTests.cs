using CertDns.Core;
using CertDns.Store;

namespace CertDns.Ingest.Tests;

/// <summary>
/// Every CRL-related PKITS case (<see cref="PkitsCases"/>) whose verdict rests on revocation
/// data: register the path's CAs, ingest the trust anchor's CRL and the case's CRLs (refusals are part of the
/// case), register the end-entity certificate and ask the snapshot. The expected status comes from the PKITS
/// description: a path that should validate is <c>valid</c>; one that fails with CERT_REVOKED is revoked or on
/// hold; any other failure (bad or missing CRL, out of scope, expired) must not be <c>valid</c> and is <c>stale</c>.
/// </summary>
public sealed class PkitsCrlTests
{
    /// <summary>Inside the PKITS validity window (2010-2030), after every CRL's thisUpdate.</summary>
    private static readonly DateTimeOffset Now = new(2020, 6, 1, 0, 0, 0, TimeSpan.Zero);

    /// <summary>
    /// Cases whose verdict rests on path validation beyond what CertDns does. It folds the chain's revocation status in
    /// (a revoked intermediate or CRL-signing certificate, self-issued rollover chains: 4.4.2, 4.4.21, 4.5.x now run),
    /// but registers no certificate that a CA key did not sign.
    /// </summary>
    public static readonly IReadOnlyDictionary<string, string> PathValidationOnly = new Dictionary<string, string>
    {
        // certs add refuses the end entity: it is signed by a CRL-signing key that issues no certificates (PKITS expects
        // UNABLE_TO_GET_ISSUER_CERT_LOCALLY); CaRegistrationTests checks that refusal.
        ["4.5.8"] = "the end entity is signed by the CRL-signing key",
    };

    /// <summary>
    /// Known gaps, each erring on the safe side: the case still runs, and must never answer <c>valid</c> where
    /// PKITS expects failure, nor <c>revoked</c> where it expects success.
    /// </summary>
    public static readonly IReadOnlyDictionary<string, string> KnownGaps = new Dictionary<string, string>
    {
    };

    public static TheoryData<string, string> Cases()
    {
        var data = new TheoryData<string, string>();
        foreach (var c in PkitsCases.All.Where(c => !PathValidationOnly.ContainsKey(c.Id))) data.Add(c.Id, c.Name);
        return data;
    }

    [PeerTheory(TestData.Pkits)]
    [MemberData(nameof(Cases))]
    public void Evaluate_PkitsCase_StatusAsPkitsDescriptionImplies(string id, string name)
    {
        var pkits = PkitsCases.All.Single(c => c.Id == id);
        bool shouldValidate = pkits.Expected == PkitsOutcome.Valid;
        var path = pkits.Path;
        var crls = pkits.Crls;
        using var file = new StoreFile();
        using var store = file.Open();
        var cas = new CaRegistry(store);
        foreach (var ca in path[..^1].Prepend("TrustAnchorRootCertificate.crt"))
            cas.Add(ca, File.ReadAllBytes(TestData.Path("pkits", "certs", ca)), [], null);
        var ingestor = new CrlIngestor(store);
        foreach (var crl in crls.Prepend("TrustAnchorRootCRL.crl"))
        {
            try { ingestor.Ingest(crl, File.ReadAllBytes(TestData.Path("pkits", "crls", crl))); }
            catch (BadInputException) { } // a refused CRL is part of what the case tests
        }
        var ee = path[^1];
        var added = new CertificateRegistry(store).Add([(ee, File.ReadAllBytes(TestData.Path("pkits", "certs", ee)))]);
        Assert.True(added.Stored, $"{ee} was not accepted");

        var cert = Assert.Single(store.Snapshots.Load().Certificates, c => c.Sha256.SequenceEqual(added.Outcomes[^1].Sha256));
        var verdict = StatusEvaluator.Evaluate(cert, Now);

        if (KnownGaps.ContainsKey(id))
        {
            if (shouldValidate) Assert.True(verdict.Status is not (CertStatus.Revoked or CertStatus.Hold), $"{id} {name}: {verdict.Text}");
            else Assert.True(verdict.Status != CertStatus.Valid, $"{id} {name}: {verdict.Text}");
        }
        else if (shouldValidate) Assert.True(verdict.Status == CertStatus.Valid, $"{id} {name}: {verdict.Text}");
        else if (pkits.Expected == PkitsOutcome.Revoked) Assert.True(verdict.Status is CertStatus.Revoked or CertStatus.Hold, $"{id} {name}: {verdict.Text}");
        else Assert.True(verdict.Status == CertStatus.Stale, $"{id} {name}: {verdict.Text}");
    }

    [Fact]
    public void PathValidationOnly_EveryExcludedCase_IsAPkitsCrlCaseThatCannotValidateByRevocationAlone()
    {
        var ids = PkitsCases.All.Select(c => c.Id).ToHashSet();
        Assert.All(PathValidationOnly.Keys, id => Assert.Contains(id, ids));
    }
}
