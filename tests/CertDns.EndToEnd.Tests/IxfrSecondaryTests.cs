using System.Diagnostics;
using System.Globalization;
using CertDns.Core;
using CertDns.Pki;

namespace CertDns.EndToEnd.Tests;

/// <summary>
/// Issue 14, IXFR with a journal: NSD, Knot and BIND hold the zone by AXFR, then follow several changes at the primary
/// (a block, a new certificate, a CRL ingest) by IXFR alone, their logs say so with no fallback to AXFR, and they answer
/// every name of the scenario as CertDns does; also with CertDns restarted between the changes.
/// </summary>
public sealed class IxfrSecondaryTests : IDisposable
{
    private readonly TempDir _dir = new();
    private readonly StatusScenario _scenario;

    public IxfrSecondaryTests() => _scenario = StatusScenario.Register(_dir, "Ixfr Test CA");

    public void Dispose() => _dir.Dispose();

    /// <summary>How each secondary is started, and the log lines that tell an incremental transfer from a whole one.</summary>
    private sealed record Secondary(string Name, Func<TempDir, int, int, Process> Start, string Log, string[] Incremental, string[] Whole);

    private static readonly Secondary Nsd = new("NSD", (dir, port, primary) => NsdServer.StartSecondary(dir, port, primary), "nsd.log",
        // NSD 4.6 does not name the type of the transfer it committed (at any verbosity): CertDns's count says it.
        [], ["AXFR", "ixfr failed", "fallback"]);

    private static readonly Secondary Knot = new("Knot", (dir, port, primary) => KnotServer.Start(dir, port, primary), "knot/knot.log", ["IXFR, incoming"], ["AXFR, incoming", "fallback to AXFR"]);

    private static readonly Secondary Bind = new("BIND", (dir, port, primary) => NamedServer.Start(dir, port, string.Create(CultureInfo.InvariantCulture, $$"""
            zone "status.example" {
                type secondary;
                primaries { 127.0.0.1 port {{primary}}; };
                file "secondary.db";
                allow-notify { 127.0.0.1; };
                request-ixfr yes;
            };
            """)), "named/named.log",
        // At debug 3 BIND says which answer it got.
        ["got incremental response"], ["got nonincremental response", "failed while receiving responses", "retrying with AXFR"]);

    [PeerFact(Peer.Nsd, Peer.Dig)]
    public Task Nsd_ChangesAtPrimary_FollowsByIxfrOnly_AnswersAsCertdns() => FollowByIxfr(Nsd, restart: false);

    [PeerFact(Peer.Knot, Peer.Dig)]
    public Task Knot_ChangesAtPrimary_FollowsByIxfrOnly_AnswersAsCertdns() => FollowByIxfr(Knot, restart: false);

    [PeerFact(Peer.Named, Peer.Dig)]
    public Task Bind_ChangesAtPrimary_FollowsByIxfrOnly_AnswersAsCertdns() => FollowByIxfr(Bind, restart: false);

    [PeerFact(Peer.Knot, Peer.Dig)]
    public Task Knot_CertdnsRestartedBetweenChanges_StillFollowsByIxfr() => FollowByIxfr(Knot, restart: true);

    [PeerFact(Peer.Nsd, Peer.Dig)]
    public Task Nsd_CertdnsRestartedBetweenChanges_StillFollowsByIxfr() => FollowByIxfr(Nsd, restart: true);

    [Theory]
    [InlineData("--journal-max-size=-1", "--journal-max-size: must not be negative")]
    [InlineData("--journal-max-age=0", "--journal-max-age: must be above 0")]
    public void Serve_BadJournalBound_OneLineExit1(string flag, string reason)
    {
        var result = CertDnsProcess.Run(_dir.Path, "serve", "--listen", "127.0.0.1:0", flag);

        Assert.Equal(1, result.ExitCode);
        Assert.StartsWith("certdns: " + reason, Assert.Single(result.Stderr.Trim().Split('\n')), StringComparison.Ordinal);
    }

