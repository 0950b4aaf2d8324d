using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;
using CertDns.Core;

namespace CertDns.EndToEnd.Tests;

/// <summary>
/// Issue 15, secondaries, through the program: with zone.dnssec on, the AXFR `serve` gives is a signed zone that
/// ldns-verify-zone accepts; NSD takes it, and a validating Unbound (trust anchor from `certdns dnssec dnskey`)
/// resolving through NSD gets AD for a revoked, a valid and an unknown name; after `certdns block` and a new
/// certificate NSD catches up (the second change by IXFR) and the new answers validate.
/// </summary>
public sealed class SignedSecondaryTests : IDisposable
{
    private readonly TempDir _dir = new();
    private readonly StatusScenario _scenario;
    private readonly string _keys, _anchor, _config;

    public SignedSecondaryTests()
    {
        _scenario = StatusScenario.Register(_dir, "Signed Secondary CA");
        _keys = _dir.File("status.example.keys");
        _anchor = _dir.File("anchor");
        _config = _dir.File("certdns.toml");
        Run("--zone", "status.example", "dnssec", "keygen", "--keys", _keys);
        File.WriteAllText(_anchor, Run("dnssec", "dnskey", "--keys", _keys));
        File.WriteAllText(_config, $"[zone]\nname = \"status.example\"\ndnssec = true\ndnssec-keys = \"{_keys}\"\n");
    }

    public void Dispose() => _dir.Dispose();

    private string Name(string client, string view = "")
    {
        var hex = Hex.Lower(_scenario.Clients[client].Parsed.Sha256);
        return $"{hex[..32]}.{hex[32..]}{view}.status.example";
    }

    [PeerFact(Peer.Nsd, Peer.Unbound, Peer.Dig, Peer.LdnsVerifyZone)]
    public async Task Nsd_SignedZone_VerifiesValidatesThroughUnbound_AndFollowsChanges()
    {
        int nsdPort = CertDnsProcess.FreePort();
        using var certdns = CertDnsProcess.Serve(_dir.Path, "--config", _config, "--allow-transfer", "127.0.0.1", "--notify", $"127.0.0.1:{nsdPort}",
            "--poll", "0.3", "--metrics-listen", "127.0.0.1:0");
        await VerifyAxfr(certdns.Port);
        using var nsd = new Daemon(NsdServer.StartSecondary(_dir, nsdPort, certdns.Port, provideXfr: true));
        var initial = await Serial(certdns.Port);
        await WaitForSerial(nsdPort, initial);
        using var unbound = ValidatingUnbound.Start(_dir, "nsd", nsdPort, _anchor);

        await Validates(unbound.Port, Name("revoked"), "127.0.0.2");
        await Validates(unbound.Port, Name("valid"), "127.0.1.2");
        var unknown = await Dig.RunAsync(unbound.Port, $"{new string('a', 32)}.{new string('b', 32)}.status.example", "A", "+rec", "+dnssec");
        Assert.True(unknown.Status == "NXDOMAIN" && unknown.Flags.Contains("ad"), "an unknown name is proven absent through NSD (NSEC3)\n" + unknown.Output);

        // Change 1 (the first the signer sees: the journal starts afresh, NSD transfers whole); change 2 by IXFR.
        Run("block", "valid.pem", "--reason", "abuse");
        var first = await WaitForChange(certdns.Port, initial);
        await WaitForSerial(nsdPort, first);
        var before = await IxfrAnswers(certdns);
        Run("certs", "add", "unknown.pem");
        var second = await WaitForChange(certdns.Port, first);
        await WaitForSerial(nsdPort, second);
        Assert.True((await IxfrAnswers(certdns)) > before, "NSD followed the second change by IXFR");

        await Validates(unbound.Port, Name("valid", ".bl"), "127.0.0.3");
        await Validates(unbound.Port, Name("unknown"), "127.0.1.2");
        var gone = await Dig.RunAsync(unbound.Port, Name("valid", ".wl"), "A", "+rec", "+dnssec");
        Assert.True(gone.Status == "NXDOMAIN" && gone.Flags.Contains("ad"), "a blocked certificate is proven gone from wl\n" + gone.Output);
        // What NSD holds after the IXFR is the complete signed zone still.
        await VerifyAxfr(nsdPort);
    }

