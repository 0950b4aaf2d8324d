using System.Collections.Concurrent;
using System.Net;
using CertDns.Pki;
using CertDns.Ingest;
using CertDns.Store;

namespace CertDns.EndToEnd.Tests;

/// <summary>A real HTTP server on loopback (HttpListener) that serves CRLs the way CA web servers do.</summary>
internal sealed class CrlWebServer : IDisposable
{
    private readonly HttpListener _listener = new();
    private readonly Task _loop;

    public CrlWebServer()
    {
        Port = CertDnsProcess.FreePort();
        _listener.Prefixes.Add($"http://127.0.0.1:{Port}/");
        _listener.Start();
        _loop = Task.Run(LoopAsync);
    }

    public int Port { get; }

    public string Url(string path) => $"http://127.0.0.1:{Port}{path}";

    /// <summary>Path to (content, ETag, Last-Modified).</summary>
    public ConcurrentDictionary<string, (byte[] Body, string? Etag, DateTimeOffset? LastModified)> Files { get; } = new();

    /// <summary>Every request seen: path and its conditional headers.</summary>
    public ConcurrentQueue<(string Path, string? IfNoneMatch, string? IfModifiedSince, int Status)> Requests { get; } = new();

    public TimeSpan Delay { get; set; }

    private async Task LoopAsync()
    {
        while (_listener.IsListening)
        {
            HttpListenerContext context;
            try { context = await _listener.GetContextAsync(); }
            catch (Exception e) when (e is HttpListenerException or ObjectDisposedException or InvalidOperationException) { return; }
            _ = Task.Run(() => Handle(context));
        }
    }

    private async Task Handle(HttpListenerContext context)
    {
        var request = context.Request;
        var response = context.Response;
        var path = request.Url!.AbsolutePath;
        int status;
        try
        {
            if (path.StartsWith("/slow", StringComparison.Ordinal)) await Task.Delay(Delay);
            if (path == "/loop")
            {
                status = 302;
                response.RedirectLocation = "/loop";
            }
            else if (!Files.TryGetValue(path, out var file))
            {
                status = 404;
            }
            else if ((file.Etag is not null && request.Headers["If-None-Match"] == file.Etag) ||
                     (file.LastModified is { } lm && request.Headers["If-Modified-Since"] == lm.ToString("r")))
            {
                status = 304;
            }
            else
            {
                status = 200;
                if (file.Etag is not null) response.Headers["ETag"] = file.Etag;
                if (file.LastModified is { } modified) response.Headers["Last-Modified"] = modified.ToString("r");
                response.ContentType = "application/pkix-crl";
                response.ContentLength64 = file.Body.Length;
                response.StatusCode = status;
                await response.OutputStream.WriteAsync(file.Body);
            }
            Requests.Enqueue((path, request.Headers["If-None-Match"], request.Headers["If-Modified-Since"], status));
            response.StatusCode = status;
            response.Close();
        }
        catch (Exception e) when (e is HttpListenerException or IOException or ObjectDisposedException)
        {
        }
    }

    public void Dispose()
    {
        // Close alone: it stops the listener too, and a Stop() before it would make Close bind the port once more.
        _listener.Close();
        try { _loop.Wait(2000); } catch (AggregateException) { }
    }
}

/// <summary>
/// The web server's own teardown. On Linux HttpListener is managed: Stop() releases the port, and a Close() after it
/// removes the listener a second time, which binds the port again. A CI run failed in Dispose with "Address already in
/// use" when another socket took the port in that gap.
/// </summary>
public sealed class CrlWebServerTests
{
    [Fact]
    public void Dispose_PortTakenTheMomentItIsFree_DoesNotThrowAndDoesNotTakeItBack()
    {
        for (int round = 0; round < 40; round++)
        {
            var web = new CrlWebServer();
            using var squatter = new PortSquatter(web.Port);
            web.Dispose();
            Assert.True(squatter.Wait(), $"round {round}: the port was never free after Dispose");
        }
    }

    /// <summary>Binds and listens on a port in a tight loop until it can, then holds it.</summary>
    private sealed class PortSquatter : IDisposable
    {
        private readonly Thread _thread;
        private readonly ManualResetEventSlim _held = new();
        private volatile bool _stop;
        private System.Net.Sockets.Socket? _socket;

        public PortSquatter(int port)
        {
            _thread = new Thread(() =>
            {
                var endpoint = new IPEndPoint(IPAddress.Loopback, port);
                while (!_stop)
                {
                    var socket = new System.Net.Sockets.Socket(System.Net.Sockets.AddressFamily.InterNetwork,
                        System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Tcp);
                    try
                    {
                        socket.Bind(endpoint);
                        socket.Listen();
                        _socket = socket;
                        _held.Set();
                        return;
                    }
                    catch (System.Net.Sockets.SocketException)
                    {
                        socket.Dispose();
                    }
                }
            }) { IsBackground = true };
            _thread.Start();
        }

