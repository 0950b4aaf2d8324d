using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using CertDns.Pki;

namespace CertDns.EndToEnd.Tests;

/// <summary>
/// A hostile CRL host on loopback, spoken to by raw TCP on a port the kernel picks: redirects to file:,
/// file://localhost/ and javascript:, a body dripped a byte a second, and one plain redirect.
/// </summary>
internal sealed class HostileCrlHost : IDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly CancellationTokenSource _stop = new();

    public HostileCrlHost(byte[] crl)
    {
        Crl = crl;
        _listener.Start();
        Port = ((IPEndPoint)_listener.LocalEndpoint).Port;
        _ = Task.Run(LoopAsync);
    }

    public byte[] Crl { get; }

    public int Port { get; }

    public string Url(string path) => $"http://127.0.0.1:{Port}{path}";

    private async Task LoopAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            TcpClient client;
            try { client = await _listener.AcceptTcpClientAsync(_stop.Token); }
            catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException) { return; }
            _ = Task.Run(() => HandleAsync(client));
        }
    }

    private async Task HandleAsync(TcpClient client)
    {
        using (client)
        {
            try
            {
                var stream = client.GetStream();
                using var reader = new StreamReader(stream, Encoding.ASCII, false, 1024, leaveOpen: true);
                var path = (await reader.ReadLineAsync(_stop.Token))?.Split(' ')[1] ?? "/";
                while (!string.IsNullOrEmpty(await reader.ReadLineAsync(_stop.Token)))
                {
                }
                async Task Send(string head, byte[]? body = null)
                {
                    await stream.WriteAsync(Encoding.ASCII.GetBytes(head + "Connection: close\r\n\r\n"), _stop.Token);
                    if (body is not null) await stream.WriteAsync(body, _stop.Token);
                }
                switch (path)
                {
                    case "/file": await Send("HTTP/1.1 302 Found\r\nLocation: file:///etc/passwd\r\nContent-Length: 0\r\n"); break;
                    case "/localhost": await Send("HTTP/1.1 302 Found\r\nLocation: file://localhost/etc/passwd\r\nContent-Length: 0\r\n"); break;
                    case "/js": await Send("HTTP/1.1 302 Found\r\nLocation: javascript:alert(1)\r\nContent-Length: 0\r\n"); break;
                    case "/once": await Send("HTTP/1.1 302 Found\r\nLocation: /ca.crl\r\nContent-Length: 0\r\n"); break;
                    case "/ca.crl": await Send($"HTTP/1.1 200 OK\r\nContent-Type: application/pkix-crl\r\nContent-Length: {Crl.Length}\r\n", Crl); break;
                    case "/drip":
                        await Send($"HTTP/1.1 200 OK\r\nContent-Type: application/pkix-crl\r\nContent-Length: {Crl.Length}\r\n");
                        // The body a byte a second, as a hostile host keeps a fetch alive for ever.
                        foreach (var b in Crl)
                        {
                            await stream.WriteAsync(new[] { b }, _stop.Token);
                            await Task.Delay(1000, _stop.Token);
                        }
                        break;
                    default: await Send("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n"); break;
                }
            }
            catch (Exception e) when (e is IOException or OperationCanceledException or SocketException or ObjectDisposedException)
            {
                // The client hung up (it gave up on the drip): nothing to do.
            }
        }
    }

    public void Dispose()
    {
        _stop.Cancel();
        _listener.Stop();
        _stop.Dispose();
    }
}

/// <summary>Issue 12 item 5: <c>crl fetch</c> against a hostile CRL host, through the real program.</summary>
public sealed class FetchHardeningTests : IDisposable
{
    private readonly TempDir _dir = new();
    private readonly TestAuthority _ca = new("Hostile Host CA");
    private readonly HostileCrlHost _host;

    public FetchHardeningTests()
    {
        var now = DateTimeOffset.UtcNow;
        _host = new HostileCrlHost(_ca.CreateCrl(1, now.AddMinutes(-5), now.AddDays(7), []));
        File.WriteAllText(_dir.File("ca.pem"), _ca.CertificatePem);
    }

    public void Dispose()
    {
        _host.Dispose();
        _dir.Dispose();
    }

    private CertDnsProcess.Result Cli(params string[] args) => CertDnsProcess.Run(_dir.Path, args);

    private static string[] Lines(string text) => text.Split('\n', StringSplitOptions.RemoveEmptyEntries);

    [Fact]
    public void Fetch_RedirectsToFileAndJavascript_EachFailsOneLine_RemainingUrlFetched()
    {
        Assert.Equal(0, Cli("ca", "add", "ca.pem", "--crl-url", _host.Url("/file"), "--crl-url", _host.Url("/localhost"),
            "--crl-url", _host.Url("/js"), "--crl-url", _host.Url("/ca.crl")).ExitCode);

        var result = Cli("crl", "fetch");

        Assert.Equal(2, result.ExitCode);
        Assert.DoesNotContain("   at ", result.Stderr + result.Stdout);
        var failures = Lines(result.Stderr);
        Assert.Equal(3, failures.Length);
        Assert.Contains(failures, l => l.Contains("/file: failed: redirect to file: refused", StringComparison.Ordinal));
        Assert.Contains(failures, l => l.Contains("/localhost: failed: redirect to file: refused", StringComparison.Ordinal));
        Assert.Contains(failures, l => l.Contains("/js: failed: redirect to javascript: refused", StringComparison.Ordinal));
        Assert.Contains(Lines(result.Stdout), l => l.StartsWith(_host.Url("/ca.crl") + ": ", StringComparison.Ordinal) && l.Contains("CRL 1", StringComparison.Ordinal));
        Assert.Contains("\t1\t", Cli("ca", "list").Stdout); // CRL number 1 stored
    }

    [Fact]
    public void Fetch_ServerDripsAByteASecond_CutAtTheTimeout()
    {
        Assert.Equal(0, Cli("ca", "add", "ca.pem", "--crl-url", _host.Url("/drip")).ExitCode);
        var watch = Stopwatch.StartNew();

        var result = Cli("crl", "fetch", "--timeout", "3");

        watch.Stop();
        Assert.Equal(2, result.ExitCode);
        Assert.Contains("timed out after 3 s", Assert.Single(Lines(result.Stderr)));
        // The whole run: process start-up plus the one 3 s download, far from the body's length in seconds.
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(30), $"crl fetch --timeout 3 took {watch.Elapsed.TotalSeconds:0} s");
    }

    [Fact]
    public void Fetch_MaxRedirectsZero_FollowsNone()
    {
        Assert.Equal(0, Cli("ca", "add", "ca.pem", "--crl-url", _host.Url("/once")).ExitCode);

        var none = Cli("crl", "fetch", "--max-redirects", "0");
        var one = Cli("crl", "fetch", "--max-redirects", "1");

        Assert.Equal(2, none.ExitCode);
        Assert.Contains("not followed (--max-redirects 0)", Assert.Single(Lines(none.Stderr)));
        Assert.True(one.ExitCode == 0, one.Stderr);
        Assert.Contains("CRL 1", one.Stdout);
    }
}
