using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using CertDns.Core;
using CertDns.Dns;
using CertDns.Store;

namespace CertDns.Server;

/// <summary>
/// The monitoring listener (<c>serve --metrics-listen</c>): <c>/metrics</c> in Prometheus' text format,
/// <c>/healthz</c> (200 only when a snapshot is loaded and the store is readable, else 503) and <c>/</c>, a status page
/// for people. A small HTTP/1.1 server of its own on a <see cref="TcpListener"/>: it binds port 0 and says which port
/// it got, and brings no web framework into a DNS server. It never touches the answer path: the counters are read here.
/// </summary>
public sealed class MonitorEndpoint : IAsyncDisposable
{
    private const int MaxRequest = 8192;
    private const int MaxConnections = 32;
    private int _open;
    private readonly TcpListener _listener;
    private readonly MonitorSources _sources;
    private readonly CancellationTokenSource _stop = new();
    private readonly QueryRate _rate;
    private readonly Task _accept;
    private readonly Task _sampler;
    private readonly object _reportLock = new();
    private (StatusReport Report, long At)? _cached;
    // How long a summary of the same serial is reused (see Report).
    private static readonly TimeSpan ReportEvery = TimeSpan.FromMinutes(1);

    private MonitorEndpoint(TcpListener listener, MonitorSources sources)
    {
        (_listener, _sources) = (listener, sources);
        _rate = new QueryRate(sources.Time);
        LocalEndPoint = (IPEndPoint)listener.LocalEndpoint;
        _accept = Task.Run(AcceptLoopAsync);
        _sampler = Task.Run(SampleLoopAsync);
    }

    /// <summary>Where it listens (the port the system picked for port 0).</summary>
    public IPEndPoint LocalEndPoint { get; }

    /// <summary>Binds <paramref name="endpoint"/> and starts answering.</summary>
    public static MonitorEndpoint Start(IPEndPoint endpoint, MonitorSources sources)
    {
        ArgumentNullException.ThrowIfNull(endpoint);
        ArgumentNullException.ThrowIfNull(sources);
        var listener = new TcpListener(endpoint);
        listener.Start(64);
        return new MonitorEndpoint(listener, sources);
    }

