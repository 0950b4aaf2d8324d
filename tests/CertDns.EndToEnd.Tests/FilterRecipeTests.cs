using System.Text.Json;
using CertDns.Core;

namespace CertDns.EndToEnd.Tests;

/// <summary>
/// The filter recipes (issue #16) run as written: docs/rspamd/ in a real rspamd, docs/spamassassin/certdns.cf in a
/// real SpamAssassin, each asking CertDns on 127.0.0.1:53 in a network namespace whose only network is loopback.
/// Messages carry the stamp a reporter's MTA writes (README, "Stamping the client certificate"); those of a revoked
/// and of a blocked certificate get the recipe's symbol, that of a valid certificate none, also when a copy naming
/// the revoked certificate was forged below the stamp.
/// </summary>
public sealed class FilterRecipeTests : IDisposable
{
    private const string Host = "mx.test.example";
    private const int RspamdPort = 11333;

    private readonly TempDir _dir = new();
    private Netns? _netns;
    private System.Diagnostics.Process? _certdns;

    public void Dispose()
    {
        _netns?.Dispose();
        _dir.Dispose();
    }

    private static string Recipe(string folder, string file) => Path.Combine(TestPaths.Repository, "docs", folder, file);

    /// <summary>Registers the scenario, starts CertDns in a fresh namespace, writes the messages; returns their paths.</summary>
    private Dictionary<string, string> Start(string prefix)
    {
        var clients = StatusScenario.Register(_dir, "Filter Recipe CA").Clients;
        _netns = new Netns(prefix);
        _certdns = _netns.Start(_dir.Path, "dotnet", Path.Combine(AppContext.BaseDirectory, "certdns.dll"), "serve", "--listen", "127.0.0.1:53");
        _netns.WaitForPort(53, TimeSpan.FromSeconds(60));
        string Stamp(StatusScenario.Client c, bool upper = false)
        {
            var sha = Hex.Lower(c.Parsed.Sha256);
            return $"X-CertDns-Client-Cert: {Host}; sha256={(upper ? sha.ToUpperInvariant() : sha)}; spki-sha256={Hex.Lower(c.Parsed.SpkiSha256)}";
        }
        var messages = new Dictionary<string, string>
        {
            ["revoked"] = Stamp(clients["revoked"]),
            // Exim's ${sha256:} is upper-case hex.
            ["blocked"] = Stamp(clients["blocked"], upper: true),
            // A copy naming the revoked certificate forged below the stamp must not be asked.
            ["valid"] = Stamp(clients["valid"]) + "\n" + Stamp(clients["revoked"]),
            ["held"] = Stamp(clients["held"]),
            // Sendmail's ${cert_fp}: colon-separated octets (docs/sendmail/stamp.cf).
            ["sendmail-revoked"] = $"X-CertDns-Client-Cert: {Host}; sha256={Hex.Colons(clients["revoked"].Parsed.Sha256)}",
        };
        var paths = new Dictionary<string, string>();
        foreach (var (name, stamp) in messages)
        {
            paths[name] = _dir.File($"{name}.eml");
            File.WriteAllText(paths[name], $"{stamp}\nReceived: from client.example (client.example [127.0.0.1]) by {Host} with ESMTPS; Wed, 2 Dec 2026 10:00:00 +0000\n" +
                $"From: sender@client.example\nTo: postmaster@{Host}\nSubject: {name} certificate\nDate: Wed, 2 Dec 2026 10:00:00 +0000\n" +
                $"Message-ID: <{name}.{Guid.NewGuid():N}@client.example>\n\nA message from a client with a {name} certificate.\n");
        }
        return paths;
    }

