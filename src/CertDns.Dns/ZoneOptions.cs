using CertDns.Core;
using System.Net;

namespace CertDns.Dns;

/// <summary>
/// The zone's identity and timers: what the SOA and NS records say and how long answers may be cached.
/// Times are in seconds, as they go on the wire.
/// </summary>
public sealed record ZoneOptions
{
    private readonly string? _nsName;
    private readonly string? _hostmaster;

    /// <summary>The zone apex every query name is relative to.</summary>
    public string Apex { get; init; } = "status.example";

    /// <summary>The name server named in the NS record and SOA MNAME; defaults to <c>ns.&lt;apex&gt;</c>.</summary>
    public string NsName { get => _nsName ?? "ns." + Apex; init => _nsName = value; }

    /// <summary>
    /// The address answered for <see cref="NsName"/> when that name is inside the zone (A for IPv4, AAAA for IPv6);
    /// null answers NODATA there.
    /// </summary>
    public IPAddress? NsAddress { get; init; } = IPAddress.Loopback;

    /// <summary>The SOA RNAME (the mailbox with its first dot as the @); defaults to <c>hostmaster.&lt;apex&gt;</c>.</summary>
    public string Hostmaster { get => _hostmaster ?? "hostmaster." + Apex; init => _hostmaster = value; }

    /// <summary>SOA REFRESH.</summary>
    public int Refresh { get; init; } = 3600;

    /// <summary>SOA RETRY.</summary>
    public int Retry { get; init; } = 600;

    /// <summary>SOA EXPIRE.</summary>
    public int Expire { get; init; } = 604800;

    /// <summary>SOA MINIMUM: the negative-caching TTL (RFC 2308 section 4).</summary>
    public int Minimum { get; init; } = 60;

    /// <summary>TTL of the SOA, NS and name-server address records.</summary>
    public int ApexTtl { get; init; } = 3600;

    /// <summary>Cap on the TTL of status answers; the issuer CRL's nextUpdate may shorten it further.</summary>
    public int MaxTtl { get; init; } = 300;

    /// <summary>
    /// The EDNS(0) UDP payload size we advertise and the most we send over UDP: 1232 avoids IP fragmentation
    /// (DNS Flag Day 2020).
    /// </summary>
    public int UdpPayloadSize { get; init; } = 1232;

    /// <summary>
    /// The names zone files and zone transfers carry for each certificate. Queries are answered in every form
    /// regardless; this decides what a copy in other DNS software can answer. The split SHA-256 form by default.
    /// </summary>
    public NameForms Forms { get; init; } = NameForms.Split;
}
