using System.Net;
using System.Runtime.InteropServices;
using CertDns.Core;
using CertDns.Dns;
using CertDns.Ingest;
using CertDns.Server;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace CertDns.Cli;

/// <summary>What <c>serve</c> was asked for, parsed and checked.</summary>
internal sealed record ServeSettings(
    string DbPath,
    string Apex,
    IReadOnlyList<IPEndPoint> Listen,
    IPEndPoint? MetricsListen,
    ZoneOptions Zone,
    DnsServerOptions Server,
    IReadOnlyList<NotifyTarget> Secondaries,
    TimeSpan Poll,
    TimeSpan? AdvanceEvery,
    IReadOnlyList<DemoCertificate> Demo,
    bool SecretReadableByOthers = false,
    DnstapSettings? Dnstap = null)
{
    /// <summary>How SIGHUP re-reads <c>--config</c>; null when serve was started without one.</summary>
    public ServeReconfigure? Reconfigure { get; init; }

    // IXFR journal ([journal] table, --journal-max-size/--journal-max-age): its bounds; null keeps none.
    public JournalOptions? Journal { get; init; } = JournalOptions.Default;

    /// <summary>DNS cookies (RFC 7873) the responder checks and answers with; null: off.</summary>
    public ServerCookies? Cookies { get; init; }

    /// <summary>The online signer (zone.dnssec); null: the zone is served unsigned.</summary>
    public CertDns.Dns.Dnssec.OnlineSigner? Signer { get; init; }

    /// <summary>The key set file the signer's keys came from (zone.dnssec-keys): checked again at every poll.</summary>
    public string? DnssecKeysPath { get; init; }
}

/// <summary>What a configuration reload needs from the command line.</summary>
/// <param name="File">The configuration read at start.</param>
/// <param name="FlagGiven">Whether a flag (by name, <c>--ns</c>) was typed: its value wins over any file.</param>
/// <param name="Resolve">The flags over a configuration: the settings serve would start with.</param>
internal sealed record ServeReconfigure(
    CertDns.Server.Configuration.CertDnsConfig File,
    Func<string, bool> FlagGiven,
    Func<CertDns.Server.Configuration.CertDnsConfig, ServeSettings> Resolve);

/// <summary>The dnstap query log (<c>[log]</c>, <c>serve --dnstap</c>): where, how many entries queued, what is logged.</summary>
internal sealed record DnstapSettings(string Target, int Queue, bool Queries, bool Responses)
{
    /// <summary>Entries queued by default: about 16 MiB of slots.</summary>
    public const int DefaultQueue = 16384;
}

/// <summary>
/// The server as a hosted service: starting loads the first snapshot, binds every socket (DNS, then monitoring) and only
/// then returns, so the host's "started" (systemd's READY=1) means the port answers. SIGHUP runs the reload hooks
/// (the configuration file, when serve has one, then the store) instead of ending the process.
/// </summary>
internal sealed class ServeService(ServeSettings settings, ILoggerFactory logs) : IHostedService, IAsyncDisposable
{
    private readonly ILogger _log = logs.CreateLogger("certdns");
    private StoreWatcher? _watcher;
    private readonly List<DnsServer> _servers = [];
    private MonitorEndpoint? _monitor;
    private CertDns.Server.Dnstap.DnstapWriter? _dnstap;
    private PosixSignalRegistration? _hangup;
    private ITimer? _keyCheck;

