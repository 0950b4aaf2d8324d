using System.Globalization;
using CertDns.Core;

namespace CertDns.EndToEnd.Tests;

/// <summary>
/// README's Postfix stamping recipe (issue #16), run as written: a real Postfix receives a message over STARTTLS from
/// a client presenting a certificate, <c>certdns policy --stamp</c> answers PREPEND with the trace header, and
/// <c>header_checks</c> drops the copy the sender forged. The delivered message must carry exactly one
/// X-CertDns-Client-Cert, topmost, naming the certificate presented.
/// </summary>
public sealed class PostfixStampTests : IDisposable
{
    private static readonly string Root = Peer.PostfixRoot;
    private static readonly string PostfixCommand = Path.Combine(Root, "usr", "sbin", "postfix");
    private const int SmtpPort = 2527, StampPort = 10042;
    private const string Host = "mx.test.example";
    /// <summary>The site's private name for the prepended stamp, which its header_checks renames (README).</summary>
    private static readonly string StampHeader = "X-CertDns-Stamp-" + Guid.NewGuid().ToString("N")[..12];

    private readonly TempDir _dir = new();
    private Netns? _netns;

    public void Dispose()
    {
        if (_netns is not null && File.Exists(_dir.File("conf/main.cf"))) Postfix("stop");
        _netns?.Dispose();
        _dir.Dispose();
    }

    private (int ExitCode, string Output) Postfix(string verb) =>
        _netns!.Run("env", $"LD_LIBRARY_PATH={Path.Combine(Root, "usr", "lib", "postfix")}", PostfixCommand, "-c", _dir.File("conf"), verb);

    private string ReadLog() => File.Exists(_dir.File("maillog")) ? File.ReadAllText(_dir.File("maillog")) : "(no maillog)";

    [PeerFact(Peer.Postfix, Peer.Swaks, Peer.Netns)]
    public void Postfix_StampRecipe_TopmostHeaderIsTheStampAndTheForgedCopyIsDropped()
    {
        var scenario = StatusScenario.Register(_dir, "Postfix Stamp CA");
        scenario.IssueServer(_dir, Host);
        var client = scenario.Clients["valid"];
        var innocent = scenario.Clients["revoked"];
        _netns = new Netns("certdns-pfstamp");
        var certdns = Path.Combine(AppContext.BaseDirectory, "certdns.dll");
        _netns.Start(_dir.Path, "dotnet", certdns, "policy", "--listen", $"127.0.0.1:{StampPort}", "--stamp", Host, "--stamp-header", StampHeader);
        _netns.WaitForPort(StampPort, TimeSpan.FromSeconds(30));
        StartPostfix();

        var forged = $"X-CertDns-Client-Cert: {Host}; sha256={Hex.Lower(innocent.Parsed.Sha256)}";
        var sent = _netns.Run("swaks", "--server", $"127.0.0.1:{SmtpPort}", "--tls", "--helo", "client.example",
            "--from", "sender@client.example", "--to", $"postmaster@{Host}", "--timeout", "20",
            "--tls-cert", client.Cert, "--tls-key", client.Key,
            "--add-header", forged, "--header", "Subject: stamp test");
        Assert.True(sent.Output.Contains("<~  250 2.0.0 Ok: queued", StringComparison.Ordinal), $"not queued:\n{sent.Output}\n--- maillog:\n{ReadLog()}");
        // The swaks transcript shows the forged header went out in the DATA.
        Assert.Contains($"~> {forged}", sent.Output);

        var delivered = _dir.File("mail/delivered");
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (!ReadLog().Contains("status=sent", StringComparison.Ordinal))
        {
            Assert.True(DateTime.UtcNow < deadline, "not delivered within 30 s:\n" + ReadLog());
            Thread.Sleep(100);
        }
        var message = File.ReadAllText(delivered).ReplaceLineEndings("\n");
        var headers = message[..message.IndexOf("\n\n", StringComparison.Ordinal)].Split('\n');
        var stamp = $"X-CertDns-Client-Cert: {Host}; sha256={Hex.Lower(client.Parsed.Sha256)}; spki-sha256={Hex.Lower(client.Parsed.SpkiSha256)}";
        Assert.True(headers[0] == stamp, $"topmost header is not the stamp:\n{message}\n--- maillog:\n{ReadLog()}");
        Assert.Single(headers, h => h.StartsWith("X-CertDns-Client-Cert:", StringComparison.OrdinalIgnoreCase));
        Assert.DoesNotContain(Hex.Lower(innocent.Parsed.Sha256), message, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain(StampHeader, message, StringComparison.OrdinalIgnoreCase);
    }

    private void StartPostfix()
    {
        var conf = _dir.File("conf");
        foreach (var d in new[] { conf, _dir.File("queue"), _dir.File("data"), _dir.File("mail") }) Directory.CreateDirectory(d);
        string Fill(string template) => File.ReadAllText(Path.Combine(TestPaths.Repository, "docs", "postfix", template))
            .Replace("{ROOT}", Root, StringComparison.Ordinal).Replace("{DIR}", _dir.Path, StringComparison.Ordinal)
            .Replace("{PORT}", SmtpPort.ToString(CultureInfo.InvariantCulture), StringComparison.Ordinal)
            .Replace("{STAMP_HEADER}", StampHeader, StringComparison.Ordinal);
        File.WriteAllText(Path.Combine(conf, "main.cf"), Fill("main.cf.template").Replace("{RESTRICTION}",
            $"check_policy_service inet:127.0.0.1:{StampPort}", StringComparison.Ordinal) + Fill("stamp.main.cf.template"));
        File.WriteAllText(Path.Combine(conf, "master.cf"), Fill("master.cf.template") + Fill("stamp.master.cf.template"));
        File.WriteAllText(Path.Combine(conf, "certdns_header_checks"), Fill("certdns_header_checks"));
        File.Copy(Path.Combine(Root, "etc", "postfix", "postfix-files"), Path.Combine(conf, "postfix-files"));
        File.Copy(Path.Combine(Root, "usr", "share", "postfix", "dynamicmaps.cf"), Path.Combine(conf, "dynamicmaps.cf"));
        Assert.Equal(0, Netns.Exec("chown", "postfix:", _dir.File("data")).ExitCode);
        Assert.Equal(0, Netns.Exec("chown", "nobody", _dir.File("mail")).ExitCode); // the capture pipe's user
        var start = Postfix("start");
        Assert.True(start.ExitCode == 0, "postfix start failed: " + start.Output + ReadLog());
        _netns!.WaitForPort(SmtpPort, TimeSpan.FromSeconds(30));
    }
}
