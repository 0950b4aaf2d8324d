using CertDns.Core;
using CertDns.Store;
using Microsoft.Extensions.Time.Testing;

namespace CertDns.Ingest.Tests;

/// <summary>
/// PKITS 4.2 (validity), 4.5 (self-issued keys), 4.6 (basic constraints) and 4.7 (key usage) at registration, from the full vectors in Debian's
/// python3-cryptography-vectors: the path's CAs are registered trust anchor first; where PKITS marks a CA invalid
/// as a CA, <c>ca add</c> must refuse exactly that one, and accept every CA of a valid path.
/// </summary>
public sealed class PkitsCaTests
{
    private const string Vectors = "/usr/lib/python3/dist-packages/cryptography_vectors/x509/PKITS_data/certs";

    /// <summary>Inside the PKITS validity window (2010-2030).</summary>
    private static readonly DateTimeOffset Now = new(2020, 6, 1, 0, 0, 0, TimeSpan.Zero);

    /// <summary>PKITS id, the CAs of its path below the trust anchor, and the reason the last is refused (null: valid).</summary>
    public static TheoryData<string, string, string?> Cases => new()
    {
        { "4.2.1", "BadnotBeforeDateCACert.crt", "not valid before" },
        // 4.5: self-issued key rollover certificates, each under the same-named CA whose key verifies it.
        { "4.5.1", "BasicSelfIssuedNewKeyCACert.crt,BasicSelfIssuedNewKeyOldWithNewCACert.crt", null },
        { "4.5.3", "BasicSelfIssuedOldKeyCACert.crt,BasicSelfIssuedOldKeyNewWithOldCACert.crt", null },
        { "4.2.5", "BadnotAfterDateCACert.crt", "expired on" },
        { "4.6.1", "MissingbasicConstraintsCACert.crt", "no basicConstraints" },
        { "4.6.2", "basicConstraintsCriticalcAFalseCACert.crt", "cA is FALSE" },
        { "4.6.3", "basicConstraintsNotCriticalcAFalseCACert.crt", "cA is FALSE" },
        { "4.6.4", "basicConstraintsNotCriticalCACert.crt", null },
        { "4.6.5", "pathLenConstraint0CACert.crt,pathLenConstraint0subCACert.crt", "pathLenConstraint" },
        { "4.6.7", "pathLenConstraint0CACert.crt", null },
        { "4.6.9", "pathLenConstraint6CACert.crt,pathLenConstraint6subCA0Cert.crt,pathLenConstraint6subsubCA00Cert.crt", "pathLenConstraint" },
        { "4.6.11", "pathLenConstraint6CACert.crt,pathLenConstraint6subCA1Cert.crt,pathLenConstraint6subsubCA11Cert.crt,pathLenConstraint6subsubsubCA11XCert.crt", "pathLenConstraint" },
        { "4.6.13", "pathLenConstraint6CACert.crt,pathLenConstraint6subCA4Cert.crt,pathLenConstraint6subsubCA41Cert.crt,pathLenConstraint6subsubsubCA41XCert.crt", null },
        { "4.6.15", "pathLenConstraint0CACert.crt,pathLenConstraint0SelfIssuedCACert.crt", null },
        { "4.6.16", "pathLenConstraint0CACert.crt,pathLenConstraint0SelfIssuedCACert.crt,pathLenConstraint0subCA2Cert.crt", "pathLenConstraint" },
        { "4.7.1", "keyUsageCriticalkeyCertSignFalseCACert.crt", "lacks keyCertSign" },
        { "4.7.2", "keyUsageNotCriticalkeyCertSignFalseCACert.crt", "lacks keyCertSign" },
        { "4.6.17", "pathLenConstraint1CACert.crt,pathLenConstraint1SelfIssuedCACert.crt,pathLenConstraint1subCACert.crt,pathLenConstraint1SelfIssuedsubCACert.crt", null },
    };

    [PkitsVectorsTheory]
    [MemberData(nameof(Cases))]
    public void CaAdd_PkitsPath_RefusesExactlyTheCaPkitsMarksInvalid(string id, string path, string? reason)
    {
        using var file = new StoreFile();
        using var store = file.Open();
        var registry = new CaRegistry(store, new FakeTimeProvider(Now));
        var cas = path.Split(',').Prepend("TrustAnchorRootCertificate.crt").ToList();
        foreach (var ca in cas[..^1])
            registry.Add(ca, File.ReadAllBytes(Path.Combine(Vectors, ca)), [], null);

        if (reason is null)
        {
            var added = registry.Add(cas[^1], File.ReadAllBytes(Path.Combine(Vectors, cas[^1])), [], null);
            Assert.True(added.Single().Added, id);
            Assert.NotNull(added.Single().Ca.ParentId);
        }
        else
        {
            var e = Assert.Throws<BadInputException>(() => registry.Add(cas[^1], File.ReadAllBytes(Path.Combine(Vectors, cas[^1])), [], null));
            Assert.Contains(reason, e.Reason);
            Assert.Equal(cas.Count - 1, store.Cas.List().Count);
        }
    }
}

/// <summary>A theory over the full PKITS vectors; skipped, saying why, when python3-cryptography-vectors is absent.</summary>
public sealed class PkitsVectorsTheoryAttribute : TheoryAttribute
{
    public PkitsVectorsTheoryAttribute()
    {
        if (!Directory.Exists("/usr/lib/python3/dist-packages/cryptography_vectors/x509/PKITS_data/certs"))
            Skip = "the full PKITS vectors are not installed (apt-get install python3-cryptography-vectors)";
    }
}