    private async Task FollowByIxfr(Secondary secondary, bool restart)
    {
        // The secondary must find the primary at the same port after a restart: a port picked here, not 0.
        int primaryPort = CertDnsProcess.FreePort(), port = CertDnsProcess.FreePort();
        string[] serve = ["--listen", $"127.0.0.1:{primaryPort}", "--allow-transfer", "127.0.0.1", "--notify", $"127.0.0.1:{port}", "--poll", "0.3", "--metrics-listen", "127.0.0.1:0"];
        var certdns = CertDnsProcess.Serve(_dir.Path, serve);
        try
        {
            using var daemon = new Daemon(secondary.Start(_dir, port, primaryPort));
            var log = _dir.File(secondary.Log);
            string Log() => File.Exists(log) ? File.ReadAllText(log) : "";
            var initial = await Serial(certdns.Port);
            await WaitForSerial(port, initial, () => $"{secondary.Name} did not transfer the zone: {Log()}");
            int holding = Log().Length;
            var atStart = await IxfrAnswers(certdns);

            // Change 1: a block.
            Run("block", "valid.pem", "--reason", "abuse");
            var first = await WaitForChange(certdns.Port, initial);
            await WaitForSerial(port, first, () => $"{secondary.Name} did not follow the block: {Log()}");
            if (restart)
            {
                certdns.Dispose();
                certdns = CertDnsProcess.Serve(_dir.Path, serve);
                Assert.Equal(first, await Serial(certdns.Port));
                atStart = (0, 0);
            }
            // Change 2: a certificate registered; change 3: a CRL that takes the hold back and revokes the valid one.
            Run("certs", "add", "unknown.pem");
            var second = await WaitForChange(certdns.Port, first);
            var now = DateTimeOffset.UtcNow;
            File.WriteAllBytes(_dir.File("crl2.der"), _scenario.Ca.CreateCrl(2, now.AddMinutes(-1), now.AddDays(7),
            [
                (_scenario.Clients["revoked"].Parsed.Serial, now.AddHours(-1), RevocationReason.KeyCompromise),
                (_scenario.Clients["valid"].Parsed.Serial, now.AddMinutes(-2), RevocationReason.KeyCompromise),
            ]));
            Run("crl", "ingest", "crl2.der");
            var last = await WaitForChange(certdns.Port, second);
            await WaitForSerial(port, last, () => $"{secondary.Name} did not follow the changes: {Log()}");

            var since = Log()[holding..];
            var (incremental, whole) = await IxfrAnswers(certdns);
            Assert.True(whole == atStart.Whole && incremental > atStart.Incremental,
                $"certdns answered {incremental - atStart.Incremental} IXFR incrementally, {whole - atStart.Whole} with the whole zone\n{since}");
            Assert.True(secondary.Incremental.Length == 0 || secondary.Incremental.Any(since.Contains), $"{secondary.Name} logged no IXFR:\n{since}");
            Assert.False(secondary.Whole.Any(w => since.Contains(w, StringComparison.OrdinalIgnoreCase)), $"{secondary.Name} fell back to AXFR:\n{since}");
            var peer = new PeerAnswers(certdns.Port, secondary.Name, port);
            foreach (var (name, client) in _scenario.Clients)
            {
                var hex = Hex.Lower(client.Parsed.Sha256);
                foreach (var view in PeerAnswers.Views) await peer.SameA($"{hex[..32]}.{hex[32..]}.{view}status.example", name);
                await peer.SameTxt($"{hex[..32]}.{hex[32..]}.status.example");
            }
        }
        finally
        {
            certdns.Dispose();
        }
    }

    /// <summary>CertDns's own count of IXFR answers (certdns_ixfr_total): from the journal, and with the whole zone.</summary>
    private static async Task<(long Incremental, long Whole)> IxfrAnswers(CertDnsProcess.Server certdns)
    {
        var at = System.Text.RegularExpressions.Regex.Match(certdns.Output, @"metrics on (http://\S+)/metrics");
        Assert.True(at.Success, certdns.Output);
        using var http = new HttpClient();
        var text = await http.GetStringAsync(at.Groups[1].Value + "/metrics");
        long Count(string answer) => long.Parse(System.Text.RegularExpressions.Regex.Match(text, $"certdns_ixfr_total\\{{answer=\"{answer}\"\\}} (\\d+)").Groups[1].Value, CultureInfo.InvariantCulture);
        return (Count("incremental"), Count("whole"));
    }

    private void Run(params string[] args)
    {
        var result = CertDnsProcess.Run(_dir.Path, args);
        Assert.True(result.ExitCode == 0, $"certdns {string.Join(' ', args)}: {result.Stderr}");
    }

    private static async Task<uint> Serial(int port) =>
        uint.Parse((await Dig.RunAsync(port, "status.example", "SOA")).SingleAnswer("SOA")[4].Split(' ')[2], CultureInfo.InvariantCulture);

    /// <summary>Waits until CertDns serves a serial other than <paramref name="was"/> (it reloaded the write), and returns it.</summary>
    private static async Task<uint> WaitForChange(int port, uint was)
    {
        var until = DateTime.UtcNow.AddSeconds(30);
        uint serial;
        while ((serial = await Serial(port)) == was)
        {
            if (DateTime.UtcNow > until) throw new TimeoutException($"certdns still serves serial {was}");
            await Task.Delay(100);
        }
        return serial;
    }

    /// <summary>Waits until the secondary at <paramref name="port"/> serves <paramref name="serial"/>.</summary>
    private static async Task WaitForSerial(int port, uint serial, Func<string> what)
    {
        var until = DateTime.UtcNow.AddSeconds(30);
        while (DateTime.UtcNow < until)
        {
            try
            {
                var soa = await Dig.RunAsync(port, "status.example", "SOA", "+norec");
                if (soa.Status == "NOERROR" && soa.Answer.Count == 1 && uint.Parse(soa.Answer[0][4].Split(' ')[2], CultureInfo.InvariantCulture) == serial) return;
            }
            catch (Xunit.Sdk.XunitException)
            {
                // dig timed out: the secondary is still starting.
            }
            await Task.Delay(200);
        }
        throw new TimeoutException(what());
    }
}
