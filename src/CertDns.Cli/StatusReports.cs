using CertDns.Core;
using CertDns.Ingest;
using CertDns.Server;
using CertDns.Store;

namespace CertDns.Cli;

/// <summary>Builds the <see cref="StatusReport"/> that <c>status</c>, the status page and the metrics share.</summary>
internal static class StatusReports
{
    /// <summary>Summarises <paramref name="store"/> as <paramref name="snapshot"/> (its certificates) judges them now.</summary>
    public static StatusReport Build(CertStore store, StatusSnapshot snapshot, string zone, DateTimeOffset now)
    {
        var coverage = store.Snapshots.LoadCoverage();
        var cas = store.Cas.List().Select(ca =>
        {
            // The CA's series as the snapshot judges them: the one that goes stale first speaks for the CA.
            var crl = coverage.Freshness(ca.Id);
            // Its chain: the CA under which its own certificate is registered, when it is.
            var parent = store.Certificates.Find(ca.Sha256)?.CaId is { } p && p != ca.Id ? p : (long?)null;
            return new CaReport(ca.Id, ca.Subject, ca.Trusted, parent, crl is null ? null : crl.Number ?? "(no number)", crl?.NextUpdate,
                crl is null || crl.StaleAt(now));
        }).ToList();
        var counts = Enum.GetValues<CertStatus>().Where(s => s != CertStatus.Unknown).ToDictionary(s => s, _ => 0);
        foreach (var cert in snapshot.Certificates) counts[StatusEvaluator.Evaluate(cert, now).Status]++;
        var pending = new ComplaintRegistry(store).Complaints(all: false).Count;
        return new StatusReport(zone, snapshot.Serial, cas, counts, pending, now);
    }

    /// <summary>Opens the store read-only for one report of the served snapshot.</summary>
    public static StatusReport Build(string storePath, StatusSnapshot snapshot, string zone, DateTimeOffset now)
    {
        using var store = CertStore.Open(storePath, readOnly: true);
        return Build(store, snapshot, zone, now);
    }
}