    private async Task AcceptLoopAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            TcpClient client;
            try
            {
                client = await _listener.AcceptTcpClientAsync(_stop.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException or SocketException)
            {
                if (_stop.IsCancellationRequested) return;
                continue;
            }
            // Scrapers and people: a handful at once. A flood gets closed sockets, not tasks and buffers.
            if (Interlocked.Increment(ref _open) > MaxConnections)
            {
                Interlocked.Decrement(ref _open);
                client.Dispose();
                continue;
            }
            _ = Task.Run(async () =>
            {
                try { await ServeAsync(client).ConfigureAwait(false); }
                finally { Interlocked.Decrement(ref _open); }
            });
        }
    }

    private async Task SampleLoopAsync()
    {
        using var timer = new PeriodicTimer(QueryRate.Slot, _sources.Time);
        _rate.Sample(_sources.Queries.Total);
        try
        {
            while (await timer.WaitForNextTickAsync(_stop.Token).ConfigureAwait(false)) _rate.Sample(_sources.Queries.Total);
        }
        catch (OperationCanceledException)
        {
        }
    }

    private async Task ServeAsync(TcpClient client)
    {
        using (client)
        using (var timeout = CancellationTokenSource.CreateLinkedTokenSource(_stop.Token))
        {
            timeout.CancelAfter(TimeSpan.FromSeconds(10));
            try
            {
                var stream = client.GetStream();
                var path = await ReadRequestAsync(stream, timeout.Token).ConfigureAwait(false);
                var (status, type, body) = path switch
                {
                    null => (400, "text/plain", "bad request\n"u8.ToArray()),
                    "/metrics" => (200, "text/plain; version=0.0.4; charset=utf-8", Encoding.UTF8.GetBytes(Metrics())),
                    "/healthz" => Health(),
                    "/" => (200, "text/html; charset=utf-8", Encoding.UTF8.GetBytes(StatusPage.Render(Report(), _sources.Reloads.Recent, _rate.PerMinute(_sources.Queries.Total), _sources.Time.GetUtcNow()))),
                    _ => (404, "text/plain", "not found\n"u8.ToArray()),
                };
                var head = $"HTTP/1.1 {status} {Reason(status)}\r\nContent-Type: {type}\r\nContent-Length: {body.Length}\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n";
                await stream.WriteAsync(Encoding.ASCII.GetBytes(head), timeout.Token).ConfigureAwait(false);
                await stream.WriteAsync(body, timeout.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is IOException or SocketException or OperationCanceledException or ObjectDisposedException)
            {
                // A client that went away or stalled: nothing to tell it.
            }
            catch (Exception e) when (e is Microsoft.Data.Sqlite.SqliteException or InvalidOperationException)
            {
                // The store could not be summarised (gone, locked): the page cannot be drawn, the DNS side is unaffected.
                var body = Encoding.UTF8.GetBytes($"store unavailable: {SafeText.OneLine(e.Message)}\n");
                var head = $"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\nContent-Length: {body.Length}\r\nConnection: close\r\n\r\n";
                try
                {
                    var stream = client.GetStream();
                    await stream.WriteAsync(Encoding.ASCII.GetBytes(head)).ConfigureAwait(false);
                    await stream.WriteAsync(body).ConfigureAwait(false);
                }
                catch (Exception write) when (write is IOException or SocketException or ObjectDisposedException)
                {
                }
            }
        }
    }

    /// <summary>Reads the request head; returns the path of a GET (query string dropped), or null for anything else.</summary>
    private static async Task<string?> ReadRequestAsync(NetworkStream stream, CancellationToken token)
    {
        var buffer = new byte[MaxRequest];
        int filled = 0;
        while (filled < buffer.Length)
        {
            int n = await stream.ReadAsync(buffer.AsMemory(filled), token).ConfigureAwait(false);
            if (n == 0) return null;
            filled += n;
            if (buffer.AsSpan(0, filled).IndexOf("\r\n\r\n"u8) >= 0) break;
        }
        var line = Encoding.ASCII.GetString(buffer, 0, Math.Max(0, buffer.AsSpan(0, filled).IndexOf("\r\n"u8)));
        var parts = line.Split(' ');
        if (parts.Length != 3 || parts[0] != "GET" || !parts[2].StartsWith("HTTP/1.", StringComparison.Ordinal)) return null;
        var path = parts[1];
        int query = path.IndexOf('?', StringComparison.Ordinal);
        return query >= 0 ? path[..query] : path;
    }

    private static string Reason(int status) => status switch
    {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        _ => "Service Unavailable",
    };

    private (int, string, byte[]) Health()
    {
        if (_sources.Watcher.LastLoadAt is null) return (503, "text/plain", "no snapshot loaded\n"u8.ToArray());
        if (!File.Exists(_sources.StorePath)) return (503, "text/plain", Encoding.UTF8.GetBytes($"store {_sources.StorePath} is missing\n"));
        try
        {
            using var store = CertStore.Open(_sources.StorePath, readOnly: true);
            var serial = store.Serial;
            return (200, "text/plain", Encoding.UTF8.GetBytes($"ok: serving serial {_sources.Snapshots.Current.Serial}, store serial {serial}\n"));
        }
        catch (Exception e) when (e is Microsoft.Data.Sqlite.SqliteException or IOException or BadInputException or UnauthorizedAccessException)
        {
            return (503, "text/plain", Encoding.UTF8.GetBytes($"store unreadable: {SafeText.OneLine(e.Message)}\n"));
        }
    }

    /// <summary>
    /// The store summary: it reads the store and evaluates every certificate of the snapshot (about a second of one core
    /// at 1,000,000 certificates), so it is taken again only for a new serial or once a minute, when time alone may have
    /// moved a certificate to another status. Scraped every second, a 5 s cache cost 23% of the answers' queries/s at
    /// 1,000,000 on two cores (tools/bench certdns-metrics); seconds-to-nextUpdate are computed at each scrape.
    /// </summary>
    private StatusReport Report()
    {
        lock (_reportLock)
        {
            var snapshot = _sources.Snapshots.Current;
            if (_cached is { } c && c.Report.Serial == snapshot.Serial && System.Diagnostics.Stopwatch.GetElapsedTime(c.At) < ReportEvery) return c.Report;
            var report = _sources.Report(snapshot, _sources.Time.GetUtcNow());
            _cached = (report, System.Diagnostics.Stopwatch.GetTimestamp());
            return report;
        }
    }

    /// <summary>The Prometheus text exposition (version 0.0.4) of every counter and gauge.</summary>
    internal string Metrics()
    {
        var now = _sources.Time.GetUtcNow();
        var text = new StringBuilder();
        var q = _sources.Queries;
        Header(text, "certdns_queries_total", "counter", "DNS queries answered, by transport, rcode, the status answered and the view asked.");
        for (int t = 0; t < QueryCounters.Transports; t++)
            for (int r = 0; r < QueryCounters.Rcodes; r++)
                foreach (var s in Enum.GetValues<CertStatus>())
                    foreach (var v in Enum.GetValues<ZoneView>())
                        if (q.Queries(t, r, s, v) is var n and > 0)
                            text.Append(CultureInfo.InvariantCulture, $"certdns_queries_total{{transport=\"{(t == 0 ? "udp" : "tcp")}\",rcode=\"{Rcode(r)}\",status=\"{(s == CertStatus.Unknown ? "none" : StatusCodes.Name(s))}\",view=\"{View(v)}\"}} {n}\n");
        Header(text, "certdns_tcp_connections", "gauge", "TCP connections open now.");
        Sample(text, "certdns_tcp_connections", _sources.TcpConnections());
        Header(text, "certdns_transfers_total", "counter", "Zone transfers (AXFR, IXFR) started.");
        Sample(text, "certdns_transfers_total", q.Transfers);
        // IXFR answers: incremental from the journal, whole when the journal did not reach the client's serial.
        Header(text, "certdns_ixfr_total", "counter", "IXFR requests answered, by answer: incremental, whole (the journal fell short), current (one SOA).");
        text.Append(CultureInfo.InvariantCulture, $"certdns_ixfr_total{{answer=\"incremental\"}} {q.Ixfr(TransferKind.IxfrIncremental)}\n");
        text.Append(CultureInfo.InvariantCulture, $"certdns_ixfr_total{{answer=\"whole\"}} {q.Ixfr(TransferKind.IxfrWhole)}\n");
        text.Append(CultureInfo.InvariantCulture, $"certdns_ixfr_total{{answer=\"current\"}} {q.Ixfr(TransferKind.IxfrCurrent)}\n");
        Header(text, "certdns_transfers_refused_total", "counter", "Zone transfer requests refused.");
        Sample(text, "certdns_transfers_refused_total", q.TransfersRefused);
        if (_sources.Dnstap is { } dnstap)
        {
            Header(text, "certdns_dnstap_frames_written_total", "counter", "Dnstap frames (a query, a response) written to the query log.");
            Sample(text, "certdns_dnstap_frames_written_total", dnstap.FramesWritten);
            Header(text, "certdns_dnstap_frames_dropped_total", "counter", "Dnstap frames dropped: the query log's queue was full, or its reader went away.");
            Sample(text, "certdns_dnstap_frames_dropped_total", dnstap.FramesDropped);
        }
        // Response rate limiting and DNS cookies.
        Header(text, "certdns_rate_limited_total", "counter", "UDP responses the rate limiter dropped.");
        Sample(text, "certdns_rate_limited_total", q.RateLimitedResponses);
        Header(text, "certdns_rate_limit_slipped_total", "counter", "UDP responses the rate limiter sent truncated (TC=1) instead.");
        Sample(text, "certdns_rate_limit_slipped_total", q.SlippedResponses);
        Header(text, "certdns_cookies_total", "counter", "Queries with a DNS COOKIE option, by outcome (valid ones are exempt from rate limiting).");
        foreach (var (outcome, label) in new[] { (CookieOutcome.ClientOnly, "client_only"), (CookieOutcome.Valid, "valid"), (CookieOutcome.Invalid, "invalid"), (CookieOutcome.Malformed, "malformed") })
            text.Append(CultureInfo.InvariantCulture, $"certdns_cookies_total{{outcome=\"{label}\"}} {q.Cookies(outcome)}\n");
        Header(text, "certdns_notifies_total", "counter", "NOTIFYs sent to secondaries, by outcome.");
        text.Append(CultureInfo.InvariantCulture, $"certdns_notifies_total{{result=\"acknowledged\"}} {_sources.Notifier?.Acknowledged ?? 0}\n");
        text.Append(CultureInfo.InvariantCulture, $"certdns_notifies_total{{result=\"failed\"}} {_sources.Notifier?.Failed ?? 0}\n");
        if (_sources.Tsig?.Invoke() is var (signed, badKey, badSig, badTime))
        {
            // Key names and secrets stay out: only counts, by outcome.
            Header(text, "certdns_tsig_requests_total", "counter", "Requests with a TSIG (RFC 8945), by outcome: answered signed, or refused NOTAUTH with the error.");
            text.Append(CultureInfo.InvariantCulture, $"certdns_tsig_requests_total{{result=\"signed\"}} {signed}\n");
            text.Append(CultureInfo.InvariantCulture, $"certdns_tsig_requests_total{{result=\"badkey\"}} {badKey}\n");
            text.Append(CultureInfo.InvariantCulture, $"certdns_tsig_requests_total{{result=\"badsig\"}} {badSig}\n");
            text.Append(CultureInfo.InvariantCulture, $"certdns_tsig_requests_total{{result=\"badtime\"}} {badTime}\n");
        }

        var snapshot = _sources.Snapshots.Current;
        Header(text, "certdns_snapshot_serial", "gauge", "The zone serial served.");
        Sample(text, "certdns_snapshot_serial", snapshot.Serial);
        Header(text, "certdns_snapshot_age_seconds", "gauge", "Seconds since the served snapshot was loaded.");
        Sample(text, "certdns_snapshot_age_seconds", _sources.Watcher.LastLoadAt is { } at ? (now - at).TotalSeconds : double.NaN);
        Header(text, "certdns_snapshot_load_seconds", "gauge", "Seconds the last snapshot took to load.");
        Sample(text, "certdns_snapshot_load_seconds", _sources.Watcher.LastLoad.TotalSeconds);

        var report = Report();
        Header(text, "certdns_certificates", "gauge", "Certificates in the served snapshot, by status now.");
        foreach (var (status, count) in report.Counts.OrderBy(p => p.Key))
            text.Append(CultureInfo.InvariantCulture, $"certdns_certificates{{status=\"{StatusCodes.Name(status)}\"}} {count}\n");
        Header(text, "certdns_crl_next_update_seconds", "gauge", "Seconds until the nextUpdate of the CRL that speaks for each CA (negative: stale).");
        foreach (var ca in report.Cas)
            if (ca.NextUpdate is { } next)
                text.Append(CultureInfo.InvariantCulture, $"certdns_crl_next_update_seconds{{ca_id=\"{ca.Id}\",ca=\"{Label(ca.Subject)}\",trusted=\"{(ca.Trusted ? "true" : "false")}\"}} {Number((next - now).TotalSeconds)}\n");
        Header(text, "certdns_complaints_pending", "gauge", "Complaints still counting against certificates.");
        Sample(text, "certdns_complaints_pending", report.ComplaintsPending);
        return text.ToString();
    }

    private static void Header(StringBuilder text, string name, string type, string help) =>
        text.Append(CultureInfo.InvariantCulture, $"# HELP {name} {help}\n# TYPE {name} {type}\n");

    private static void Sample(StringBuilder text, string name, double value) => text.Append(CultureInfo.InvariantCulture, $"{name} {Number(value)}\n");

    private static string Number(double value) => double.IsNaN(value) ? "NaN" : value.ToString("R", CultureInfo.InvariantCulture);

    /// <summary>Prometheus label values escape backslash, double quote and newline; CA names are untrusted.</summary>
    private static string Label(string value) => value.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal).Replace("\n", "\\n", StringComparison.Ordinal);

    private static string Rcode(int rcode) => rcode switch
    {
        0 => "NOERROR",
        1 => "FORMERR",
        2 => "SERVFAIL",
        3 => "NXDOMAIN",
        4 => "NOTIMP",
        5 => "REFUSED",
        _ => rcode.ToString(CultureInfo.InvariantCulture),
    };

    private static string View(ZoneView view) => view switch
    {
        ZoneView.Block => "bl",
        ZoneView.Allow => "wl",
        _ => "combined",
    };

    /// <summary>Stops listening.</summary>
    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        _listener.Stop();
        try { await Task.WhenAll(_accept, _sampler).WaitAsync(TimeSpan.FromSeconds(5)).ConfigureAwait(false); } catch (TimeoutException) { }
        _stop.Dispose();
    }
}

