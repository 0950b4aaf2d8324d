using System.Diagnostics;
using System.Globalization;
using CertDns.Core;
using CertDns.Pki;

namespace CertDns.EndToEnd.Tests;

/// <summary>
/// NSD (and Knot) as a secondary of CertDns: it transfers the zone (AXFR, allowed to 127.0.0.1 only) and answers the same
/// codes; after an ingest CertDns sends NOTIFY, NSD refreshes, and its SOA serial and answers follow.
/// </summary>
public sealed class SecondaryTests : IDisposable
{
    private static readonly string Nsd = Peer.Path(Peer.Nsd);
    private readonly TempDir _dir = new();
    private readonly StatusScenario _scenario;

    public SecondaryTests() => _scenario = StatusScenario.Register(_dir, "Secondary Test CA");

    public void Dispose() => _dir.Dispose();

    private Process StartNsd(int port, int primary) => NsdServer.StartSecondary(_dir, port, primary, axfrOnly: true);

    private static async Task<string> Wait(int port, string name, Func<DigResult, bool> done, string what)
    {
        var until = DateTime.UtcNow.AddSeconds(30);
        DigResult? last = null;
        while (DateTime.UtcNow < until)
        {
            try
            {
                last = await Dig.RunAsync(port, name, "SOA", "+norec");
                if (done(last)) return last.Output;
            }
            catch (Xunit.Sdk.XunitException)
            {
                // dig timed out: NSD is still starting.
            }
            await Task.Delay(300);
        }
        throw new TimeoutException($"{what}: {last?.Output}");
    }

    /// <summary>Waits until the server at <paramref name="port"/> serves the zone at <paramref name="serial"/>.</summary>
    private static Task<string> WaitForSerial(int port, uint serial, string what) =>
        Wait(port, "status.example", r => r.Status == "NOERROR" && r.Answer.Count == 1 && Serial(r) == serial, what);

    private static async Task WaitForA(int port, string name, string address, string what)
    {
        var until = DateTime.UtcNow.AddSeconds(30);
        DigResult last;
        do
        {
            last = await Dig.RunAsync(port, name, "A");
            if (last.Answer.Count == 1 && last.Answer[0][4] == address) return;
            await Task.Delay(100);
        }
        while (DateTime.UtcNow < until);
        throw new TimeoutException($"{what}: {last.Output}");
    }

    private static uint Serial(DigResult soa) => uint.Parse(soa.SingleAnswer("SOA")[4].Split(' ')[2], CultureInfo.InvariantCulture);

    [PeerFact(Peer.Nsd, Peer.Dig)]
    public async Task Nsd_TransfersZone_AnswersSame_AndFollowsNotify()
    {
        var nsdPort = CertDnsProcess.FreePort();
        using var certdns = CertDnsProcess.Serve(_dir.Path, "--allow-transfer", "127.0.0.1", "--notify", $"127.0.0.1:{nsdPort}", "--poll", "0.3");
        using var nsd = new Daemon(StartNsd(nsdPort, certdns.Port));
        var primarySerial = Serial(await Dig.RunAsync(certdns.Port, "status.example", "SOA"));
        await WaitForSerial(nsdPort, primarySerial, "NSD did not transfer the zone " + (File.Exists(_dir.File("nsd.log")) ? File.ReadAllText(_dir.File("nsd.log")) : ""));

        var peer = new PeerAnswers(certdns.Port, "nsd", nsdPort);
        foreach (var (name, client) in _scenario.Clients)
        {
            var hex = Hex.Lower(client.Parsed.Sha256);
            foreach (var view in PeerAnswers.Views) await peer.SameA($"{hex[..32]}.{hex[32..]}.{view}status.example", name);
        }
        // A prefix of a split name exists in NSD's copy too (as an empty non-terminal): NODATA, not NXDOMAIN.
        var valid = Hex.Lower(_scenario.Clients["valid"].Parsed.Sha256);
        Assert.Equal("NOERROR", (await Dig.RunAsync(nsdPort, $"{valid[32..]}.status.example", "A")).Status);

        // An ingest revokes the valid certificate: CertDns reloads, bumps the serial and sends NOTIFY.
        var now = DateTimeOffset.UtcNow;
        File.WriteAllBytes(_dir.File("crl2.der"), _scenario.Ca.CreateCrl(2, now.AddMinutes(-1), now.AddDays(7),
        [
            (_scenario.Clients["revoked"].Parsed.Serial, now.AddHours(-1), RevocationReason.KeyCompromise),
            (_scenario.Clients["valid"].Parsed.Serial, now.AddMinutes(-2), RevocationReason.KeyCompromise),
        ]));
        Assert.Equal(0, CertDnsProcess.Run(_dir.Path, "crl", "ingest", "crl2.der").ExitCode);
        certdns.WaitFor("notified 127.0.0.1", TimeSpan.FromSeconds(20));
        var newSerial = Serial(await Dig.RunAsync(certdns.Port, "status.example", "SOA"));
        Assert.True(newSerial > primarySerial);
        await WaitForSerial(nsdPort, newSerial, "NSD did not follow the NOTIFY");
        var after = await Dig.RunAsync(nsdPort, $"{valid[..32]}.{valid[32..]}.status.example", "A");
        Assert.Equal("127.0.0.2", after.SingleAnswer("A")[4]);
    }