    [PeerFact(Peer.Rspamd, Peer.Rspamc, Peer.Netns)]
    public void Rspamd_RblSelectorRecipe_RevokedAndBlockedScoreValidDoesNot()
    {
        var messages = Start("certdns-rspamd");
        var conf = _dir.File("rspamd");
        foreach (var d in new[] { "local.d", "db", "run", "log" }) Directory.CreateDirectory(Path.Combine(conf, d));
        File.Copy(Recipe("rspamd", "rbl.conf"), Path.Combine(conf, "local.d", "rbl.conf"));
        File.Copy(Recipe("rspamd", "rbl_group.conf"), Path.Combine(conf, "local.d", "rbl_group.conf"));
        // The test's own: rspamd asks CertDns directly, and logs into the scratch folder.
        File.WriteAllText(Path.Combine(conf, "local.d", "options.inc"), "dns { nameserver = [\"127.0.0.1:53\"]; timeout = 1s; retransmits = 2; }\n");
        File.WriteAllText(Path.Combine(conf, "local.d", "logging.inc"), "type = \"file\"; filename = \"$LOGDIR/rspamd.log\"; level = \"info\";\n");
        File.WriteAllText(Path.Combine(conf, "local.d", "worker-normal.inc"), $"bind_socket = \"127.0.0.1:{RspamdPort}\";\n");
        _netns!.Start(conf, Peer.Path(Peer.Rspamd), "-f", "-i", "-u", "root", "-g", "root", "-c", "/etc/rspamd/rspamd.conf",
            $"--var=LOCAL_CONFDIR={conf}", $"--var=DBDIR={conf}/db", $"--var=RUNDIR={conf}/run", $"--var=LOGDIR={conf}/log");
        string Log() => File.Exists(Path.Combine(conf, "log", "rspamd.log")) ? File.ReadAllText(Path.Combine(conf, "log", "rspamd.log")) : "(no log)";
        try { _netns.WaitForPort(RspamdPort, TimeSpan.FromMinutes(4)); }
        catch (TimeoutException e) { Assert.Fail(e.Message + "\n" + Log()); }
        Assert.Contains("added rbl rule CERTDNS", Log());

        Dictionary<string, double> Scan(string message)
        {
            var result = _netns!.Run(Peer.Path(Peer.Rspamc), "-j", "-h", $"127.0.0.1:{RspamdPort}", "-t", "30", "symbols", message);
            Assert.True(result.ExitCode == 0, $"rspamc: {result.Output}\n{Log()}");
            using var json = JsonDocument.Parse(result.Output);
            return json.RootElement.GetProperty("symbols").EnumerateObject()
                .Where(s => s.Name.StartsWith("CERTDNS", StringComparison.Ordinal))
                .ToDictionary(s => s.Name, s => s.Value.GetProperty("score").GetDouble());
        }

        Assert.Equal(new Dictionary<string, double> { ["CERTDNS_REVOKED"] = 15.0 }, Scan(messages["revoked"]));
        Assert.Equal(new Dictionary<string, double> { ["CERTDNS_BLOCKED"] = 15.0 }, Scan(messages["blocked"]));
        Assert.Empty(Scan(messages["valid"]));
        Assert.Equal(new Dictionary<string, double> { ["CERTDNS_REVOKED"] = 15.0 }, Scan(messages["sendmail-revoked"]));

        // With CertDns gone, the lookup fails and says so (rbl_group.conf scores it), never "not listed" in silence.
        _certdns!.Kill(entireProcessTree: true);
        _certdns.WaitForExit();
        Assert.Equal(["CERTDNS_FAIL"], Scan(messages["held"]).Keys);
    }

    [PeerFact(Peer.SpamAssassin, Peer.Netns)]
    public void SpamAssassin_AskDnsRecipe_RevokedAndBlockedScoreValidDoesNot()
    {
        var messages = Start("certdns-spamassassin");
        // The packaged site configuration (its .pre files load the plugins, AskDNS among them), the recipe, and the
        // test's own: CertDns as the only DNS server, and no probing of whether DNS works.
        var site = _dir.File("spamassassin");
        Directory.CreateDirectory(site);
        foreach (var pre in Directory.GetFiles("/etc/spamassassin", "*.pre")) File.Copy(pre, Path.Combine(site, Path.GetFileName(pre)));
        File.Copy(Recipe("spamassassin", "certdns.cf"), Path.Combine(site, "certdns.cf"));
        File.WriteAllText(Path.Combine(site, "local.cf"), "dns_server 127.0.0.1:53\ndns_available yes\n");
        File.WriteAllText(_dir.File("user_prefs"), "");

        string[] Tests(string message)
        {
            var result = _netns!.Run("bash", "-c",
                $"HOME='{_dir.Path}' timeout 120 '{Peer.Path(Peer.SpamAssassin)}' -t --siteconfigpath='{site}' -p '{_dir.File("user_prefs")}' < '{message}'");
            var status = result.Output.ReplaceLineEndings("\n").Split("\n\n")[0];
            var tests = System.Text.RegularExpressions.Regex.Match(status, @"^X-Spam-Status: .*?tests=([^\n]*(?:\n[ \t][^\n]*)*)", System.Text.RegularExpressions.RegexOptions.Multiline);
            Assert.True(tests.Success, "no X-Spam-Status from spamassassin -t:\n" + result.Output);
            return tests.Groups[1].Value.Split([',', ' ', '\n', '\t'], StringSplitOptions.RemoveEmptyEntries)
                .TakeWhile(t => !t.StartsWith("autolearn=", StringComparison.Ordinal) && !t.StartsWith("version=", StringComparison.Ordinal))
                .Where(t => t.StartsWith("CERTDNS", StringComparison.Ordinal)).ToArray();
        }

        Assert.Equal(["CERTDNS_REVOKED"], Tests(messages["revoked"]));
        Assert.Equal(["CERTDNS_BLOCKED"], Tests(messages["blocked"]));
        Assert.Empty(Tests(messages["valid"]));
    }
}