    /// <summary>ldns-verify-zone over the AXFR from <paramref name="port"/> (CertDns or the NSD), at the real time.</summary>
    private async Task VerifyAxfr(int port)
    {
        var axfr = await Dig.RunRawAsync(port, "status.example", "AXFR", "+tcp", "+time=10", "+onesoa");
        var file = _dir.File($"axfr-{port}.zone");
        File.WriteAllLines(file, axfr.Split('\n').Where(l => l.Length > 0 && !l.StartsWith(';')));
        var info = new ProcessStartInfo(Peer.Path(Peer.LdnsVerifyZone)) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in new[] { "-V", "3", file }) info.ArgumentList.Add(a);
        using var process = Process.Start(info)!;
        var output = await process.StandardOutput.ReadToEndAsync() + await process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        Assert.True(process.ExitCode == 0 && output.Contains("Zone is verified and complete", StringComparison.Ordinal), output);
        Assert.Contains("NSEC3PARAM", axfr, StringComparison.Ordinal);
    }

    private static async Task Validates(int port, string name, string address)
    {
        var answer = await Dig.RunAsync(port, name, "A", "+rec", "+dnssec");
        Assert.True(answer.Status == "NOERROR" && answer.Flags.Contains("ad"), $"{name}: {answer.Status} {string.Join(' ', answer.Flags)}\n{answer.Output}");
        Assert.Equal(address, answer.SingleAnswer("A")[4]);
    }

    private string Run(params string[] args)
    {
        var result = CertDnsProcess.Run(_dir.Path, args);
        Assert.True(result.ExitCode == 0, $"certdns {string.Join(' ', args)}: {result.Stderr}");
        return result.Stdout;
    }

    private static async Task<long> IxfrAnswers(CertDnsProcess.Server certdns)
    {
        var at = Regex.Match(certdns.Output, @"metrics on (http://\S+)/metrics");
        Assert.True(at.Success, certdns.Output);
        using var http = new HttpClient();
        var text = await http.GetStringAsync(at.Groups[1].Value + "/metrics");
        return long.Parse(Regex.Match(text, "certdns_ixfr_total\\{answer=\"incremental\"\\} (\\d+)").Groups[1].Value, CultureInfo.InvariantCulture);
    }

    private static async Task<uint> Serial(int port) =>
        uint.Parse((await Dig.RunAsync(port, "status.example", "SOA")).SingleAnswer("SOA")[4].Split(' ')[2], CultureInfo.InvariantCulture);

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

    private async Task WaitForSerial(int port, uint serial)
    {
        var until = DateTime.UtcNow.AddSeconds(30);
        while (DateTime.UtcNow < until)
        {
            var info = new ProcessStartInfo(Dig.Path!) { RedirectStandardOutput = true, RedirectStandardError = true };
            foreach (var a in new[] { "@127.0.0.1", "-p", port.ToString(CultureInfo.InvariantCulture), "status.example", "SOA", "+short", "+time=1", "+tries=1" }) info.ArgumentList.Add(a);
            using var dig = Process.Start(info)!;
            var output = await dig.StandardOutput.ReadToEndAsync();
            await dig.WaitForExitAsync();
            if (uint.TryParse(output.Split(' ', StringSplitOptions.RemoveEmptyEntries).ElementAtOrDefault(2), CultureInfo.InvariantCulture, out var held) && held == serial) return;
            await Task.Delay(100);
        }
        var log = _dir.File("nsd.log");
        Assert.Fail($"NSD did not reach serial {serial}\n{(File.Exists(log) ? File.ReadAllText(log) : "")}");
    }
}