    [PeerFact(Peer.Nsd, Peer.Dig)]
    public async Task Nsd_OlderBackupRestoredUnderRunningServer_FollowsItUnderAHigherSerial()
    {
        // Issue 12 case 1: putting an older copy of the store back moved the serial backwards, so NSD kept the newer data.
        var db = _dir.File("certdns.db");
        using (var from = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={db};Mode=ReadOnly;Pooling=False"))
        using (var to = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={_dir.File("backup.db")};Pooling=False"))
        {
            from.Open();
            to.Open();
            from.BackupDatabase(to);
        }
        var nsdPort = CertDnsProcess.FreePort();
        using var certdns = CertDnsProcess.Serve(_dir.Path, "--allow-transfer", "127.0.0.1", "--notify", $"127.0.0.1:{nsdPort}", "--poll", "0.3");
        using var nsd = new Daemon(StartNsd(nsdPort, certdns.Port));
        var valid = Hex.Lower(_scenario.Clients["valid"].Parsed.Sha256);
        var name = $"{valid[..32]}.{valid[32..]}.status.example";
        var now = DateTimeOffset.UtcNow;
        File.WriteAllBytes(_dir.File("crl2.der"), _scenario.Ca.CreateCrl(2, now.AddMinutes(-1), now.AddDays(7),
            [(_scenario.Clients["valid"].Parsed.Serial, now.AddMinutes(-2), RevocationReason.KeyCompromise)]));
        Assert.Equal(0, CertDnsProcess.Run(_dir.Path, "crl", "ingest", "crl2.der").ExitCode);
        await WaitForA(certdns.Port, name, "127.0.0.2", "certdns did not reload the ingest");
        var newer = Serial(await Dig.RunAsync(certdns.Port, "status.example", "SOA"));
        await WaitForSerial(nsdPort, newer, "NSD did not follow the ingest");

        File.Delete(db + "-wal");
        File.Delete(db + "-shm");
        File.Copy(_dir.File("backup.db"), db + ".restoring");
        File.Move(db + ".restoring", db, overwrite: true);

        await WaitForA(certdns.Port, name, "127.0.1.2", "certdns did not serve the restored store");
        var restored = Serial(await Dig.RunAsync(certdns.Port, "status.example", "SOA"));
        Assert.True(restored != newer && restored - newer < 0x8000_0000u, $"restored serial {restored} is not newer than {newer}");
        await WaitForSerial(nsdPort, restored, "NSD did not follow the restored store");
        var answer = await Dig.RunAsync(nsdPort, name, "A");
        Assert.Equal("127.0.1.2", answer.SingleAnswer("A")[4]);
    }

    [PeerFact(Peer.Knot, Peer.Dig)]
    public async Task Knot_RefreshesByIxfr_GetsTheWholeZoneWithoutError()
    {
        // Knot (like BIND) asks IXFR once it holds the zone; before, the IXFR drew FORMERR and Knot logged a fallback to
        // AXFR on every change. CertDns now answers it from its journal (IxfrSecondaryTests checks that in detail).
        var knotPort = CertDnsProcess.FreePort();
        using var certdns = CertDnsProcess.Serve(_dir.Path, "--allow-transfer", "127.0.0.1", "--notify", $"127.0.0.1:{knotPort}", "--poll", "0.3");
        var log = KnotServer.LogPath(_dir);
        using var knot = new Daemon(KnotServer.Start(_dir, knotPort, certdns.Port));
        var primarySerial = Serial(await Dig.RunAsync(certdns.Port, "status.example", "SOA"));
        await WaitForSerial(knotPort, primarySerial, "Knot did not transfer the zone " + (File.Exists(log) ? File.ReadAllText(log) : ""));

        Assert.Equal(0, CertDnsProcess.Run(_dir.Path, "block", "valid.pem", "--reason", "abuse").ExitCode);
        certdns.WaitFor("notified 127.0.0.1", TimeSpan.FromSeconds(20));
        var newSerial = Serial(await Dig.RunAsync(certdns.Port, "status.example", "SOA"));
        await WaitForSerial(knotPort, newSerial, "Knot did not follow the NOTIFY " + File.ReadAllText(log));
        var valid = Hex.Lower(_scenario.Clients["valid"].Parsed.Sha256);
        Assert.Equal("127.0.0.3", (await Dig.RunAsync(knotPort, $"{valid[..32]}.{valid[32..]}.status.example", "A")).SingleAnswer("A")[4]);

        var text = File.ReadAllText(log);
        Assert.Contains("IXFR, incoming", text);
        Assert.DoesNotContain("FORMERR", text);
        Assert.DoesNotContain("fallback to AXFR", text);
    }

    [PeerFact(Peer.Nsd, Peer.Dig)]
    public async Task Nsd_TransfersAllForms_AnswersEveryFormAsCertdns()
    {
        // Sendmail asks one label per byte of MD5 (or SHA-1), legacy Postfix the MD5 or SHA-1 hex, the policy service
        // the key form: a secondary answers them only if the transfer carried them.
        var nsdPort = CertDnsProcess.FreePort();
        using var certdns = CertDnsProcess.Serve(_dir.Path, "--allow-transfer", "127.0.0.1", "--forms", "all");
        using var nsd = new Daemon(StartNsd(nsdPort, certdns.Port));
        var primarySerial = Serial(await Dig.RunAsync(certdns.Port, "status.example", "SOA"));
        await WaitForSerial(nsdPort, primarySerial, "NSD did not transfer the zone");

        var peer = new PeerAnswers(certdns.Port, "nsd", nsdPort);
        int listed = 0;
        foreach (var (name, client) in _scenario.Clients)
        {
            var cert = client.Parsed;
            var sha256 = Convert.ToHexStringLower(cert.Sha256);
            var key = Convert.ToHexStringLower(cert.SpkiSha256);
            string[] forms =
            [
                sha256[..56], Hex.Base32(cert.Sha256), Convert.ToHexStringLower(cert.Sha1), Convert.ToHexStringLower(cert.Md5),
                QueryNames.PerByte(cert.Sha1), QueryNames.PerByte(cert.Md5), $"{key[..32]}.{key[32..]}.key",
            ];
            foreach (var form in forms)
            {
                foreach (var view in PeerAnswers.Views) listed += await peer.SameA($"{form}.{view}status.example", name, nodataMayBeNxdomain: true);
                if (name != "unknown") await peer.SameTxt($"{form}.status.example");
            }
        }
        // Four registered certificates, seven forms, each in the combined view and one of bl or wl.
        Assert.Equal(4 * 7 * 2, listed);
    }

    [PeerTheory(Peer.Kdig)]
    [InlineData("AXFR", "+tcp")]
    [InlineData("IXFR=1", "+tcp")]
    [InlineData("IXFR=1", "+notcp")]
    public async Task Transfer_FromAddressNotAllowed_RefusedNotFormErr(string type, string transport)
    {
        // An IXFR carries the client's SOA in its authority section: that is no reason for FORMERR.
        using var certdns = CertDnsProcess.Serve(_dir.Path, "--allow-transfer", "127.0.0.9");
        var info = new ProcessStartInfo(Peer.Path(Peer.Kdig)) { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in new[] { "@127.0.0.1", "-p", certdns.Port.ToString(CultureInfo.InvariantCulture), "status.example", type, transport, "+time=5" })
            info.ArgumentList.Add(a);
        using var kdig = Process.Start(info)!;
        var output = await kdig.StandardOutput.ReadToEndAsync() + await kdig.StandardError.ReadToEndAsync();
        await kdig.WaitForExitAsync();

        Assert.Contains("server replied with error 'REFUSED'", output);
    }

    [PeerFact(Peer.Dig)]
    public async Task Axfr_FromAddressNotAllowed_Refused()
    {
        using var certdns = CertDnsProcess.Serve(_dir.Path, "--allow-transfer", "127.0.0.9");

        var output = await Dig.RunRawAsync(certdns.Port, "status.example", "AXFR");

        Assert.Contains("Transfer failed", output);
    }
}
