using System.Net;
using System.Net.Sockets;

namespace CertDns.EndToEnd.Tests;

/// <summary>
/// SIGHUP re-reads <c>--config</c> in the real binary (issue #13): an edited zone identity is served at once under a
/// newer serial and NOTIFYed to a secondary the edit added, a typed flag keeps winning, a restart key is reported, and a
/// bad edit is refused on the log and the status page while the answers stay as they were.
/// </summary>
public sealed class ConfigReloadTests : IDisposable
{
    private const int SigHup = 1;
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(30);
    private readonly TempDir _dir = new();
    private readonly HttpClient _http = new() { Timeout = TimeSpan.FromSeconds(10) };

    public void Dispose()
    {
        _http.Dispose();
        _dir.Dispose();
    }

    private string ConfigPath => _dir.File("certdns.toml");

    private void Edit(string from, string to)
    {
        var text = File.ReadAllText(ConfigPath);
        Assert.Contains(from, text, StringComparison.Ordinal);
        File.WriteAllText(ConfigPath, text.Replace(from, to, StringComparison.Ordinal));
    }

    private static int Count(string text, string what)
    {
        int n = 0;
        for (int at = text.IndexOf(what, StringComparison.Ordinal); at >= 0; at = text.IndexOf(what, at + what.Length, StringComparison.Ordinal)) n++;
        return n;
    }

    /// <summary>Sends SIGHUP and waits for the configuration's outcome line (the n-th of its kind).</summary>
    private static void Hangup(CertDnsProcess.Server server, string outcome, int nth)
    {
        server.Signal(SigHup);
        var until = DateTime.UtcNow + Deadline;
        while (Count(server.Output, outcome) < nth)
        {
            Assert.False(server.HasExited, "SIGHUP ended the server: " + server.Output);
            if (DateTime.UtcNow > until) throw new TimeoutException($"no '{outcome}' after SIGHUP: {server.Output}");
            Thread.Sleep(50);
        }
    }

    private static async Task<string[]> SoaAsync(int port)
    {
        var soa = Assert.Single((await Dig.RunAsync(port, "status.example", "SOA")).Answer);
        return soa[4].Split(' ');
    }

    [PeerFact(Peer.Dig)]
    public async Task Sighup_EditedConfig_LiveKeysServedRestartKeyReportedBadEditRefused()
    {
        using var secondary = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        secondary.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        File.WriteAllText(ConfigPath, $"""
            [store]
            path = "{_dir.File("certdns.db")}"
            [zone]
            name = "status.example"
            ns = ["ns1.status.example"]
            soa-contact = "first@example.org"
            [zone.glue]
            "ns1.status.example" = ["192.0.2.1"]
            [zone.soa]
            minimum = 30
            [server]
            notify = []
            """);
        // --negative-ttl is typed: the file's zone.soa.minimum must not win over it, before or after a reload.
        using var server = CertDnsProcess.Serve(_dir.Path, "--config", ConfigPath, "--demo", "--negative-ttl", "17", "--metrics-listen", "127.0.0.1:0");
        server.WaitFor("metrics on http://", Deadline);
        var monitor = new Uri(System.Text.RegularExpressions.Regex.Match(server.Output, @"metrics on (http://127\.0\.0\.1:\d+/)metrics").Groups[1].Value);
        var before = await SoaAsync(server.Port);
        Assert.Equal(["ns1.status.example.", "first.example.org.", before[2], "3600", "600", "604800", "17"], before);

        // A new name server and contact, a secondary to tell, the file's minimum, and a key only a restart takes.
        Edit("ns1.status.example", "ns2.status.example");
        Edit("first@example.org", "second@example.org");
        Edit("minimum = 30", "minimum = 45");
        Edit("notify = []", $"notify = [\"{secondary.LocalEndPoint}\"]\nudp-threads = 1");
        Hangup(server, "configuration reloaded from", 1);

        var after = await SoaAsync(server.Port);
        Assert.Equal(["ns2.status.example.", "second.example.org."], after[..2]);
        Assert.Equal("17", after[6]);
        Assert.True(uint.Parse(after[2], System.Globalization.CultureInfo.InvariantCulture) > uint.Parse(before[2], System.Globalization.CultureInfo.InvariantCulture),
            $"the serial did not advance: {before[2]} -> {after[2]}");
        var ns = await Dig.RunAsync(server.Port, "status.example", "NS");
        Assert.Equal("ns2.status.example.", Assert.Single(ns.Answer)[4]);
        var glue = await Dig.RunAsync(server.Port, "ns2.status.example", "A");
        Assert.Equal("192.0.2.1", Assert.Single(glue.Answer)[4]);
        Assert.Contains("server.udp-threads changed to 1: needs a restart", server.Output, StringComparison.Ordinal);
        // The added secondary hears of the new serial: RFC 1996 NOTIFY, opcode 4, for the zone.
        var notify = new byte[512];
        using (var wait = new CancellationTokenSource(Deadline))
        {
            int n = await secondary.ReceiveAsync(notify, SocketFlags.None, wait.Token);
            Assert.True(n > 12);
        }
        Assert.Equal(4, (notify[2] >> 3) & 0xF);

        // A bad edit: refused with its line, and every answer stays as it was.
        Edit("minimum = 45", "minimum = 45\nbogus = 1");
        Hangup(server, "reload of the configuration refused", 1);

        Assert.Contains($"{ConfigPath}:11: zone.soa.bogus: unknown key", server.Output, StringComparison.Ordinal);
        Assert.Equal(after, await SoaAsync(server.Port));
        Assert.Equal("ns2.status.example.", Assert.Single((await Dig.RunAsync(server.Port, "status.example", "NS")).Answer)[4]);
        var page = await _http.GetStringAsync(monitor);
        Assert.Contains("zone.soa.bogus: unknown key", page, StringComparison.Ordinal);
        Assert.False(server.HasExited);
    }
}