        /// <summary>True once the squatter holds the port (it must be free after the server's Dispose).</summary>
        public bool Wait() => _held.Wait(TimeSpan.FromSeconds(10));

        public void Dispose()
        {
            _stop = true;
            _thread.Join();
            _socket?.Dispose();
            _held.Dispose();
        }
    }
}

/// <summary>crl fetch and crl ingest URL against a local HTTP server: conditional GET, caps, redirects, lock.</summary>
public sealed class FetchTests : IDisposable
{
    private readonly TempDir _dir = new();
    private readonly CrlWebServer _web = new();
    private readonly TestAuthority _ca = new("Fetch Test CA");
    private readonly DateTimeOffset _now = DateTimeOffset.UtcNow;

    public FetchTests()
    {
        File.WriteAllText(_dir.File("ca.pem"), _ca.CertificatePem);
    }

    public void Dispose()
    {
        _web.Dispose();
        _dir.Dispose();
    }

    private string Db => _dir.File("certdns.db");

    private byte[] Crl(int number, DateTimeOffset? nextUpdate = null) => _ca.CreateCrl(number, _now.AddMinutes(number - 10), nextUpdate ?? _now.AddDays(7), []);

    private CertDnsProcess.Result Cli(params string[] args) => CertDnsProcess.Run(_dir.Path, args);

    [Fact]
    public void Fetch_ConditionalGetWithEtag_SecondRunIsNotModifiedAndExit0()
    {
        _web.Files["/ca.crl"] = (Crl(1), "\"v1\"", null);
        Assert.Equal(0, Cli("ca", "add", "ca.pem", "--crl-url", _web.Url("/ca.crl")).ExitCode);

        var first = Cli("crl", "fetch");
        var second = Cli("crl", "fetch");

        Assert.True(first.ExitCode == 0, first.Stderr);
        Assert.Contains("CRL 1, 0 entries (+0 -0)", first.Stdout);
        Assert.Equal(0, second.ExitCode);
        Assert.Contains("not modified since the last fetch (304)", second.Stdout);
        var requests = _web.Requests.ToArray();
        Assert.Equal([(string?)null, "\"v1\""], requests.Select(r => r.IfNoneMatch));
        Assert.Equal([200, 304], requests.Select(r => r.Status));
    }

    [Fact]
    public async Task Fetch_LastModified_SentBackAsIfModifiedSince()
    {
        var modified = new DateTimeOffset(2026, 11, 1, 12, 0, 0, TimeSpan.Zero);
        _web.Files["/lm.crl"] = (Crl(1), null, modified);
        using var store = CertStore.Open(Db);
        new CaRegistry(store).Add("ca", _ca.CertificateDer, [_web.Url("/lm.crl")], null);
        using var fetcher = new CrlFetcher(store, new CrlIngestor(store), FetchOptions.Default);

        Assert.Equal(FetchOutcome.Ingested, (await fetcher.FetchAsync(_web.Url("/lm.crl"))).Outcome);
        Assert.Equal(FetchOutcome.NotModified, (await fetcher.FetchAsync(_web.Url("/lm.crl"))).Outcome);

        _web.Files["/lm.crl"] = (Crl(2), null, modified.AddHours(1));
        var third = await fetcher.FetchAsync(_web.Url("/lm.crl"));
        Assert.Equal(FetchOutcome.Ingested, third.Outcome);
        Assert.True(third.Current);
        Assert.Equal(modified.ToString("r"), _web.Requests.Last().IfModifiedSince);
    }

    [Fact]
    public async Task Fetch_Limits_FailWithReasonAndStoreNothing()
    {
        using var store = CertStore.Open(Db);
        new CaRegistry(store).Add("ca", _ca.CertificateDer, [], null);
        _web.Files["/big.crl"] = (new byte[3 * 1024 * 1024], null, null);
        _web.Files["/slow.crl"] = (Crl(1), null, null);
        _web.Delay = TimeSpan.FromSeconds(3);
        using var fetcher = new CrlFetcher(store, new CrlIngestor(store), new FetchOptions(TimeSpan.FromSeconds(1), 1024 * 1024, 3));

        var big = await fetcher.FetchAsync(_web.Url("/big.crl"));
        var slow = await fetcher.FetchAsync(_web.Url("/slow.crl"));
        var loop = await fetcher.FetchAsync(_web.Url("/loop"));
        var missing = await fetcher.FetchAsync(_web.Url("/missing.crl"));
        var ldap = await fetcher.FetchAsync("ldap://ldap.example/cn=CA?certificateRevocationList");

        Assert.Contains("over the 1048576-byte cap", big.Message);
        Assert.Contains("timed out after 1 s", slow.Message);
        Assert.Contains("too many redirects (more than 3)", loop.Message);
        Assert.Contains("HTTP 404", missing.Message);
        Assert.Equal(FetchOutcome.Skipped, ldap.Outcome);
        Assert.All(new[] { big, slow, loop, missing, ldap }, r => Assert.False(r.Current));
        Assert.Null(store.Crls.Latest(1));
    }

