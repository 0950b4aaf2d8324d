using System.CommandLine;
using System.Net;
using CertDns.Core;
using CertDns.Dns;
using CertDns.Ingest;
using CertDns.Server;
using CertDns.Store;

namespace CertDns.Cli;

/// <summary><c>certdns serve</c>: answers the zone over UDP and TCP, following the store as it changes.</summary>
internal sealed class ServeCommand
{
    public static Command Create()
    {
        var listen = new Option<string>("--listen") { Description = "Address and port for UDP and TCP", DefaultValueFactory = _ => "127.0.0.1:5353" };
        var demo = new Option<bool>("--demo") { Description = "First seed the store with a generated test CA and certificates in every status" };
        var poll = new Option<double>("--poll") { Description = "Seconds between checks of the store for new data", DefaultValueFactory = _ => 1.0 };
        var ttl = new Option<int>("--ttl") { Description = "Positive TTL cap in seconds (never past a CRL's nextUpdate)", DefaultValueFactory = _ => 300 };
        var negativeTtl = new Option<int>("--negative-ttl") { Description = "SOA minimum: how long resolvers cache NXDOMAIN/NODATA", DefaultValueFactory = _ => 60 };
        var ns = new Option<string?>("--ns") { Description = "Name server name for NS and SOA (default ns.<zone>)" };
        var udpThreads = new Option<int>("--udp-threads") { Description = "UDP receive threads, each on its own socket (default: one per core)", DefaultValueFactory = _ => Environment.ProcessorCount };
        var allowTransfer = new Option<string[]>("--allow-transfer") { Description = "Address allowed to AXFR the zone (repeatable; none by default)" };
        var notify = new Option<string[]>("--notify") { Description = "Secondary to NOTIFY when the data changes, address:port (repeatable)" };
        var timeChanges = new Option<double>("--time-changes")
        {
            Description = "With secondaries (--allow-transfer, --notify): at most this often, in seconds, advance the SOA serial when "
                + "time alone changed answers (a certificate expired or became valid, a CRL passed nextUpdate); 0 never",
            DefaultValueFactory = _ => 300,
        };
        var forms = GlobalOptions.Forms("a zone transfer (--allow-transfer)");
        var metricsListen = new Option<string?>("--metrics-listen")
        {
            Description = "Address and port for HTTP monitoring: /metrics (Prometheus), /healthz, and a status page on / (off by default)",
        };
        var logFormat = new Option<string?>("--log-format")
        {
            Description = "Log lines on stderr as text (time, level, message), json, or journal (systemd's; the default under systemd)",
        };
        var command = new Command("serve", "Serve the zone (default: status.example from ./certdns.db on 127.0.0.1:5353)")
        {
            listen, demo, poll, ttl, negativeTtl, ns, udpThreads, allowTransfer, notify, timeChanges, forms, metricsListen, logFormat,
        };
        command.SetAction((r, cancel) => Run.GuardedAsync(async () =>
        {
            var endpoint = EndpointArgument.ParseListen(r.GetValue(listen)!);
            var apex = r.GetValue(GlobalOptions.Zone)!.Trim().TrimEnd('.').ToLowerInvariant();
            if (apex.Length == 0 || apex.Split('.').Any(l => l.Length is 0 or > QueryName.MaxLabelLength))
                throw new BadInputException(apex, "not a valid zone name");
            if (r.GetValue(poll) is var seconds && seconds is <= 0 or > 3600)
                throw new BadInputException("--poll", "must be between 0 and 3600 seconds");
            var dbPath = r.GetValue(GlobalOptions.Database)!;
            var transferClients = (r.GetValue(allowTransfer) ?? []).Select(a => IPAddress.TryParse(a, out var ip) ? ip : throw new BadInputException(a, "not an IP address")).ToList();
            var secondaries = (r.GetValue(notify) ?? []).Select(EndpointArgument.Parse).ToList();
            var published = PublishedNames.Parse(r.GetValue(forms)!);
            if (r.GetValue(udpThreads) is var threads && threads is < 1 or > 256)
                throw new BadInputException("--udp-threads", "must be between 1 and 256");
            if (r.GetValue(timeChanges) is var every && every is < 0 or > 86400)
                throw new BadInputException("--time-changes", "must be between 0 and 86400 seconds");
            // Only secondaries see the serial: without them, time-driven answers need no serial of their own.
            TimeSpan? advanceEvery = every > 0 && (transferClients.Count > 0 || secondaries.Count > 0) ? TimeSpan.FromSeconds(every) : null;

            var format = r.GetValue(logFormat) ?? ServeLogging.Default;
            if (format is not (ServeLogging.Text or ServeLogging.Json or ServeLogging.Journal))
                throw new BadInputException("--log-format", "must be text, json or journal");
            var metrics = r.GetValue(metricsListen) is { } m ? EndpointArgument.ParseListen(m) : null;

            IReadOnlyList<DemoCertificate> demoCerts = [];
            using (var store = CertStore.Open(dbPath))
            {
                if (r.GetValue(demo)) demoCerts = new DemoSeeder(store).Seed(DateTimeOffset.UtcNow);
            }

            var options = new ZoneOptions
            {
                Apex = apex,
                MaxTtl = r.GetValue(ttl),
                Minimum = r.GetValue(negativeTtl),
                NsAddress = endpoint.Address.Equals(IPAddress.Any) || endpoint.Address.Equals(IPAddress.IPv6Any) ? IPAddress.Loopback : endpoint.Address,
                Forms = published,
            };
            if (r.GetValue(ns) is { } nsName) options = options with { NsName = nsName.TrimEnd('.') };
            var settings = new ServeSettings(dbPath, apex, endpoint, metrics, options,
                new DnsServerOptions { UdpReceiveLoops = threads, TransferClients = transferClients }, secondaries,
                TimeSpan.FromSeconds(seconds), advanceEvery, demoCerts);
            return await ServeHost.RunAsync(settings, format, cancel).ConfigureAwait(false);
        }));
        return command;
    }
}
