using CertDns.Core;
using CertDns.Pki;
using CertDns.Store;

namespace CertDns.Ingest;

/// <summary>A demo certificate: the status it was made to have and its SHA-256.</summary>
public sealed record DemoCertificate(CertStatus Status, string Subject, byte[] Sha256);

/// <summary>
/// <c>certdns serve --demo</c>: generates test CAs and certificates in every status through the same
/// registries an operator uses (ca add, certs add, crl ingest, block, distrust), so the demo exercises the
/// real path. Idempotent: a store that already holds the demo is left as it is.
/// </summary>
public sealed class DemoSeeder(CertStore store)
{
    /// <summary>Subject prefix of every demo CA.</summary>
    public const string CaPrefix = "CertDns Demo";

    /// <summary>Seeds the demo if absent and returns its certificates.</summary>
    public IReadOnlyList<DemoCertificate> Seed(DateTimeOffset now)
    {
        var existing = Existing();
        if (existing.Count > 0) return existing;

        var main = new TestAuthority($"{CaPrefix} CA");
        var distrusted = new TestAuthority($"{CaPrefix} Distrusted CA");
        var stale = new TestAuthority($"{CaPrefix} Stale CA");
        var cas = new CaRegistry(store);
        foreach (var ca in new[] { main, distrusted, stale })
            cas.Add($"demo:{ca.Certificate.Subject}", ca.CertificateDer, [], "abuse@demo.example");

        var year = now.AddDays(365);
        var made = new List<(CertStatus Status, byte[] Der)>
        {
            (CertStatus.Valid, main.Issue("valid.demo.example", now.AddDays(-1), year)),
            (CertStatus.Revoked, main.Issue("revoked.demo.example", now.AddDays(-1), year)),
            (CertStatus.Hold, main.Issue("hold.demo.example", now.AddDays(-1), year)),
            (CertStatus.Blocked, main.Issue("blocked.demo.example", now.AddDays(-1), year)),
            (CertStatus.Expired, main.Issue("expired.demo.example", now.AddDays(-365), now.AddDays(-1))),
            (CertStatus.Untrusted, distrusted.Issue("untrusted.demo.example", now.AddDays(-1), year)),
            (CertStatus.Stale, stale.Issue("stale.demo.example", now.AddDays(-1), year)),
        };
        new CertificateRegistry(store).Add(made.Select(m => ($"demo:{m.Status}", m.Der)));
        var parsed = made.Select(m => (m.Status, Cert: CertificateFile.Read(m.Der, "demo")[0])).ToList();

        var revoked = parsed.Single(p => p.Status == CertStatus.Revoked).Cert;
        var hold = parsed.Single(p => p.Status == CertStatus.Hold).Cert;
        var crl = main.CreateCrl(1, now.AddHours(-1), now.AddDays(7),
        [
            (revoked.Serial, now.AddHours(-2), RevocationReason.KeyCompromise),
            (hold.Serial, now.AddHours(-2), RevocationReason.CertificateHold),
        ]);
        var ingestor = new CrlIngestor(store);
        ingestor.Ingest("demo:crl", crl);
        ingestor.Ingest("demo:crl-distrusted", distrusted.CreateCrl(1, now.AddHours(-1), now.AddDays(7), []));

        var blocked = parsed.Single(p => p.Status == CertStatus.Blocked).Cert;
        store.Listings.Block(blocked.Sha256, "demo: operator block", "operator", blocked.Subject);
        var distrustedId = store.Cas.FindBySubject(distrusted.Certificate.SubjectDer).Single().Id;
        store.Cas.SetTrust(distrustedId, trusted: false, "demo: CA ignores abuse reports");
        return Existing();
    }

    private IReadOnlyList<DemoCertificate> Existing()
    {
        var demoCas = store.Cas.List().Where(c => c.Subject.Contains(CaPrefix, StringComparison.Ordinal)).Select(c => c.Id).ToHashSet();
        if (demoCas.Count == 0) return [];
        var now = DateTimeOffset.UtcNow;
        return store.Snapshots.Load().Certificates
            .Where(c => demoCas.Contains(c.Ca.Id))
            .Select(c => new DemoCertificate(StatusEvaluator.Evaluate(c, now).Status, store.Certificates.Find(c.Sha256)?.Subject ?? "", c.Sha256))
            .OrderBy(c => StatusCodes.Precedence(c.Status))
            .ToList();
    }
}
