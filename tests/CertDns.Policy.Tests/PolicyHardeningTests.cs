using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using CertDns.Policy;

namespace CertDns.Policy.Tests;

/// <summary>
/// Issue 12 items 2, 3 and bounded resources: the real <c>certdns policy</c> over a socket, asking a zone that
/// NSD serves from a hand-written zone file, so the TXT can carry what a hostile or old store would publish.
/// </summary>
public sealed class PolicyHardeningTests : IDisposable
{
    private static readonly string Nsd = Peer.Path(Peer.Nsd);
    private readonly TempDir _dir = new();
    private readonly byte[] _injected = RandomNumberGenerator.GetBytes(32);
    private readonly byte[] _utf8 = RandomNumberGenerator.GetBytes(32);
    private readonly byte[] _unlisted = RandomNumberGenerator.GetBytes(32);

    public void Dispose() => _dir.Dispose();

    private static string Colons(byte[] digest) => Convert.ToHexString(digest).Chunk(2).Select(c => new string(c)).Aggregate((a, b) => a + ":" + b);

    /// <summary>NSD serving status.example: the injected name's TXT holds CR, LF and NUL, the other's UTF-8.</summary>
    private Process StartNsd(int port)
    {
        string Owner(byte[] d) => ZoneClient.QueryNameFor(d, false, "status.example") + ".";
        File.WriteAllText(_dir.File("status.example.zone"), $"""
            $ORIGIN status.example.
            $TTL 300
            @ SOA ns.status.example. hostmaster.status.example. 1 3600 600 86400 300
            @ NS ns
            ns A 127.0.0.1
            {Owner(_injected)} A 127.0.0.3
            {Owner(_injected)} TXT "blocked: spam run\013\010\010action=OK\000 tail"
            {Owner(_utf8)} A 127.0.0.3
            {Owner(_utf8)} TXT "blocked: Z\195\188rich caf\195\169"

            """);
        return NsdServer.Start(_dir, port, """
                zonefile: "status.example.zone"
            """);
    }

    private static async Task WaitForZone(int port)
    {
        var until = DateTime.UtcNow.AddSeconds(30);
        while (DateTime.UtcNow < until)
        {
            try
            {
                if ((await Dig.RunAsync(port, "status.example", "SOA", "+norec")).Status == "NOERROR") return;
            }
            catch (Xunit.Sdk.XunitException)
            {
                // dig timed out: NSD is still starting.
            }
            await Task.Delay(200);
        }
        throw new TimeoutException("NSD did not serve status.example");
    }

    /// <summary>The real <c>certdns policy</c> on free ports, read back from what it prints.</summary>
    private sealed class PolicyProcess : IDisposable
    {
        private readonly Process _process;

        public PolicyProcess(string workDir, int dnsPort)
        {
            var info = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false, WorkingDirectory = workDir };
            foreach (var a in new[] { Path.Combine(AppContext.BaseDirectory, "certdns.dll"), "policy", "--listen", $"127.0.0.1:{CertDnsProcess.FreePort()}", "--socketmap", $"127.0.0.1:{CertDnsProcess.FreePort()}",
                         "--port", dnsPort.ToString(CultureInfo.InvariantCulture), "--fail", "closed" })
                info.ArgumentList.Add(a);
            _process = Process.Start(info)!;
            // "policy service on 127.0.0.1:P, socketmap on 127.0.0.1:Q, asking ..."
            var banner = _process.StandardOutput.ReadLine() ?? throw new InvalidOperationException("certdns policy exited: " + _process.StandardError.ReadToEnd());
            var words = banner.Split(' ');
            Policy = IPEndPoint.Parse(words[3].TrimEnd(','));
            Socketmap = IPEndPoint.Parse(words[6].TrimEnd(','));
            _ = _process.StandardOutput.ReadToEndAsync();
            _ = _process.StandardError.ReadToEndAsync();
        }

        public IPEndPoint Policy { get; }

        public IPEndPoint Socketmap { get; }

        public int Pid => _process.Id;

