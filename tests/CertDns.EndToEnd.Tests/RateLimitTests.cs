using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text.RegularExpressions;

namespace CertDns.EndToEnd.Tests;

/// <summary>
/// Response rate limiting and DNS cookies in the running server: the amplification a spoofed source could draw, and,
/// in a network namespace of the test's own, dig from many loopback sources (127.1.0.x, 127.2.0.x) and with cookies.
/// </summary>
public sealed partial class RateLimitTests : IDisposable
{
    private readonly TempDir _dir = new();
    private Netns? _netns;

    public void Dispose()
    {
        _netns?.Dispose();
        _dir.Dispose();
    }

    /// <summary>The demo's revoked certificate's TXT name: the largest answer the zone gives.</summary>
    private static string RevokedName(string stdout) => RevokedLine().Match(stdout) is { Success: true } m ? m.Groups[1].Value : throw new InvalidOperationException("no revoked demo certificate in: " + stdout);

    /// <summary>
    /// The defect (issue #14): 50,000 queries from one spoofable source were all answered, each TXT answer up to 4.5
    /// times its query. On a listener that answers the world (a wildcard bind) rate limiting is on by default: past
    /// the first second nothing goes out larger than what came in.
    /// </summary>
    [Fact]
    public void Serve_WildcardListener_OneSourceFloodDrawsNoAmplification()
    {
        using var server = CertDnsProcess.Serve(_dir.Path, "--demo", "--listen", "0.0.0.0:0");
        var wildcard = WildcardPort().Match(server.Output);
        Assert.True(wildcard.Success, server.Output);
        var target = new IPEndPoint(IPAddress.Loopback, int.Parse(wildcard.Groups[1].Value, CultureInfo.InvariantCulture));
        // The demo table is on stdout, the "serving" line on stderr: the table may still be on its way.
        var table = server.WaitForStdout(o => RevokedLine().IsMatch(o), "the demo's revoked certificate", TimeSpan.FromSeconds(30));
        var query = WireQuery.Build(RevokedName(table), WireQuery.Txt, ednsSize: 1232);

        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp) { ReceiveBufferSize = 8 << 20 };
        socket.Connect(target);
        // One answer first: the name is listed and its answer is the amplification the flood is after.
        socket.Send(query);
        Assert.True(socket.Poll(TimeSpan.FromSeconds(10), SelectMode.SelectRead));
        var buffer = new byte[65535];
        int single = socket.Receive(buffer);
        Assert.Equal(1, WireQuery.Count(buffer.AsSpan(0, single), 1));
        Assert.True(single > 2 * query.Length, $"a {single}-octet answer to a {query.Length}-octet query");

        const int count = 50_000;
        long bytesIn = 0, bytesOut = 0;
        int answers = 0;
        var receiver = new Thread(() =>
        {
            var into = new byte[65535];
            // The flood's answers, until none has come for two seconds (dropped ones never do).
            while (socket.Poll(TimeSpan.FromSeconds(2), SelectMode.SelectRead))
            {
                bytesOut += socket.Receive(into);
                answers++;
            }
        });
        receiver.Start();
        // Paced at 25,000 a second (batches of 100 every 4 ms), so that no socket buffer overflows and every answer
        // the server sends is counted: unpaced, the kernel drops half of them and hides the amplification.
        var clock = System.Diagnostics.Stopwatch.StartNew();
        for (int i = 0; i < count; i++)
        {
            if (i % 100 == 0)
            {
                while (clock.Elapsed < TimeSpan.FromMilliseconds(4.0 * i / 100)) Thread.SpinWait(100);
            }
            System.Buffers.Binary.BinaryPrimitives.WriteUInt16BigEndian(query, (ushort)i);
            bytesIn += socket.Send(query);
        }
        receiver.Join();

