using System.Diagnostics;
using System.Globalization;
using System.Net;
using CertDns.Core;
using CertDns.Pki;
using CertDns.Policy;

namespace CertDns.Ingest.Tests;

/// <summary>A fact that needs Postfix (tools/peers/install-postfix.sh) and swaks.</summary>
public sealed class PostfixFactAttribute : FactAttribute
{
    public PostfixFactAttribute()
    {
        if (!File.Exists(PostfixTests.Postfix)) Skip = $"Postfix is not installed at {PostfixTests.Postfix} (tools/peers/install-postfix.sh; .ci/run does)";
        else if (!File.Exists("/usr/bin/swaks")) Skip = "swaks is not installed (apt-get install swaks)";
    }
}

/// <summary>
/// A real Postfix 3.7 asks certdns policy (policy delegation, and the socketmap access table) about each
/// client certificate; certdns policy asks a running certdns over DNS. swaks presents the certificates.
/// </summary>
public sealed class PostfixTests : IAsyncLifetime
{
    public static readonly string Root = Path.Combine(TestPaths.Repository, ".peers", "postfix");
    public static readonly string Postfix = Path.Combine(Root, "usr", "sbin", "postfix");

    private readonly TempDir _dir = new();
    private readonly TestAuthority _ca = new("Postfix Test CA");
    private readonly Dictionary<string, (string Cert, string Key)> _clients = [];
    private CertDnsProcess.Server? _certdns;
    private PolicyServer? _policy;
    private SocketmapServer? _socketmap;
    private bool _started;

    public async Task InitializeAsync()
    {
        var now = DateTimeOffset.UtcNow;
        File.WriteAllText(_dir.File("ca.pem"), _ca.CertificatePem);
        var server = TestKeyPair.Create();
        File.WriteAllText(_dir.File("server.pem"), TestAuthority.ToPem("CERTIFICATE", _ca.Issue("mx.test.example", now.AddDays(-1), now.AddDays(30), key: server)));
        File.WriteAllText(_dir.File("server.key"), server.PrivateKeyPem);
        var parsed = new Dictionary<string, ParsedCertificate>();
        foreach (var name in new[] { "valid", "revoked", "held", "blocked", "unknown" })
        {
            var key = TestKeyPair.Create();
            var der = _ca.Issue($"{name}.client.example", now.AddDays(-1), now.AddDays(30), key: key);
            parsed[name] = CertificateFile.Read(der, name)[0];
            File.WriteAllText(_dir.File($"{name}.pem"), TestAuthority.ToPem("CERTIFICATE", der));
            File.WriteAllText(_dir.File($"{name}.key"), key.PrivateKeyPem);
            _clients[name] = (_dir.File($"{name}.pem"), _dir.File($"{name}.key"));
        }
        File.WriteAllBytes(_dir.File("crl.der"), _ca.CreateCrl(1, now.AddMinutes(-5), now.AddDays(7),
        [
            (parsed["revoked"].Serial, now.AddHours(-1), RevocationReason.KeyCompromise),
            (parsed["held"].Serial, now.AddHours(-1), RevocationReason.CertificateHold),
        ]));
        foreach (var args in new[]
        {
            new[] { "ca", "add", "ca.pem" }, ["certs", "add", "valid.pem", "revoked.pem", "held.pem", "blocked.pem"],
            ["crl", "ingest", "crl.der"], ["block", "blocked.pem", "--reason", "3 abuse complaints"],
        })
            Assert.Equal(0, CertDnsProcess.Run(_dir.Path, args).ExitCode);
        _certdns = CertDnsProcess.Serve(_dir.Path);
        var decision = new PolicyDecision(new ZoneClient(IPAddress.Loopback, _certdns.Port, "status.example", TimeSpan.FromSeconds(2)), FailureMode.Open);
        _policy = new PolicyServer(new IPEndPoint(IPAddress.Loopback, 0), decision, TimeSpan.FromSeconds(60));
        _socketmap = new SocketmapServer(new IPEndPoint(IPAddress.Loopback, 0), decision, TimeSpan.FromSeconds(60));
        await Task.CompletedTask;
    }

    public async Task DisposeAsync()
    {
        if (_started) Run(Postfix, "-c", _dir.File("conf"), "stop");
        if (_policy is not null) await _policy.DisposeAsync();
        if (_socketmap is not null) await _socketmap.DisposeAsync();
        _certdns?.Dispose();
        _dir.Dispose();
    }

