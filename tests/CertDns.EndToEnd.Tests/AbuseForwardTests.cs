using CertDns.Core;
using CertDns.Pki;
using MimeKit;

namespace CertDns.EndToEnd.Tests;

/// <summary>
/// The ARF report of a complaint listing goes on to the issuing CA's abuse contact through a real MTA (Exim's
/// sendmail interface, <c>-t</c>), once per listing: not once per complaint, again for a relisting, kept queued when the
/// MTA does not take it, and never for a listing lifted before it was sent. The CA's mailbox is a maildir Exim delivers to.
/// Root is needed (Peer.Netns says whether we are): Exim's spool and mailbox must be its own user's.
/// </summary>
public sealed class AbuseForwardTests : IDisposable
{
    private const string AbuseContact = "abuse@mail-ca.example";
    private readonly TempDir _dir = new();
    private readonly TestAuthority _ca = new("Forward CA");
    private readonly ParsedCertificate _spammer;
    private readonly TestReporter[] _reporters = [new("alice"), new("bob"), new("carol"), new("dave")];
    private int _messages;

    public AbuseForwardTests()
    {
        var now = DateTimeOffset.UtcNow;
        var spammer = _ca.Issue("spammer.example", now.AddDays(-1), now.AddDays(90));
        _spammer = CertificateFile.Read(spammer, "spammer")[0];
        File.WriteAllText(_dir.File("ca.pem"), _ca.CertificatePem);
        File.WriteAllText(_dir.File("spammer.pem"), TestAuthority.ToPem("CERTIFICATE", spammer));
        File.WriteAllBytes(_dir.File("crl.der"), _ca.CreateCrl(1, now.AddMinutes(-5), now.AddDays(7), []));
        Ok("ca", "add", "ca.pem", "--abuse-contact", AbuseContact);
        Ok("certs", "add", "spammer.pem");
        Ok("crl", "ingest", "crl.der");
        foreach (var r in _reporters)
        {
            File.WriteAllText(_dir.File($"{r.Name}.pub.pem"), r.PublicPem);
            Ok("reporters", "add", r.Name, "--dkim-domain", r.Domain, "--dkim-selector", r.Selector, "--dkim-key", $"{r.Name}.pub.pem", "--authserv-id", r.AuthservId);
        }
    }

    public void Dispose() => _dir.Dispose();

    private CertDnsProcess.Result Ok(params string[] args)
    {
        var result = CertDnsProcess.Run(_dir.Path, args);
        Assert.True(result.ExitCode == 0, $"certdns {string.Join(' ', args)} exited {result.ExitCode}: {result.Stderr}{result.Stdout}");
        return result;
    }

    /// <summary>An Exim that delivers everything it is handed into one maildir: the CA's abuse desk.</summary>
    private string Mta()
    {
        foreach (var d in new[] { "spool", "log", "mailbox" }) Directory.CreateDirectory(_dir.File(d));
        File.WriteAllText(_dir.File("exim.conf"), $"""
            primary_hostname = certdns.test.example
            exim_path = {Peer.EximBinary}
            spool_directory = {_dir.File("spool")}
            log_file_path = {_dir.File("log")}/%slog
            never_users =
            host_lookup =
            rfc1413_hosts =
            keep_environment =
            begin routers
            abuse_desk:
              driver = accept
              transport = maildir
            begin transports
            maildir:
              driver = appendfile
              directory = {_dir.File("mailbox")}
              maildir_format
              envelope_to_add
              user = Debian-exim
            """);
        Assert.Equal(0, Netns.Exec("chown", "-R", "Debian-exim:", _dir.File("spool"), _dir.File("log"), _dir.File("mailbox")).ExitCode);
        // -odi: Exim delivers before it exits, so the mailbox is complete when certdns returns.
        return $"{Peer.EximBinary} -C {_dir.File("exim.conf")} -odi";
    }

    private string[] Mailbox() =>
        Directory.Exists(_dir.File("mailbox/new")) ? Directory.GetFiles(_dir.File("mailbox/new")) : [];

    private CertDnsProcess.Result Report(TestReporter reporter, params string[] extra)
    {
        var spam = MailReports.Spam(++_messages, reporter.Stamp(_spammer.Sha256));
        var result = CertDnsProcess.Run(_dir.Path, MailReports.Bytes(MailReports.Arf(reporter, spam)), ["report", "--mail", .. extra]);
        Assert.True(result.ExitCode == 0, $"report --mail by {reporter.Name} exited {result.ExitCode}: {result.Stderr}");
        return result;
    }

    private static MimeMessage Load(string file)
    {
        using var stream = File.OpenRead(file);
        return MimeMessage.Load(stream);
    }

