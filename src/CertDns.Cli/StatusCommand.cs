using System.CommandLine;
using System.Globalization;
using CertDns.Core;
using CertDns.Ingest;
using CertDns.Store;

namespace CertDns.Cli;

/// <summary><c>certdns status</c>: what is served, what is stale, what waits for the operator.</summary>
internal sealed class StatusCommand
{
    public static Command Create()
    {
        var json = new Option<bool>("--json") { Description = "Print the summary as one JSON object (for monitoring)" };
        var command = new Command("status", "Summarise the store: serial, CAs and their CRL freshness, certificates per status, pending complaints. "
            + "Exits 2 when a trusted CA's CRL is stale (or none was ingested), so monitoring can run it")
        {
            json,
        };
        command.SetAction(r => Run.Guarded(() =>
        {
            using var store = CertStore.Open(GlobalOptions.DatabasePath(r), readOnly: true);
            var snapshot = store.Snapshots.Load();
            var now = DateTimeOffset.UtcNow;
            var report = StatusReports.Build(store, snapshot, GlobalOptions.ZoneName(r), now);
            var code = report.AnyTrustedStale ? ExitCodes.Stale : ExitCodes.Ok;
            if (r.GetValue(json))
            {
                using var stdout = Console.OpenStandardOutput();
                stdout.Write(report.ToJson());
                stdout.Write("\n"u8);
                return code;
            }
            Console.WriteLine($"zone {GlobalOptions.ZoneName(r)} serial {snapshot.Serial}, {snapshot.Count} certificates, schema {store.SchemaVersion}");
            Console.WriteLine();

            var coverage = store.Snapshots.LoadCoverage();
            Output.Table(["ca", "trust", "subject", "crl", "next update", "freshness"], store.Cas.List().Select(ca =>
            {
                // The CA's series as the snapshot judges them: the one that goes stale first speaks for the CA.
                var crl = coverage.Freshness(ca.Id);
                var freshness = crl is null ? "stale: no CRL ingested" : crl.StaleAt(now) ? $"stale since {TimeText.Utc(crl.NextUpdate!.Value)}" : "current";
                return new[]
                {
                    ca.Id.ToString(CultureInfo.InvariantCulture), ca.Trusted ? "trusted" : "distrusted", ca.Subject,
                    crl is null ? "-" : crl.Number ?? "(no number)", crl?.NextUpdate is { } x ? TimeText.Utc(x) : "-", freshness,
                };
            }));
            Console.WriteLine();

            var counts = snapshot.Certificates.GroupBy(c => StatusEvaluator.Evaluate(c, now).Status).ToDictionary(g => g.Key, g => g.Count());
            Output.Table(["status", "code", "certificates"], Enum.GetValues<CertStatus>().Where(s => s != CertStatus.Unknown)
                .Select(s => new[] { StatusCodes.Name(s), string.Join('.', StatusCodes.Address(s).ToArray()), counts.GetValueOrDefault(s).ToString(CultureInfo.InvariantCulture) }));
            Console.WriteLine();

            var complaints = new ComplaintRegistry(store);
            var pending = complaints.Complaints(all: false);
            var policy = complaints.Policy();
            Console.WriteLine($"complaints: {pending.Count} counting against {pending.Select(c => Hex.Lower(c.Sha256)).Distinct().Count()} certificates " +
                $"(threshold {policy.Threshold}, window {(policy.Window is { } w ? $"{(int)w.TotalDays} days" : "none")}); {store.Listings.List().Count} listings");
            return code;
        }));
        return command;
    }
}
