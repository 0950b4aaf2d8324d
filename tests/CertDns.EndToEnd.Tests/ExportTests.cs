using System.Diagnostics;
using System.Globalization;
using CertDns.Core;

namespace CertDns.EndToEnd.Tests;

/// <summary>`certdns export`: the zone file passes named-checkzone; the rbldnsd data, served by rbldnsd, answers as CertDns does.</summary>
public sealed class ExportTests : IDisposable
{
    private readonly TempDir _dir = new();
    private readonly StatusScenario _scenario;

    public ExportTests() => _scenario = StatusScenario.Register(_dir, "Export Test CA");

    public void Dispose() => _dir.Dispose();

    [PeerFact(Peer.NamedCheckzone)]
    public void Export_ZoneFile_PassesNamedCheckzone()
    {
        const string checker = "/usr/bin/named-checkzone";
        var result = CertDnsProcess.Run(_dir.Path, "export", "--output", "status.example.zone");
        Assert.True(result.ExitCode == 0, result.Stderr);
        var zone = File.ReadAllText(_dir.File("status.example.zone"));
        var hex = Hex.Lower(_scenario.Clients["revoked"].Parsed.Sha256);
        Assert.Contains($"{hex[..32]}.{hex[32..]} ", zone);
        Assert.Contains($"{hex[..32]}.{hex[32..]}.bl ", zone);
        Assert.DoesNotContain(hex + " ", zone); // never a 64-character label

        var check = Run(checker, "status.example", _dir.File("status.example.zone"));
        Assert.True(check.ExitCode == 0, check.Output);
        Assert.Contains("OK", check.Output);
    }

    [PeerFact(Peer.NamedCheckzone)]
    public void Export_ZoneFileAllForms_EveryFormOfEveryCertificatePassesNamedCheckzone()
    {
        var result = CertDnsProcess.Run(_dir.Path, "export", "--output", "status.example.zone", "--forms", "all");
        Assert.True(result.ExitCode == 0, result.Stderr);
        var zone = File.ReadAllText(_dir.File("status.example.zone"));
        foreach (var (name, client) in _scenario.Clients)
        {
            var cert = client.Parsed;
            var sha256 = Convert.ToHexStringLower(cert.Sha256);
            var key = Convert.ToHexStringLower(cert.SpkiSha256);
            string[] owners =
            [
                $"{sha256[..32]}.{sha256[32..]}", sha256[..56], Convert.ToHexStringLower(cert.Sha1), Convert.ToHexStringLower(cert.Md5),
                QueryNames.PerByte(cert.Sha1), QueryNames.PerByte(cert.Md5), $"{key[..32]}.{key[32..]}.key",
            ];
            foreach (var owner in owners)
            {
                // Each listed certificate's names in the combined view and the one view that shows its code.
                if (name == "unknown") Assert.DoesNotContain(owner, zone);
                else Assert.Contains($"\n{owner} ", zone.ReplaceLineEndings("\n"));
            }
        }

        var check = Run("/usr/bin/named-checkzone", "status.example", _dir.File("status.example.zone"));
        Assert.True(check.ExitCode == 0, check.Output);
        Assert.Contains("OK", check.Output);
    }

    [PeerFact(Peer.Rbldnsd, Peer.Dig)]
    public async Task Export_Rbldnsd_ServedByRbldnsdAnswersLikeCertdns()
    {
        var rbldnsd = Peer.Path(Peer.Rbldnsd);
        Assert.Equal(0, CertDnsProcess.Run(_dir.Path, "export", "--format", "rbldnsd", "--output", "rbl").ExitCode);
        using var certdns = CertDnsProcess.Serve(_dir.Path);
        var port = CertDnsProcess.FreePort();
        var info = new ProcessStartInfo(rbldnsd) { UseShellExecute = false, RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (var a in new[] { "-n", "-b", $"127.0.0.1/{port}", "-w", _dir.Path, "-t", "300",
                     "status.example:dnset:rbl.combined", "bl.status.example:dnset:rbl.bl", "wl.status.example:dnset:rbl.wl" })
            info.ArgumentList.Add(a);
        using var process = Process.Start(info)!;
        try
        {
            var until = DateTime.UtcNow.AddSeconds(20);
            while ((await Dig.RunAsync(port, "test.status.example", "A")).Answer.Count == 0 && DateTime.UtcNow < until) await Task.Delay(200);

            var peer = new PeerAnswers(certdns.Port, "rbldnsd", port);
            foreach (var (name, client) in _scenario.Clients)
            {
                var hex = Hex.Lower(client.Parsed.Sha256);
                foreach (var view in PeerAnswers.Views) await peer.SameA($"{hex[..32]}.{hex[32..]}.{view}status.example", name);
                if (name != "unknown") await peer.SameTxt($"{hex[..32]}.{hex[32..]}.status.example");
            }
        }
        finally
        {
            process.Kill();
            process.WaitForExit(5000);
        }
    }

    private static (int ExitCode, string Output) Run(params string[] args)
    {
        var info = new ProcessStartInfo(args[0]) { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args[1..]) info.ArgumentList.Add(a);
        using var p = Process.Start(info)!;
        var output = p.StandardOutput.ReadToEnd() + p.StandardError.ReadToEnd();
        p.WaitForExit();
        return (p.ExitCode, output);
    }
}

