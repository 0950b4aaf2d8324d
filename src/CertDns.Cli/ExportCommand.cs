using System.CommandLine;
using System.Text;
using CertDns.Core;
using CertDns.Dns;
using CertDns.Store;

namespace CertDns.Cli;

/// <summary><c>certdns export</c>: the zone as an RFC 1035 master file or rbldnsd data, for other DNS servers.</summary>
internal sealed class ExportCommand
{
    public static Command Create()
    {
        var format = new Option<string>("--format") { Description = "zone (RFC 1035, for NSD, Knot, BIND) or rbldnsd (one dnset per view)", DefaultValueFactory = _ => "zone" };
        format.AcceptOnlyFromAmong("zone", "rbldnsd");
        var output = new Option<string>("--output", "-o") { Description = "The zone file; for rbldnsd a prefix: PREFIX.combined, PREFIX.bl, PREFIX.wl", Required = true };
        var forms = GlobalOptions.Forms("the zone file");
        var command = new Command("export", "Write the zone, as served now, for NSD, Knot, BIND or rbldnsd") { format, output, forms };
        command.SetAction(r => Run.Guarded(() =>
        {
            var path = r.GetValue(output)!;
            var published = PublishedNames.Parse(GlobalOptions.Pick(r, forms, GlobalOptions.ConfigFile(r)?.Forms));
            if (Path.GetDirectoryName(Path.GetFullPath(path)) is { } dir && !Directory.Exists(dir))
                throw new BadInputException(path, "folder does not exist");
            using var store = CertStore.Open(GlobalOptions.DatabasePath(r), readOnly: true);
            var snapshot = ProgressDisplay.Run("loading the store", _ => store.Snapshots.Load());
            // The same identity serve publishes: the configuration file's name servers, glue, SOA and TTLs, else the demo's.
            var options = new ZoneOptions { Apex = GlobalOptions.ZoneName(r).TrimEnd('.').ToLowerInvariant() };
            if (GlobalOptions.ConfigFile(r) is { } file) options = CertDns.Server.Configuration.CertDnsConfigLoader.ZoneOptionsFrom(file, options);
            options = options with { Forms = published };
            var now = DateTimeOffset.UtcNow;
            int records;
            if (r.GetValue(format) == "zone")
            {
                // Written aside and renamed, so a server reloading the file never reads half of it.
                records = ProgressDisplay.Run($"writing {path}", _ => AtomicFile.Write(path, file =>
                {
                    using var writer = new StreamWriter(file, new UTF8Encoding(false), leaveOpen: true);
                    return ZoneExporter.WriteZoneFile(writer, snapshot, options, now);
                }));
                Console.WriteLine($"{path}: {records} names, serial {snapshot.Serial}");
            }
            else
            {
                var names = new Dictionary<ZoneView, string> { [ZoneView.Combined] = "combined", [ZoneView.Block] = "bl", [ZoneView.Allow] = "wl" };
                using var batch = new AtomicFile.Batch();
                var writers = new List<StreamWriter>();
                records = ProgressDisplay.Run($"writing {path}.{{combined,bl,wl}}", _ => ZoneExporter.WriteRbldnsd(view =>
                {
                    var w = new StreamWriter(batch.Open($"{path}.{names[view]}"), new UTF8Encoding(false), leaveOpen: true);
                    writers.Add(w);
                    return w;
                }, snapshot, options, now));
                foreach (var writer in writers) writer.Dispose();
                batch.Commit();
                Console.WriteLine($"{path}.{{combined,bl,wl}}: {records} entries, serial {snapshot.Serial}; serve with: rbldnsd -b ADDR/PORT " +
                    $"{options.Apex}:dnset:{path}.combined bl.{options.Apex}:dnset:{path}.bl wl.{options.Apex}:dnset:{path}.wl");
            }
            return ExitCodes.Ok;
        }));
        return command;
    }
}