    private int StartPostfix(string restriction)
    {
        var port = CertDnsProcess.FreePort();
        var conf = _dir.File("conf");
        foreach (var d in new[] { conf, _dir.File("queue"), _dir.File("data") }) Directory.CreateDirectory(d);
        string Fill(string template) => File.ReadAllText(Path.Combine(TestPaths.Repository, "docs", "postfix", template))
            .Replace("{ROOT}", Root, StringComparison.Ordinal).Replace("{DIR}", _dir.Path, StringComparison.Ordinal)
            .Replace("{PORT}", port.ToString(CultureInfo.InvariantCulture), StringComparison.Ordinal)
            .Replace("{RESTRICTION}", restriction, StringComparison.Ordinal);
        File.WriteAllText(Path.Combine(conf, "main.cf"), Fill("main.cf.template"));
        File.WriteAllText(Path.Combine(conf, "master.cf"), Fill("master.cf.template"));
        // What postinst would have put in /etc/postfix, for postfix-script's checks.
        File.Copy(Path.Combine(Root, "etc", "postfix", "postfix-files"), Path.Combine(conf, "postfix-files"));
        File.Copy(Path.Combine(Root, "usr", "share", "postfix", "dynamicmaps.cf"), Path.Combine(conf, "dynamicmaps.cf"));
        Assert.Equal(0, Run("chown", "postfix:", _dir.File("data")).ExitCode);
        var start = Run(Postfix, "-c", conf, "start");
        _started = true;
        Assert.True(start.ExitCode == 0, "postfix start failed: " + start.Output + ReadLog());

        var until = DateTime.UtcNow.AddSeconds(30);
        while (DateTime.UtcNow < until)
        {
            try
            {
                using var probe = new System.Net.Sockets.TcpClient();
                probe.Connect(IPAddress.Loopback, port);
                using var reader = new StreamReader(probe.GetStream());
                if (reader.ReadLine()?.StartsWith("220", StringComparison.Ordinal) == true) return port;
            }
            catch (System.Net.Sockets.SocketException)
            {
            }
            Thread.Sleep(200);
        }
        throw new TimeoutException("postfix did not start: " + ReadLog());
    }

    private string ReadLog() => File.Exists(_dir.File("maillog")) ? File.ReadAllText(_dir.File("maillog")) : "(no maillog)";

    private string Swaks(int port, string? client)
    {
        string[] args = ["swaks", "--server", $"127.0.0.1:{port}", "--tls", "--from", "sender@client.example",
            "--to", "postmaster@mx.test.example", "--quit-after", "RCPT", "--timeout", "20"];
        if (client is not null) args = [.. args, "--tls-cert", _clients[client].Cert, "--tls-key", _clients[client].Key];
        return Run(args).Output;
    }

    [PostfixFact]
    public void Postfix_CheckPolicyService_RejectsListedCertificatesWithTxtReason()
    {
        var port = StartPostfix($"check_policy_service inet:{_policy!.LocalEndPoint}");

        AssertOutcomes(port, "Recipient address rejected: TLS client certificate");
    }

    [PostfixFact]
    public void Postfix_CheckCcertAccessSocketmap_RejectsListedCertificatesWithTxtReason()
    {
        var port = StartPostfix($"check_ccert_access socketmap:inet:{_socketmap!.LocalEndPoint}:cert");

        AssertOutcomes(port, "Client certificate rejected: TLS client certificate");
    }

    private void AssertOutcomes(int port, string rejection)
    {
        foreach (var name in new[] { "valid", "unknown" })
            Assert.Contains("<~  250 2.1.5 Ok", Swaks(port, name));
        Assert.Contains("<~  250 2.1.5 Ok", Swaks(port, null));
        foreach (var (name, reason) in new[] { ("revoked", "revoked: revoked keyCompromise"), ("held", "hold: hold certificateHold"), ("blocked", "blocked: blocked: 3 abuse complaints") })
        {
            var output = Swaks(port, name);
            Assert.True(output.Contains("<~* 554 5.7.1", StringComparison.Ordinal), $"{name} was not rejected:\n{output}\n--- maillog:\n{ReadLog()}");
            Assert.Contains($"{rejection} {reason}", output);
        }
    }

    private static (int ExitCode, string Output) Run(params string[] args)
    {
        var info = new ProcessStartInfo(args[0]) { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args[1..]) info.ArgumentList.Add(a);
        info.Environment["LD_LIBRARY_PATH"] = Path.Combine(Root, "usr", "lib", "postfix");
        using var p = Process.Start(info)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(60_000)) p.Kill(entireProcessTree: true);
        p.WaitForExit();
        return (p.ExitCode, stdout.Result + stderr.Result);
    }
}
