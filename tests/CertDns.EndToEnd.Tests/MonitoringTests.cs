using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using System.Text.RegularExpressions;
using CertDns.Ingest;
using CertDns.Pki;
using CertDns.Store;

namespace CertDns.EndToEnd.Tests;

/// <summary>
/// serve's monitoring listener through the real binary: /metrics as a real Prometheus scrapes it, /healthz, the status
/// page as headless Chromium draws it, and <c>certdns status --json</c> with its exit code for monitoring.
/// </summary>
public sealed partial class MonitoringTests : IDisposable
{
    private const string EvilCa = "Evil <b>CA</b> & \"co\"";
    private readonly TempDir _dir = new();
    private readonly HttpClient _http = new() { Timeout = TimeSpan.FromSeconds(10) };

    public void Dispose()
    {
        _http.Dispose();
        _dir.Dispose();
    }

    private (CertDnsProcess.Server Server, Uri Monitor) Serve()
    {
        var server = CertDnsProcess.Serve(_dir.Path, "--demo", "--metrics-listen", "127.0.0.1:0");
        server.WaitFor("metrics on http://", TimeSpan.FromSeconds(30));
        var at = MetricsOn().Match(server.Output);
        Assert.True(at.Success, server.Output);
        // The demo table is on stdout, the log on stderr: one may be read before the other.
        server.WaitForStdout(o => DemoNames(o).Count >= Enum.GetValues<CertDns.Core.CertStatus>().Length - 1, "the whole demo table", TimeSpan.FromSeconds(30));
        return (server, new Uri($"http://127.0.0.1:{at.Groups[1].Value}/"));
    }

    /// <summary>The demo's certificate names per status, from the lines serve prints for people.</summary>
    private static Dictionary<string, string> DemoNames(string output) =>
        DemoLine().Matches(output).ToDictionary(m => m.Groups[1].Value, m => m.Groups[2].Value);

    [Fact]
    public async Task Metrics_CountQueriesByStatusAndView_AndDescribeTheSnapshot()
    {
        var (server, monitor) = Serve();
        using var _ = server;
        var names = DemoNames(server.Stdout);
        await AskAsync(server.Port, names["revoked"]);
        await AskAsync(server.Port, names["revoked"]);
        await AskAsync(server.Port, new string('0', 32) + "." + new string('0', 32) + ".status.example");

        var text = await _http.GetStringAsync(new Uri(monitor, "metrics"));

        Assert.True(text.Contains("certdns_queries_total{transport=\"udp\",rcode=\"NOERROR\",status=\"revoked\",view=\"combined\"} 2\n", StringComparison.Ordinal), text);
        Assert.True(text.Contains("certdns_queries_total{transport=\"udp\",rcode=\"NXDOMAIN\",status=\"none\",view=\"combined\"} 1\n", StringComparison.Ordinal), text);
        Assert.Matches(@"certdns_snapshot_serial \d+\n", text);
        Assert.Contains("certdns_certificates{status=\"revoked\"} 1\n", text);
        Assert.Matches(@"certdns_crl_next_update_seconds\{ca_id=""\d+"",ca=""[^""]*CertDns Demo CA[^""]*"",trusted=""true""\} \d", text);
        Assert.Contains("certdns_complaints_pending 0\n", text);
    }

    [Fact]
    public async Task Healthz_Ok_Then503WhenTheStoreIsDeleted()
    {
        var (server, monitor) = Serve();
        using var _ = server;
        using (var ok = await _http.GetAsync(new Uri(monitor, "healthz"))) Assert.Equal(HttpStatusCode.OK, ok.StatusCode);

        File.Delete(_dir.File("certdns.db"));
        using var gone = await _http.GetAsync(new Uri(monitor, "healthz"));

        Assert.Equal(HttpStatusCode.ServiceUnavailable, gone.StatusCode);
        Assert.Contains("missing", await gone.Content.ReadAsStringAsync());
    }