    [PeerFact(Peer.Exim, Peer.Netns)]
    public void Forward_ThirdReportLists_CaGetsOneArfWithTheEvidence_LaterReportsSendNoMore()
    {
        var mta = Mta();

        Report(_reporters[0], "--sendmail", mta);
        Report(_reporters[1], "--sendmail", mta);
        Assert.Empty(Mailbox());
        var third = Report(_reporters[2], "--sendmail", mta);
        Assert.Contains($"ARF report sent to {AbuseContact}", third.Stdout);
        // A fourth reporter and a replay of its report: the listing stands, and the CA has heard of it.
        var fourth = Report(_reporters[3], "--sendmail", mta);
        Assert.DoesNotContain("forward", fourth.Stdout);
        Ok("complaints", "expire", "--sendmail", mta);

        var report = Load(Assert.Single(Mailbox()));
        Assert.Equal(AbuseContact, Assert.Single(report.To.Mailboxes).Address);
        Assert.Equal("abuse-reports@status.example", Assert.Single(report.From.Mailboxes).Address);
        var arf = Assert.IsType<MultipartReport>(report.Body);
        Assert.Equal("feedback-report", arf.ReportType);
        var feedback = Assert.Single(arf.OfType<MessageFeedbackReport>());
        Assert.Equal(Hex.Colons(_spammer.Sha256), feedback.Fields["Reported-Certificate-SHA256"]);
        // The evidence: the third reporter's spam, with its MTA's stamp on top.
        var evidence = Assert.Single(arf.OfType<MessagePart>()).Message!;
        Assert.Equal(_reporters[2].Stamp(_spammer.Sha256), evidence.Headers["X-CertDns-Client-Cert"]?.Trim());
        Assert.Contains("complaint forward", Ok("audit").Stdout);
    }

    [PeerFact(Peer.Exim, Peer.Netns)]
    public void Forward_ConfigFileKeys_SendThroughTheConfiguredMta_FlagsWin_BadCommandNamesTheKey()
    {
        var mta = Mta();
        File.WriteAllText(_dir.File("certdns.toml"), $"[complaints]\nsendmail = \"{mta}\"\nfrom = \"desk@operator.example\"\n");
        foreach (var r in _reporters[..2]) Report(r, "--config", "certdns.toml");
        // The flag overrides the file's From; the file's sendmail still sends.
        var third = Report(_reporters[2], "--config", "certdns.toml", "--from", "flag@operator.example");
        Assert.Contains($"ARF report sent to {AbuseContact}", third.Stdout);
        Assert.Equal("flag@operator.example", Assert.Single(Load(Assert.Single(Mailbox())).From.Mailboxes).Address);

        File.WriteAllText(_dir.File("bad.toml"), "[complaints]\nsendmail = \"sendmail -t\"\n");
        var bad = CertDnsProcess.Run(_dir.Path, "complaints", "expire", "--config", "bad.toml");
        Assert.Equal(1, bad.ExitCode);
        Assert.Equal("certdns: sendmail: complaints.sendmail: give the program's absolute path", bad.Stderr.Trim());
    }

    [PeerFact(Peer.Exim, Peer.Netns)]
    public void Forward_MtaRefuses_ReportStillCounts_StaysQueued_NextRunSendsIt()
    {
        // An MTA that takes nothing: the complaint counts (exit 0) and the report waits.
        foreach (var r in _reporters[..3])
        {
            var result = Report(r, "--sendmail", "/bin/false");
            if (r == _reporters[2]) Assert.Contains("queued, the MTA did not take it: /bin/false exited 1", result.Stderr);
        }
        Assert.Contains("status: blocked", Ok("lookup", "spammer.pem").Stdout);
        var mta = Mta();
        Assert.Empty(Mailbox());

        var tick = Ok("complaints", "expire", "--sendmail", mta);

        Assert.Contains($"ARF report sent to {AbuseContact}", tick.Stdout);
        Assert.Single(Mailbox());
        Assert.DoesNotContain("forward", Ok("complaints", "expire", "--sendmail", mta).Stdout);
        Assert.Single(Mailbox());
    }

    [PeerFact(Peer.Exim, Peer.Netns)]
    public void Forward_RelistingAfterUnblock_IsANewListing_SentAgain()
    {
        var mta = Mta();
        foreach (var r in _reporters[..3]) Report(r, "--sendmail", mta);
        Assert.Single(Mailbox());

        Ok("unblock", "spammer.pem", "--reason", "holder cleaned up");
        // Three new reports list it again: another listing, another report to the CA.
        foreach (var r in _reporters[1..]) Report(r, "--sendmail", mta);

        Assert.Contains("status: blocked", Ok("lookup", "spammer.pem").Stdout);
        Assert.Equal(2, Mailbox().Length);
    }

    [PeerFact(Peer.Exim, Peer.Netns)]
    public void Forward_ListingLiftedBeforeSent_NeverSent()
    {
        // No --sendmail: the report is queued, and says so.
        foreach (var r in _reporters[..2]) Report(r);
        Assert.Contains("queued: no --sendmail", Report(_reporters[2]).Stdout);
        Ok("unblock", "spammer.pem", "--reason", "false positive");
        var mta = Mta();

        var tick = Ok("complaints", "expire", "--sendmail", mta);

        Assert.Contains("not sent: the listing was lifted before the report was sent", tick.Stdout);
        Assert.Empty(Mailbox());
        Assert.DoesNotContain("forward", Ok("complaints", "expire", "--sendmail", mta).Stdout);
    }
}
