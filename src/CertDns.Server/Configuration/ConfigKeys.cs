using System.Collections;
using System.Globalization;
using System.Net;

namespace CertDns.Server.Configuration;

/// <summary>How a running server takes a changed key on a configuration reload (SIGHUP).</summary>
public enum ReloadKind
{
    /// <summary>Applied at once: the next query, transfer, NOTIFY or poll uses it.</summary>
    Live,

    /// <summary>Only a restart applies it: a reload logs "needs a restart" and keeps the value in use.</summary>
    Restart,
}

/// <summary>
/// One key of <c>certdns.toml</c> as a reload sees it: its name, whether it is live or needs a restart, the serve flag
/// that overrides it, and how to read it from a <see cref="CertDnsConfig"/>. A restart key also says how to keep its old
/// value in a new configuration (<see cref="Keep"/>), so the rest of the server never sees it change.
/// </summary>
/// <param name="Name">The dotted key (<c>server.listen</c>); a table of keys is named by its table (<c>zone.glue</c>).</param>
/// <param name="Reload">Live or restart.</param>
/// <param name="Flag">The <c>serve</c> flag that overrides it (a typed flag wins over the file, also after a reload), or null.</param>
/// <param name="Read">Its value in a configuration (null when the file does not set it).</param>
/// <param name="Keep">For a restart key: the first configuration with the key's value taken from the second.</param>
/// <param name="Secret">Whether its value must never be logged (a TSIG secret): a reload names the key only.</param>
public sealed record ConfigKey(string Name, ReloadKind Reload, string? Flag, Func<CertDnsConfig, object?> Read,
    Func<CertDnsConfig, CertDnsConfig, CertDnsConfig>? Keep = null, bool Secret = false)
{
    /// <summary>A key a reload applies at once.</summary>
    public static ConfigKey Live(string name, string? flag, Func<CertDnsConfig, object?> read, bool secret = false) =>
        new(name, ReloadKind.Live, flag, read, null, secret);

    /// <summary>A key only a restart applies; <paramref name="keep"/> copies its value from the second configuration into the first.</summary>
    public static ConfigKey Restart(string name, string? flag, Func<CertDnsConfig, object?> read,
        Func<CertDnsConfig, CertDnsConfig, CertDnsConfig> keep, bool secret = false) =>
        new(name, ReloadKind.Restart, flag, read, keep, secret);

    /// <summary>The key's value in <paramref name="config"/> as one line of text (null when unset), for comparing and logging.</summary>
    public string? Text(CertDnsConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        return ConfigKeys.Render(Read(config));
    }
}

