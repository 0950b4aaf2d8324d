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
    /// Cases whose verdict rests on path validation, which CertDns does not do (it serves the status of one
    /// certificate against its issuer's CRLs): revocation of an intermediate or of a CRL-signing certificate, and
    /// self-issued key rollover chains.
    /// </summary>
    public static readonly IReadOnlyDictionary<string, string> PathValidationOnly = new Dictionary<string, string>
    {
        ["4.4.2"] = "the intermediate CA is revoked; the end entity's own CRL does not list it",
        ["4.4.21"] = "the CRL-signing certificate is revoked on another CRL",
        ["4.5.2"] = "self-issued old-with-new chain",
        ["4.5.5"] = "self-issued new-with-old chain",
        ["4.5.6"] = "self-issued CRL-signing key chain",
        ["4.5.7"] = "self-issued CRL-signing key chain",
        ["4.5.8"] = "self-issued CRL-signing key chain",
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
