using CertDns.Core;
using System.Net;

namespace CertDns.Dns;

/// <summary>
/// The zone's identity and timers: what the SOA and NS records say and how long answers may be cached.
/// Times are in seconds, as they go on the wire.
/// </summary>
public sealed record ZoneOptions
{
    private readonly IReadOnlyList<string>? _nameServers;
    private readonly IReadOnlyDictionary<string, IReadOnlyList<IPAddress>>? _glue;
    private readonly string? _hostmaster;

    /// <summary>The zone apex every query name is relative to.</summary>
    public string Apex { get; init; } = "status.example";

    /// <summary>
    /// The name servers named in the NS RRset, in order; the first is the SOA MNAME. Defaults to <c>ns.&lt;apex&gt;</c>.
    /// </summary>
    public IReadOnlyList<string> NameServers { get => _nameServers ?? ["ns." + Apex]; init => _nameServers = value; }

    /// <summary>
    /// The addresses of in-zone name servers (A for IPv4, AAAA for IPv6), by name. Every in-zone name server needs at
    /// least one; a name outside the zone has none here (its address is its own zone's). With the default
    /// <see cref="NameServers"/> the default is the demo identity, <c>ns.&lt;apex&gt;</c> at 127.0.0.1; once the name
    /// servers are given, only what is given.
    /// </summary>
    public IReadOnlyDictionary<string, IReadOnlyList<IPAddress>> Glue
    {
        get => _glue ?? (_nameServers is null
            ? new Dictionary<string, IReadOnlyList<IPAddress>> { ["ns." + Apex] = [IPAddress.Loopback] }
            : new Dictionary<string, IReadOnlyList<IPAddress>>());
        init => _glue = value;
    }

    /// <summary>
    /// The SOA RNAME in master-file form (the mailbox's local part as the first label, a dot in it written <c>\.</c>);
    /// defaults to <c>hostmaster.&lt;apex&gt;</c>. <see cref="RnameFromEmail"/> writes one from an e-mail address.
    /// </summary>
    public string Hostmaster { get => _hostmaster ?? "hostmaster." + Apex; init => _hostmaster = value; }

    /// <summary>
    /// The RNAME of an e-mail address (RFC 1035 section 8): <c>hostmaster@example.org</c> is <c>hostmaster.example.org</c>,
    /// <c>dns.admin@example.org</c> is <c>dns\.admin.example.org</c>.
    /// </summary>
    /// <exception cref="ArgumentException">Not one local part, an @ and a domain.</exception>
    public static string RnameFromEmail(string email)
    {
        ArgumentNullException.ThrowIfNull(email);
        int at = email.LastIndexOf('@');
        if (at <= 0 || at == email.Length - 1 || email.IndexOf('@') != at)
            throw new ArgumentException($"\"{email}\" is not an e-mail address (local@domain)", nameof(email));
        var local = email[..at];
        if (local.Contains('\\', StringComparison.Ordinal) || local.Any(c => c <= ' ' || c >= 0x7F))
            throw new ArgumentException($"\"{email}\": the local part must be printable ASCII without backslashes", nameof(email));
        return local.Replace(".", "\\.", StringComparison.Ordinal) + "." + email[(at + 1)..].TrimEnd('.');
    }

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