    [Fact]
    public void MetricsListen_PortTaken_OneLineExit2()
    {
        using var taken = new TcpListener(IPAddress.Loopback, 0);
        taken.Start();
        var port = ((IPEndPoint)taken.LocalEndpoint).Port;

        using (CertStore.Open(_dir.File("certdns.db"))) { } // serve never creates a store (issue #12)
        var result = CertDnsProcess.Run(_dir.Path, "serve", "--listen", "127.0.0.1:0", "--metrics-listen", $"127.0.0.1:{port}");

        Assert.Equal(2, result.ExitCode);
        Assert.Contains($"127.0.0.1:{port}: cannot listen for metrics", Assert.Single(result.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries)));
    }

    [PeerFact(Peer.Prometheus)]
    public async Task Prometheus_ScrapesServe_ValuesReadBackThroughItsApi()
    {
        var (server, monitor) = Serve();
        using var _ = server;
        var names = DemoNames(server.Stdout);
        await AskAsync(server.Port, names["revoked"]);
        var serial = SerialIn().Match(server.Output).Groups[1].Value;

        // Prometheus cannot say which port it took: give it one free now.
        int port = CertDnsProcess.FreePort();
        File.WriteAllText(_dir.File("prometheus.yml"),
            $"global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: certdns\n    static_configs:\n      - targets: ['127.0.0.1:{monitor.Port}']\n");
        var info = new ProcessStartInfo(Peer.Path(Peer.Prometheus)) { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in new[] { $"--config.file={_dir.File("prometheus.yml")}", $"--storage.tsdb.path={_dir.File("tsdb")}", $"--web.listen-address=127.0.0.1:{port}" })
            info.ArgumentList.Add(a);
        using var prometheus = Process.Start(info)!;
        var log = prometheus.StandardError.ReadToEndAsync();
        try
        {
            var api = new Uri($"http://127.0.0.1:{port}/api/v1/query");
            Assert.Equal(serial, await QueryAsync(api, "certdns_snapshot_serial", log));
            Assert.Equal("1", await QueryAsync(api, "certdns_queries_total{status=\"revoked\",transport=\"udp\"}", log));
            Assert.Equal("1", await QueryAsync(api, "certdns_certificates{status=\"revoked\"}", log));
        }
        finally
        {
            prometheus.Kill();
            prometheus.WaitForExit(5000);
        }
    }

    /// <summary>Asks Prometheus until the series has a sample (it scrapes every second), within a deadline.</summary>
    private async Task<string> QueryAsync(Uri api, string query, Task<string> log)
    {
        var until = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        string last = "";
        while (DateTime.UtcNow < until)
        {
            try
            {
                last = await _http.GetStringAsync(new Uri(api + "?query=" + Uri.EscapeDataString(query)));
                using var json = JsonDocument.Parse(last);
                var result = json.RootElement.GetProperty("data").GetProperty("result");
                if (result.GetArrayLength() > 0) return result[0].GetProperty("value")[1].GetString()!;
            }
            catch (HttpRequestException)
            {
                // Not listening yet.
            }
            await Task.Delay(200);
        }
        throw new TimeoutException($"Prometheus never had {query}: {last} {(log.IsCompleted ? log.Result : "")}");
    }

    [PeerFact(Peer.Chromium)]
    public async Task StatusPage_InChromium_ShowsCasCountsAndEscapesNames()
    {
        var (server, monitor) = Serve();
        using var _ = server;
        await AskAsync(server.Port, DemoNames(server.Stdout)["valid"]);
        // `--demo` keeps its store to its own CAs (issue #12), so the hostile name arrives as an operator adds a CA to a
        // running server; the page shows it once the server has reloaded.
        File.WriteAllText(_dir.File("evil.pem"), TestAuthority.ToPem("CERTIFICATE", new TestAuthority(EvilCa).CertificateDer));
        Assert.Equal(0, CertDnsProcess.Run(_dir.Path, "ca", "add", "evil.pem").ExitCode);
        var until = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (!(await _http.GetStringAsync(monitor)).Contains("Evil ", StringComparison.Ordinal))
        {
            if (DateTime.UtcNow > until) throw new TimeoutException("the status page never showed the added CA");
            await Task.Delay(100);
        }

        var dom = Chromium(monitor, "--dump-dom");
        var screenshot = Path.Combine(Path.GetTempPath(), "certdns-status-page.png");
        File.Delete(screenshot);
        Chromium(monitor, $"--screenshot={screenshot}", "--window-size=1280,1400");

        Assert.Contains("CertDns Demo CA", dom);
        Assert.Contains("CertDns Demo Stale CA", dom);
        Assert.Contains("Certificates per status", dom);
        Assert.Matches(@"<td>revoked</td><td>127\.0\.0\.2</td><td class=""num"">1</td>", dom);
        Assert.Contains("Complaints pending", dom);
        // The CA's name is text on the page, never markup.
        // (The subject as registered escapes '<' RFC 4514's way: "Evil \<b\>CA...".)
        Assert.True(dom.Contains("Evil \\&lt;b\\&gt;CA\\&lt;/b\\&gt;", StringComparison.Ordinal), dom);
        Assert.DoesNotContain("<b>CA</b>", dom);
        Assert.True(new FileInfo(screenshot).Length > 1000, "no screenshot at " + screenshot);
    }

    private string Chromium(Uri page, params string[] what)
    {
        var info = new ProcessStartInfo(Peer.Path(Peer.Chromium)) { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in new[] { "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                     "--disable-sync", "--no-first-run", $"--user-data-dir={_dir.File("chromium-" + Guid.NewGuid().ToString("N"))}" })
            info.ArgumentList.Add(a);
        foreach (var a in what) info.ArgumentList.Add(a);
        info.ArgumentList.Add(page.ToString());
        using var chromium = Process.Start(info)!;
        var stdout = chromium.StandardOutput.ReadToEndAsync();
        var stderr = chromium.StandardError.ReadToEndAsync();
        if (!chromium.WaitForExit(TimeSpan.FromSeconds(90)))
        {
            chromium.Kill(entireProcessTree: true);
            throw new TimeoutException("chromium did not finish: " + stderr.Result);
        }
        Assert.True(chromium.ExitCode == 0, $"chromium exited {chromium.ExitCode}: {stderr.Result}");
        return stdout.Result;
    }

    [Fact]
    public void StatusJson_StaleTrustedCa_Exit2AndSaysWhich()
    {
        using (var store = CertStore.Open(_dir.File("certdns.db"))) new DemoSeeder(store).Seed(DateTimeOffset.UtcNow);

        var result = CertDnsProcess.Run(_dir.Path, "status", "--json");

        Assert.Equal(2, result.ExitCode);
        using var json = JsonDocument.Parse(result.Stdout);
        Assert.True(json.RootElement.GetProperty("trusted_stale").GetBoolean());
        var cas = json.RootElement.GetProperty("cas").EnumerateArray().ToList();
        var stale = Assert.Single(cas, c => c.GetProperty("subject").GetString()!.Contains("Demo Stale CA", StringComparison.Ordinal));
        Assert.True(stale.GetProperty("stale").GetBoolean());
        // Stale: either no CRL at all, or one past its nextUpdate.
        var left = stale.GetProperty("seconds_to_next_update");
        Assert.True(left.ValueKind == JsonValueKind.Null || left.GetInt64() < 0, left.ToString());
        var main = Assert.Single(cas, c => c.GetProperty("subject").GetString()!.Contains("CN=CertDns Demo CA,", StringComparison.Ordinal));
        Assert.False(main.GetProperty("stale").GetBoolean());
        Assert.Equal(1, json.RootElement.GetProperty("certificates").GetProperty("revoked").GetInt32());
    }

    [Fact]
    public void Status_EveryTrustedCrlCurrent_Exit0()
    {
        var ca = new TestAuthority("Fresh CA");
        var now = DateTimeOffset.UtcNow;
        File.WriteAllText(_dir.File("ca.pem"), ca.CertificatePem);
        File.WriteAllBytes(_dir.File("crl.der"), ca.CreateCrl(1, now.AddMinutes(-5), now.AddDays(7), []));
        Assert.Equal(0, CertDnsProcess.Run(_dir.Path, "ca", "add", "ca.pem").ExitCode);
        Assert.Equal(0, CertDnsProcess.Run(_dir.Path, "crl", "ingest", "crl.der").ExitCode);

        var text = CertDnsProcess.Run(_dir.Path, "status");
        var json = CertDnsProcess.Run(_dir.Path, "status", "--json");

        Assert.Equal(0, text.ExitCode);
        Assert.Equal(0, json.ExitCode);
        using var doc = JsonDocument.Parse(json.Stdout);
        Assert.False(doc.RootElement.GetProperty("trusted_stale").GetBoolean());
    }

    private static async Task AskAsync(int port, string name)
    {
        using var udp = new UdpClient(AddressFamily.InterNetwork);
        await udp.SendAsync(WireQuery.Build(name, WireQuery.A), new IPEndPoint(IPAddress.Loopback, port));
        using var wait = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        await udp.ReceiveAsync(wait.Token);
    }

    [GeneratedRegex(@"metrics on http://127\.0\.0\.1:(\d+)/metrics")]
    private static partial Regex MetricsOn();

    [GeneratedRegex(@"^  (\w+)\s+[\d.]+\s+dig @\S+ -p \d+ (\S+) TXT", RegexOptions.Multiline)]
    private static partial Regex DemoLine();

    [GeneratedRegex(@"\): serial (\d+),")]
    private static partial Regex SerialIn();
}
