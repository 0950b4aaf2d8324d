using System.Net;

namespace CertDns.Server.Configuration;

/// <summary>
/// What <c>certdns.toml</c> says, checked: every key is optional (null when absent), and a verb's own flag overrides
/// it. Read with <see cref="CertDnsConfigLoader.Load"/>; docs/spec.md section 4.4 and zones/certdns.toml list the keys.
/// </summary>
public sealed record CertDnsConfig
{
    /// <summary>The file it was read from.</summary>
    public string Path { get; init; } = "";

    /// <summary><c>store.path</c>: the SQLite store (<c>--db</c>).</summary>
    public string? StorePath { get; init; }

    /// <summary><c>zone.name</c>: the zone apex (<c>--zone</c>), lower case, without the final dot.</summary>
    public string? ZoneName { get; init; }

    /// <summary><c>zone.ns</c>: the name servers, the first the SOA MNAME (<c>--ns</c>).</summary>
    public IReadOnlyList<string>? NameServers { get; init; }

    /// <summary><c>zone.glue</c>: addresses of in-zone name servers, by name (<c>--glue</c>).</summary>
    public IReadOnlyDictionary<string, IReadOnlyList<IPAddress>>? Glue { get; init; }

    /// <summary><c>zone.soa-contact</c>, already written as the SOA RNAME (<c>--soa-contact</c>).</summary>
    public string? SoaRname { get; init; }

    /// <summary><c>zone.soa.refresh</c>.</summary>
    public int? Refresh { get; init; }

    /// <summary><c>zone.soa.retry</c>.</summary>
    public int? Retry { get; init; }

    /// <summary><c>zone.soa.expire</c>.</summary>
    public int? Expire { get; init; }

    /// <summary><c>zone.soa.minimum</c>: the negative-caching TTL (<c>--negative-ttl</c>).</summary>
    public int? Minimum { get; init; }

    /// <summary><c>zone.ttl</c>: the positive TTL cap (<c>--ttl</c>).</summary>
    public int? Ttl { get; init; }

    /// <summary><c>zone.forms</c>: the name forms zone copies carry, as <c>--forms</c> takes them (comma-joined).</summary>
    public string? Forms { get; init; }

    /// <summary><c>server.listen</c>: addresses and ports for UDP and TCP (<c>--listen</c>).</summary>
    public IReadOnlyList<IPEndPoint>? Listen { get; init; }

    /// <summary><c>server.poll</c>: seconds between checks of the store (<c>--poll</c>).</summary>
    public double? Poll { get; init; }

    /// <summary><c>server.udp-threads</c> (<c>--udp-threads</c>).</summary>
    public int? UdpThreads { get; init; }

    /// <summary><c>server.allow-transfer</c>: addresses allowed to transfer the zone (<c>--allow-transfer</c>).</summary>
    public IReadOnlyList<IPAddress>? AllowTransfer { get; init; }

    /// <summary><c>server.notify</c>: secondaries to NOTIFY (<c>--notify</c>).</summary>
    public IReadOnlyList<IPEndPoint>? Notify { get; init; }

    /// <summary><c>server.time-changes</c>: seconds (<c>--time-changes</c>).</summary>
    public double? TimeChanges { get; init; }

    /// <summary><c>metrics.listen</c>: the metrics and health listener's address and port.</summary>
    public IPEndPoint? MetricsListen { get; init; }

    // [complaints]: how report, report --mail and complaints expire hand ARF reports to the CA (docs/spec.md 3.11.2).

    /// <summary><c>complaints.sendmail</c>: the sendmail(8) command queued ARF reports go through (<c>--sendmail</c>).</summary>
    public string? ComplaintsSendmail { get; init; }

    /// <summary><c>complaints.from</c>: the From address of those reports (<c>--from</c>).</summary>
    public string? ComplaintsFrom { get; init; }

    // [journal]: the IXFR journal's bounds.

    /// <summary><c>journal.max-size</c>: the most octets of records the IXFR journal keeps; 0 keeps none (<c>--journal-max-size</c>).</summary>
    public int? JournalMaxSize { get; init; }

    /// <summary><c>journal.max-age</c>: seconds; older changes are dropped from the IXFR journal (<c>--journal-max-age</c>).</summary>
    public double? JournalMaxAge { get; init; }
    // TSIG (RFC 8945): [[key]], [[transfer]], [[notify]].

    /// <summary><c>[[key]]</c>: TSIG keys by name (name, algorithm, secret).</summary>
    public IReadOnlyList<CertDns.Dns.TsigKey>? Keys { get; init; }

    /// <summary><c>[[transfer]]</c>: transfer access by address or prefix, each with the key it needs or none.</summary>
    public IReadOnlyList<CertDns.Dns.TransferRule>? Transfers { get; init; }

    /// <summary><c>[[notify]]</c>: secondaries to NOTIFY, each signed with its key or unsigned.</summary>
    public IReadOnlyList<CertDns.Dns.NotifyTarget>? NotifyTargets { get; init; }

    /// <summary>Whether the file holds a secret and others may read it (a warning for <c>config check</c> and serve).</summary>
    public bool? SecretReadableByOthers { get; init; }
    // [log]: the dnstap query log.

    /// <summary><c>log.dnstap</c>: the query log's file, or <c>unix:PATH</c> for a socket (<c>--dnstap</c>); off when absent.</summary>
    public string? Dnstap { get; init; }

    /// <summary><c>log.dnstap-queue</c>: entries the query log holds before it drops.</summary>
    public int? DnstapQueue { get; init; }

    /// <summary><c>log.dnstap-queries</c>: whether queries are logged (AUTH_QUERY).</summary>
    public bool? DnstapQueries { get; init; }

    /// <summary><c>log.dnstap-responses</c>: whether responses are logged (AUTH_RESPONSE).</summary>
    public bool? DnstapResponses { get; init; }
    // Response rate limiting ([rrl]) and DNS cookies ([cookies]).

    /// <summary><c>rrl.enable</c>: true or false on every listener; absent, off on loopback listeners and on elsewhere.</summary>
    public bool? RrlEnable { get; init; }

    /// <summary><c>rrl.responses-per-second</c>, <c>rrl.nxdomains-per-second</c>, <c>rrl.errors-per-second</c>, <c>rrl.slip</c>,
    /// <c>rrl.window</c>, <c>rrl.ipv4-prefix-length</c>, <c>rrl.ipv6-prefix-length</c>, <c>rrl.table-size</c>, laid over the defaults.</summary>
    public CertDns.Dns.RateLimitOptions? Rrl { get; init; }

    /// <summary><c>cookies.enable</c>: DNS cookies (RFC 7873) answered; on when absent.</summary>
    public bool? CookiesEnable { get; init; }

    /// <summary><c>cookies.secret</c>: the 16-octet server secret (32 hex digits), shared by an anycast set; random at start when absent.</summary>
    public byte[]? CookieSecret { get; init; }

    /// <summary><c>cookies.previous-secret</c>: the secret being rotated out, still accepted (RFC 9018 section 5).</summary>
    public byte[]? CookiePreviousSecret { get; init; }

    /// <summary><c>zone.dnssec</c>: answers to queries with DO are signed online (SPEC section 2.12); off when absent.</summary>
    public bool? Dnssec { get; init; }

    /// <summary><c>zone.dnssec-keys</c>: the key set file <c>certdns dnssec keygen</c> writes (mode 0600 or 0640).</summary>
    public string? DnssecKeys { get; init; }
}
