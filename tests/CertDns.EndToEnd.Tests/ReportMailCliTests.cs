using System.Text;
using CertDns.Core;
using CertDns.Pki;
using Microsoft.Data.Sqlite;

namespace CertDns.EndToEnd.Tests;

/// <summary>
/// <c>certdns reporters</c> and <c>certdns report --mail</c> as an operator and an MTA's pipe transport run them: the
/// attack corpus through the program, with sysexits(3) codes (0 counted, 65 refused, 64 usage, 75 temporary), one
/// line on stderr, and nothing stored on a refusal.
/// </summary>
public sealed class ReportMailCliTests : IDisposable
{
    private readonly TempDir _dir = new();
    private readonly TestAuthority _ca = new("Mail CLI CA");
    private readonly ParsedCertificate _spammer, _innocent;
    private readonly TestReporter _alice = new("alice"), _bob = new("bob"), _carol = new("carol");
    private int _messages;

    public ReportMailCliTests()
    {
        var now = DateTimeOffset.UtcNow;
        var spammer = _ca.Issue("spammer.example", now.AddDays(-1), now.AddDays(90));
        var innocent = _ca.Issue("innocent.example", now.AddDays(-1), now.AddDays(90));
        _spammer = CertificateFile.Read(spammer, "spammer")[0];
        _innocent = CertificateFile.Read(innocent, "innocent")[0];
        File.WriteAllText(_dir.File("ca.pem"), _ca.CertificatePem);
        File.WriteAllText(_dir.File("spammer.pem"), TestAuthority.ToPem("CERTIFICATE", spammer));
        File.WriteAllText(_dir.File("innocent.pem"), TestAuthority.ToPem("CERTIFICATE", innocent));
        File.WriteAllBytes(_dir.File("crl.der"), _ca.CreateCrl(1, now.AddMinutes(-5), now.AddDays(7), []));
        Ok("ca", "add", "ca.pem", "--abuse-contact", "abuse@mail-ca.example");
        Ok("certs", "add", "spammer.pem", "innocent.pem");
        Ok("crl", "ingest", "crl.der");
        foreach (var r in new[] { _alice, _bob, _carol }) AddReporter(r);
    }

    public void Dispose() => _dir.Dispose();

    private CertDnsProcess.Result Ok(params string[] args)
    {
        var result = CertDnsProcess.Run(_dir.Path, args);
        Assert.True(result.ExitCode == 0, $"certdns {string.Join(' ', args)} exited {result.ExitCode}: {result.Stderr}{result.Stdout}");
        return result;
    }

    private CertDnsProcess.Result AddReporter(TestReporter r, string? name = null, string weight = "1")
    {
        File.WriteAllText(_dir.File($"{r.Name}.pub.pem"), r.PublicPem);
        return CertDnsProcess.Run(_dir.Path, "reporters", "add", name ?? r.Name, "--dkim-domain", r.Domain, "--dkim-selector", r.Selector,
            "--dkim-key", $"{r.Name}.pub.pem", "--authserv-id", r.AuthservId, "--weight", weight);
    }

    private byte[] Db() => File.ReadAllBytes(_dir.File("certdns.db"));

    private CertDnsProcess.Result Mail(byte[] report, params string[] extra) => CertDnsProcess.Run(_dir.Path, report, ["report", "--mail", .. extra]);