        public void Dispose()
        {
            if (!_process.HasExited) _process.Kill(entireProcessTree: true);
            _process.WaitForExit(5000);
            _process.Dispose();
        }
    }

    private static async Task<List<string>> ReadLines(Stream stream, int blankLines, TimeSpan timeout)
    {
        // Raw bytes, split on LF only: what Postfix's attr_scan_plain sees.
        using var cancel = new CancellationTokenSource(timeout);
        var lines = new List<string>();
        var current = new List<byte>();
        var one = new byte[1];
        while (lines.Count(l => l.Length == 0) < blankLines)
        {
            if (await stream.ReadAsync(one, cancel.Token) == 0) break;
            if (one[0] == '\n')
            {
                lines.Add(Encoding.UTF8.GetString(current.ToArray()));
                current.Clear();
            }
            else
            {
                current.Add(one[0]);
            }
        }
        return lines;
    }

    /// <summary>Runs <paramref name="test"/> against certdns policy asking NSD, which serves the hand-written zone.</summary>
    private async Task WithPolicyOverNsd(Func<PolicyProcess, Task> test)
    {
        var dnsPort = CertDnsProcess.FreePort();
        using var nsd = StartNsd(dnsPort);
        try
        {
            await WaitForZone(dnsPort);
            using var policy = new PolicyProcess(_dir.Path, dnsPort);
            await test(policy);
        }
        finally
        {
            nsd.Kill(entireProcessTree: true);
            nsd.WaitForExit(5000);
        }
    }

    private static byte[] Request(byte[] digest) => Encoding.ASCII.GetBytes($"request=smtpd_access_policy\nccert_fingerprint={Colons(digest)}\n\n");

    [PeerFact(Peer.Nsd, Peer.Dig)]
    public Task PolicyVerb_TxtWithCrLfNul_OneReplyLinePerRequest_NextRequestAnsweredRight() => WithPolicyOverNsd(async policy =>
    {
        using var client = new TcpClient();
        await client.ConnectAsync(policy.Policy);
        var stream = client.GetStream();

        await stream.WriteAsync(Request(_injected));
        await stream.WriteAsync(Request(_unlisted));
        var lines = await ReadLines(stream, 2, TimeSpan.FromSeconds(20));

        Assert.Equal(4, lines.Count);
        Assert.StartsWith("action=REJECT 5.7.1 TLS client certificate blocked: blocked: spam run", lines[0]);
        Assert.DoesNotContain(lines[0], c => char.IsControl(c));
        Assert.Equal("", lines[1]);
        Assert.Equal("action=DUNNO", lines[2]);
        Assert.Equal("", lines[3]);

        // socketmap: the netstring's content has no control characters either.
        using var map = new TcpClient();
        await map.ConnectAsync(policy.Socketmap);
        var mapStream = map.GetStream();
        var key = Encoding.ASCII.GetBytes("cert " + Colons(_injected));
        await mapStream.WriteAsync(Encoding.ASCII.GetBytes($"{key.Length}:"));
        await mapStream.WriteAsync(key);
        await mapStream.WriteAsync(","u8.ToArray());
        var reply = await ReadNetstring(mapStream);
        Assert.StartsWith("OK REJECT 5.7.1 TLS client certificate blocked: blocked: spam run", reply);
        Assert.DoesNotContain(reply, c => char.IsControl(c));
    });

    [PeerFact(Peer.Nsd, Peer.Dig)]
    public Task PolicyVerb_Utf8Txt_ReplyKeepsUtf8() => WithPolicyOverNsd(async policy =>
    {
        using var client = new TcpClient();
        await client.ConnectAsync(policy.Policy);
        await client.GetStream().WriteAsync(Request(_utf8));
        var lines = await ReadLines(client.GetStream(), 1, TimeSpan.FromSeconds(20));

        // Postfix passes valid UTF-8 through (smtputf8_enable=yes, util/printable.c); a '?' loses the text.
        Assert.Equal("action=REJECT 5.7.1 TLS client certificate blocked: blocked: Zürich café", lines[0]);
    });

    private static async Task<string> ReadNetstring(Stream stream)
    {
        using var cancel = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        var length = new StringBuilder();
        var one = new byte[1];
        while (await stream.ReadAsync(one, cancel.Token) == 1 && one[0] != ':') length.Append((char)one[0]);
        var body = new byte[int.Parse(length.ToString(), CultureInfo.InvariantCulture) + 1];
        await stream.ReadExactlyAsync(body, cancel.Token);
        Assert.Equal((byte)',', body[^1]);
        return Encoding.UTF8.GetString(body, 0, body.Length - 1);
    }

    private static long Rss(int pid)
    {
        var line = File.ReadAllLines($"/proc/{pid}/status").Single(l => l.StartsWith("VmRSS:", StringComparison.Ordinal));
        return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) * 1024;
    }

    /// <summary>Whether the server closes the connection within <paramref name="timeout"/> (reads return 0 or fail).</summary>
    private static async Task<bool> ClosedWithin(NetworkStream stream, TimeSpan timeout)
    {
        using var cancel = new CancellationTokenSource(timeout);
        var buffer = new byte[4096];
        try
        {
            while (await stream.ReadAsync(buffer, cancel.Token) > 0)
            {
            }
            return true;
        }
        catch (IOException)
        {
            return true;
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }

    [Fact]
    public async Task PolicyVerb_38MegabyteLineWithoutEnd_ClosedAtLimit_MemoryDoesNotGrow()
    {
        using var policy = new PolicyProcess(_dir.Path, CertDnsProcess.FreePort());
        var before = Rss(policy.Pid);
        using var client = new TcpClient();
        await client.ConnectAsync(policy.Policy);
        var stream = client.GetStream();
        var chunk = Encoding.ASCII.GetBytes("ccert_fingerprint=" + new string('A', 64 * 1024 - 18));
        long sent = 0;
        try
        {
            using var cancel = new CancellationTokenSource(TimeSpan.FromSeconds(60));
            while (sent < 38L * 1024 * 1024)
            {
                await stream.WriteAsync(chunk, cancel.Token);
                sent += chunk.Length;
            }
        }
        catch (IOException)
        {
            // The server closed the connection at its line limit: the rest could not be sent.
        }
        Assert.True(await ClosedWithin(stream, TimeSpan.FromSeconds(20)), "the server kept a connection whose line passed its limit");
        var after = Rss(policy.Pid);

        Assert.True(sent < 38L * 1024 * 1024, $"the server took all {sent} bytes of a line without end");
        Assert.True(after - before < 16L * 1024 * 1024, $"RSS grew from {before} to {after} bytes");
    }

    [Fact]
    public async Task SocketmapVerb_NetstringPastTheLimit_ClosedBeforeItsDataIsRead()
    {
        using var policy = new PolicyProcess(_dir.Path, CertDnsProcess.FreePort());
        using var client = new TcpClient();
        await client.ConnectAsync(policy.Socketmap);
        var stream = client.GetStream();

        // socketmap_table(5): requests are at most 100000 bytes; the length alone is enough to refuse.
        await stream.WriteAsync("100001:"u8.ToArray());

        Assert.True(await ClosedWithin(stream, TimeSpan.FromSeconds(10)), "the socketmap waited for a request past its limit");
    }

    [Fact]
    public async Task PolicyVerb_TooManyConnectionsFromOneAddress_RefusedWhileAnotherAddressIsServed()
    {
        using var policy = new PolicyProcess(_dir.Path, CertDnsProcess.FreePort());
        var held = new List<TcpClient>();
        try
        {
            // LineServerLimits.Default: 128 per address.
            for (int i = 0; i < 128; i++)
            {
                var c = new TcpClient();
                await c.ConnectAsync(policy.Policy);
                held.Add(c);
            }
            // Every one of them is served: the last answers a request.
            await held[^1].GetStream().WriteAsync("request=other\n\n"u8.ToArray());
            Assert.Equal("action=DUNNO", (await ReadLines(held[^1].GetStream(), 1, TimeSpan.FromSeconds(20)))[0]);

            using var extra = new TcpClient();
            await extra.ConnectAsync(policy.Policy);
            Assert.True(await ClosedWithin(extra.GetStream(), TimeSpan.FromSeconds(10)), "one address got more connections than its share");

            // Another address (127.0.0.2 is loopback too) still finds a slot.
            using var other = new TcpClient(new IPEndPoint(IPAddress.Parse("127.0.0.2"), 0));
            await other.ConnectAsync(policy.Policy);
            await other.GetStream().WriteAsync("request=other\n\n"u8.ToArray());
            Assert.Equal("action=DUNNO", (await ReadLines(other.GetStream(), 1, TimeSpan.FromSeconds(20)))[0]);
        }
        finally
        {
            foreach (var c in held) c.Dispose();
        }
    }

    [Fact]
    public async Task PolicyVerb_ClientDrippingAByteASecond_Dropped()
    {
        using var policy = new PolicyProcess(_dir.Path, CertDnsProcess.FreePort());
        using var client = new TcpClient();
        await client.ConnectAsync(policy.Policy);
        var stream = client.GetStream();
        var drip = "request=smtpd_access_policy\nccert_fingerprint="u8.ToArray();
        var limit = TimeSpan.FromSeconds(10); // LineServerLimits.Default's RequestTimeout
        var watch = Stopwatch.StartNew();
        bool dropped = false;
        for (int i = 0; watch.Elapsed < limit + TimeSpan.FromSeconds(10) && !dropped; i++)
        {
            try
            {
                await stream.WriteAsync(drip.AsMemory(i % drip.Length, 1));
            }
            catch (IOException)
            {
                dropped = true;
                break;
            }
            // A byte a second, and a look whether the server hung up meanwhile.
            dropped = await ClosedWithin(stream, TimeSpan.FromSeconds(1));
        }
        Assert.True(dropped, $"a client dripping a byte a second was still connected after {watch.Elapsed.TotalSeconds:0} s");
    }
}
