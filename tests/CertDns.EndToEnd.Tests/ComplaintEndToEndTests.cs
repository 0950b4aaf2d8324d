using CertDns.Core;
using CertDns.Pki;
using MimeKit;

namespace CertDns.EndToEnd.Tests;

/// <summary>The penalty side as an operator drives it: the certdns program, a running server and dig.</summary>
public sealed class ComplaintEndToEndTests : IDisposable
{
    private readonly TempDir _dir = new();
    private readonly TestAuthority _ca = new("Penalty CA");
    private readonly ParsedCertificate _cert;
    private readonly string _name;

    public ComplaintEndToEndTests()
    {
        var now = DateTimeOffset.UtcNow;
        var der = _ca.Issue("relay.spammer.example", now.AddDays(-1), now.AddDays(90));
        _cert = CertificateFile.Read(der, "cert")[0];
        var hex = Hex.Lower(_cert.Sha256);
        _name = $"{hex[..32]}.{hex[32..]}.status.example";
        File.WriteAllText(_dir.File("ca.pem"), _ca.CertificatePem);
        File.WriteAllText(_dir.File("cert.pem"), TestAuthority.ToPem("CERTIFICATE", der));
        File.WriteAllBytes(_dir.File("crl.der"), _ca.CreateCrl(1, now.AddMinutes(-5), now.AddDays(7), []));
        for (int i = 1; i <= 12; i++) File.WriteAllBytes(_dir.File($"spam{i}.eml"), Evidence.Spam(i));
        Ok("ca", "add", "ca.pem", "--abuse-contact", "abuse@penalty-ca.example");
        Ok("certs", "add", "cert.pem");
        Ok("crl", "ingest", "crl.der");
    }

    public void Dispose() => _dir.Dispose();

    private CertDnsProcess.Result Ok(params string[] args)
    {
        var result = CertDnsProcess.Run(_dir.Path, args);
        Assert.True(result.ExitCode == 0, $"certdns {string.Join(' ', args)} exited {result.ExitCode}: {result.Stderr}{result.Stdout}");
        return result;
    }

