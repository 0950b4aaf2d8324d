using System.Text.RegularExpressions;

namespace CertDns.Bench;

/// <summary>
/// Scrapes a server's /metrics once per second while the run goes on, as Prometheus would: the URL is the one the
/// server logged ("metrics on http://...:PORT/metrics"), so the listener can take a port the kernel picks.
/// </summary>
internal sealed partial class MetricsScraper : IDisposable
{
    private readonly CancellationTokenSource _stop = new();
    private readonly HttpClient _http = new() { Timeout = TimeSpan.FromSeconds(5) };
    private readonly Task _loop;
    private int _ok, _failed;

    private MetricsScraper(Uri url, Action<string> log) => _loop = Task.Run(() => LoopAsync(url, log));

    /// <summary>What was scraped so far.</summary>
    public (int Ok, int Failed) Counts => (Volatile.Read(ref _ok), Volatile.Read(ref _failed));

    /// <summary>Waits (up to a minute) for the server to log its metrics URL, then scrapes it every second.</summary>
    public static MetricsScraper Start(Func<string> output, Action<string> log)
    {
        var until = DateTime.UtcNow + TimeSpan.FromMinutes(1);
        Match url;
        while (!(url = MetricsUrl().Match(output())).Success)
        {
            if (DateTime.UtcNow > until) throw new InvalidOperationException("the server never logged its metrics URL: " + output());
            Thread.Sleep(20);
        }
        log($"  scraping {url.Groups[1].Value} once per second");
        return new MetricsScraper(new Uri(url.Groups[1].Value), log);
    }

    private async Task LoopAsync(Uri url, Action<string> log)
    {
        using var timer = new PeriodicTimer(TimeSpan.FromSeconds(1));
        do
        {
            try
            {
                var text = await _http.GetStringAsync(url, _stop.Token);
                if (text.Contains("certdns_queries_total", StringComparison.Ordinal)) Interlocked.Increment(ref _ok);
                else Interlocked.Increment(ref _failed);
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException && !_stop.IsCancellationRequested)
            {
                if (Interlocked.Increment(ref _failed) == 1) log($"  /metrics scrape failed: {e.Message}");
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
        while (await WaitAsync(timer));
    }

    private async Task<bool> WaitAsync(PeriodicTimer timer)
    {
        try
        {
            return await timer.WaitForNextTickAsync(_stop.Token);
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }

    public void Dispose()
    {
        _stop.Cancel();
        try { _loop.Wait(TimeSpan.FromSeconds(10)); } catch (AggregateException) { }
        _stop.Dispose();
        _http.Dispose();
    }

    [GeneratedRegex(@"metrics on (http://127\.0\.0\.1:\d+/metrics)")]
    private static partial Regex MetricsUrl();
}
