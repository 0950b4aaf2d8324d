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
        var listen = new Option<string[]>("--listen")
        {
            Description = "Address and port for UDP and TCP, IPv4 or IPv6 ([::1]:53); repeatable. On 0.0.0.0 or [::] each UDP answer leaves from the address its query was sent to",
            DefaultValueFactory = _ => ["127.0.0.1:5353"],
        };
        var demo = new Option<bool>("--demo") { Description = "First seed the store with a generated test CA and certificates in every status" };
        var poll = new Option<double>("--poll") { Description = "Seconds between checks of the store for new data", DefaultValueFactory = _ => 1.0 };
        var ttl = new Option<int>("--ttl") { Description = "Positive TTL cap in seconds (never past a CRL's nextUpdate)", DefaultValueFactory = _ => 300 };
        var negativeTtl = new Option<int>("--negative-ttl") { Description = "SOA minimum: how long resolvers cache NXDOMAIN/NODATA", DefaultValueFactory = _ => 60 };
        var ns = new Option<string[]>("--ns") { Description = "Name server of the zone (repeatable, the first is the SOA MNAME; default ns.<zone> at 127.0.0.1, a demo identity)" };
        var glue = new Option<string[]>("--glue") { Description = "NAME=ADDRESS: an in-zone name server's address (repeatable; each in-zone --ns needs one)" };
        var soaContact = new Option<string?>("--soa-contact") { Description = "The zone's contact e-mail, written as the SOA RNAME (default hostmaster@<zone>)" };
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
        // IXFR journal bounds ([journal] table).
        var journalMaxSize = new Option<int>("--journal-max-size")
        {
            Description = "With --allow-transfer: the most octets of changed records the IXFR journal keeps beside the store (<store>.journal), "
                + "oldest dropped first; 0 keeps none (every IXFR gets the whole zone)",
            DefaultValueFactory = _ => (int)JournalOptions.Default.MaxSize,
        };
        var journalMaxAge = new Option<double>("--journal-max-age")
        {
            Description = "Seconds the IXFR journal keeps a change; a secondary older than that transfers the whole zone",
            DefaultValueFactory = _ => JournalOptions.Default.MaxAge.TotalSeconds,
        };
        var metricsListen = new Option<string?>("--metrics-listen")
        {
            Description = "Address and port for HTTP monitoring: /metrics (Prometheus), /healthz, and a status page on / (off by default)",
        };
        var logFormat = new Option<string?>("--log-format")
        {
            Description = "Log lines on stderr as text (time, level, message), json, or journal (systemd's; the default under systemd)",
        };
        var dnstap = new Option<string?>("--dnstap")
        {
            Description = "Query log in dnstap to this file (replaced on start), or unix:PATH to a Frame Streams socket (fstrm_capture); off by default",
        };
        var rrl = new Option<string?>("--rrl")
        {
            Description = "Response rate limiting on UDP: auto (the default: off on loopback listeners, on elsewhere), on or off; rates in [rrl] of the configuration",
        };
        var command = new Command("serve", "Serve the zone (default: status.example from ./certdns.db on 127.0.0.1:5353)")
        {
            listen, demo, poll, ttl, negativeTtl, ns, glue, soaContact, udpThreads, allowTransfer, notify, timeChanges, forms, metricsListen, logFormat,
            journalMaxSize, journalMaxAge, dnstap, rrl,
        };
        // Every flag that stands for a configuration key, by name (ConfigKey.Flag): a typed one keeps overriding the file
        // after a reload. A new key's flag goes here too, or a reload takes the file's value over the typed flag's.
        var flags = new Option[] { GlobalOptions.Database, GlobalOptions.Zone, listen, poll, ttl, negativeTtl, ns, glue, soaContact, udpThreads, allowTransfer, notify, timeChanges, forms, metricsListen, journalMaxSize, journalMaxAge, dnstap, rrl }
            .ToDictionary(o => o.Name, StringComparer.Ordinal);

        // The flags over a configuration file (or none): at start, and again on each SIGHUP with the file read anew.
        ServeSettings Resolve(ParseResult r, CertDns.Server.Configuration.CertDnsConfig? file)
        {
            var endpoints = GlobalOptions.Given(r, listen) || file?.Listen is null
                ? (r.GetValue(listen) ?? []).Select(EndpointArgument.ParseListen).ToList()
                : [.. file.Listen];
            if (endpoints.Count == 0) throw new BadInputException(file?.Path ?? "--listen", "server.listen: at least one address:port");
            if (endpoints.GroupBy(e => e).FirstOrDefault(g => g.Key.Port != 0 && g.Count() > 1) is { } twice)
                throw new BadInputException(twice.Key.ToString(), "--listen given twice");
            var apex = GlobalOptions.Pick(r, GlobalOptions.Zone, file?.ZoneName).Trim().TrimEnd('.').ToLowerInvariant();
            if (apex.Length == 0 || apex.Split('.').Any(l => l.Length is 0 or > QueryName.MaxLabelLength))
                throw new BadInputException(apex, "not a valid zone name");
            if (GlobalOptions.Pick(r, poll, file?.Poll) is var seconds && seconds is <= 0 or > 3600)
                throw new BadInputException("--poll", "must be between 0 and 3600 seconds");
            var dbPath = GlobalOptions.Pick(r, GlobalOptions.Database, file?.StorePath);
            var transferClients = GlobalOptions.Given(r, allowTransfer) || file?.AllowTransfer is null
                ? (r.GetValue(allowTransfer) ?? []).Select(a => IPAddress.TryParse(a, out var ip) ? ip : throw new BadInputException(a, "not an IP address")).ToList()
                : [.. file.AllowTransfer];
            var secondaries = GlobalOptions.Given(r, notify) || file?.Notify is null
                ? (r.GetValue(notify) ?? []).Select(EndpointArgument.Parse).ToList()
                : [.. file.Notify];
            // TSIG (RFC 8945): [[key]], [[transfer]] and [[notify]] come from the file only (no secret on a command line).
            var tsigKeys = file?.Keys ?? [];
            var transferRules = file?.Transfers ?? [];
            List<NotifyTarget> notifyTargets = [.. secondaries.Select(s => new NotifyTarget(s, null)), .. file?.NotifyTargets ?? []];
            var published = PublishedNames.Parse(GlobalOptions.Pick(r, forms, file?.Forms));
            if (GlobalOptions.Pick(r, udpThreads, file?.UdpThreads) is var threads && threads is < 1 or > 256)
                throw new BadInputException("--udp-threads", "must be between 1 and 256");
            if (GlobalOptions.Pick(r, timeChanges, file?.TimeChanges) is var every && every is < 0 or > 86400)
                throw new BadInputException("--time-changes", "must be between 0 and 86400 seconds");
            // Only secondaries see the serial: without them, time-driven answers need no serial of their own.
            TimeSpan? advanceEvery = every > 0 && (transferClients.Count > 0 || transferRules.Count > 0 || notifyTargets.Count > 0) ? TimeSpan.FromSeconds(every) : null;

            // IXFR journal bounds.
            if (GlobalOptions.Pick(r, journalMaxSize, file?.JournalMaxSize) is var journalSize && journalSize < 0)
                throw new BadInputException("--journal-max-size", "must not be negative");
            if (GlobalOptions.Pick(r, journalMaxAge, file?.JournalMaxAge) is var journalAge && journalAge is <= 0 or > 366 * 86400)
                throw new BadInputException("--journal-max-age", "must be above 0 and at most 366 days in seconds");
            var journal = journalSize == 0 ? null : new JournalOptions(journalSize, TimeSpan.FromSeconds(journalAge));

            var metrics = r.GetValue(metricsListen) is { } m ? EndpointArgument.ParseListen(m) : file?.MetricsListen;
            var options = ZoneIdentity(r, file, apex, ns, glue, soaContact) with
            {
                MaxTtl = GlobalOptions.Pick(r, ttl, file?.Ttl),
                Minimum = GlobalOptions.Pick(r, negativeTtl, file?.Minimum),
                Forms = published,
            };
            if (options.MaxTtl < 0) throw new BadInputException("--ttl", "must not be negative");
            if (options.Minimum < 0) throw new BadInputException("--negative-ttl", "must not be negative");
            try
            {
                _ = new Zone(options);
            }
            catch (ArgumentException e)
            {
                // An in-zone name server without glue, glue for no name server, a bad name: refused before anything binds.
                throw new BadInputException(file?.Path ?? "--ns", e.Message.Split(" (Parameter", 2)[0]);
            }
            return new ServeSettings(dbPath, apex, endpoints, metrics, options,
                new DnsServerOptions { UdpReceiveLoops = threads, TransferClients = transferClients, TsigKeys = tsigKeys, TransferRules = transferRules },
                notifyTargets, TimeSpan.FromSeconds(seconds), advanceEvery, [], file?.SecretReadableByOthers == true,
                DnstapFrom(r.GetValue(dnstap), file)) { Journal = journal };
        }

        command.SetAction((r, cancel) => Run.GuardedAsync(async () =>
        {
            var format = r.GetValue(logFormat) ?? ServeLogging.Default;
            if (format is not (ServeLogging.Text or ServeLogging.Json or ServeLogging.Journal))
                throw new BadInputException("--log-format", "must be text, json or journal");
            var file = GlobalOptions.ConfigFile(r);
            var settings = Resolve(r, file);
            var dbPath = settings.DbPath;
            // Response rate limiting: one table for every listener; DNS cookies: on unless the configuration says off.
            // Made once here, not in Resolve: a reload does not replace them (restart keys) and must not reallocate them.
            bool? limit = r.GetValue(rrl) switch
            {
                null => file?.RrlEnable,
                "auto" => null,
                "on" => true,
                "off" => false,
                var other => throw new BadInputException("--rrl", $"\"{other}\": must be auto, on or off"),
            };
            var limiter = new RateLimiter(file?.Rrl ?? new RateLimitOptions(), TimeProvider.System);
            var cookies = file?.CookiesEnable == false ? null
                : file?.CookieSecret is { } secret ? new ServerCookies(secret, file.CookiePreviousSecret, TimeProvider.System)
                : ServerCookies.Random(TimeProvider.System);
            settings = settings with { Server = settings.Server with { RateLimiter = limiter, RateLimitEnabled = limit }, Cookies = cookies };
            // DNSSEC: the key set is read before anything binds; a key set that cannot be read stops the start. The server
            // reads it again when it changes (ServeService), so a rollover needs no restart.
            if (file?.Dnssec == true)
            {
                var keysPath = file.DnssecKeys ?? throw new BadInputException(file.Path, "zone.dnssec = true needs zone.dnssec-keys (the file certdns dnssec keygen writes)");
                var keySet = CertDns.Dns.Dnssec.DnssecKeySet.Load(keysPath);
                if (!keySet.Zone.Equals(settings.Apex.TrimEnd('.').ToLowerInvariant() + ".", StringComparison.Ordinal))
                    throw new BadInputException(keysPath, $"key set is for {keySet.Zone}, the zone is {settings.Apex}");
                settings = settings with { Signer = new CertDns.Dns.Dnssec.OnlineSigner(keySet), DnssecKeysPath = keysPath };
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

            settings = settings with
            {
                Demo = demoCerts,
                Reconfigure = file is null ? null : new ServeReconfigure(file, flag => flags.TryGetValue(flag, out var option) && GlobalOptions.Given(r, option), f => Resolve(r, f)),
            };
            return await ServeHost.RunAsync(settings, format, cancel).ConfigureAwait(false);
        }));
        return command;
    }

    /// <summary>The query log: <c>--dnstap</c> over <c>log.dnstap</c>; null (off) when neither names a target.</summary>
    private static DnstapSettings? DnstapFrom(string? flag, CertDns.Server.Configuration.CertDnsConfig? file)
    {
        var target = flag ?? file?.Dnstap;
        if (target is null) return null;
        if (CertDns.Server.Configuration.CertDnsConfigLoader.CheckDnstapTarget(target) is { } reason) throw new BadInputException("--dnstap", reason);
        return new DnstapSettings(target, file?.DnstapQueue ?? DnstapSettings.DefaultQueue, file?.DnstapQueries ?? true, file?.DnstapResponses ?? true);
    }

    /// <summary>
    /// The zone's name servers, glue and SOA contact: the flags when given, else the configuration file's keys, else
    /// the demo identity (<c>ns.&lt;zone&gt;</c> at 127.0.0.1, <c>hostmaster.&lt;zone&gt;</c>). Never an address
    /// guessed from where the server listens: a secondary would serve it as the zone's.
    /// </summary>
    private static ZoneOptions ZoneIdentity(ParseResult r, CertDns.Server.Configuration.CertDnsConfig? file, string apex,
        Option<string[]> ns, Option<string[]> glue, Option<string?> soaContact)
    {
        var options = new ZoneOptions { Apex = apex };
        if (file is not null) options = CertDns.Server.Configuration.CertDnsConfigLoader.ZoneOptionsFrom(file, options);
        if (GlobalOptions.Given(r, ns)) options = options with { NameServers = [.. r.GetValue(ns)!.Select(n => n.Trim().TrimEnd('.'))] };
        if (GlobalOptions.Given(r, glue))
        {
            var byName = new Dictionary<string, IReadOnlyList<IPAddress>>(StringComparer.OrdinalIgnoreCase);
            foreach (var item in r.GetValue(glue)!)
            {
                var parts = item.Split('=', 2);
                if (parts.Length != 2 || !IPAddress.TryParse(parts[1], out var address))
                    throw new BadInputException(item, "expected --glue NAME=ADDRESS, e.g. ns1.status.example=192.0.2.53");
                var name = parts[0].Trim().TrimEnd('.');
                byName[name] = [.. (byName.TryGetValue(name, out var known) ? known : []), address];
            }
            options = options with { Glue = byName };
        }
        else if (GlobalOptions.Given(r, ns) && file?.Glue is null)
        {
            options = options with { Glue = new Dictionary<string, IReadOnlyList<IPAddress>>() };
        }
        if (r.GetValue(soaContact) is { } contact)
        {
            try
            {
                options = options with { Hostmaster = ZoneOptions.RnameFromEmail(contact.Trim()) };
            }
            catch (ArgumentException e)
            {
                throw new BadInputException("--soa-contact", e.Message.Split(" (Parameter", 2)[0]);
            }
        }
        return options;
    }
}
