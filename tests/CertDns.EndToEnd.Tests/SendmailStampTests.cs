using System.Globalization;
using CertDns.Core;

namespace CertDns.EndToEnd.Tests;

/// <summary>
/// The Sendmail stamping recipe (docs/sendmail/stamp.cf, issue #16) run in a real Sendmail 8.17 daemon receiving
/// over STARTTLS in a network namespace whose only network is loopback. Sendmail adds a configured header only when
/// the message has none of that name, so a forged copy would win over the stamp: the recipe refuses such a message
/// (553), and the delivered message of a clean one carries exactly one X-CertDns-Client-Cert, naming the presented
/// certificate in ${cert_fp}'s colon form, which <c>certdns report --mail</c> counts against that certificate.
/// </summary>
public sealed class SendmailStampTests : IDisposable
{
    private const string Host = "mx.test.example";
    private const int SmtpPort = 2526;

    private readonly TempDir _dir = new();
    private Netns? _netns;

    public void Dispose()
    {
        _netns?.Dispose();
        _dir.Dispose();
    }

    /// <summary>
    /// The test's own sendmail.cf around the recipe: a queue and TLS files in the scratch folder, no load-average
    /// limits (a shared test machine is busy), every recipient delivered by a program that writes the message to a
    /// file. Only what the recipe needs; a site's sendmail.cf comes from its sendmail.mc.
    /// </summary>
    private string Cf()
    {
        var deliver = _dir.File("deliver.sh");
        File.WriteAllText(deliver, $"#!/bin/sh\ncat > '{_dir.File("mail")}/delivered.tmp' && mv '{_dir.File("mail")}/delivered.tmp' '{_dir.File("mail")}/delivered'\n");
        Assert.Equal(0, Netns.Exec("chmod", "700", deliver).ExitCode);
        var recipe = File.ReadAllText(Path.Combine(TestPaths.Repository, "docs", "sendmail", "stamp.cf")).Replace("mx1.example", Host, StringComparison.Ordinal);
        return $"""
            V10/Berkeley
            O QueueDirectory={_dir.File("queue")}
            O PidFile={_dir.File("queue")}/sendmail.pid
            O DaemonPortOptions=Port={SmtpPort.ToString(CultureInfo.InvariantCulture)},Addr=127.0.0.1,Name=MTA
            O DeliveryMode=background
            O RefuseLA=10000
            O QueueLA=10000
            O DelayLA=0
            O HelpFile=/dev/null
            O StatusFile=/dev/null
            O DefaultUser=root:root
            O RunAsUser=root
            O DontBlameSendmail=groupwritabledirpathsafe,runprograminunsafedirpath,truststickybit,groupreadablekeyfile,insufficiententropy
            O ServerCertFile={_dir.File("server.pem")}
            O ServerKeyFile={_dir.File("server.key")}
            O CACertFile={_dir.File("ca.pem")}
            O CACertPath={_dir.File("cacerts")}
            O OperatorChars=.:%@!^/[]+
            Dj{Host}
            DnMAILER-DAEMON
            Do .:%@!^/[]
            Dq<$g>
            De$j Sendmail $v/$Z; $b
            Cw{Host}
            HReceived: from $s by $j; $b
            H?D?Date: $a
            H?F?From: $q
            H?M?Message-Id: <$t.$i@$j>

            S0
            R$*	$#local $: root
            S1
            S2
            S3
            R$*	$@ $1
            S4
            R$*	$@ $1
            S5

            Mlocal, P={deliver}, F=lsDFMhu, S=EnvFromL, R=EnvToL, A=deliver.sh $u
            Mprog, P={deliver}, F=lsDFMhu, S=EnvFromL, R=EnvToL, A=deliver.sh $u
            SEnvFromL
            SEnvToL

            {recipe}
            """;
    }

    private (int ExitCode, string Output) Send(StatusScenario.Client client, params string[] extra) =>
        _netns!.Run(["swaks", "--server", $"127.0.0.1:{SmtpPort}", "--tls", "--helo", "client.example", "--timeout", "60",
            "--from", "sender@client.example", "--to", $"postmaster@{Host}", "--tls-cert", client.Cert, "--tls-key", client.Key,
            "--header", "Subject: stamp test", .. extra]);