        Assert.True(answers < count, $"all {count} flooded queries were answered");
        Assert.True(bytesOut <= bytesIn, $"{bytesOut} octets out for {bytesIn} in ({(double)bytesOut / bytesIn:F2}x), {answers} answers");
    }

    private const string Config = """
        [rrl]
        enable = true
        responses-per-second = 5
        slip = 1
        window = 5
        [cookies]
        secret = "000102030405060708090a0b0c0d0e0f"
        """;

    private (string Name, Func<string, string> Run) StartInNamespace()
    {
        File.WriteAllText(_dir.File("certdns.toml"), Config);
        _netns = new Netns("certdns-rrl");
        _netns.Start(_dir.Path, "dotnet", Path.Combine(AppContext.BaseDirectory, "certdns.dll"), "serve", "--demo", "--config", _dir.File("certdns.toml"), "--listen", "127.0.0.1:53", "--metrics-listen", "127.0.0.1:9153");
        _netns.WaitForPort(53, TimeSpan.FromSeconds(60));
        _netns.WaitForPort(9153, TimeSpan.FromSeconds(60));
        var netns = _netns;
        return (RevokedNameFromStore(), script => netns.Run("bash", "-c", script).Output);
    }

    /// <summary>The server's /metrics, fetched inside the namespace with bash's /dev/tcp.</summary>
    private string Metrics() =>
        _netns!.Run("bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/9153; printf 'GET /metrics HTTP/1.0\\r\\nHost: localhost\\r\\n\\r\\n' >&3; cat <&3").Output;

    private static long Metric(string metrics, string sample) =>
        Regex.Match(metrics, "^" + Regex.Escape(sample) + @" (\d+)\r?$", RegexOptions.Multiline) is { Success: true } m
            ? long.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture) : throw new InvalidOperationException($"no {sample} in:\n{metrics}");

    /// <summary>The demo's revoked certificate, read back from the store the server seeded before it listened.</summary>
    private string RevokedNameFromStore()
    {
        var export = CertDnsProcess.Run(_dir.Path, "export", "--db", _dir.File("certdns.db"), "--output", _dir.File("zone.txt"));
        Assert.True(export.ExitCode == 0, export.Stderr);
        var zone = File.ReadAllText(_dir.File("zone.txt"));
        var match = ExportedRevoked().Match(zone);
        Assert.True(match.Success, zone);
        return match.Groups[1].Value + ".status.example";
    }

    [PeerFact(Peer.Dig, Peer.Netns)]
    public void Dig_ManyLoopbackSources_FloodedPrefixSlipped_OtherPrefixAndTcpAnswered()
    {
        var (name, run) = StartInNamespace();
        string Digs(string source, int count, string options) =>
            run($"for i in $(seq {count}); do dig @127.0.0.1 -b {source} +tries=1 +timeout=2 +noall +comments {options} {name} TXT; done");

        // Thirty queries from across one /24 at 5 a second: past the first few, every one slipped (TC=1, slip 1).
        var flood = run($"for i in $(seq 30); do dig @127.0.0.1 -b 127.1.0.$((i % 20 + 1)) +ignore +tries=1 +timeout=2 +noall +comments {name} TXT; done");
        int truncated = TcFlag().Matches(flood).Count;
        Assert.True(truncated >= 20, $"{truncated} of 30 flooded answers truncated:\n{flood}");
        // Slipped answers to a listed name say SERVFAIL, never an empty "not listed".
        Assert.DoesNotContain("status: NXDOMAIN", flood);

        // Another prefix meanwhile: answered in full.
        var other = Digs("127.2.0.1", 5, "+ignore");
        Assert.Empty(TcFlag().Matches(other));
        Assert.Equal(5, Regex.Matches(other, "status: NOERROR").Count);

        // The flooded prefix over TCP: never limited.
        var tcp = Digs("127.1.0.1", 10, "+tcp");
        Assert.Equal(10, Regex.Matches(tcp, "status: NOERROR").Count);

        // Every slip was counted; with slip 1 none was dropped.
        var metrics = Metrics();
        Assert.True(Metric(metrics, "certdns_rate_limit_slipped_total") >= truncated, metrics);
        Assert.Equal(0, Metric(metrics, "certdns_rate_limited_total"));
    }

    [PeerFact(Peer.Dig, Peer.Netns)]
    public void Dig_Cookie_LearnedAcceptedExemptAndBadOneAnswered()
    {
        var (name, run) = StartInNamespace();

        // dig +cookie sends a client cookie and prints the COOKIE the server answers with.
        var first = run($"dig @127.0.0.1 -b 127.1.0.9 +cookie +noall +comments {name} TXT");
        var cookie = CookieLine().Match(first);
        Assert.True(cookie.Success, first);
        var learned = cookie.Groups[1].Value;
        Assert.Equal(48, learned.Length);

        // Sent back, the cookie proves the address: forty queries at 5 a second are all answered in full.
        var proven = run($"for i in $(seq 40); do dig @127.0.0.1 -b 127.1.0.9 +ignore +tries=1 +timeout=2 +cookie={learned} +noall +comments {name} TXT; done");
        Assert.Empty(TcFlag().Matches(proven));
        Assert.Equal(40, Regex.Matches(proven, "status: NOERROR").Count);
        Assert.Contains("(good)", proven);

        // A bad server cookie with a question: answered as if it had none, with a fresh one (RFC 7873 section 5.2.4).
        var bad = learned[..16] + "01000000" + "00000000" + "deadbeefdeadbeef";
        var withQuestion = run($"dig @127.0.0.1 -b 127.2.0.9 +cookie={bad} +noall +comments {name} TXT");
        Assert.Contains("status: NOERROR", withQuestion);
        Assert.Matches(CookieLine(), withQuestion);
        // Without a question, only the cookie: BADCOOKIE (section 5.4); the good one gets NOERROR.
        var headerOnly = run($"dig @127.0.0.1 -b 127.2.0.9 +header-only +cookie={bad} +noall +comments");
        // dig retries a BADCOOKIE with the server cookie that came with it, and that one is accepted.
        Assert.Contains(";; BADCOOKIE, retrying.", headerOnly);
        Assert.Contains("status: NOERROR", headerOnly);
        var metrics = Metrics();
        Assert.True(Metric(metrics, "certdns_cookies_total{outcome=\"valid\"}") >= 40, metrics);
        Assert.True(Metric(metrics, "certdns_cookies_total{outcome=\"invalid\"}") >= 2, metrics);
        Assert.True(Metric(metrics, "certdns_cookies_total{outcome=\"client_only\"}") >= 1, metrics);
        var goodHeaderOnly = run($"dig @127.0.0.1 -b 127.1.0.9 +header-only +cookie={learned} +noall +comments");
        Assert.True(goodHeaderOnly.Contains("status: NOERROR", StringComparison.Ordinal), goodHeaderOnly);
    }

    [GeneratedRegex(@"serving \S+ from .* on .*0\.0\.0\.0:(\d+) \(udp, tcp\)")]
    private static partial Regex WildcardPort();

    [GeneratedRegex(@"^\s*revoked\s+\S+\s+dig .* (\S+) TXT$", RegexOptions.Multiline)]
    private static partial Regex RevokedLine();

    [GeneratedRegex(@"^([0-9a-f]{32}\.[0-9a-f]{32}) \d+ IN A 127\.0\.0\.2\r?$", RegexOptions.Multiline)]
    private static partial Regex ExportedRevoked();

    [GeneratedRegex(@"flags:[a-z ]*\btc\b")]
    private static partial Regex TcFlag();

    [GeneratedRegex(@"; COOKIE: ([0-9a-f]{48})")]
    private static partial Regex CookieLine();
}