    /// <summary>The parts SIGHUP reloads, in order: the configuration (with <c>--config</c>), then the store.</summary>
    public ReloadHooks Reloads { get; } = new(TimeProvider.System, e =>
    {
        var log = logs.CreateLogger("certdns");
        if (e.Refused) log.LogWarning("reload of the {What} refused, the old one kept: {Text}", e.What, e.Text);
        else log.LogInformation("{Text}", e.Text);
    });

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        var clock = TimeProvider.System;
        // Registered first: a SIGHUP that comes while loading must not end the process (its default action does).
        _hangup = PosixSignalRegistration.Create(PosixSignal.SIGHUP, context =>
        {
            context.Cancel = true;
            _ = Task.Run(() =>
            {
                _log.LogInformation("SIGHUP: reloading");
                Reloads.ReloadAll();
            });
        });
        if (settings.SecretReadableByOthers)
            _log.LogWarning("the configuration file holds TSIG secrets and others may read it: chmod 600 (or 640 root:certdns)");
        var reloadLog = new LogThrottle(m => _log.LogWarning("{Message}", m), clock, TimeSpan.FromMinutes(1));
        var notifier = new SecondaryNotifier(settings.Secondaries, new Zone(settings.Zone), m => _log.LogInformation("{Message}", m));
        var holder = new SnapshotHolder(StatusSnapshot.Empty);
        // The journal only serves secondaries: kept when someone may transfer, by address or by a [[transfer]] rule (keyed
        // secondaries too). Without one it is not kept: each publication would diff the snapshots and rewrite the file for
        // nobody. A first transfer client added by a reload gets whole-zone IXFR answers until a restart.
        var journal = settings.Journal is { } limits && (settings.Server.TransferClients.Count > 0 || settings.Server.TransferRules.Count > 0)
            ? new ZoneJournal(settings.Zone, limits, ZoneJournal.PathBeside(settings.DbPath), m => _log.LogWarning("{Message}", m))
            : null;
        // A signed zone reaches secondaries signed (a secondary serving it unsigned under a DS is bogus): transfers and the
        // journal's steps carry the pre-signed form, NSEC3 and RRSIGs. Made even with no transfer client yet: a reload may add one.
        var transferSigner = settings.Signer is { } online ? new CertDns.Dns.Dnssec.TransferSigner(new Zone(settings.Zone), online.Keys) : null;
        if (journal is not null) journal.Signer = transferSigner;
        // NOTIFY goes through even with no secondaries yet: a configuration reload may add some.
        _watcher = new StoreWatcher(settings.DbPath, holder, settings.Poll, clock, WatcherLine, notifier.Notify, settings.AdvanceEvery) { Journal = journal };
        var responder = new DnsResponder(settings.Zone, holder, clock, settings.Signer) { Journal = journal, Cookies = settings.Cookies, TransferSigner = transferSigner };
        // The transfer ACL the servers read on each connection: a reload replaces its contents.
        var transferClients = new LiveAddressList(settings.Server.TransferClients);
        if (settings.Reconfigure is { } reconfigure)
        {
            var live = new LiveConfiguration(settings, responder, transferClients, notifier, _watcher, journal);
            Reloads.Add(new CertDns.Server.Configuration.ConfigurationReloader(reconfigure.File, reconfigure.FlagGiven,
                next => live.Apply(reconfigure.Resolve(next)), m => _log.LogWarning("{Message}", m)));
        }
        Reloads.Add(_watcher);
        if (settings.Signer is { } signing && settings.DnssecKeysPath is { } keysPath)
        {
            // Rollovers without a restart: the key set file is read again when it changes and its keys viewed at the
            // clock's time, at every poll; a new phase signs from the next query and goes to secondaries under a new serial.
            var store = _watcher;
            var keyLog = new LogThrottle(m => _log.LogWarning("{Message}", m), clock, TimeSpan.FromMinutes(1));
            // The keys go into service with the new serial, after its write to the store (which may wait on an ingest):
            // the new DNSKEY RRset is zone content, never served under the serial served before.
            var keys = new CertDns.Dns.Dnssec.KeySetWatcher(keysPath, signing.Keys, clock, (next, why) =>
                _log.LogInformation("{Message}", store.AdvanceSerial(why, () => responder.UseKeys(next))), keyLog.Write);
            var period = settings.Poll;
            _keyCheck = clock.CreateTimer(_ =>
            {
                try
                {
                    keys.Check();
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or InvalidOperationException)
                {
                    keyLog.Write($"{keysPath}: checking the DNSSEC keys failed: {e.Message}");
                }
                // server.poll is live: the key set is checked at the store's pace, as the rollover timing assumes.
                if (store.Interval is var interval && interval != period)
                {
                    period = interval;
                    _keyCheck?.Change(interval, interval);
                }
            }, null, settings.Poll, settings.Poll);
        }
        // The first load of a large store takes seconds: a spinner on a terminal, nothing in a unit's journal.
        var first = ProgressDisplay.Run($"loading {settings.DbPath}", _ => _watcher.Start());
        var errors = new LogThrottle(m => _log.LogError("{Message}", m), clock, TimeSpan.FromMinutes(1));
        var serverOptions = settings.Server with { TransferClients = transferClients, OnError = e => errors.Write($"answering a query failed: {e.GetType().Name}: {e.Message}") };
        if (settings.Dnstap is { } dnstap)
        {
            // The query log: the answer path only queues; this writer's thread encodes and writes.
            var queryLog = new QueryLog(dnstap.Queue, dnstap.Queries, dnstap.Responses);
            var dnstapLog = new LogThrottle(m => _log.LogWarning("{Message}", m), clock, TimeSpan.FromMinutes(1));
            try
            {
                _dnstap = CertDns.Server.Dnstap.DnstapWriter.Start(queryLog, dnstap.Target, Environment.MachineName, ServeHost.Version, dnstapLog.Write);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw new ListenException($"{dnstap.Target}: cannot write the dnstap log: {e.Message}");
            }
            serverOptions = serverOptions with { QueryLog = queryLog };
        }
        // One server per address, each with its own sockets; all answer from the same snapshot.
        foreach (var at in settings.Listen)
        {
            try
            {
                _servers.Add(await DnsServer.StartAsync(at, responder, serverOptions, cancellationToken).ConfigureAwait(false));
            }
            catch (System.Net.Sockets.SocketException e)
            {
                var hint = e.SocketErrorCode == System.Net.Sockets.SocketError.AccessDenied && at.Port is > 0 and < 1024
                    ? " (ports below 1024 need root or CAP_NET_BIND_SERVICE, as the packaged unit grants)" : "";
                throw new ListenException($"{at}: cannot listen: {e.Message}{hint}");
            }
        }
        if (settings.MetricsListen is { } metrics)
        {
            try
            {
                _monitor = MonitorEndpoint.Start(metrics, new MonitorSources
                {
                    Zone = settings.Apex,
                    StorePath = settings.DbPath,
                    Snapshots = holder,
                    Queries = responder.Counters,
                    TcpConnections = () => _servers.Sum(server => server.TcpConnections),
                    Watcher = _watcher,
                    Notifier = notifier,
                    Tsig = () => (_servers.Sum(x => x.TsigSigned), _servers.Sum(x => x.TsigBadKey), _servers.Sum(x => x.TsigBadSig), _servers.Sum(x => x.TsigBadTime)),
                    Reloads = Reloads,
                    Dnstap = _dnstap,
                    Report = (snapshot, now) => StatusReports.Build(settings.DbPath, snapshot, settings.Apex, now),
                });
            }
            catch (System.Net.Sockets.SocketException e)
            {
                throw new ListenException($"{metrics}: cannot listen for metrics: {e.Message}");
            }
        }
        var where = string.Join(", ", _servers.Select(server => $"{server.LocalEndPoint} (udp, tcp)"));
        if (_servers.Any(server => server.RateLimiting))
        {
            var rates = settings.Server.RateLimiter!.Options;
            _log.LogInformation("rate limiting UDP answers to {Rate}/s per client prefix on {Endpoints} (slip {Slip}, window {Window} s)", rates.ResponsesPerSecond,
                string.Join(", ", _servers.Where(server => server.RateLimiting).Select(server => server.LocalEndPoint)), rates.Slip, rates.Window);
        }
        _log.LogInformation("serving {Zone} from {Store} on {Endpoints}: serial {Serial}, {Count} certificates (loaded in {Seconds:F2} s)",
            settings.Apex, Path.GetFullPath(settings.DbPath), where, first.Serial, first.Count, _watcher.LastLoad.TotalSeconds);
        if (_dnstap is not null) _log.LogInformation("query log (dnstap) to {Target}", _dnstap.Target);
        if (_monitor is not null) _log.LogInformation("metrics on http://{Endpoint}/metrics, health on /healthz, status page on /", _monitor.LocalEndPoint);
        PrintDemo(settings.Demo, settings.Apex, _servers[0].LocalEndPoint);

        void WatcherLine(string line)
        {
            // A poll's outcome goes on the page as it is; its log line is rate-limited when it repeats a failure.
            bool failed = line.StartsWith("reload failed", StringComparison.Ordinal);
            Reloads.Keep("store", failed, line);
            if (failed) reloadLog.Write(line);
            else _log.LogInformation("{Message}", line);
        }
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        _log.LogInformation("stopping");
        await DisposeAsync().ConfigureAwait(false);
    }

    public async ValueTask DisposeAsync()
    {
        _hangup?.Dispose();
        _hangup = null;
        _keyCheck?.Dispose();
        _keyCheck = null;
        if (_monitor is not null) await _monitor.DisposeAsync().ConfigureAwait(false);
        _monitor = null;
        foreach (var server in _servers) await server.DisposeAsync().ConfigureAwait(false);
        _servers.Clear();
        // After the servers: nothing is queued any more, and what was is written before STOP.
        _dnstap?.Dispose();
        _dnstap = null;
        _watcher?.Dispose();
        _watcher = null;
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

/// <summary>A socket serve needs could not be bound: one line, exit 2.</summary>
internal sealed class ListenException(string message) : IOException(message);
