using System.Diagnostics;
using CertDns.Core;
using CertDns.Pki;

namespace CertDns.EndToEnd.Tests;

/// <summary>
/// The Debian package as built by <c>tools/package</c> (or the one named by CERTDNS_DEB, so that CI builds it once):
/// extracted into a clean folder, its units checked by systemd-analyze, and its binary run as the unit runs it.
/// </summary>
public sealed class PackageFixture : IDisposable
{
    private readonly Lazy<string> _root;
    private readonly TempDir _dir = new();

    public PackageFixture() => _root = new Lazy<string>(Extract);

    /// <summary>The package's files under a folder of their own, as dpkg-deb -x lays them out.</summary>
    public string Root => _root.Value;

    private string Extract()
    {
        var deb = Environment.GetEnvironmentVariable("CERTDNS_DEB");
        if (string.IsNullOrEmpty(deb))
        {
            // A self-contained publish on a busy machine takes minutes: Exec's default minute killed it with no word.
            var built = Netns.Exec(TimeSpan.FromMinutes(10), "timeout", "600", Path.Combine(TestPaths.Repository, "tools", "package"), "--out", _dir.File("out"));
            Assert.True(built.ExitCode == 0, "tools/package failed: " + built.Output);
            deb = Assert.Single(Directory.GetFiles(_dir.File("out"), "certdns_*.deb"));
        }
        Assert.True(File.Exists(deb), $"no package at {deb}");
        var root = _dir.File("root");
        Assert.Equal(0, Netns.Exec("dpkg-deb", "-x", deb, root).ExitCode);
        // Reachable by the unprivileged user the binary runs as, whatever the umask.
        Assert.Equal(0, Netns.Exec("chmod", "0755", _dir.Path, root).ExitCode);
        Assert.Equal("certdns", Netns.Exec("dpkg-deb", "--field", deb, "Package").Output.Trim());
        return root;
    }

    public void Dispose() => _dir.Dispose();
}

public sealed class PackageTests(PackageFixture package) : IClassFixture<PackageFixture>, IDisposable
{
    /// <summary>The unit's user stands in as nobody: the test makes no system user of its own.</summary>
    private const string Nobody = "65534";

    private readonly TempDir _store = new();

    public void Dispose() => _store.Dispose();

    [PeerFact(Peer.DpkgDeb)]
    public void Package_Layout_HasTheProgramConfigurationUnitsAndManPages()
    {
        foreach (var file in new[] { "usr/bin/certdns", "etc/certdns/certdns.toml", "usr/lib/systemd/system/certdns.service",
                     "usr/lib/systemd/system/certdns-fetch.service", "usr/lib/systemd/system/certdns-fetch.timer",
                     "usr/share/man/man8/certdns.8.gz", "usr/share/man/man5/certdns.toml.5.gz" })
            Assert.True(File.Exists(Path.Combine(package.Root, file)), $"{file} missing from the package");
        Assert.True(Directory.Exists(Path.Combine(package.Root, "var/lib/certdns")));
        // NativeAOT: one native program, no dotnet needed on the target and no runtime or IL assemblies beside it.
        Assert.True(File.Exists(Path.Combine(package.Root, "usr/lib/certdns/certdns")));
        Assert.Empty(Directory.GetFiles(Path.Combine(package.Root, "usr/lib/certdns"), "*.dll"));
        Assert.False(File.Exists(Path.Combine(package.Root, "usr/lib/certdns/libcoreclr.so")), "the package ships the JIT runtime");

        var unit = File.ReadAllText(Path.Combine(package.Root, "usr/lib/systemd/system/certdns.service"));
        foreach (var line in new[] { "Type=notify", "User=certdns", "AmbientCapabilities=CAP_NET_BIND_SERVICE", "CapabilityBoundingSet=CAP_NET_BIND_SERVICE",
                     "ProtectSystem=strict", "ReadWritePaths=/var/lib/certdns", "NoNewPrivileges=yes", "PrivateTmp=yes", "ProtectHome=yes",
                     "SystemCallFilter=@system-service", "ExecReload=/bin/kill -HUP $MAINPID" })
            Assert.Contains(line + "\n", unit);
        // .NET's JIT writes the code it runs: with this set the runtime cannot start.
        Assert.DoesNotContain("\nMemoryDenyWriteExecute=", unit);
    }

