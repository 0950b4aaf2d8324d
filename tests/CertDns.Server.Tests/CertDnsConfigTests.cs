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

        // SecretReadableByOthers is what Load finds of the file's mode, no key.
        foreach (var property in typeof(CertDnsConfig).GetProperties().Where(p => p.Name is not (nameof(CertDnsConfig.Path) or nameof(CertDnsConfig.SecretReadableByOthers))))
            Assert.True(property.GetValue(config) is not null, $"zones/certdns.toml shows no key for {property.Name}");
    }

    [Fact]
    public void Parse_JournalTable_BoundsRead()
    {
        var config = Parse("[journal]\nmax-size = 0\nmax-age = 3600\n");

        Assert.Equal((0, 3600.0), (config.JournalMaxSize, config.JournalMaxAge));
    }

    [Theory]
    [InlineData("[journal]\nmax-size = -1\n", "journal.max-size: expected a whole number from 0")]
    [InlineData("[journal]\nmax-size = \"16M\"\n", "journal.max-size: expected a whole number from 0")]
    [InlineData("[journal]\nmax-age = 0\n", "journal.max-age: expected seconds, above 0")]
    [InlineData("[journal]\nmax-entries = 5\n", "journal.max-entries: unknown key")]
    public void Parse_BadJournalValue_FileLineAndReason(string text, string reason)
    {
        var e = Assert.Throws<BadInputException>(() => Parse(text));

        Assert.Equal("certdns.toml:2", e.Input);
        Assert.StartsWith(reason, e.Reason, StringComparison.Ordinal);
    }

    // TSIG: [[key]], [[transfer]], [[notify]].

    private const string Secret32 = "cmVwbGFjZSB3aXRoIHRoZSBvdXRwdXQgb2YgdHNpZy1rZXlnZW4=";

    [Fact]
    public void Parse_KeysTransfersNotifies_Read()
    {
        var config = Parse($"""
            [server]
            allow-transfer = ["192.0.2.9"]
            [[key]]
            name = "Xfr.Status.Example."
            secret = "{Secret32}"
            [[key]]
            name = "old"
            algorithm = "HMAC-SHA1"
            secret = "{Secret32}"
            [[transfer]]
            address = "192.0.2.0/24"
            key = "xfr.status.example"
            [[transfer]]
            address = "2001:db8::2"
            [[notify]]
            address = "[2001:db8::2]:53"
            key = "old"
            """);

        Assert.Equal(["xfr.status.example", "old"], config.Keys!.Select(k => k.Name));
        Assert.Equal(Dns.TsigAlgorithm.HmacSha256, config.Keys![0].Algorithm);
        Assert.Equal(Dns.TsigAlgorithm.HmacSha1, config.Keys![1].Algorithm);
        Assert.Equal(IPNetwork.Parse("192.0.2.0/24"), config.Transfers![0].Network);
        Assert.Same(config.Keys[0], config.Transfers[0].Key);
        Assert.Equal(IPNetwork.Parse("2001:db8::2/128"), config.Transfers[1].Network);
        Assert.Null(config.Transfers[1].Key);
        Assert.Equal(IPEndPoint.Parse("[2001:db8::2]:53"), config.NotifyTargets![0].Address);
        Assert.Same(config.Keys[1], config.NotifyTargets[0].Key);
        Assert.Equal([IPAddress.Parse("192.0.2.9")], config.AllowTransfer!);
    }

    [Theory]
    [InlineData("[[key]]\nname = \"k\"\nsecret = \"c2hvcnQ=\"\n", 3, "key.secret: the secret has 5 octets; hmac-sha256 needs at least 32")]
    [InlineData("[[key]]\nname = \"k\"\nsecret = \"not base64!\"\n", 3, "key.secret: [[key]] \"k\": not base64")]
    [InlineData("[[key]]\nname = \"k\"\n", 1, "[[key]] \"k\": secret is missing")]
    [InlineData("[[key]]\nsecret = \"" + Secret32 + "\"\n", 1, "[[key]]: name is missing")]
    [InlineData("[[key]]\nname = \"k\"\nalgorithm = \"hmac-md5\"\nsecret = \"" + Secret32 + "\"\n", 3, "key.algorithm: expected hmac-sha256")]
    [InlineData("[[key]]\nname = \"k\"\nsecret = \"" + Secret32 + "\"\nsecrets = 1\n", 4, "key.secrets: unknown key")]
    [InlineData("[[key]]\nname = \"k\"\nsecret = \"" + Secret32 + "\"\n[[key]]\nname = \"K.\"\nsecret = \"" + Secret32 + "\"\n", 4, "key.name: \"k\" given twice")]
    [InlineData("[[transfer]]\naddress = \"192.0.2.1/24\"\n", 2, "transfer.address: \"192.0.2.1/24\" is not an address or prefix")]
    [InlineData("[[transfer]]\naddress = \"192.0.2.0/24\"\nkey = \"nobody\"\n", 3, "transfer.key: no [[key]] named \"nobody\"")]
    [InlineData("[[transfer]]\n[[notify]]\naddress = \"192.0.2.2:53\"\n", 1, "[[transfer]]: address is missing")]
    [InlineData("[[notify]]\naddress = \"192.0.2.2\"\n", 2, "notify.address: \"192.0.2.2\" is not address:port")]
    [InlineData("[[notify]]\naddress = \"192.0.2.2:53\"\nport = 53\n", 3, "notify.port: unknown key")]
    [InlineData("[[acl]]\naddress = \"192.0.2.2\"\n", 1, "arrays of tables other than")]
    public void Parse_BadTsigEntry_FileLineAndReason(string text, int line, string reason)
    {
        var e = Assert.Throws<BadInputException>(() => Parse(text));

        Assert.Equal($"certdns.toml:{line}", e.Input);
        Assert.StartsWith(reason, e.Reason, StringComparison.Ordinal);
        Assert.DoesNotContain(Secret32, e.Message);
    }

    [Fact]
    public void Load_SecretInFileOthersMayRead_Flagged()
    {
        if (OperatingSystem.IsWindows()) return;
        var path = Path.Combine(Path.GetTempPath(), Guid.NewGuid() + ".toml");
        try
        {
            File.WriteAllText(path, $"[[key]]\nname = \"k\"\nsecret = \"{Secret32}\"\n");
            File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.OtherRead);
            Assert.True(CertDnsConfigLoader.Load(path).SecretReadableByOthers);
            File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
            Assert.Null(CertDnsConfigLoader.Load(path).SecretReadableByOthers);
        }
        finally
        {
            File.Delete(path);
        }
    }

    // [log]: the dnstap query log.

    [Fact]
    public void Parse_LogTable_DnstapKeysRead()
    {
        var config = Parse("""
            [log]
            dnstap = "unix:/run/certdns/dnstap.sock"
            dnstap-queue = 65536
            dnstap-queries = false
            dnstap-responses = true
            """);

        Assert.Equal("unix:/run/certdns/dnstap.sock", config.Dnstap);
        Assert.Equal((65536, false, true), (config.DnstapQueue, config.DnstapQueries, config.DnstapResponses));
        Assert.Null(Parse("[log]\n").Dnstap);
    }

    [Theory]
    [InlineData("[log]\ndnstap = \"\"\n", 2, "log.dnstap: must not be empty")]
    [InlineData("[log]\ndnstap = \"unix:run/dnstap.sock\"\n", 2, "log.dnstap: expected unix: and an absolute socket path")]
    [InlineData("[log]\ndnstap = \"/tmp\"\n", 2, "log.dnstap: \"/tmp\" is a folder")]
    [InlineData("[log]\ndnstap-queue = 0\n", 2, "log.dnstap-queue: expected a whole number from 1 to 1048576")]
    [InlineData("[log]\n\ndnstap-queries = \"yes\"\n", 3, "log.dnstap-queries: expected true or false")]
    [InlineData("[log]\ndnstp = \"/var/log/x\"\n", 2, "log.dnstp: unknown key")]
    public void Parse_BadLogKey_FileLineAndReason(string text, int line, string reason)
    {
        var e = Assert.Throws<BadInputException>(() => Parse(text));

        Assert.Equal($"certdns.toml:{line}", e.Input);
        Assert.StartsWith(reason, e.Reason, StringComparison.Ordinal);
    }

    // A commented key, or a commented [[key]], [[transfer]] or [[notify]] header.
    [GeneratedRegex(@"^#(\[\[[a-z]+\]\]$|[a-z""][a-z0-9.""-]* = )", RegexOptions.Multiline)]
    private static partial Regex CommentedKey();
}
