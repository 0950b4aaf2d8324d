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
        var command = new Command("serve", "Serve the zone (default: status.example from ./certdns.db on 127.0.0.1:5353)")
        {
            listen, demo, poll, ttl, negativeTtl, ns, udpThreads, allowTransfer, notify, timeChanges, forms,
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

            // Every option is checked before the store is touched: a refused command creates and changes nothing.
            var options = new ZoneOptions
            {
                Apex = apex,
                MaxTtl = r.GetValue(ttl) is var maxTtl and >= 0 ? maxTtl : throw new BadInputException("--ttl", "must not be negative"),
                Minimum = r.GetValue(negativeTtl) is var minimum and >= 0 ? minimum : throw new BadInputException("--negative-ttl", "must not be negative"),
                NsAddress = endpoint.Address.Equals(IPAddress.Any) || endpoint.Address.Equals(IPAddress.IPv6Any) ? IPAddress.Loopback : endpoint.Address,
                Forms = published,
            };
            if (r.GetValue(ns) is { } nsName) options = options with { NsName = nsName.TrimEnd('.') };
            Zone zone;
            try
            {
                zone = new Zone(options);
            }
            catch (ArgumentException)
            {
                throw new BadInputException(options.NsName, "not a valid name server name (--ns)");
            }

            IReadOnlyList<DemoCertificate> demoCerts = [];
            if (r.GetValue(demo))
            {
                // The demo may create its store, but never mixes its test CAs into one that serves real ones.
                using var store = CertStore.Open(dbPath);
                if (store.Cas.List().FirstOrDefault(c => !c.Subject.Contains(DemoSeeder.CaPrefix, StringComparison.Ordinal)) is { } other)
                    throw new BadInputException(dbPath, $"--demo refuses a store that holds other CAs (CA {other.Id}); give it a new --db");
                demoCerts = new DemoSeeder(store).Seed(DateTimeOffset.UtcNow);
            }
            else if (!File.Exists(dbPath))
            {
                // Serving a new empty store would answer every revoked certificate "not listed": fail closed instead.
                throw new BadInputException(dbPath, "no such store (try serve --demo, or create it with certdns ca add)");
            }

            var holder = new SnapshotHolder(StatusSnapshot.Empty);
            var notifier = new SecondaryNotifier(secondaries, zone, m => Console.WriteLine(m));
            var clock = TimeProvider.System;
            using var watcher = new StoreWatcher(dbPath, holder, TimeSpan.FromSeconds(r.GetValue(poll)), clock, m => Console.WriteLine(m),
                notifier.Any ? notifier.Notify : null, advanceEvery);
            long loading = System.Diagnostics.Stopwatch.GetTimestamp();
            var first = watcher.Start();
            var loaded = System.Diagnostics.Stopwatch.GetElapsedTime(loading);
            var responder = new DnsResponder(options, holder, clock);
            DnsServer server;
            try
            {
                server = await DnsServer.StartAsync(endpoint, responder, new DnsServerOptions { UdpReceiveLoops = threads, TransferClients = transferClients }).ConfigureAwait(false);
            }
            catch (System.Net.Sockets.SocketException e)
            {
                return Run.Fail($"{endpoint}: cannot listen: {e.Message}", ExitCodes.Failed);
            }
            await using var running = server;
            Console.WriteLine($"serving {apex} from {Path.GetFullPath(dbPath)} on {server.LocalEndPoint} (udp, tcp): serial {first.Serial}, {first.Count} certificates (loaded in {loaded.TotalSeconds:F2} s)");
            PrintDemo(demoCerts, apex, server.LocalEndPoint);
            try
            {
                await Task.Delay(Timeout.Infinite, cancel).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                Console.WriteLine("stopping");
            }
            return ExitCodes.Ok;
        }));
        return command;
    }

    private static void PrintDemo(IReadOnlyList<DemoCertificate> certs, string apex, IPEndPoint endpoint)
    {
        if (certs.Count == 0) return;
        var dig = $"dig @{endpoint.Address} -p {endpoint.Port}";
        Console.WriteLine($"demo certificates (try: {dig} test.{apex} A, or TXT for the reason):");
        foreach (var cert in certs)
            Console.WriteLine($"  {StatusCodes.Name(cert.Status),-10} {string.Join('.', StatusCodes.Address(cert.Status).ToArray()),-10} {dig} {PublishedNames.Split(cert.Sha256)}.{apex} TXT");
    }
}
