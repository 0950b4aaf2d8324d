namespace CertDns.EndToEnd.Tests;

/// <summary>
/// certdns.toml as an operator uses it: <c>config check</c>, serve's zone identity from the file (and its refusal of an
/// in-zone name server without glue), and the other verbs finding the store and zone through <c>--config</c>.
/// </summary>
public sealed class ConfigFileTests : IDisposable
{
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    private string Write(string name, string text)
    {
        File.WriteAllText(_dir.File(name), text);
        return _dir.File(name);
    }

    [Fact]
    public void ConfigCheck_TheShippedExample_Ok()
    {
        var result = CertDnsProcess.Run(_dir.Path, "config", "check", Path.Combine(TestPaths.Repository, "zones", "certdns.toml"));

        Assert.True(result.ExitCode == 0, result.Stderr);
        Assert.Contains(": ok", result.Stdout, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("[zone]\nname = \"status.example\"\nnmae = \"x\"\n", "bad.toml:3: zone.nmae: unknown key")]
    [InlineData("[server]\nudp-threads = 1000\n", "bad.toml:2: server.udp-threads: expected a whole number from 1 to 256")]
    // Response rate limiting and DNS cookies.
    [InlineData("[rrl]\nslip = 11\n", "bad.toml:2: rrl.slip: expected a whole number from 0 to 10")]
    [InlineData("[cookies]\nsecret = \"not hex\"\n", "bad.toml:2: cookies.secret: expected 32 hex digits (a 16-octet secret, e.g. from: openssl rand -hex 16)")]
    public void ConfigCheck_BadFile_OneLineWithFileLineAndReasonExit1(string text, string expected)
    {
        var path = Write("bad.toml", text);

        var result = CertDnsProcess.Run(_dir.Path, "config", "check", path);

        Assert.Equal(1, result.ExitCode);
        var line = Assert.Single(result.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.EndsWith(expected, line.TrimEnd(), StringComparison.Ordinal);
    }

    [Fact]
    public void Serve_InZoneNameServerWithoutGlue_RefusedWithOneLine()
    {
        var result = CertDnsProcess.Run(_dir.Path, "serve", "--listen", "127.0.0.1:0", "--ns", "ns1.status.example", "--ns", "ns.example.net");

        Assert.Equal(1, result.ExitCode);
        var line = Assert.Single(result.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Contains("ns1.status.example is inside the zone status.example and has no glue address", line, StringComparison.Ordinal);
        Assert.DoesNotContain("serving", result.Stdout, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("--ttl", "-1", "--ttl: must not be negative")]
    [InlineData("--negative-ttl", "-5", "--negative-ttl: must not be negative")]
    [InlineData("--soa-contact", "hostmaster", "--soa-contact: \"hostmaster\" is not an e-mail address")]
    [InlineData("--glue", "ns.status.example", "ns.status.example: expected --glue NAME=ADDRESS")]
    public void Serve_BadIdentityOrTtl_OneLineBeforeTheStoreIsOpened(string flag, string value, string expected)
    {
        var result = CertDnsProcess.Run(_dir.Path, "serve", "--listen", "127.0.0.1:0", flag, value);

        Assert.Equal(1, result.ExitCode);
        var line = Assert.Single(result.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Contains(expected, line, StringComparison.Ordinal);
        Assert.False(File.Exists(_dir.File("certdns.db")));
    }

    [PeerFact(Peer.Dig)]
    public async Task ServeAndExport_ConfigFile_SameNameServersGlueAndSoa()
    {
        Directory.CreateDirectory(_dir.File("elsewhere"));
        var config = Write("certdns.toml", $"""
            [store]
            path = "{_dir.File("zone.db")}"
            [zone]
            name = "certs.example"
            ns = ["ns1.certs.example", "ns2.example.net"]
            soa-contact = "dns.admin@example.org"
            [zone.glue]
            "ns1.certs.example" = ["192.0.2.53", "2001:db8::53"]
            [zone.soa]
            refresh = 7200
            retry = 900
            expire = 1209600
            minimum = 30
            [server]
            allow-transfer = ["127.0.0.1"]
            """);
        // From another folder, the file alone names the store and the zone.
        using var server = CertDnsProcess.Serve(_dir.File("elsewhere"), "--config", config, "--demo");
        var axfr = await Dig.RunRawAsync(server.Port, "certs.example", "AXFR");
        var export = CertDnsProcess.Run(_dir.File("elsewhere"), "export", "--config", config, "--output", _dir.File("certs.example.zone"));
        Assert.True(export.ExitCode == 0, export.Stderr);
        Assert.True(File.Exists(_dir.File("zone.db")));

        static List<string> Apex(string text) => [.. text.Split('\n')
            .Where(l => l.Length > 0 && !l.StartsWith(';') && !l.StartsWith('$'))
            .Select(l => l.Split((char[])[' ', '\t'], StringSplitOptions.RemoveEmptyEntries))
            .Where(r => r.Length > 4 && (r[3] is "SOA" or "NS" || (r[3] is "A" or "AAAA" && r[0].StartsWith("ns", StringComparison.Ordinal))))
            .Select(r => string.Join(' ', r[0], r[3], string.Join(' ', r[4..])))
            .Distinct()];
        var fromExport = Apex(File.ReadAllText(_dir.File("certs.example.zone")).Replace("\n@ ", "\ncerts.example. ", StringComparison.Ordinal));
        var fromAxfr = Apex(axfr);

        string[] expected =
        [
            "certs.example. SOA ns1.certs.example. dns\\.admin.example.org. SERIAL 7200 900 1209600 30",
            "certs.example. NS ns1.certs.example.",
            "certs.example. NS ns2.example.net.",
            "ns1.certs.example. A 192.0.2.53",
            "ns1.certs.example. AAAA 2001:db8::53",
        ];
        static string WithoutSerial(string r) => System.Text.RegularExpressions.Regex.Replace(r, @"(SOA \S+ \S+) \d+", "$1 SERIAL");
        Assert.Equal(expected.Order(StringComparer.Ordinal), fromAxfr.Select(WithoutSerial).Order(StringComparer.Ordinal));
        Assert.Equal(fromAxfr.Select(WithoutSerial).Order(StringComparer.Ordinal), fromExport.Select(WithoutSerial).Order(StringComparer.Ordinal));
    }
}
