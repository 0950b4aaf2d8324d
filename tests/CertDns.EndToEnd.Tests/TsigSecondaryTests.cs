using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using CertDns.Core;

namespace CertDns.EndToEnd.Tests;

/// <summary>
/// TSIG (RFC 8945) with the three secondaries operators run: NSD, Knot and BIND transfer the zone signed with the key
/// certdns.toml gives them, and follow a signed NOTIFY whose signed acknowledgement certdns verifies. With the same key
/// name and another secret they get no zone, and their logs say why; certdns does not take their answer to its NOTIFY
/// as an acknowledgement.
/// </summary>
public sealed class TsigSecondaryTests : IDisposable
{
    private const string KeyName = "xfr.status.example";
    private readonly TempDir _dir = new();
    private readonly StatusScenario _scenario;
    private readonly string _secret = Convert.ToBase64String(RandomNumberGenerator.GetBytes(32));

    public TsigSecondaryTests() => _scenario = StatusScenario.Register(_dir, "Tsig Secondary Test CA");

    public void Dispose() => _dir.Dispose();

    /// <summary>certdns with one key, transfers from 127.0.0.1 only with it, and a signed NOTIFY to the secondary.</summary>
    private CertDnsProcess.Server Serve(int secondaryPort, params string[] more)
    {
        var config = _dir.File("certdns.toml");
        File.WriteAllText(config, string.Create(CultureInfo.InvariantCulture, $"""
            [server]
            poll = 0.3
            [[key]]
            name = "{KeyName}"
            algorithm = "hmac-sha256"
            secret = "{_secret}"
            [[transfer]]
            address = "127.0.0.1"
            key = "{KeyName}"
            [[notify]]
            address = "127.0.0.1:{secondaryPort}"
            key = "{KeyName}"
            """));
        if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(config, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        return CertDnsProcess.Serve(_dir.Path, ["--config", config, .. more]);
    }

    private static string OtherSecret() => Convert.ToBase64String(RandomNumberGenerator.GetBytes(32));

    private static uint Serial(DigResult soa) => uint.Parse(soa.SingleAnswer("SOA")[4].Split(' ')[2], CultureInfo.InvariantCulture);

    private static async Task WaitForSerial(int port, uint serial, Func<string> what)
    {
        var until = DateTime.UtcNow.AddSeconds(30);
        while (DateTime.UtcNow < until)
        {
            try
            {
                var soa = await Dig.RunAsync(port, "status.example", "SOA", "+norec");
                if (soa.Status == "NOERROR" && soa.Answer.Count == 1 && Serial(soa) == serial) return;
            }
            catch (Xunit.Sdk.XunitException)
            {
                // dig timed out: the secondary is still starting.
            }
            await Task.Delay(200);
        }
        throw new TimeoutException(what());
    }

    private static async Task WaitForLog(string path, Func<string, bool> done, string what)
    {
        var until = DateTime.UtcNow.AddSeconds(30);
        while (DateTime.UtcNow < until)
        {
            if (File.Exists(path) && done(File.ReadAllText(path))) return;
            await Task.Delay(200);
        }
        throw new TimeoutException($"{what}: {(File.Exists(path) ? File.ReadAllText(path) : "no log")}");
    }

    /// <summary>Good key: the secondary transfers, and follows a signed NOTIFY that certdns sees acknowledged.</summary>
    private async Task TransfersAndFollowsNotify(CertDnsProcess.Server certdns, int port, Func<string> log)
    {
        var serial = Serial(await Dig.RunAsync(certdns.Port, "status.example", "SOA"));
        await WaitForSerial(port, serial, () => "the secondary did not transfer the zone: " + log());
        var revoked = Hex.Lower(_scenario.Clients["revoked"].Parsed.Sha256);
        Assert.Equal("127.0.0.2", (await Dig.RunAsync(port, $"{revoked[..32]}.{revoked[32..]}.status.example", "A")).SingleAnswer("A")[4]);

        Assert.Equal(0, CertDnsProcess.Run(_dir.Path, "block", "valid.pem", "--reason", "abuse").ExitCode);
        // "notified" is logged only for an acknowledgement whose TSIG verified with the key.
        certdns.WaitFor($"notified 127.0.0.1:{port} (key {KeyName})", TimeSpan.FromSeconds(20));
        var newSerial = Serial(await Dig.RunAsync(certdns.Port, "status.example", "SOA"));
        await WaitForSerial(port, newSerial, () => "the secondary did not follow the signed NOTIFY: " + log());
        Assert.DoesNotContain("not acknowledged", certdns.Output);
    }

    /// <summary>Wrong secret: no zone at the secondary, its log says why, and the NOTIFY is not acknowledged.</summary>
    private async Task GetsNothing(CertDnsProcess.Server certdns, int port, string logPath, Func<string, bool> logSaysWhy)
    {
        await WaitForLog(logPath, logSaysWhy, "the secondary's log does not say the TSIG failed");
        // A change makes certdns NOTIFY the secondary, which cannot verify it.
        Assert.Equal(0, CertDnsProcess.Run(_dir.Path, "block", "valid.pem", "--reason", "abuse").ExitCode);
        certdns.WaitFor($"NOTIFY to 127.0.0.1:{port} (key {KeyName}) not acknowledged", TimeSpan.FromSeconds(30));
        var soa = await Dig.RunAsync(port, "status.example", "SOA", "+norec");
        Assert.NotEqual("NOERROR", soa.Status);
        Assert.Empty(soa.Answer);
        // The secondary refused the NOTIFY signed with a key it does not share, and certdns logged that refusal.
        Assert.Matches($@"NOTIFY to 127\.0\.0\.1:{port} \(key {KeyName}\) not acknowledged: answered NOTAUTH", certdns.Output);
    }

    private Process StartNsd(int port, int primary, string secret) => NsdServer.StartSecondary(_dir, port, primary, (KeyName, secret), axfrOnly: true);

    [PeerFact(Peer.Nsd, Peer.Dig)]
    public async Task Nsd_RightKey_TransfersAndFollowsSignedNotify()
    {
        var port = CertDnsProcess.FreePort();
        using var certdns = Serve(port);
        using var nsd = new Daemon(StartNsd(port, certdns.Port, _secret));

        await TransfersAndFollowsNotify(certdns, port, () => File.Exists(_dir.File("nsd.log")) ? File.ReadAllText(_dir.File("nsd.log")) : "");
    }

    [PeerFact(Peer.Nsd, Peer.Dig)]
    public async Task Nsd_WrongKey_GetsNoZone_LogSaysWhy()
    {
        var port = CertDnsProcess.FreePort();
        using var certdns = Serve(port);
        using var nsd = new Daemon(StartNsd(port, certdns.Port, OtherSecret()));

        await GetsNothing(certdns, port, _dir.File("nsd.log"), log => log.Contains("BADSIG", StringComparison.Ordinal) || log.Contains("bad tsig", StringComparison.OrdinalIgnoreCase));
    }

    private Process StartKnot(int port, int primary, string secret) =>
        KnotServer.Start(_dir, port, primary, new KnotServer.Key(KeyName, "hmac-sha256", secret));

    private string KnotLog => KnotServer.LogPath(_dir);

    [PeerFact(Peer.Knot, Peer.Dig)]
    public async Task Knot_RightKey_TransfersAndFollowsSignedNotify()
    {
        var port = CertDnsProcess.FreePort();
        using var certdns = Serve(port);
        using var knot = new Daemon(StartKnot(port, certdns.Port, _secret));

        await TransfersAndFollowsNotify(certdns, port, () => KnotServer.Log(_dir));
    }

    [PeerFact(Peer.Knot, Peer.Dig)]
    public async Task Knot_WrongKey_GetsNoZone_LogSaysWhy()
    {
        var port = CertDnsProcess.FreePort();
        using var certdns = Serve(port);
        using var knot = new Daemon(StartKnot(port, certdns.Port, OtherSecret()));

        await GetsNothing(certdns, port, KnotLog, log => log.Contains("BADSIG", StringComparison.OrdinalIgnoreCase) || log.Contains("TSIG", StringComparison.Ordinal));
    }

    [PeerFact(Peer.Knot, Peer.Dig)]
    public async Task Knot_KeyedTransferRuleOnly_FollowsAChangeByIxfr()
    {
        // Transfer access by a keyed [[transfer]] rule and no allow-transfer address: the journal must be kept for it
        // too (it is kept only when someone may transfer), or every change reaches Knot as the whole zone.
        var port = CertDnsProcess.FreePort();
        using var certdns = Serve(port, "--metrics-listen", "127.0.0.1:0");
        using var knot = new Daemon(StartKnot(port, certdns.Port, _secret));
        var serial = Serial(await Dig.RunAsync(certdns.Port, "status.example", "SOA"));
        await WaitForSerial(port, serial, () => "Knot did not transfer the zone: " + KnotServer.Log(_dir));
        int holding = KnotServer.Log(_dir).Length;

        Assert.Equal(0, CertDnsProcess.Run(_dir.Path, "block", "valid.pem", "--reason", "abuse").ExitCode);
        certdns.WaitFor($"notified 127.0.0.1:{port} (key {KeyName})", TimeSpan.FromSeconds(20));
        var newSerial = Serial(await Dig.RunAsync(certdns.Port, "status.example", "SOA"));
        Assert.NotEqual(serial, newSerial);
        await WaitForSerial(port, newSerial, () => "Knot did not follow the change: " + KnotServer.Log(_dir));

        var since = KnotServer.Log(_dir)[holding..];
        Assert.Contains("IXFR, incoming", since);
        Assert.DoesNotContain("AXFR, incoming", since);
        Assert.DoesNotContain("fallback to AXFR", since);
        var monitor = System.Text.RegularExpressions.Regex.Match(certdns.Output, @"metrics on (http://\S+)/metrics").Groups[1].Value;
        using var http = new HttpClient();
        var metrics = await http.GetStringAsync(monitor + "/metrics");
        Assert.Contains("certdns_ixfr_total{answer=\"whole\"} 0\n", metrics);
        Assert.DoesNotContain("certdns_ixfr_total{answer=\"incremental\"} 0\n", metrics);
        var valid = Hex.Lower(_scenario.Clients["valid"].Parsed.Sha256);
        Assert.Equal("127.0.0.3", (await Dig.RunAsync(port, $"{valid[..32]}.{valid[32..]}.status.example", "A")).SingleAnswer("A")[4]);
    }

    private string NamedDir => _dir.File("named");

    private Process StartNamed(int port, int primary, string secret) => NamedServer.Start(NamedDir, port, string.Create(CultureInfo.InvariantCulture, $$"""
        key "{{KeyName}}" { algorithm hmac-sha256; secret "{{secret}}"; };
        zone "status.example" {
            type secondary;
            primaries port {{primary}} { 127.0.0.1 key "{{KeyName}}"; };
            allow-notify { key "{{KeyName}}"; };
            file "status.example.db";
        };
        """));

    [PeerFact(Peer.Named, Peer.Dig)]
    public async Task Named_RightKey_TransfersAndFollowsSignedNotify()
    {
        var port = CertDnsProcess.FreePort();
        using var certdns = Serve(port);
        using var named = new Daemon(StartNamed(port, certdns.Port, _secret));
        var log = NamedServer.LogPath(NamedDir);

        await TransfersAndFollowsNotify(certdns, port, () => File.Exists(log) ? File.ReadAllText(log) : "");
    }

    [PeerFact(Peer.Named, Peer.Dig)]
    public async Task Named_WrongKey_GetsNoZone_LogSaysWhy()
    {
        var port = CertDnsProcess.FreePort();
        using var certdns = Serve(port);
        using var named = new Daemon(StartNamed(port, certdns.Port, OtherSecret()));

        await GetsNothing(certdns, port, NamedServer.LogPath(NamedDir), log => log.Contains("tsig indicates error", StringComparison.OrdinalIgnoreCase)
            || log.Contains("BADSIG", StringComparison.Ordinal));
    }

    [PeerFact(Peer.Dig)]
    public async Task Metrics_CountTsigOutcomes_NeverShowTheSecret()
    {
        using var certdns = Serve(CertDnsProcess.FreePort(), "--metrics-listen", "127.0.0.1:0");
        certdns.WaitFor("metrics on http://", TimeSpan.FromSeconds(30));
        var monitor = new Uri(System.Text.RegularExpressions.Regex.Match(certdns.Output, @"metrics on (http://\S+)/metrics").Groups[1].Value + "/");
        var revoked = Hex.Lower(_scenario.Clients["revoked"].Parsed.Sha256);
        var name = $"{revoked[..32]}.{revoked[32..]}.status.example";

        var good = await Dig.RunAsync(certdns.Port, name, "A", "-y", $"hmac-sha256:{KeyName}:{_secret}");
        var bad = await Dig.RunAsync(certdns.Port, name, "A", "-y", $"hmac-sha256:{KeyName}:{OtherSecret()}");
        using var http = new HttpClient();
        var metrics = await http.GetStringAsync(new Uri(monitor, "metrics"));
        var page = await http.GetStringAsync(monitor);

        Assert.Equal("NOERROR", good.Status);
        Assert.Equal("NOTAUTH", bad.Status);
        Assert.Contains("certdns_tsig_requests_total{result=\"signed\"} 1\n", metrics);
        Assert.Contains("certdns_tsig_requests_total{result=\"badsig\"} 1\n", metrics);
        Assert.DoesNotContain(_secret, metrics + page + certdns.Output);
    }
}
