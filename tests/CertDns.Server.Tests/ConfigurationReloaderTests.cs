using System.Net;
using System.Reflection;
using CertDns.Core;
using CertDns.Server.Configuration;

namespace CertDns.Server.Tests;

/// <summary>
/// SIGHUP's configuration reload on a real file: a bad edit is refused with its FILE:LINE: KEY and nothing is applied, a
/// live key reaches the server, a restart key is reported and its old value kept, a typed flag keeps winning.
/// </summary>
public sealed class ConfigurationReloaderTests : IDisposable
{
    private const string Start = """
        [store]
        path = "/var/lib/certdns/certdns.db"
        [zone]
        name = "status.example"
        ns = ["ns1.status.example"]
        soa-contact = "hostmaster@example.org"
        [zone.glue]
        "ns1.status.example" = ["192.0.2.53"]
        [server]
        listen = ["127.0.0.1:5353"]
        poll = 1
        """;

    private readonly TempDir _dir = new();
    private readonly List<CertDnsConfig> _applied = [];
    private readonly List<string> _log = [];

    private string ConfigPath => _dir.File("certdns.toml");

    public void Dispose() => _dir.Dispose();

    private ConfigurationReloader Reloader(Func<string, bool>? flagGiven = null, Func<CertDnsConfig, string?>? apply = null)
    {
        File.WriteAllText(ConfigPath, Start);
        return new ConfigurationReloader(CertDnsConfigLoader.Load(ConfigPath), flagGiven ?? (_ => false), apply ?? (c =>
        {
            _applied.Add(c);
            return null;
        }), _log.Add);
    }