    private void Refused(string reason, params string[] args)
    {
        var before = File.ReadAllBytes(_dir.File("certdns.db"));
        var result = CertDnsProcess.Run(_dir.Path, args);
        Assert.Equal(1, result.ExitCode);
        Assert.Contains(reason, Assert.Single(result.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries)));
        Assert.Equal(before, File.ReadAllBytes(_dir.File("certdns.db")));
    }

    /// <summary>Polls until the server answers <paramref name="expected"/> (it reloads within its poll interval).</summary>
    private static async Task<DigResult> Expect(CertDnsProcess.Server server, string name, string expected)
    {
        var until = DateTime.UtcNow.AddSeconds(10);
        while (true)
        {
            var result = await Dig.RunAsync(server.Port, name, "A", "+norec");
            var got = result.Answer.Count == 1 ? result.Answer[0][4] : result.Status;
            if (got == expected) return result;
            if (DateTime.UtcNow > until) Assert.Fail($"{name}: expected {expected}, still {got}");
            await Task.Delay(150);
        }
    }

    /// <summary>Waits until the server answers from the store as it is now: its SOA serial reaches the store's.</summary>
    private async Task ServedUpToStore(CertDnsProcess.Server server)
    {
        var status = System.Text.RegularExpressions.Regex.Match(Ok("status").Stdout, @" serial (\d+),");
        Assert.True(status.Success, "certdns status printed no serial");
        var stored = uint.Parse(status.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
        var until = DateTime.UtcNow.AddSeconds(10);
        while (true)
        {
            var soa = (await Dig.RunAsync(server.Port, "status.example", "SOA", "+norec")).SingleAnswer("SOA")[4].Split(' ');
            if (uint.Parse(soa[2], System.Globalization.CultureInfo.InvariantCulture) >= stored) return;
            if (DateTime.UtcNow > until) Assert.Fail($"the server's serial did not reach the store's {stored}");
            await Task.Delay(100);
        }
    }

    [PeerFact(Peer.Dig)]
    public async Task EveryStep_DnsAnswerFollows()
    {
        using var server = CertDnsProcess.Serve(_dir.Path, "--poll", "0.3");
        await Expect(server, _name, "127.0.1.2");

        Assert.Contains("1 of 3 distinct reporters; not blocked yet", Ok("report", "cert.pem", "--evidence", "spam1.eml", "--reporter", "alice").Stdout);
        Assert.Contains("2 of 3", Ok("report", "cert.pem", "--evidence", "spam2.eml", "--reporter", "bob").Stdout);
        await ServedUpToStore(server);
        var two = await Dig.RunAsync(server.Port, _name, "A", "+norec");
        Assert.Equal("127.0.1.2", two.SingleAnswer("A")[4]);

        var third = Ok("report", Hex.Lower(_cert.Sha1), "--evidence", "spam3.eml", "--reporter", "carol", "--arf", "arf.eml");
        Assert.Contains("3 of 3 distinct reporters; blocked since", third.Stdout);
        await Expect(server, _name, "127.0.0.3");
        await Expect(server, _name.Replace(".status.example", ".bl.status.example", StringComparison.Ordinal), "127.0.0.3");
        var txt = await Dig.RunAsync(server.Port, _name, "TXT", "+norec");
        Assert.StartsWith("\"blocked: 3 abuse complaints since ", txt.SingleAnswer("TXT")[4]);
        var arf = MimeMessage.Load(_dir.File("arf.eml"));
        Assert.Equal("abuse@penalty-ca.example", arf.To.Mailboxes.Single().Address);

        Ok("complaints", "withdraw", "2", "--reason", "bob retracted");
        await Expect(server, _name, "127.0.1.2");

        Ok("block", "cert.pem", "--reason", "confirmed relay abuse");
        await Expect(server, _name, "127.0.0.3");
        Ok("unblock", "cert.pem", "--reason", "owner fixed the relay");
        await Expect(server, _name, "127.0.1.2");

        Ok("ca", "distrust", "1", "--reason", "ignores abuse reports");
        await Expect(server, _name, "127.0.2.3");
        Ok("ca", "trust", "1", "--reason", "acted on the reports");
        await Expect(server, _name, "127.0.1.2");

        var audit = Ok("audit").Stdout;
        foreach (var action in new[] { "ca add", "complaint", "block", "complaint withdraw", "unblock", "ca distrust", "ca trust" })
            Assert.Contains("\t" + action + "\t", audit);
        Assert.Contains("bob retracted", audit);
        Assert.Contains("complaints: 0 counting", Ok("status").Stdout);
    }

    [Fact]
    public void Report_BadInput_OneLineExit1NothingStored()
    {
        File.WriteAllText(_dir.File("junk.eml"), "no headers here, just words\n");
        Refused("junk.eml: not an e-mail message", "report", "cert.pem", "--evidence", "junk.eml");
        Refused("not a fingerprint", "report", "abcdef", "--evidence", "spam1.eml");
        Refused("no registered certificate", "report", new string('e', 40), "--evidence", "spam1.eml");
        Refused("nope.eml: no such file", "report", "cert.pem", "--evidence", "nope.eml");
        Refused("not a complaint id", "complaints", "withdraw", "x1", "--reason", "r");
        Refused("takes a whole number from 1", "settings", "set", "complaint-threshold", "0");

        Ok("report", "cert.pem", "--evidence", "spam1.eml", "--reporter", "alice");
        Refused("already reported", "report", "cert.pem", "--evidence", "spam1.eml", "--reporter", "bob");
    }

    [Fact]
    public void Report_ArfForCaWithoutAbuseContact_RefusedBeforeStoring()
    {
        var other = new TestAuthority("Silent CA");
        var der = other.Issue("y.example", DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(30));
        File.WriteAllText(_dir.File("other-ca.pem"), other.CertificatePem);
        File.WriteAllText(_dir.File("other.pem"), TestAuthority.ToPem("CERTIFICATE", der));
        Ok("ca", "add", "other-ca.pem");
        Ok("certs", "add", "other.pem");

        Refused("no abuse contact", "report", "other.pem", "--evidence", "spam1.eml", "--arf", "out.eml");
        Assert.False(File.Exists(_dir.File("out.eml")));
    }

    [Fact]
    public async Task Report_ParallelProcesses_NoComplaintLost()
    {
        // Ten reporters at once, each its own process and SQLite connection: the write lock serialises them.
        var runs = Enumerable.Range(1, 10).Select(i => Task.Run(() =>
            CertDnsProcess.Run(_dir.Path, "report", "cert.pem", "--evidence", $"spam{i}.eml", "--reporter", $"reporter{i}"))).ToArray();
        var results = await Task.WhenAll(runs);

        Assert.All(results, r => Assert.True(r.ExitCode == 0, r.Stderr));
        var list = Ok("complaints", "list").Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(11, list.Length); // header + 10
        Assert.Contains("10 counting against 1 certificates", Ok("status").Stdout);
        Assert.Contains("blocked: 10 abuse complaints", Ok("lookup", "cert.pem").Stdout);
    }
}