/// <summary>Queries per minute over the last hour: a ring of the counters' totals, sampled once a minute.</summary>
internal sealed class QueryRate(TimeProvider time)
{
    public static readonly TimeSpan Slot = TimeSpan.FromMinutes(1);
    private const int Slots = 61;
    private readonly long[] _totals = new long[Slots];
    private readonly DateTimeOffset[] _at = new DateTimeOffset[Slots];
    private int _next, _count;
    private readonly object _lock = new();

    public void Sample(long total)
    {
        lock (_lock)
        {
            _totals[_next] = total;
            _at[_next] = time.GetUtcNow();
            _next = (_next + 1) % Slots;
            _count = Math.Min(_count + 1, Slots);
        }
    }

    /// <summary>Queries per second in each minute of the last hour, oldest first; the last one is the minute under way.</summary>
    public IReadOnlyList<double> PerMinute(long totalNow)
    {
        lock (_lock)
        {
            var rates = new List<double>();
            var now = time.GetUtcNow();
            for (int i = _count; i > 0; i--)
            {
                int at = (_next - i + Slots) % Slots;
                int after = (at + 1) % Slots;
                (long nextTotal, DateTimeOffset nextAt) = i == 1 ? (totalNow, now) : (_totals[after], _at[after]);
                var seconds = (nextAt - _at[at]).TotalSeconds;
                rates.Add(seconds > 0 ? (nextTotal - _totals[at]) / seconds : 0);
            }
            return rates;
        }
    }
}