    [PeerFact(Peer.Sendmail, Peer.Swaks, Peer.Netns)]
    public void Sendmail_StampRecipe_ForgedCopyRefused_StampNamesThePresentedCertificate_ReportMailCountsIt()
    {
        var scenario = StatusScenario.Register(_dir, "Sendmail Stamp CA");
        scenario.IssueServer(_dir, Host);
        Assert.Equal(0, Netns.Exec("chmod", "600", _dir.File("server.key")).ExitCode); // Sendmail refuses a key others can read
        var client = scenario.Clients["valid"];
        var innocent = scenario.Clients["revoked"];
        foreach (var d in new[] { "queue", "mail", "cacerts" }) Directory.CreateDirectory(_dir.File(d));
        File.WriteAllText(_dir.File("sendmail.cf"), Cf());
        _netns = new Netns("certdns-smstamp");
        _netns.Start(_dir.Path, Peer.SendmailBinary, "-C", _dir.File("sendmail.cf"), "-bD");
        _netns.WaitForPort(SmtpPort, TimeSpan.FromSeconds(60));

        // A sender's own X-CertDns-Client-Cert (naming an innocent certificate) is refused at the end of DATA.
        var forged = $"X-CertDns-Client-Cert: {Host}; sha256={Hex.Lower(innocent.Parsed.Sha256)}";
        var refused = Send(client, "--add-header", forged);
        Assert.Contains($"~> {forged}", refused.Output);
        Assert.True(refused.Output.Contains("<~* 553 5.7.1 X-CertDns-Client-Cert is written by this host", StringComparison.Ordinal), "forged copy not refused:\n" + refused.Output);
        Assert.False(File.Exists(_dir.File("mail/delivered")));

        var sent = Send(client);
        Assert.True(sent.Output.Contains("Message accepted for delivery", StringComparison.Ordinal), "not accepted:\n" + sent.Output);
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while (!File.Exists(_dir.File("mail/delivered")))
        {
            Assert.True(DateTime.UtcNow < deadline, "not delivered within 60 s:\n" + string.Join("\n", Directory.GetFiles(_dir.File("queue"))));
            Thread.Sleep(100);
        }
        var message = File.ReadAllText(_dir.File("mail/delivered")).ReplaceLineEndings("\n");
        // A local mailer's mbox separator, when Sendmail writes one, is no header.
        if (message.StartsWith("From ", StringComparison.Ordinal)) message = message[(message.IndexOf('\n', StringComparison.Ordinal) + 1)..];
        var headers = message[..message.IndexOf("\n\n", StringComparison.Ordinal)].Split('\n');
        var stamp = Assert.Single(headers, h => h.StartsWith("X-CertDns-Client-Cert:", StringComparison.OrdinalIgnoreCase));
        Assert.Equal($"X-CertDns-Client-Cert: {Host}; sha256={Hex.Colons(client.Parsed.Sha256)}", stamp);

        // The reporter's ARF report of that message counts against the presented certificate (threshold 1 here).
        var reporter = new TestReporter("mx", authservId: Host);
        File.WriteAllText(_dir.File("mx.pub.pem"), reporter.PublicPem);
        foreach (var args in new[]
        {
            new[] { "reporters", "add", "mx", "--dkim-domain", reporter.Domain, "--dkim-selector", reporter.Selector, "--dkim-key", "mx.pub.pem", "--authserv-id", Host },
            ["settings", "set", "complaint-threshold", "1"],
        })
        {
            var result = CertDnsProcess.Run(_dir.Path, args);
            Assert.True(result.ExitCode == 0, $"certdns {string.Join(' ', args)}: {result.Stderr}");
        }
        var report = CertDnsProcess.Run(_dir.Path, MailReports.Bytes(MailReports.Arf(reporter, System.Text.Encoding.ASCII.GetBytes(message.ReplaceLineEndings("\r\n")))), "report", "--mail");
        Assert.True(report.ExitCode == 0, $"report --mail exited {report.ExitCode}: {report.Stderr}");
        Assert.Contains("status: blocked", CertDnsProcess.Run(_dir.Path, "lookup", "valid.pem").Stdout);
        Assert.Contains("status: revoked", CertDnsProcess.Run(_dir.Path, "lookup", "revoked.pem").Stdout);
    }
}
