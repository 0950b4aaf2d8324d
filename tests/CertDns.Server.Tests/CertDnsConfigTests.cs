using System.Net;
using System.Text.RegularExpressions;
using CertDns.Core;
using CertDns.Server.Configuration;

namespace CertDns.Server.Tests;

/// <summary>certdns.toml: every key read, every unknown key and bad value refused with file, line and reason.</summary>
public sealed partial class CertDnsConfigTests
{
    private static readonly string Example = Path.Combine(TestPaths.Repository, "zones", "certdns.toml");

    private static CertDnsConfig Parse(string text) => CertDnsConfigLoader.Parse(text, "certdns.toml");

    [Fact]
    public void Parse_EveryKey_Read()
    {
        var config = Parse("""
            [store]
            path = "/var/lib/certdns/certdns.db"
            [zone]
            name = "Status.Example."
            ns = ["ns1.status.example", "ns.example.net."]
            soa-contact = "dns.admin@example.org"
            ttl = 120
            forms = ["split", "md5"]
            [zone.glue]
            ns1.status.example = ["192.0.2.53", "2001:db8::53"]
            [zone.soa]
            refresh = 7200
            retry = 900
            expire = 1209600
            minimum = 30
            [server]
            listen = ["127.0.0.1:5353", "[::1]:5353"]
            poll = 0.5
            udp-threads = 3
            allow-transfer = ["192.0.2.2"]
            notify = ["192.0.2.2:53"]
            time-changes = 0
            [metrics]
            listen = "127.0.0.1:9153"
            """);

        Assert.Equal("/var/lib/certdns/certdns.db", config.StorePath);
        Assert.Equal("status.example", config.ZoneName);
        Assert.Equal(["ns1.status.example", "ns.example.net"], config.NameServers);
        Assert.Equal([IPAddress.Parse("192.0.2.53"), IPAddress.Parse("2001:db8::53")], config.Glue!["ns1.status.example"]);
        Assert.Equal("dns\\.admin.example.org", config.SoaRname);
        Assert.Equal((7200, 900, 1209600, 30, 120), (config.Refresh, config.Retry, config.Expire, config.Minimum, config.Ttl));
        Assert.Equal("split,md5", config.Forms);
        Assert.Equal([IPEndPoint.Parse("127.0.0.1:5353"), IPEndPoint.Parse("[::1]:5353")], config.Listen);
        Assert.Equal((0.5, 3, 0.0), (config.Poll, config.UdpThreads, config.TimeChanges));
        Assert.Equal([IPAddress.Parse("192.0.2.2")], config.AllowTransfer);
        Assert.Equal([IPEndPoint.Parse("192.0.2.2:53")], config.Notify);
        Assert.Equal(IPEndPoint.Parse("127.0.0.1:9153"), config.MetricsListen);
    }

    [Fact]
    public void Parse_InlineTablesAndQuotedGlueNames_TheSameKeys()
    {
        var config = Parse("""
            zone = { name = "status.example", ns = ["ns1.status.example"], glue = { "ns1.status.example" = "192.0.2.53" }, soa = { refresh = 100 } }
            """);

        Assert.Equal([IPAddress.Parse("192.0.2.53")], config.Glue!["ns1.status.example"]);
        Assert.Equal(100, config.Refresh);
    }

    [Fact]
    public void ZoneOptionsFrom_Config_LaidOverTheDefaults()
    {
        var options = CertDnsConfigLoader.ZoneOptionsFrom(Parse("""
            [zone]
            ns = ["ns.example.net"]
            [zone.soa]
            retry = 1234
            """), new Dns.ZoneOptions { Apex = "status.example" });

        var zone = new Dns.Zone(options);
        Assert.Equal(["ns.example.net"], zone.NameServers.Select(n => n.Name));
        // The demo glue went with the demo name server.
        Assert.Empty(zone.Glue);
        Assert.Equal("ns.example.net. hostmaster.status.example. 1 3600 1234 604800 60", zone.Soa(1).RdataText());
    }

