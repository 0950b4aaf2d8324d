using System.Diagnostics;
using System.Globalization;
using System.Text;
using CertDns.Core;
using CertDns.Pki;

namespace CertDns.Ingest.Tests;

/// <summary>A fact that needs Exim (tools/peers/install-exim.sh), swaks and network namespaces.</summary>
public sealed class EximFactAttribute : FactAttribute
{
    public EximFactAttribute()
    {
        if (!File.Exists(EximTests.Exim)) Skip = $"Exim is not installed at {EximTests.Exim} (tools/peers/install-exim.sh; .ci/run does)";
        else if (!File.Exists("/usr/bin/swaks")) Skip = "swaks is not installed (apt-get install swaks)";
        else if (!File.Exists("/usr/sbin/ip") && !File.Exists("/bin/ip")) Skip = "iproute2 is not installed";
    }
}

/// <summary>
/// The point of CertDns: an unmodified Exim refuses mail from clients whose TLS certificate the zone lists.
/// Exim asks the system resolver only, so Exim, CertDns (on port 53) and swaks run in a network namespace of
/// their own whose resolv.conf names its 127.0.0.1; nothing leaves the namespace's loopback.
/// </summary>
public sealed class EximTests : IDisposable
{
    public static readonly string Exim = Path.Combine(TestPaths.Repository, ".peers", "exim", "usr", "sbin", "exim4");

    private readonly TempDir _dir = new();
    private readonly string _netns = "certdns-exim-" + Guid.NewGuid().ToString("N")[..8];
    private readonly List<Process> _processes = [];
    private readonly TestAuthority _ca = new("Exim Test CA");

    public void Dispose()
    {
        foreach (var p in _processes)
        {
            if (!p.HasExited) p.Kill(entireProcessTree: true);
            p.WaitForExit(5000);
            p.Dispose();
        }
        Run("ip", "netns", "del", _netns);
        try { Directory.Delete($"/etc/netns/{_netns}", recursive: true); } catch (DirectoryNotFoundException) { }
        _dir.Dispose();
    }

    private (string Cert, string Key, ParsedCertificate Parsed) Issue(string name)
    {
        var key = TestKeyPair.Create();
        var now = DateTimeOffset.UtcNow;
        var der = _ca.Issue(name, now.AddDays(-1), now.AddDays(30), key: key);
        File.WriteAllText(_dir.File(name + ".pem"), TestAuthority.ToPem("CERTIFICATE", der));
        File.WriteAllText(_dir.File(name + ".key"), key.PrivateKeyPem);
        return (_dir.File(name + ".pem"), _dir.File(name + ".key"), CertificateFile.Read(der, name)[0]);
    }

    [EximFact]
    public void Exim_DnslistsOnSplitSha256_RejectsListedCertificatesWithTxtReason()
    {
        var (smtp, clients) = Setup("exim4.conf.template");

        // swaks marks lines read over TLS with ~ and failures with *: "<~* 550".
        const string rejected = "<~* 550";
        var valid = Swaks(smtp, clients["valid"]);
        Assert.DoesNotContain(rejected, valid);
        Assert.Contains("<~  250 Accepted", valid);
        foreach (var (name, reason) in new[] { ("revoked", "revoked keyCompromise"), ("held", "hold certificateHold"), ("blocked", "blocked: 3 abuse complaints since") })
        {
            var output = Swaks(smtp, clients[name]);
            Assert.True(output.Contains(rejected, StringComparison.Ordinal), $"{name} was not rejected:\n{output}");
            // Exim logs the whole rejection on one line: the reason is CertDns's TXT, quoted.
            var log = File.ReadAllText(_dir.File("log/mainlog"));
            Assert.Contains($"rejected RCPT <postmaster@mx.test.example>: TLS client certificate listed by status.example: {reason}", log);
        }
        Assert.Contains($"serial {Hex.Lower(clients["revoked"].Parsed.Serial)} (CRL 1)", File.ReadAllText(_dir.File("log/mainlog")));

        // Not registered: the zone answers NXDOMAIN and Exim accepts, as for any DNSBL miss.
        var unknown = Swaks(smtp, clients["unknown"]);
        Assert.DoesNotContain(rejected, unknown);
        Assert.Contains("<~  250 Accepted", unknown);
        // No certificate at all: ${if def:tls_in_peercert} keeps the lookup from happening.
        var anonymous = Swaks(smtp, null);
        Assert.Contains("TLS started", anonymous);
        Assert.DoesNotContain(rejected, anonymous);
        Assert.Contains("<~  250 Accepted", anonymous);
    }