/// <summary>
/// Every key of <c>certdns.toml</c> and how a reload takes it: the ONE list of live and restart keys (docs/spec.md
/// section 4.4, certdns.toml(5) and docs/operations.md repeat it for readers). A key added to
/// <see cref="CertDnsConfig"/> is declared here too (ConfigKeysTests fails until it is): live when every part that uses it
/// reads it afresh (give the reload's apply step the new value), else restart. A key not declared cannot change on a reload.
/// </summary>
public static class ConfigKeys
{
    /// <summary>The keys, in the order the example configuration lists them.</summary>
    public static IReadOnlyList<ConfigKey> All { get; } =
    [
        // The store is opened once, by the watcher and the lookups: another file is another server.
        ConfigKey.Restart("store.path", "--db", c => c.StorePath, (c, old) => c with { StorePath = old.StorePath }),
        // Every socket, counter and page is the zone's: another apex is another server.
        ConfigKey.Restart("zone.name", "--zone", c => c.ZoneName, (c, old) => c with { ZoneName = old.ZoneName }),
        // The zone's identity and timers: the responder swaps its zone whole, the serial advances and secondaries hear of it.
        ConfigKey.Live("zone.ns", "--ns", c => c.NameServers),
        ConfigKey.Live("zone.glue", "--glue", c => c.Glue),
        ConfigKey.Live("zone.soa-contact", "--soa-contact", c => c.SoaRname),
        ConfigKey.Live("zone.soa.refresh", null, c => c.Refresh),
        ConfigKey.Live("zone.soa.retry", null, c => c.Retry),
        ConfigKey.Live("zone.soa.expire", null, c => c.Expire),
        ConfigKey.Live("zone.soa.minimum", "--negative-ttl", c => c.Minimum),
        ConfigKey.Live("zone.ttl", "--ttl", c => c.Ttl),
        ConfigKey.Live("zone.forms", "--forms", c => c.Forms),
        // DNSSEC: the keys are read once at start (a key set is not swapped under running answers; rollover is its own verb).
        ConfigKey.Restart("zone.dnssec", null, c => c.Dnssec, (c, old) => c with { Dnssec = old.Dnssec }),
        ConfigKey.Restart("zone.dnssec-keys", null, c => c.DnssecKeys, (c, old) => c with { DnssecKeys = old.DnssecKeys }),
        // Sockets are bound once, before the service reports ready.
        ConfigKey.Restart("server.listen", "--listen", c => c.Listen, (c, old) => c with { Listen = old.Listen }),
        ConfigKey.Live("server.poll", "--poll", c => c.Poll),
        ConfigKey.Restart("server.udp-threads", "--udp-threads", c => c.UdpThreads, (c, old) => c with { UdpThreads = old.UdpThreads }),
        ConfigKey.Live("server.allow-transfer", "--allow-transfer", c => c.AllowTransfer),
        ConfigKey.Live("server.notify", "--notify", c => c.Notify),
        ConfigKey.Live("server.time-changes", "--time-changes", c => c.TimeChanges),
        // The journal is built once, at start, with its bounds.
        ConfigKey.Restart("journal.max-size", "--journal-max-size", c => c.JournalMaxSize, (c, old) => c with { JournalMaxSize = old.JournalMaxSize }),
        ConfigKey.Restart("journal.max-age", "--journal-max-age", c => c.JournalMaxAge, (c, old) => c with { JournalMaxAge = old.JournalMaxAge }),
        // TSIG: the keys and the keyed transfer ACL are fixed when the servers start; NOTIFY targets with keys too.
        ConfigKey.Restart("key", null, c => c.Keys?.Select(k => k.Identity).ToList(), (c, old) => c with { Keys = old.Keys }, secret: true),
        ConfigKey.Restart("transfer", null, c => c.Transfers?.Select(t => $"{t.Network} {t.Key?.Identity}").ToList(),
            (c, old) => c with { Transfers = old.Transfers }, secret: true),
        ConfigKey.Restart("notify", null, c => c.NotifyTargets?.Select(t => $"{t.Address} {t.Key?.Identity}").ToList(),
            (c, old) => c with { NotifyTargets = old.NotifyTargets }, secret: true),
        // The query log's queue and writer are made once, before the sockets answer.
        ConfigKey.Restart("log.dnstap", "--dnstap", c => c.Dnstap, (c, old) => c with { Dnstap = old.Dnstap }),
        ConfigKey.Restart("log.dnstap-queue", null, c => c.DnstapQueue, (c, old) => c with { DnstapQueue = old.DnstapQueue }),
        ConfigKey.Restart("log.dnstap-queries", null, c => c.DnstapQueries, (c, old) => c with { DnstapQueries = old.DnstapQueries }),
        ConfigKey.Restart("log.dnstap-responses", null, c => c.DnstapResponses, (c, old) => c with { DnstapResponses = old.DnstapResponses }),
        // Rate limiting and cookies: the limiter's table and the cookie secrets are made once, at start.
        ConfigKey.Restart("rrl.enable", "--rrl", c => c.RrlEnable, (c, old) => c with { RrlEnable = old.RrlEnable }),
        ConfigKey.Restart("rrl", null, c => c.Rrl, (c, old) => c with { Rrl = old.Rrl }),
        ConfigKey.Restart("cookies.enable", null, c => c.CookiesEnable, (c, old) => c with { CookiesEnable = old.CookiesEnable }),
        ConfigKey.Restart("cookies.secret", null, c => c.CookieSecret is { } s ? Convert.ToHexString(s) : null, (c, old) => c with { CookieSecret = old.CookieSecret }, secret: true),
        ConfigKey.Restart("cookies.previous-secret", null, c => c.CookiePreviousSecret is { } s ? Convert.ToHexString(s) : null,
            (c, old) => c with { CookiePreviousSecret = old.CookiePreviousSecret }, secret: true),
        ConfigKey.Restart("metrics.listen", "--metrics-listen", c => c.MetricsListen, (c, old) => c with { MetricsListen = old.MetricsListen }),
        // Not serve's: report, report --mail and complaints expire read them afresh on every run.
        ConfigKey.Live("complaints.sendmail", "--sendmail", c => c.ComplaintsSendmail),
        ConfigKey.Live("complaints.from", "--from", c => c.ComplaintsFrom),
    ];

    /// <summary>The keys that need a restart.</summary>
    public static IEnumerable<ConfigKey> RestartKeys => All.Where(k => k.Reload == ReloadKind.Restart);

    /// <summary>A configuration value as one line: lists comma-joined, tables as name=value; null stays null.</summary>
    internal static string? Render(object? value) => value switch
    {
        null => null,
        string s => s,
        IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
        IPAddress or IPEndPoint => value.ToString(),
        IDictionary table => string.Join("; ", table.Keys.Cast<object>().Select(k => k.ToString()!).Order(StringComparer.OrdinalIgnoreCase)
            .Select(k => $"{k}={Render(table[k])}")),
        IEnumerable items => string.Join(", ", items.Cast<object?>().Select(Render)),
        _ => value.ToString(),
    };
}