    private void Edit(string from, string to)
    {
        var text = File.ReadAllText(ConfigPath);
        Assert.Contains(from, text, StringComparison.Ordinal);
        File.WriteAllText(ConfigPath, text.Replace(from, to, StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("poll = 1", "poll = 1\nbogus = 2", ":12: server.bogus: unknown key")]
    [InlineData("poll = 1", "poll = -3", ":11: server.poll:")]
    [InlineData("[server]", "[server", ":9: not TOML")]
    [InlineData("\"ns1.status.example\" = [\"192.0.2.53\"]", "\"ns9.status.example\" = [\"192.0.2.53\"]", ":8: zone.glue:")]
    public void Reload_BadFile_RefusedWithItsLineAndNothingApplied(string from, string to, string expected)
    {
        var reloader = Reloader();
        var before = reloader.Current;
        Edit(from, to);

        var refused = Assert.Throws<BadInputException>(reloader.Reload);

        Assert.Contains(ConfigPath + expected, refused.Message, StringComparison.Ordinal);
        Assert.Empty(_applied);
        Assert.Same(before, reloader.Current);
    }

    [Fact]
    public void Reload_LiveKeysChanged_AppliedAndNamed()
    {
        var reloader = Reloader();
        Edit("hostmaster@example.org", "dns@example.net");
        Edit("poll = 1", "poll = 5\nallow-transfer = [\"192.0.2.7\"]");

        var line = reloader.Reload();

        var applied = Assert.Single(_applied);
        Assert.Equal("dns.example.net", applied.SoaRname);
        Assert.Equal(5.0, applied.Poll);
        Assert.Equal([IPAddress.Parse("192.0.2.7")], applied.AllowTransfer);
        Assert.Contains("changed zone.soa-contact, server.poll, server.allow-transfer", line, StringComparison.Ordinal);
        Assert.Empty(_log);
    }

    [Fact]
    public void Reload_RestartKeysChanged_OneLineEachAndTheOldValuesApplied()
    {
        var reloader = Reloader();
        Edit("127.0.0.1:5353", "127.0.0.1:5454");
        Edit("/var/lib/certdns/certdns.db", "/srv/other.db");
        Edit("ns1.status.example\"]\nsoa", "ns1.status.example\", \"ns.elsewhere.example\"]\nsoa");

        var line = reloader.Reload();

        var applied = Assert.Single(_applied);
        Assert.Equal("/var/lib/certdns/certdns.db", applied.StorePath);
        Assert.Equal([IPEndPoint.Parse("127.0.0.1:5353")], applied.Listen);
        Assert.Equal(["ns1.status.example", "ns.elsewhere.example"], applied.NameServers);
        Assert.Equal(2, _log.Count);
        Assert.Contains(_log, l => l.Contains("store.path changed to /srv/other.db: needs a restart, still using /var/lib/certdns/certdns.db", StringComparison.Ordinal));
        Assert.Contains(_log, l => l.Contains("server.listen changed to 127.0.0.1:5454: needs a restart, still using 127.0.0.1:5353", StringComparison.Ordinal));
        Assert.Contains("needs a restart for store.path, server.listen", line, StringComparison.Ordinal);

        // Still the old values in use: the next reload says so again rather than taking them.
        _log.Clear();
        reloader.Reload();
        Assert.Equal(2, _log.Count);
        Assert.Equal("/var/lib/certdns/certdns.db", _applied[^1].StorePath);
    }

    [Fact]
    public void Reload_KeyOverriddenByATypedFlag_NeitherAppliedNorReportedAsRestart()
    {
        var reloader = Reloader(flagGiven: flag => flag is "--listen" or "--soa-contact");
        Edit("127.0.0.1:5353", "127.0.0.1:5454");
        Edit("hostmaster@example.org", "dns@example.net");

        var line = reloader.Reload();

        Assert.Empty(_log);
        Assert.Contains("no live key changed", line, StringComparison.Ordinal);
        Assert.Contains("the command line overrides zone.soa-contact (--soa-contact), server.listen (--listen)", line, StringComparison.Ordinal);
    }

    [Fact]
    public void Reload_ApplyRefuses_OldConfigurationStaysCurrent()
    {
        bool refuse = true;
        var reloader = Reloader(apply: c => refuse ? throw new BadInputException(c.Path, "zone.ns: refused by the zone") : null);
        var before = reloader.Current;
        Edit("hostmaster@example.org", "dns@example.net");

        Assert.Throws<BadInputException>(reloader.Reload);
        Assert.Same(before, reloader.Current);

        // The same edit, once taken, is named as changed against what was in use, not against the refused attempt.
        refuse = false;
        Assert.Contains("changed zone.soa-contact", reloader.Reload(), StringComparison.Ordinal);
        Assert.Equal("dns.example.net", reloader.Current.SoaRname);
    }

    [Fact]
    public void ConfigKeys_EveryConfigProperty_DeclaredLiveOrRestartExactlyOnce()
    {
        // A key added to CertDnsConfig but not to ConfigKeys would never change on a reload, silently: fail here instead.
        var samples = new Dictionary<Type, object>
        {
            [typeof(string)] = "x",
            [typeof(int?)] = 7,
            [typeof(double?)] = 7.5,
            [typeof(bool?)] = true,
            [typeof(byte[])] = new byte[16],
            [typeof(Dns.RateLimitOptions)] = new Dns.RateLimitOptions { ResponsesPerSecond = 7 },
            [typeof(IReadOnlyList<string>)] = new List<string> { "x" },
            [typeof(IReadOnlyList<IPAddress>)] = new List<IPAddress> { IPAddress.Loopback },
            [typeof(IReadOnlyList<IPEndPoint>)] = new List<IPEndPoint> { new(IPAddress.Loopback, 53) },
            [typeof(IPEndPoint)] = new IPEndPoint(IPAddress.Loopback, 53),
            [typeof(IReadOnlyDictionary<string, IReadOnlyList<IPAddress>>)] = new Dictionary<string, IReadOnlyList<IPAddress>> { ["x"] = [IPAddress.Loopback] },
            [typeof(IReadOnlyList<Dns.TsigKey>)] = new List<Dns.TsigKey> { new("k", Dns.TsigAlgorithm.HmacSha256, new byte[32]) },
            [typeof(IReadOnlyList<Dns.TransferRule>)] = new List<Dns.TransferRule> { new(IPNetwork.Parse("127.0.0.0/8"), null) },
            [typeof(IReadOnlyList<Dns.NotifyTarget>)] = new List<Dns.NotifyTarget> { new(new IPEndPoint(IPAddress.Loopback, 53), null) },
        };
        Assert.Equal(ConfigKeys.All.Count, ConfigKeys.All.Select(k => k.Name).Distinct().Count());
        Assert.All(ConfigKeys.RestartKeys, k => Assert.NotNull(k.Keep));
        var empty = new CertDnsConfig();
        foreach (var property in typeof(CertDnsConfig).GetProperties(BindingFlags.Public | BindingFlags.Instance)
            // Path and SecretReadableByOthers say where the file is and how it may be read: no keys of it.
            .Where(p => p.Name is not (nameof(CertDnsConfig.Path) or nameof(CertDnsConfig.SecretReadableByOthers))))
        {
            Assert.True(samples.TryGetValue(property.PropertyType, out var sample), $"add a sample value of {property.PropertyType} for {property.Name} here");
            var config = new CertDnsConfig();
            property.SetValue(config, sample);
            var reading = ConfigKeys.All.Where(k => k.Text(config) != k.Text(empty)).Select(k => k.Name).ToList();
            Assert.True(reading.Count == 1, $"{property.Name}: declare it in ConfigKeys.All once (read by: {string.Join(", ", reading)})");
            var key = ConfigKeys.All.Single(k => k.Name == reading[0]);
            if (key.Keep is { } keep) Assert.Equal(key.Text(config), key.Text(keep(empty, config)));
        }
    }
}
