using System.Text;
using CertDns.Core;
using MimeKit;

namespace CertDns.EndToEnd.Tests;

/// <summary>
/// The penalty loop of issue #16 with nothing played by the test but the spammer's words and the reporters' "this is
/// spam" button: a sending Exim presents a client certificate over STARTTLS to three receiving Exims, each a registered
/// reporter that stamps the certificate (docs/exim/exim4-reporter.conf.template) and DKIM-signs, with Exim's own
/// <c>dkim_*</c> options, an ARF report of the message to <c>abuse@</c> on the operator's Exim
/// (docs/exim/exim4-abuse-desk.conf.template), whose pipe transport runs <c>certdns report --mail</c>. After the third
/// report each receiver refuses the sender's next message 550 with the TXT reason (they ask the zone: a CertDns serve in
/// the namespace), and the CA's abuse desk has received exactly one ARF report.
/// One network namespace holds them all, each Exim on its own loopback address (port 25): five namespaces would cost
/// five resolv.conf and five CertDns servers to prove nothing more, as no Exim here can reach anything but 127.0.0.0/8.
/// </summary>
public sealed class PenaltyLoopEximTests : IDisposable
{
    private const string Operator = "127.0.0.20", SenderAddress = "127.0.0.30";
    private static readonly string Exim = Peer.EximBinary;
    private readonly TempDir _dir = new();
    private Netns? _netns;

    public void Dispose()
    {
        _netns?.Dispose();
        _dir.Dispose();
    }

    private sealed record Receiver(TestReporter Reporter, string Address, string Dir, string Conf);

    private CertDnsProcess.Result Ok(params string[] args)
    {
        var result = CertDnsProcess.Run(_dir.Path, args);
        Assert.True(result.ExitCode == 0, $"certdns {string.Join(' ', args)} exited {result.ExitCode}: {result.Stderr}{result.Stdout}");
        return result;
    }

    private string Instance(string name)
    {
        var dir = _dir.File(name);
        foreach (var d in new[] { "spool", "log", "mail", "ca-mail" }) Directory.CreateDirectory(Path.Combine(dir, d));
        return dir;
    }

    private string Config(string template, string dir, params (string Key, string Value)[] values)
    {
        var text = File.ReadAllText(Path.Combine(TestPaths.Repository, "docs", "exim", template))
            .Replace("{EXIM}", Exim, StringComparison.Ordinal).Replace("{DIR}", dir, StringComparison.Ordinal)
            .Replace("{SHARED}", _dir.Path, StringComparison.Ordinal);
        foreach (var (key, value) in values) text = text.Replace("{" + key + "}", value, StringComparison.Ordinal);
        var conf = Path.Combine(dir, "exim4.conf");
        File.WriteAllText(conf, text);
        return conf;
    }

    private void StartExim(string conf, string address)
    {
        var check = _netns!.Run(Exim, "-C", conf, "-bV");
        Assert.True(check.ExitCode == 0, $"exim rejects {conf}: {check.Output}");
        _netns.Start(_dir.Path, Exim, "-C", conf, "-bdf");
        WaitFor(() => _netns.Run("bash", "-c", $"exec 3<>/dev/tcp/{address}/25").ExitCode == 0, $"Exim listening on {address}:25");
    }

    /// <summary>Runs <c>exim -t</c> in the namespace with a message on stdin (-odi: delivered, or refused, before it returns).</summary>
    private void Submit(string conf, string envelopeFrom, byte[] message)
    {
        var file = _dir.File($"submit-{Guid.NewGuid():N}.eml");
        File.WriteAllBytes(file, message);
        var result = _netns!.Run("bash", "-c", $"{Exim} -C {conf} -odi -t -oi -f {envelopeFrom} < {file}");
        Assert.True(result.ExitCode == 0, $"exim -t exited {result.ExitCode}: {result.Output}");
    }

    /// <summary>Every Exim's logs, for a failure to show what happened.</summary>
    private string Logs() => string.Join("\n", Directory.GetFiles(_dir.Path, "*log", SearchOption.AllDirectories)
        .Where(f => f.Contains($"{Path.DirectorySeparatorChar}log{Path.DirectorySeparatorChar}", StringComparison.Ordinal))
        .Select(f => $"== {f}\n{File.ReadAllText(f)}"));

    private void WaitFor(Func<bool> condition, string what, int seconds = 60)
    {
        var until = DateTime.UtcNow.AddSeconds(seconds);
        while (!condition())
        {
            if (DateTime.UtcNow > until) throw new TimeoutException($"no {what} within {seconds} s\n{Logs()}");
            Thread.Sleep(200);
        }
    }