    [Fact]
    public void Fetch_RefusedCrl_Exit1AndValidatorsDropped()
    {
        var stranger = new TestAuthority("Fetch Test CA"); // same name, other key: the signature fails
        _web.Files["/ca.crl"] = (stranger.CreateCrl(1, _now.AddMinutes(-1), _now.AddDays(1), []), "\"bad\"", null);
        Assert.Equal(0, Cli("ca", "add", "ca.pem", "--crl-url", _web.Url("/ca.crl")).ExitCode);

        var result = Cli("crl", "fetch");
        Cli("crl", "fetch");

        Assert.Equal(1, result.ExitCode);
        Assert.Contains("refused: signature does not verify", result.Stderr);
        // The refused download left no ETag behind: the second run asked unconditionally again.
        Assert.All(_web.Requests, r => Assert.Null(r.IfNoneMatch));
    }

    [Fact]
    public void Fetch_ExpiredCrl_StoredButExitNonZero()
    {
        _web.Files["/old.crl"] = (_ca.CreateCrl(1, _now.AddDays(-10), _now.AddDays(-3), []), null, null);
        Assert.Equal(0, Cli("ca", "add", "ca.pem", "--crl-url", _web.Url("/old.crl")).ExitCode);

        var result = Cli("crl", "fetch");

        Assert.Equal(2, result.ExitCode);
        Assert.Contains("has passed (stale)", result.Stdout);
        using var store = CertStore.Open(Db);
        Assert.NotNull(store.Crls.Latest(1));
    }

    [Fact]
    public void Fetch_AnotherRunHoldsTheLock_Exit2WithoutFetching()
    {
        _web.Files["/ca.crl"] = (Crl(1), null, null);
        Assert.Equal(0, Cli("ca", "add", "ca.pem", "--crl-url", _web.Url("/ca.crl")).ExitCode);

        using (var held = FetchLock.TryAcquire(Db))
        {
            Assert.NotNull(held);
            var blocked = Cli("crl", "fetch");
            Assert.Equal(2, blocked.ExitCode);
            Assert.Contains("another certdns crl fetch is running", blocked.Stderr);
            Assert.Empty(_web.Requests);
        }

        Assert.Equal(0, Cli("crl", "fetch").ExitCode);
    }

    [Fact]
    public void Ingest_HttpAndFileUrls_IngestedLikeFiles()
    {
        _web.Files["/ca.crl"] = (Crl(1), null, null);
        File.WriteAllBytes(_dir.File("two.crl"), Crl(2));
        Assert.Equal(0, Cli("ca", "add", "ca.pem").ExitCode);

        var http = Cli("crl", "ingest", _web.Url("/ca.crl"));
        var file = Cli("crl", "ingest", new Uri(_dir.File("two.crl")).AbsoluteUri);

        Assert.True(http.ExitCode == 0, http.Stderr);
        Assert.Contains("CRL 1", http.Stdout);
        Assert.True(file.ExitCode == 0, file.Stderr);
        Assert.Contains("CRL 2", file.Stdout);
    }

    [Fact]
    public void Fetch_DistributionPoints_TakenFromRegisteredCertificates()
    {
        _web.Files["/dp.crl"] = (Crl(1), null, null);
        var now = DateTimeOffset.UtcNow;
        // The CA's certificates name their CRL in cRLDistributionPoints; --distribution-points follows them.
        var der = _ca.Issue("dp.example", now.AddDays(-1), now.AddDays(30));
        using (var store = CertStore.Open(Db))
        {
            new CaRegistry(store).Add("ca", _ca.CertificateDer, [], null);
            new CertificateRegistry(store).Add([("c", der)]);
        }
        var urls = CertificateFile.Read(der, "c")[0].CrlDistributionPoints;

        using (var store = CertStore.Open(Db))
            Assert.Equal(urls, CrlFetcher.Sources(store, distributionPoints: true));
    }
}
