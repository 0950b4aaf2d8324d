using CertDns.Store;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace CertDns.EndToEnd.Tests;

/// <summary>
/// serve as systemd runs it, through the real binary: READY=1 on the notify socket only once the port answers,
/// SIGHUP reloads instead of killing, SIGTERM stops cleanly within 5 s, and log lines with time and level on stderr.
/// </summary>
public sealed partial class ServeProcessTests : IDisposable
{
    private const int SigHup = 1, SigTerm = 15;
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task NotifySocket_ReadyArrives_OnlyOnceThePortAnswers()
    {
        var socketPath = _dir.File("notify.sock");
        using var notify = new Socket(AddressFamily.Unix, SocketType.Dgram, ProtocolType.Unspecified);
        notify.Bind(new UnixDomainSocketEndPoint(socketPath));
        // The port must be known before READY to ask it the moment READY comes: systemd's clients connect then.
        int port = CertDnsProcess.FreePort();
        using var server = CertDnsProcess.StartServer(_dir.Path, new Dictionary<string, string> { ["NOTIFY_SOCKET"] = socketPath },
            "serve", "--demo", "--listen", $"127.0.0.1:{port}");

        var messages = new List<string>();
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        var buffer = new byte[4096];
        while (!messages.Any(m => m.Split('\n').Contains("READY=1")))
        {
            int n = await notify.ReceiveAsync(buffer, SocketFlags.None, deadline.Token);
            messages.Add(Encoding.UTF8.GetString(buffer, 0, n));
        }
        Assert.True(await AnswersAsync(port), "READY=1 came but the port did not answer: " + server.Output);

        server.Signal(SigTerm);
        Assert.Equal(0, server.WaitForExit(TimeSpan.FromSeconds(5)));
        while (notify.Available > 0)
        {
            int n = notify.Receive(buffer);
            messages.Add(Encoding.UTF8.GetString(buffer, 0, n));
        }
        Assert.Contains(messages, m => m.Split('\n').Contains("STOPPING=1"));
    }

    [Fact]
    public async Task Sighup_RegressionTheSignalKilledTheServer_ReloadsAndKeepsServing()
    {
        using var server = CertDnsProcess.Serve(_dir.Path, "--demo");
        Assert.True(await AnswersAsync(server.Port));

        server.Signal(SigHup);
        server.WaitFor("reloaded: serial", TimeSpan.FromSeconds(30));

        Assert.False(server.HasExited, "SIGHUP ended the server: " + server.Output);
        Assert.True(await AnswersAsync(server.Port), "no answer after SIGHUP: " + server.Output);
    }

    [Fact]
    public async Task Sigterm_StopsCleanlyWithinFiveSeconds()
    {
        using var server = CertDnsProcess.Serve(_dir.Path, "--demo");
        Assert.True(await AnswersAsync(server.Port));

        var started = System.Diagnostics.Stopwatch.StartNew();
        server.Signal(SigTerm);
        var code = server.WaitForExit(TimeSpan.FromSeconds(5));

        Assert.True(code is not null, $"still running {started.Elapsed} after SIGTERM: {server.Output}");
        Assert.Equal(0, code);
        Assert.Contains("stopping", server.Output);
    }

    [Fact]
    public void Logs_GoToStderrWithTimeAndLevel_NotStdout()
    {
        using (CertStore.Open(_dir.File("certdns.db"))) { } // serve never creates a store (issue #12)
        using var server = CertDnsProcess.Serve(_dir.Path);
        var line = Assert.Single(server.Output.Split('\n'), l => l.Contains("serving status.example", StringComparison.Ordinal));

        Assert.Matches(LogLine(), line);
        Assert.DoesNotContain("serving", server.Stdout);
    }

    [Fact]
    public void Logs_Json_OneObjectPerLineWithTimestampAndLevel()
    {
        using (CertStore.Open(_dir.File("certdns.db"))) { } // serve never creates a store (issue #12)
        using var server = CertDnsProcess.Serve(_dir.Path, "--log-format", "json");
        var line = Assert.Single(server.Output.Split('\n'), l => l.Contains("serving status.example", StringComparison.Ordinal));

        using var json = JsonDocument.Parse(line);
        Assert.Equal("Information", json.RootElement.GetProperty("LogLevel").GetString());
        Assert.Matches(@"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$", json.RootElement.GetProperty("Timestamp").GetString());
        Assert.StartsWith("serving status.example", json.RootElement.GetProperty("Message").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public void Logs_UnderSystemd_JournalPriorityPrefix()
    {
        using (CertStore.Open(_dir.File("certdns.db"))) { } // serve never creates a store (issue #12)
        using var server = CertDnsProcess.Serve(_dir.Path, new Dictionary<string, string> { ["JOURNAL_STREAM"] = "8:12345" });
        var line = Assert.Single(server.Output.Split('\n'), l => l.Contains("serving status.example", StringComparison.Ordinal));

        // sd-daemon(3): <6> is LOG_INFO; the journal stamps the time itself.
        Assert.StartsWith("<6>", line, StringComparison.Ordinal);
    }

    [Fact]
    public void LogFormat_Unknown_OneLineExit1()
    {
        var result = CertDnsProcess.Run(_dir.Path, "serve", "--listen", "127.0.0.1:0", "--log-format", "xml");

        Assert.Equal(1, result.ExitCode);
        Assert.Equal("certdns: --log-format: must be text, json or journal", result.Stderr.Trim());
    }

    /// <summary>Whether the server answers an SOA query for the apex over UDP within a second.</summary>
    internal static async Task<bool> AnswersAsync(int port)
    {
        using var udp = new UdpClient(AddressFamily.InterNetwork);
        var query = WireQuery.Build("status.example", WireQuery.Soa, id: 0x4242);
        await udp.SendAsync(query, new IPEndPoint(IPAddress.Loopback, port));
        using var wait = new CancellationTokenSource(TimeSpan.FromSeconds(1));
        try
        {
            var reply = await udp.ReceiveAsync(wait.Token);
            return WireQuery.Id(reply.Buffer) == 0x4242 && WireQuery.Rcode(reply.Buffer) == 0;
        }
        catch (Exception e) when (e is OperationCanceledException or SocketException)
        {
            return false;
        }
    }

    [GeneratedRegex(@"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z info: ")]
    private static partial Regex LogLine();
}