    private static string[] Maildir(string dir) => Directory.Exists(Path.Combine(dir, "new")) ? Directory.GetFiles(Path.Combine(dir, "new")) : [];

    private static byte[] Spam(int n, string to) => Encoding.ASCII.GetBytes(
        $"From: Cheap Pills <spammer@spammer.example>\r\nTo: <{to}>\r\nSubject: cheap pills {n}\r\n" +
        $"Date: Mon, 30 Nov 2026 10:0{n}:00 +0000\r\nMessage-ID: <spam-{n}-{Guid.NewGuid():N}@spammer.example>\r\n" +
        // A forged stamp naming someone else's certificate: the reporter's Exim removes it before stamping its own.
        "X-CertDns-Client-Cert: mx.r1.example; sha256=" + new string('a', 64) + "\r\n" +
        $"\r\nBuy now, offer {n}.\r\n");

    [PeerFact(Peer.Exim, Peer.Netns, Peer.Dig)]
    public void PenaltyLoop_ThreeEximReporters_SenderRefused550WithTxt_CaGetsOneArf()
    {
        var scenario = StatusScenario.Register(_dir, "Penalty Loop CA");
        scenario.IssueServer(_dir, "mx.test.example");
        var spammer = scenario.Clients["valid"];
        // The CA attribute the report goes to (docs/spec.md 3.11.2): adding the CA again sets it.
        Ok("ca", "add", "ca.pem", "--abuse-contact", "abuse@ca.example");

        _netns = new Netns("certdns-loop");
        _netns.Start(_dir.Path, "dotnet", Path.Combine(AppContext.BaseDirectory, "certdns.dll"), "serve", "--listen", "127.0.0.1:53", "--poll", "0.2");
        _netns.WaitForPort(53, TimeSpan.FromSeconds(30));

        var receivers = new List<Receiver>();
        for (int i = 1; i <= 3; i++)
        {
            var reporter = new TestReporter($"r{i}");
            var dir = Instance(reporter.Name);
            File.WriteAllText(Path.Combine(dir, "dkim.key"), reporter.Key.ExportRSAPrivateKeyPem());
            File.WriteAllText(_dir.File($"{reporter.Name}.pub.pem"), reporter.PublicPem);
            Ok("reporters", "add", reporter.Name, "--dkim-domain", reporter.Domain, "--dkim-selector", reporter.Selector,
                "--dkim-key", $"{reporter.Name}.pub.pem", "--authserv-id", reporter.AuthservId);
            var address = $"127.0.0.{10 + i}";
            receivers.Add(new Receiver(reporter, address, dir, Config("exim4-reporter.conf.template", dir,
                ("ADDR", address), ("AUTHSERV", reporter.AuthservId), ("DOMAIN", reporter.Domain), ("OPERATOR", Operator))));
        }
        var desk = Instance("operator");
        var deskConf = Config("exim4-abuse-desk.conf.template", desk, ("ADDR", Operator),
            ("CERTDNS", $"/usr/bin/dotnet {Path.Combine(AppContext.BaseDirectory, "certdns.dll")}"), ("STORE", _dir.File("certdns.db")), ("USER", "Debian-exim"));
        var sender = Instance("sender");
        var senderConf = Path.Combine(sender, "exim4.conf");
        File.WriteAllText(senderConf, $"""
            primary_hostname = spammer.example
            exim_path = {Exim}
            spool_directory = {sender}/spool
            log_file_path = {sender}/log/%slog
            local_interfaces = {SenderAddress}
            never_users =
            host_lookup =
            rfc1413_hosts =
            keep_environment =
            begin routers
            reporters:
              driver = manualroute
              route_list = {string.Join(" ; ", receivers.Select(r => $"{r.Reporter.Domain} {r.Address}"))}
              transport = client_cert_smtp
            begin transports
            client_cert_smtp:
              driver = smtp
              port = 25
              hosts_require_tls = *
              tls_certificate = {spammer.Cert}
              tls_privatekey = {spammer.Key}
            """);
        // Exim drops to its own user to deliver: its spools, logs, mailboxes and keys must be that user's.
        Assert.Equal(0, Netns.Exec(["chown", "-R", "Debian-exim:", .. receivers.Select(r => r.Dir), desk, sender,
            _dir.File("server.key"), _dir.File("server.pem"), spammer.Key]).ExitCode);
        // The pipe transport runs certdns as Exim's user (never root), so the store and its folder are that user's; the
        // root processes here (serve, the test's own certdns) keep it so: SQLite run by root gives the WAL and shm files
        // the database file's owner.
        Assert.Equal(0, Netns.Exec(["chown", "Debian-exim:", _dir.Path, .. Directory.GetFiles(_dir.Path, "certdns.db*")]).ExitCode);
        // ... but not its configurations: Exim runs only a configuration that root owns.
        Assert.Equal(0, Netns.Exec(["chown", "root:", .. receivers.Select(r => r.Conf), deskConf, senderConf]).ExitCode);
        foreach (var r in receivers) StartExim(r.Conf, r.Address);
        StartExim(deskConf, Operator);

        int n = 0;
        foreach (var r in receivers)
        {
            // The spammer's message reaches the reporter's mailbox, stamped by the reporter's Exim with the certificate it saw.
            Submit(senderConf, "spammer@spammer.example", Spam(++n, $"user@{r.Reporter.Domain}"));
            WaitFor(() => Maildir(Path.Combine(r.Dir, "mail")).Length == 1, $"message in {r.Reporter.Name}'s mailbox");
            var received = File.ReadAllBytes(Assert.Single(Maildir(Path.Combine(r.Dir, "mail"))));
            using (var stream = new MemoryStream(received))
                // One stamp (the forged one is gone); Exim's ${sha256:} of a certificate is upper-case hex.
                Assert.Equal(r.Reporter.Stamp(spammer.Parsed.Sha256), Assert.Single(MimeMessage.Load(stream).Headers, h => h.Field == "X-CertDns-Client-Cert").Value.Trim(), ignoreCase: true);

            // The user presses "report spam": an unsigned ARF report, which the reporter's Exim signs on the way out.
            var arf = MailReports.Arf(r.Reporter, received, sign: false);
            Submit(r.Conf, $"abuse@{r.Reporter.Domain}", MailReports.Bytes(arf));
            WaitFor(() => Ok("complaints", "list").Stdout.Contains(r.Reporter.Name, StringComparison.Ordinal), $"complaint by {r.Reporter.Name}");
        }

        Assert.Contains("status: blocked", Ok("lookup", spammer.Cert).Stdout);
        var hex = Hex.Lower(spammer.Parsed.Sha256);
        var name = $"{hex[..32]}.{hex[32..]}.status.example";
        WaitFor(() => _netns.Run("dig", "+short", "@127.0.0.1", name, "A").Output.Contains("127.0.0.3", StringComparison.Ordinal), "blocked answer from the zone");

        // The sender's next delivery to each of the three is refused with CertDns's TXT.
        foreach (var r in receivers) Submit(senderConf, "spammer@spammer.example", Spam(++n, $"user@{r.Reporter.Domain}"));
        var senderLog = File.ReadAllText(Path.Combine(sender, "log", "mainlog"));
        foreach (var r in receivers)
        {
            // The sender's Exim saw the 550 (Exim folds the long reply over two 550 lines) ...
            var refused = $"\\*\\* user@{r.Reporter.Domain.Replace(".", "\\.", StringComparison.Ordinal)} .*: 550-TLS client certificate listed by status\\.example: blocked:";
            Assert.True(System.Text.RegularExpressions.Regex.IsMatch(senderLog, refused), $"{r.Reporter.Name} did not refuse the sender:\n{Logs()}");
            // ... and the reporter's Exim logged the whole TXT reason.
            Assert.Contains($"rejected RCPT <user@{r.Reporter.Domain}>: TLS client certificate listed by status.example: blocked: 3 abuse complaints since ",
                File.ReadAllText(Path.Combine(r.Dir, "log", "mainlog")), StringComparison.Ordinal);
            Assert.Single(Maildir(Path.Combine(r.Dir, "mail")));
        }

        // The CA's abuse desk got one ARF report of the listing, with a reporter's evidence attached.
        WaitFor(() => Maildir(Path.Combine(desk, "ca-mail")).Length >= 1, "ARF report at the CA's abuse desk");
        var report = Load(Assert.Single(Maildir(Path.Combine(desk, "ca-mail"))));
        var feedback = Assert.IsType<MultipartReport>(report.Body);
        Assert.Equal("feedback-report", feedback.ReportType);
        Assert.Equal(Hex.Colons(spammer.Parsed.Sha256), feedback.OfType<MessageFeedbackReport>().Single().Fields["Reported-Certificate-SHA256"]);
        Assert.Contains("X-CertDns-Client-Cert: mx.r3.example; sha256=" + hex, feedback.OfType<MessagePart>().Single().Message!.ToString(), StringComparison.OrdinalIgnoreCase);
        Assert.Equal(3, Ok("complaints", "list").Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Length - 1);
        Assert.Contains("signed report by mail, weight 1", Ok("audit").Stdout);
    }

    private static MimeMessage Load(string file)
    {
        using var stream = File.OpenRead(file);
        return MimeMessage.Load(stream);
    }
}
