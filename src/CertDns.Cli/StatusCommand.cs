using System.CommandLine;
using System.Globalization;
using CertDns.Core;
using CertDns.Store;

namespace CertDns.Cli;

/// <summary><c>certdns status</c>: what is served, what is stale.</summary>
internal sealed class StatusCommand
{
    public static Command Create()
    {
        var command = new Command("status", "Summarise the store: serial, CAs and their CRL freshness, certificates per status");
        command.SetAction(r => Run.Guarded(() =>
        {
            using var store = CertStore.Open(r.GetValue(GlobalOptions.Database)!, readOnly: true);
            var snapshot = store.LoadSnapshot();
            var now = DateTimeOffset.UtcNow;
            Console.WriteLine($"zone {r.GetValue(GlobalOptions.Zone)} serial {snapshot.Serial}, {snapshot.Count} certificates, schema {store.SchemaVersion}");
            var counts = snapshot.Certificates.GroupBy(c => StatusEvaluator.Evaluate(c, now).Status).ToDictionary(g => g.Key, g => g.Count());
            Output.Table(["status", "code", "certificates"], Enum.GetValues<CertStatus>().Where(s => s != CertStatus.Unknown)
                .Select(s => new[] { StatusCodes.Name(s), string.Join('.', StatusCodes.Address(s).ToArray()), counts.GetValueOrDefault(s).ToString(CultureInfo.InvariantCulture) }));
            var stale = store.ListCas().Where(ca => store.LatestCrl(ca.Id) is not { } crl || (crl.NextUpdate is { } n && DateTimeOffset.FromUnixTimeSeconds(n) < now)).ToList();
            foreach (var ca in stale) Console.WriteLine($"stale: CA {ca.Id} \"{ca.Subject}\" needs a current CRL");
            return ExitCodes.Ok;
        }));
        return command;
    }
}