    [Theory]
    [InlineData("[zone]\nnmae = \"x\"\n", 2, "zone.nmae: unknown key")]
    [InlineData("[zones]\nname = \"x\"\n", 1, "[zones]: unknown table")]
    [InlineData("listen = \"127.0.0.1:53\"\n", 1, "listen: unknown key")]
    [InlineData("[server]\n\npoll = 0\n", 3, "server.poll: expected seconds")]
    [InlineData("[server]\npoll = \"1\"\n", 2, "server.poll: expected seconds")]
    [InlineData("[server]\nudp-threads = 0\n", 2, "server.udp-threads: expected a whole number from 1 to 256")]
    [InlineData("[server]\nlisten = [\"127.0.0.1\"]\n", 2, "server.listen: \"127.0.0.1\" is not address:port")]
    [InlineData("[server]\nlisten = [53]\n", 2, "server.listen: expected a list of strings")]
    [InlineData("[server]\nnotify = [\"192.0.2.2:0\"]\n", 2, "server.notify: \"192.0.2.2:0\" is not address:port")]
    [InlineData("[server]\nallow-transfer = [\"192.0.2.0/24\"]\n", 2, "server.allow-transfer: \"192.0.2.0/24\" is not an IP address")]
    [InlineData("[server]\ntime-changes = -1\n", 2, "server.time-changes: expected seconds")]
    [InlineData("[metrics]\nlisten = \"localhost:9153\"\n", 2, "metrics.listen: \"localhost:9153\" is not address:port")]
    [InlineData("[zone]\nname = \"a..b\"\n", 2, "zone.name: \"a..b\" is not a valid zone name")]
    [InlineData("[zone]\nsoa-contact = \"hostmaster\"\n", 2, "zone.soa-contact: \"hostmaster\" is not an e-mail address")]
    [InlineData("[zone]\nns = []\n", 2, "zone.ns: at least one name server")]
    [InlineData("[zone]\nforms = [\"sha3\"]\n", 2, "zone.forms: ")]
    [InlineData("[zone]\nttl = 0\n", 2, "zone.ttl: expected a whole number from 1 to 86400")]
    [InlineData("[zone.soa]\nrefresh = 1.5\n", 2, "zone.soa.refresh: expected a whole number")]
    [InlineData("[zone.soa]\nminimum = 86401\n", 2, "zone.soa.minimum: expected a whole number from 0 to 86400")]
    [InlineData("[zone]\nname = \"status.example\"\nns = [\"ns1.status.example\"]\n", 3, "zone.ns: name server ns1.status.example is inside the zone status.example and has no glue address")]
    [InlineData("[zone]\nns = [\"ns.example.net\"]\n[zone.glue]\n\"ns.example.net\" = [\"192.0.2.1\"]\n", 4, "zone.glue: glue for ns.example.net: the name is outside the zone")]
    [InlineData("[zone.glue]\n\"ns1.status.example\" = [\"192.0.2.300\"]\n", 2, "zone.glue.ns1.status.example: \"192.0.2.300\" is not an IP address")]
    [InlineData("[zone]\nname = \"a\"\nname = \"b\"\n", 3, "not TOML")]
    [InlineData("[zone\n", 1, "not TOML")]
    [InlineData("[[zone]]\nname = \"a\"\n", 1, "arrays of tables")]
    public void Parse_BadKeyOrValue_FileLineAndReason(string text, int line, string reason)
    {
        var e = Assert.Throws<BadInputException>(() => Parse(text));

        Assert.Equal($"certdns.toml:{line}", e.Input);
        Assert.StartsWith(reason, e.Reason, StringComparison.Ordinal);
        Assert.DoesNotContain('\n', e.Message);
    }

    [Fact]
    public void Load_MissingFile_Refused()
    {
        var e = Assert.Throws<BadInputException>(() => CertDnsConfigLoader.Load(Path.Combine(Path.GetTempPath(), Guid.NewGuid() + ".toml")));

        Assert.Equal("no such file", e.Reason);
    }

    // Response rate limiting and DNS cookies.

    [Fact]
    public void Parse_RrlAndCookies_Read()
    {
        var config = Parse("""
            [rrl]
            enable = false
            responses-per-second = 7
            nxdomains-per-second = 3
            errors-per-second = 2
            slip = 1
            window = 4
            ipv4-prefix-length = 32
            ipv6-prefix-length = 48
            table-size = 4096
            [cookies]
            secret = "000102030405060708090A0B0C0D0E0F"
            previous-secret = "0f0e0d0c0b0a09080706050403020100"
            """);

        Assert.False(config.RrlEnable);
        Assert.Equal(new Dns.RateLimitOptions
        {
            ResponsesPerSecond = 7, NxDomainsPerSecond = 3, ErrorsPerSecond = 2, Slip = 1, Window = 4, Ipv4PrefixLength = 32, Ipv6PrefixLength = 48, TableSize = 4096,
        }, config.Rrl);
        Assert.Equal(Enumerable.Range(0, 16).Select(i => (byte)i), config.CookieSecret!);
        Assert.Equal(Enumerable.Range(0, 16).Select(i => (byte)(15 - i)), config.CookiePreviousSecret!);
        Assert.Null(config.CookiesEnable);
    }

    [Theory]
    [InlineData("[rrl]\nenable = \"yes\"\n", 2, "rrl.enable: expected true or false")]
    [InlineData("[rrl]\nresponses-per-second = 0\n", 2, "rrl.responses-per-second: expected a whole number from 1 to 1000000")]
    [InlineData("[rrl]\nslip = -1\n", 2, "rrl.slip: expected a whole number from 0 to 10")]
    [InlineData("[rrl]\nwindow = 0\n", 2, "rrl.window: expected a whole number from 1 to 3600")]
    [InlineData("[rrl]\nipv6-prefix-length = 65\n", 2, "rrl.ipv6-prefix-length: expected a whole number from 1 to 64")]
    [InlineData("[rrl]\nrate = 5\n", 2, "rrl.rate: unknown key")]
    [InlineData("[cookies]\nsecret = \"0011\"\n", 2, "cookies.secret: expected 32 hex digits")]
    [InlineData("[cookies]\nprevious-secret = \"zz0102030405060708090a0b0c0d0e0f\"\n", 2, "cookies.previous-secret: expected 32 hex digits")]
    public void Parse_BadRrlOrCookieValue_FileLineAndReason(string text, int line, string reason)
    {
        var e = Assert.Throws<BadInputException>(() => Parse(text));

        Assert.Equal($"certdns.toml:{line}", e.Input);
        Assert.StartsWith(reason, e.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void Example_AsShipped_ValidAndSetsNothing()
    {
        var config = CertDnsConfigLoader.Load(Example);

        Assert.Null(config.StorePath);
        Assert.Null(config.NameServers);
    }

    [Fact]
    public void Example_EveryKeyUncommented_Valid()
    {
        // The example shows every key the loader knows, each with a value it takes.
        var text = CommentedKey().Replace(File.ReadAllText(Example), "$1");
        var config = Parse(text);

        foreach (var property in typeof(CertDnsConfig).GetProperties().Where(p => p.Name != nameof(CertDnsConfig.Path)))
            Assert.True(property.GetValue(config) is not null, $"zones/certdns.toml shows no key for {property.Name}");
    }

    [GeneratedRegex(@"^#([a-z""][a-z0-9.""-]* = )", RegexOptions.Multiline)]
    private static partial Regex CommentedKey();
}