    private (int Smtp, Dictionary<string, (string Cert, string Key, ParsedCertificate Parsed)> Clients) Setup(string template)
    {

        var now = DateTimeOffset.UtcNow;
        File.WriteAllText(_dir.File("ca.pem"), _ca.CertificatePem);
        var server = Issue("mx.test.example");
        File.Move(server.Cert, _dir.File("server.pem"));
        File.Move(server.Key, _dir.File("server.key"));
        var clients = new[] { "valid", "revoked", "held", "blocked", "unknown" }.ToDictionary(n => n, n => Issue($"{n}.client.example"));
        foreach (var n in new[] { "valid", "revoked", "held", "blocked" }) File.Copy(clients[n].Cert, _dir.File($"register-{n}.pem"));
        File.WriteAllBytes(_dir.File("crl.der"), _ca.CreateCrl(1, now.AddMinutes(-5), now.AddDays(7),
        [
            (clients["revoked"].Parsed.Serial, now.AddHours(-1), RevocationReason.KeyCompromise),
            (clients["held"].Parsed.Serial, now.AddHours(-1), RevocationReason.CertificateHold),
        ]));
        foreach (var args in new[]
        {
            new[] { "ca", "add", "ca.pem" }, ["certs", "add", "register-valid.pem", "register-revoked.pem", "register-held.pem", "register-blocked.pem"],
            ["crl", "ingest", "crl.der"], ["block", "register-blocked.pem", "--reason", "3 abuse complaints"],
        })
            Assert.Equal(0, CertDnsProcess.Run(_dir.Path, args).ExitCode);

        // The namespace: its own loopback, and a resolv.conf (bind-mounted by ip netns exec) pointing at it.
        Assert.Equal(0, Run("ip", "netns", "add", _netns).ExitCode);
        Assert.Equal(0, Run("ip", "netns", "exec", _netns, "ip", "link", "set", "lo", "up").ExitCode);
        Directory.CreateDirectory($"/etc/netns/{_netns}");
        File.WriteAllText($"/etc/netns/{_netns}/resolv.conf", "nameserver 127.0.0.1\noptions timeout:2 attempts:2\n");

        Start("certdns", "ip", "netns", "exec", _netns, "dotnet", Path.Combine(AppContext.BaseDirectory, "certdns.dll"), "serve", "--listen", "127.0.0.1:53");
        const int smtp = 2525;
        Directory.CreateDirectory(_dir.File("spool"));
        Directory.CreateDirectory(_dir.File("log"));
        // Exim drops to its own user once it listens: its spool, logs and TLS key must be that user's to use.
        Assert.Equal(0, Run("chown", "-R", "Debian-exim:", _dir.File("spool"), _dir.File("log"), _dir.File("server.key"), _dir.File("server.pem")).ExitCode);
        var conf = File.ReadAllText(Path.Combine(TestPaths.Repository, "docs", "exim", template))
            .Replace("{EXIM}", Exim, StringComparison.Ordinal).Replace("{DIR}", _dir.Path, StringComparison.Ordinal)
            .Replace("{PORT}", smtp.ToString(CultureInfo.InvariantCulture), StringComparison.Ordinal);
        File.WriteAllText(_dir.File("exim4.conf"), conf);
        Assert.True(Run(Exim, "-C", _dir.File("exim4.conf"), "-bV").ExitCode == 0, "exim rejects the configuration: " + File.ReadAllText(_dir.File("exim4.conf")));
        Start("exim", "ip", "netns", "exec", _netns, Exim, "-C", _dir.File("exim4.conf"), "-bdf", "-odq");
        WaitForSmtp(smtp);

        return (smtp, clients);
    }

    [EximFact]
    public void Exim_TlsCertEvent_RefusesListedCertificatesAtHandshake()
    {
        var (smtp, clients) = Setup("exim4-event.conf.template");
        const string rejected = "<~* 550";

        foreach (var name in new[] { "valid", "unknown" })
        {
            var output = Swaks(smtp, clients[name]);
            Assert.DoesNotContain(rejected, output);
            Assert.Contains("<~  250 Accepted", output);
        }
        Assert.Contains("<~  250 Accepted", Swaks(smtp, null));
        foreach (var (name, reason) in new[] { ("revoked", "revoked keyCompromise"), ("held", "hold certificateHold"), ("blocked", "blocked: 3 abuse complaints") })
        {
            var output = Swaks(smtp, clients[name]);
            // Debian's Exim is built with GnuTLS, where a denial from tls:cert ends the session right after the
            // handshake even for tls_try_verify_hosts: no SMTP command is answered over TLS at all.
            Assert.True(output.Contains("Remote host closed connection unexpectedly", StringComparison.Ordinal) || output.Contains(rejected, StringComparison.Ordinal),
                $"{name} was not refused:\n{output}");
            Assert.DoesNotContain("<~  250 Accepted", output);
            Assert.Contains($"SSL verify denied by event-action: depth=0: {reason}", File.ReadAllText(_dir.File("log/mainlog")));
        }
    }

    private string Swaks(int port, (string Cert, string Key, ParsedCertificate Parsed)? client)
    {
        string[] args = ["ip", "netns", "exec", _netns, "swaks", "--server", $"127.0.0.1:{port}", "--tls", "--from", "sender@client.example",
            "--to", "postmaster@mx.test.example", "--quit-after", "RCPT", "--timeout", "20"];
        if (client is { } c) args = [.. args, "--tls-cert", c.Cert, "--tls-key", c.Key];
        var result = Run(args);
        return result.Output;
    }

    private void WaitForSmtp(int port)
    {
        var until = DateTime.UtcNow.AddSeconds(30);
        while (DateTime.UtcNow < until)
        {
            // The namespace's loopback is not ours: probe from inside it.
            if (Run("ip", "netns", "exec", _netns, "bash", "-c", $"exec 3<>/dev/tcp/127.0.0.1/{port} && head -c 3 <&3").Output.StartsWith("220", StringComparison.Ordinal)
                && Run("ip", "netns", "exec", _netns, "bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/53").ExitCode == 0)
                return;
            Thread.Sleep(250);
        }
        throw new TimeoutException("exim or certdns did not start: " + File.ReadAllText(_dir.File("log/mainlog")));
    }

    private void Start(string name, params string[] args)
    {
        var info = new ProcessStartInfo(args[0]) { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = _dir.Path };
        foreach (var a in args[1..]) info.ArgumentList.Add(a);
        var process = Process.Start(info)!;
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        _processes.Add(process);
        Assert.False(process.WaitForExit(200), $"{name} exited at once");
    }

    private static (int ExitCode, string Output) Run(params string[] args)
    {
        var info = new ProcessStartInfo(args[0]) { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args[1..]) info.ArgumentList.Add(a);
        using var p = Process.Start(info)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(60_000)) p.Kill(entireProcessTree: true);
        p.WaitForExit();
        return (p.ExitCode, stdout.Result + stderr.Result);
    }
}