    private void AssertOneLine(CertDnsProcess.Result result, int code, string reason)
    {
        Assert.True(result.ExitCode == code, $"exit {result.ExitCode}, expected {code}: {result.Stderr}");
        Assert.Contains(reason, Assert.Single(result.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries)));
        Assert.DoesNotContain("   at ", result.Stderr + result.Stdout);
    }

    private byte[] Spam(params string[] stamps) => MailReports.Spam(++_messages, stamps);

    private string Status(string cert) => Ok("lookup", cert).Stdout;

    [Fact]
    public void ReportMail_ThreeReporters_ExitZero_ThirdBlocks_InnocentNever()
    {
        foreach (var r in new[] { _alice, _bob, _carol })
        {
            // Each spam also carries a forged stamp naming the innocent certificate below the reporter's own.
            var result = Mail(MailReports.Bytes(MailReports.Arf(r, Spam(r.Stamp(_spammer.Sha256), r.Stamp(_innocent.Sha256)))));
            Assert.True(result.ExitCode == 0, result.Stderr);
            Assert.Contains($"counted: complaint", result.Stdout);
        }

        Assert.Contains("status: blocked", Status("spammer.pem"));
        Assert.Contains("txt: blocked: 3 abuse complaints since ", Status("spammer.pem"));
        Assert.Contains("status: valid", Status("innocent.pem"));
        var audit = Ok("audit").Stdout;
        Assert.Contains("signed report by mail", audit);
    }

    [Fact]
    public void ReportMail_Replay_ExitZeroAlreadyCounted_CountsOnce()
    {
        var report = MailReports.Bytes(MailReports.Arf(_alice, Spam(_alice.Stamp(_spammer.Sha256))));
        Assert.Equal(0, Mail(report).ExitCode);
        var before = Db();

        var replay = Mail(report);

        Assert.Equal(0, replay.ExitCode);
        Assert.Contains("already counted: complaint 1", replay.Stdout);
        Assert.Equal(before, Db());
    }

    [Theory]
    [InlineData("unregistered", "not a registered reporter")]
    [InlineData("unsigned", "no DKIM signature")]
    [InlineData("edited", "does not verify")]
    [InlineData("length", "body length (l=)")]
    [InlineData("no-header", "has no X-CertDns-Client-Cert header")]
    [InlineData("other-host", "not by reporter alice's mx.alice.example")]
    [InlineData("not-mail", "stdin: not an e-mail message")]
    [InlineData("over-cap", "over the 10 MiB cap")]
    public void ReportMail_AttackCorpus_Exit65OneLineNothingStored(string attack, string reason)
    {
        var innocent = _alice.Stamp(_innocent.Sha256);
        var report = attack switch
        {
            "unregistered" => MailReports.Bytes(MailReports.Arf(new TestReporter("stranger"), Spam(innocent))),
            "unsigned" => MailReports.Bytes(MailReports.Arf(_alice, Spam(innocent), sign: false)),
            "edited" => Edit(MailReports.Bytes(MailReports.Arf(_alice, Spam(_alice.Stamp(_spammer.Sha256)))),
                s => s.Replace(Hex.Lower(_spammer.Sha256), Hex.Lower(_innocent.Sha256), StringComparison.Ordinal)),
            "length" => Edit(MailReports.Bytes(MailReports.Arf(_alice, Spam(innocent))),
                s => s.Replace("DKIM-Signature: v=1;", "DKIM-Signature: v=1; l=10;", StringComparison.Ordinal) + "\r\nappended\r\n"),
            "no-header" => MailReports.Bytes(MailReports.Arf(_alice, Spam())),
            "other-host" => MailReports.Bytes(MailReports.Arf(_alice, Spam(_bob.Stamp(_innocent.Sha256)))),
            "not-mail" => "hello\n"u8.ToArray(),
            "over-cap" => new byte[10 * 1024 * 1024 + 1],
            _ => throw new ArgumentOutOfRangeException(nameof(attack)),
        };
        var before = Db();

        AssertOneLine(Mail(report), 65, reason);

        Assert.Equal(before, Db());
        Assert.Contains("status: valid", Status("innocent.pem"));
    }

    private static byte[] Edit(byte[] report, Func<string, string> edit)
    {
        var text = Encoding.ASCII.GetString(report);
        var edited = edit(text);
        Assert.NotEqual(text, edited);
        return Encoding.ASCII.GetBytes(edited);
    }

    [Fact]
    public void ReportMail_WithOperatorsArguments_Exit64()
    {
        AssertOneLine(Mail(MailReports.Bytes(MailReports.Arf(_alice, Spam(_alice.Stamp(_spammer.Sha256)))), "spammer.pem"), 64, "report --mail");
        AssertOneLine(Mail([], "--reporter", "x"), 64, "--reporter");
    }

    [Fact]
    public void ReportMail_NoStore_Exit75NothingCreated()
    {
        var result = CertDnsProcess.Run(_dir.Path, MailReports.Bytes(MailReports.Arf(_alice, Spam(_alice.Stamp(_spammer.Sha256)))), "--db", "missing.db", "report", "--mail");

        AssertOneLine(result, 75, "no such store");
        Assert.False(File.Exists(_dir.File("missing.db")));
    }

    [Fact]
    public void ReportMail_StoreBusy_Exit75()
    {
        // Another writer holds the store past the busy timeout: the MTA must keep the report and retry, not bounce it.
        using var holder = new SqliteConnection($"Data Source={_dir.File("certdns.db")};Pooling=False");
        holder.Open();
        using (var begin = holder.CreateCommand())
        {
            begin.CommandText = "BEGIN EXCLUSIVE;";
            begin.ExecuteNonQuery();
        }

        var result = Mail(MailReports.Bytes(MailReports.Arf(_alice, Spam(_alice.Stamp(_spammer.Sha256)))));

        Assert.True(result.ExitCode == 75, $"exit {result.ExitCode}: {result.Stderr}");
        Assert.DoesNotContain("   at ", result.Stderr);
    }

    [Fact]
    public void Reporters_ListAndRemove_ThroughTheProgram_Audited()
    {
        var list = Ok("reporters", "list").Stdout;
        Assert.Contains("abuse._domainkey.alice.example", list);
        Assert.Contains("mx.carol.example", list);

        Ok("reporters", "remove", "bob", "--reason", "left");

        Assert.DoesNotContain("bob.example", Ok("reporters", "list").Stdout);
        // Bob's reports are refused once he is removed.
        AssertOneLine(Mail(MailReports.Bytes(MailReports.Arf(_bob, Spam(_bob.Stamp(_spammer.Sha256))))), 65, "not a registered reporter");
        var audit = Ok("audit").Stdout;
        Assert.Contains("reporter add", audit);
        Assert.Contains("reporter remove", audit);
    }

    [Theory]
    [InlineData("same-key", "that DKIM key belongs to reporter alice")]
    [InlineData("weight", "--weight is 1 to 10")]
    [InlineData("no-key", "nope.pem: no such file")]
    [InlineData("not-key", "not a PEM public key")]
    public void Reporters_AddBadInput_Exit1OneLineNothingStored(string kind, string reason)
    {
        var dave = new TestReporter("dave");
        var before = Db();
        File.WriteAllText(_dir.File("junk.pem"), "junk\n");

        var result = kind switch
        {
            "same-key" => AddReporter(new TestReporter("alias", _alice.Key)),
            "weight" => AddReporter(dave, weight: "11"),
            "no-key" => CertDnsProcess.Run(_dir.Path, "reporters", "add", "dave", "--dkim-domain", "d.example", "--dkim-selector", "s", "--dkim-key", "nope.pem", "--authserv-id", "mx.d.example"),
            "not-key" => CertDnsProcess.Run(_dir.Path, "reporters", "add", "dave", "--dkim-domain", "d.example", "--dkim-selector", "s", "--dkim-key", "junk.pem", "--authserv-id", "mx.d.example"),
            _ => throw new ArgumentOutOfRangeException(nameof(kind)),
        };

        AssertOneLine(result, 1, reason);
        Assert.Equal(before, Db());
    }
}