    [PeerFact(Peer.DpkgDeb, Peer.SystemdAnalyze)]
    public void Units_SystemdAnalyzeVerify_NoComplaint()
    {
        // verify checks that ExecStart's program exists and that Documentation= man pages open: point both at the
        // extracted package instead of the host's /usr.
        var units = Directory.CreateDirectory(_store.File("units")).FullName;
        var names = new[] { "certdns.service", "certdns-fetch.service", "certdns-fetch.timer" };
        foreach (var name in names)
        {
            var text = File.ReadAllText(Path.Combine(package.Root, "usr/lib/systemd/system", name))
                .Replace("/usr/bin/certdns", Path.Combine(package.Root, "usr/bin/certdns"), StringComparison.Ordinal);
            File.WriteAllText(Path.Combine(units, name), text);
        }
        var verify = Netns.Exec(["env", "MANPATH=" + Path.Combine(package.Root, "usr/share/man"), "systemd-analyze", "verify",
            .. names.Select(n => Path.Combine(units, n))]);

        Assert.Equal(0, verify.ExitCode);
        // systemd-analyze exits 0 on a setting it ignores: any word from it is a fault in a unit.
        Assert.Equal("", verify.Output.Trim());
    }

    [PeerFact(Peer.DpkgDeb, Peer.Netns, Peer.Setpriv, Peer.Dig)]
    public void PackagedBinary_AsTheUnitRunsIt_AnswersOnPort53OverIpv4AndIpv6AndStopsOnSigterm()
    {
        var scenario = StatusScenario.Register(_store, "Package Test CA");
        var db = _store.File("certdns.db");
        // The store folder belongs to the service's user, as postinst makes /var/lib/certdns.
        Assert.Equal(0, Netns.Exec("chown", "-R", $"{Nobody}:{Nobody}", _store.Path).ExitCode);
        var binary = Path.Combine(package.Root, "usr/bin/certdns");
        using var netns = new Netns("certdns-pkg");

        // Without the capability an unprivileged user cannot bind port 53: the hint names what grants it.
        var refused = netns.Run([.. AsUnit(withCapability: false), binary, "serve", "--db", db, "--listen", "127.0.0.1:53"]);
        Assert.Equal(2, refused.ExitCode);
        Assert.Contains("CAP_NET_BIND_SERVICE", refused.Output);

        using var process = Process.Start(Info(netns.Name, [.. AsUnit(withCapability: true), binary, "serve", "--db", db, "--listen", "127.0.0.1:53", "--listen", "[::1]:53"]))!;
        using var server = new CertDnsProcess.Server(process);
        server.WaitFor("serving ", TimeSpan.FromSeconds(60));
        Assert.Contains("127.0.0.1:53 (udp, tcp), [::1]:53 (udp, tcp)", server.Output);

        var revoked = Hex.Lower(scenario.Clients["revoked"].Parsed.Sha256);
        var name = $"{revoked[..32]}.{revoked[32..]}.status.example";
        foreach (var at in new[] { "127.0.0.1", "::1" })
        {
            foreach (var transport in new[] { "+notcp", "+tcp" })
            {
                var dig = netns.Run("dig", "@" + at, "-p", "53", name, "A", "+short", "+tries=1", "+time=5", transport);
                Assert.True(dig.ExitCode == 0 && dig.Output.Trim() == "127.0.0.2", $"dig @{at} {transport}: {dig.Output}");
            }
        }
        // The process really is the unprivileged user with one capability, as the unit makes it.
        var status = File.ReadAllText($"/proc/{process.Id}/status");
        Assert.Matches(@"Uid:\s+65534\s", status);
        Assert.Matches(@"CapEff:\s+0000000000000400\s", status);
        Assert.Matches(@"CapBnd:\s+0000000000000400\s", status);
        // Serving needs no OpenSSL (issue #17's fixed cost): its cookie secret and rate limiter seed come from the
        // kernel, and libssl/libcrypto with their initialisation were 3.7 MB resident and part of the start.
        var maps = File.ReadAllText($"/proc/{process.Id}/maps");
        Assert.DoesNotContain("libcrypto", maps);
        Assert.DoesNotContain("libssl", maps);

        Assert.Equal(0, Netns.Exec("kill", "-TERM", process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)).ExitCode);
        Assert.True(process.WaitForExit(TimeSpan.FromSeconds(5)), "certdns did not stop within 5 s of SIGTERM: " + server.Output);
        Assert.Equal(0, process.ExitCode);
    }

    [PeerFact(Peer.DpkgDeb, Peer.Netns, Peer.Setpriv, Peer.Dig, Peer.Curl)]
    public void PackagedBinary_WithThePackagedConfigEdited_ServesMetricsReloadsOnSighupAndStopsOnSigterm()
    {
        var scenario = StatusScenario.Register(_store, "Package Test CA");
        var db = _store.File("certdns.db");
        // The packaged /etc/certdns/certdns.toml, its commented keys set as an operator would (a copy: the extracted
        // package stays as shipped for the other tests).
        var config = _store.File("certdns.toml");
        var text = File.ReadAllText(Path.Combine(package.Root, "etc/certdns/certdns.toml"));
        text = Set(text, "#path = \"/var/lib/certdns/certdns.db\"", $"path = \"{db}\"");
        text = Set(text, "#ns = [\"ns1.status.example\", \"ns2.example.net\"]", "ns = [\"ns1.status.example\", \"ns2.example.net\"]");
        text = Set(text, "#soa-contact = \"hostmaster@example.org\"", "soa-contact = \"first@example.org\"");
        text = Set(text, "#\"ns1.status.example\" = [\"192.0.2.53\", \"2001:db8::53\"]", "\"ns1.status.example\" = [\"192.0.2.53\", \"2001:db8::53\"]");
        text = Set(text, "#listen = [\"127.0.0.1:5353\"]", "listen = [\"127.0.0.1:53\", \"[::1]:53\"]");
        text = Set(text, "#listen = \"127.0.0.1:9153\"", "listen = \"127.0.0.1:0\"");
        File.WriteAllText(config, text);
        Assert.Equal(0, Netns.Exec("chown", "-R", $"{Nobody}:{Nobody}", _store.Path).ExitCode);
        var binary = Path.Combine(package.Root, "usr/bin/certdns");
        using var netns = new Netns("certdns-pkc");

        using var process = Process.Start(Info(netns.Name, [.. AsUnit(withCapability: true), binary, "serve", "--config", config]))!;
        using var server = new CertDnsProcess.Server(process);
        server.WaitFor("metrics on http://", TimeSpan.FromSeconds(60));
        Assert.Contains("127.0.0.1:53 (udp, tcp), [::1]:53 (udp, tcp)", server.Output);

        string Contact(string at)
        {
            var dig = netns.Run("dig", "@" + at, "-p", "53", "status.example", "SOA", "+short", "+tries=1", "+time=5");
            Assert.True(dig.ExitCode == 0, $"dig @{at}: {dig.Output}");
            return dig.Output.Trim().Split(' ')[1];
        }
        Assert.Equal(["first.example.org.", "first.example.org."], new[] { Contact("127.0.0.1"), Contact("::1") });
        var revoked = Hex.Lower(scenario.Clients["revoked"].Parsed.Sha256);
        var dig = netns.Run("dig", "@::1", "-p", "53", $"{revoked[..32]}.{revoked[32..]}.status.example", "A", "+short", "+tries=1", "+time=5");
        Assert.Equal("127.0.0.2", dig.Output.Trim());

        // Prometheus's view: /metrics from the packaged binary, the query just asked counted.
        var metricsUrl = System.Text.RegularExpressions.Regex.Match(server.Output, @"metrics on (http://127\.0\.0\.1:\d+/metrics)").Groups[1].Value;
        var metrics = netns.Run("curl", "-sSf", "--max-time", "10", metricsUrl);
        Assert.True(metrics.ExitCode == 0, "curl /metrics: " + metrics.Output);
        Assert.Matches(@"(?m)^certdns_queries_total\{[^}]*\} [1-9]", metrics.Output);
        Assert.Contains("certdns_snapshot_serial ", metrics.Output, StringComparison.Ordinal);

        // The operator edits a live key and reloads (the unit's ExecReload sends SIGHUP): dig sees it, nothing restarts.
        File.WriteAllText(config, Set(File.ReadAllText(config), "soa-contact = \"first@example.org\"", "soa-contact = \"second@example.org\""));
        Assert.Equal(0, Netns.Exec("kill", "-HUP", process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)).ExitCode);
        server.WaitFor("configuration reloaded from", TimeSpan.FromSeconds(30));
        Assert.Equal(["second.example.org.", "second.example.org."], new[] { Contact("127.0.0.1"), Contact("::1") });

        var stopping = Stopwatch.StartNew();
        Assert.Equal(0, Netns.Exec("kill", "-TERM", process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)).ExitCode);
        Assert.True(process.WaitForExit(TimeSpan.FromSeconds(5)), $"certdns did not stop within 5 s of SIGTERM ({stopping.Elapsed}): " + server.Output);
        Assert.Equal(0, process.ExitCode);
    }

    /// <summary>
    /// The packaged program is NativeAOT (issue #17): every command family runs in it, not only serve. Code that needs
    /// the JIT (runtime IL generation, as Dapper's reflection does: "Dynamic code generation is not supported") or that
    /// trimming dropped fails here, in the binary the package ships, and nowhere else in the suite.
    /// </summary>
    [PeerFact(Peer.DpkgDeb, Peer.Dig, Peer.Curl)]
    public void PackagedBinary_EveryCommandFamily_RunsInTheNativeProgram()
    {
        var binary = Path.Combine(package.Root, "usr/bin/certdns");
        var dir = _store.Path;
        var db = _store.File("certdns.db");
        CertDnsProcess.Result Ok(byte[]? stdin, params string[] args)
        {
            var result = CertDnsProcess.RunProgram(binary, dir, stdin, ["--db", db, .. args]);
            Assert.True(result.ExitCode == 0, $"certdns {string.Join(' ', args)} exited {result.ExitCode}: {result.Stderr}{result.Stdout}");
            return result;
        }

        var now = DateTimeOffset.UtcNow;
        var ca = new TestAuthority("Native CA");
        var revoked = ca.Issue("revoked.native.example", now.AddDays(-1), now.AddDays(90), serial: [0x11]);
        var good = ca.Issue("good.native.example", now.AddDays(-1), now.AddDays(90), serial: [0x22]);
        File.WriteAllText(_store.File("ca.pem"), ca.CertificatePem);
        File.WriteAllText(_store.File("revoked.pem"), TestAuthority.ToPem("CERTIFICATE", revoked));
        File.WriteAllText(_store.File("good.pem"), TestAuthority.ToPem("CERTIFICATE", good));
        File.WriteAllBytes(_store.File("crl.der"), ca.CreateCrl(1, now.AddMinutes(-5), now.AddDays(7), [([0x11], now.AddHours(-1), RevocationReason.KeyCompromise)]));
        var reporter = new TestReporter("native");
        File.WriteAllText(_store.File("reporter.pub.pem"), reporter.PublicPem);

        // The store is made by its first write (migrations), then each family that writes or reads it.
        Ok(null, "ca", "add", "ca.pem", "--abuse-contact", "abuse@native-ca.example");
        Ok(null, "certs", "add", "revoked.pem", "good.pem");
        Assert.Contains("1 ", Ok(null, "crl", "ingest", "crl.der").Stdout);
        Assert.Contains("revoked", Ok(null, "lookup", "revoked.pem").Stdout, StringComparison.OrdinalIgnoreCase);
        Ok(null, "reporters", "add", reporter.Name, "--dkim-domain", reporter.Domain, "--dkim-selector", reporter.Selector,
            "--dkim-key", "reporter.pub.pem", "--authserv-id", reporter.AuthservId);
        var spammer = CertificateFile.Read(good, "good")[0];
        Ok(MailReports.Bytes(MailReports.Arf(reporter, MailReports.Spam(1, reporter.Stamp(spammer.Sha256)))), "report", "--mail");
        Assert.Single(Ok(null, "complaints", "list").Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries),
            l => l.Contains($"\t{reporter.Name}\tCN=good.native.example", StringComparison.Ordinal));
        Ok(null, "status");
        Ok(null, "export", "--format", "rbldnsd", "-o", _store.File("zone"));
        Assert.Contains(Hex.Lower(Assert.Single(CertificateFile.Read(revoked, "revoked")).Sha256)[..16], File.ReadAllText(_store.File("zone.combined")), StringComparison.Ordinal);
        Ok(null, "dnssec", "keygen", "--keys", _store.File("zone.keys"));
        Assert.Matches(@"\tIN\tDS\t\d+ 13 2 [0-9A-F]{64}", Ok(null, "dnssec", "ds", "--keys", _store.File("zone.keys")).Stdout);

        // serve, signed (the key set just made), with its monitoring listener: dig's answer, signed; certdns query's;
        // Prometheus's /metrics and the status page.
        var config = _store.File("certdns.toml");
        File.WriteAllText(config, $"[store]\npath = \"{db}\"\n\n[zone]\nname = \"status.example\"\ndnssec = true\ndnssec-keys = \"{_store.File("zone.keys")}\"\n");
        Assert.Equal(0, CertDnsProcess.RunProgram(binary, dir, null, "config", "check", config).ExitCode);
        using var server = CertDnsProcess.ServeProgram(binary, dir, null, "--config", config, "--metrics-listen", "127.0.0.1:0");
        server.WaitFor("metrics on http://", TimeSpan.FromSeconds(30));
        var sha = Hex.Lower(Assert.Single(CertificateFile.Read(revoked, "revoked")).Sha256);
        var name = $"{sha[..32]}.{sha[32..]}.status.example";
        var dig = Netns.Exec("dig", "@127.0.0.1", "-p", server.Port.ToString(System.Globalization.CultureInfo.InvariantCulture), name, "A", "+dnssec", "+norec", "+tries=1", "+time=5");
        Assert.Matches(@"\sA\s+127\.0\.0\.2\b", dig.Output);
        Assert.Matches(@"\sRRSIG\s+A\s+13\s", dig.Output);
        var query = Ok(null, "query", name, "--port", server.Port.ToString(System.Globalization.CultureInfo.InvariantCulture));
        // The answer line is ARSoft's record text: its type name comes through EnumHelper<RecordType> (see the Cli csproj).
        Assert.Matches(@"\sIN\s+A\s+127\.0\.0\.2\b", query.Stdout);
        var monitor = System.Text.RegularExpressions.Regex.Match(server.Output, @"metrics on (http://127\.0\.0\.1:\d+)/metrics").Groups[1].Value;
        var metrics = Netns.Exec("curl", "-sSf", "--max-time", "10", monitor + "/metrics");
        Assert.True(metrics.ExitCode == 0, "curl /metrics: " + metrics.Output);
        Assert.Matches(@"(?m)^certdns_queries_total\{[^}]*\} [1-9]", metrics.Output);
        var page = Netns.Exec("curl", "-sSf", "--max-time", "10", monitor + "/");
        Assert.True(page.ExitCode == 0, "curl /: " + page.Output);
        Assert.Contains("Native CA", page.Output, StringComparison.Ordinal);
    }

    /// <summary>The packaged configuration with one line replaced; the line must be there as shipped.</summary>
    private static string Set(string text, string from, string to)
    {
        Assert.True(text.Contains(from, StringComparison.Ordinal), $"the packaged certdns.toml has no line {from}");
        int at = text.IndexOf(from, StringComparison.Ordinal);
        return string.Concat(text.AsSpan(0, at), to, text.AsSpan(at + from.Length));
    }

    /// <summary>
    /// The unit's privileges: its user (nobody here), no supplementary groups, no new privileges, and with the
    /// capability only CAP_NET_BIND_SERVICE (ambient, so it survives the exec; the bounding set holds nothing else).
    /// The environment is as bare as systemd's.
    /// </summary>
    private string[] AsUnit(bool withCapability) =>
    [
        "env", "-i", "PATH=/usr/sbin:/usr/bin:/sbin:/bin", "HOME=" + _store.Path,
        "setpriv", "--reuid", Nobody, "--regid", Nobody, "--clear-groups", "--no-new-privs",
        .. withCapability
            ? (string[])["--inh-caps=-all,+net_bind_service", "--ambient-caps=-all,+net_bind_service", "--bounding-set=-all,+net_bind_service"]
            : ["--inh-caps=-all", "--bounding-set=-all"],
    ];

    private static ProcessStartInfo Info(string netns, string[] args)
    {
        var info = new ProcessStartInfo("ip") { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = "/" };
        foreach (var a in (string[])["netns", "exec", netns, .. args]) info.ArgumentList.Add(a);
        return info;
    }
}
