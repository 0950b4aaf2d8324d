namespace CertDns.Dns;

/// <summary>How the server uses its sockets; the defaults suit a public authoritative server.</summary>
public sealed record DnsServerOptions
{
    /// <summary>UDP receive threads, each with its own socket and buffers; one per core by default.</summary>
    public int UdpReceiveLoops { get; init; } = Environment.ProcessorCount;

    /// <summary>
    /// Kernel receive buffer of each UDP socket: it absorbs bursts while a loop is busy (a snapshot swap's garbage
    /// collection, a noisy neighbour) instead of dropping queries. NSD and Knot raise theirs the same way.
    /// </summary>
    public int UdpReceiveBuffer { get; init; } = 8 << 20;

    /// <summary>
    /// On Linux, receive and send UDP in batches (recvmmsg/sendmmsg: one system call for every datagram waiting);
    /// off, or elsewhere, one recvfrom and one sendto per query.
    /// </summary>
    public bool UdpBatching { get; init; } = true;

    /// <summary>
    /// How long a TCP connection may go without delivering a complete query (RFC 7766 section 6.2.3 suggests
    /// seconds). It bounds both idle connections and clients that announce a length and then stall.
    /// </summary>
    public TimeSpan TcpIdleTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>TCP connections served at once; further ones are closed on accept (RFC 7766 section 6.2.2).</summary>
    public int MaxTcpConnections { get; init; } = 256;

    /// <summary>
    /// TCP connections one client address may hold at once: one client opening hundreds must not lock out the rest
    /// (RFC 7766 section 6.2.2 asks servers to limit connections per client). Further ones are closed on accept.
    /// </summary>
    public int MaxTcpConnectionsPerClient { get; init; } = 32;

    /// <summary>
    /// Of <see cref="MaxTcpConnections"/>, how many only <see cref="TransferClients"/> may take: however many other
    /// clients connect, an allowed secondary always finds a slot for its transfer. None are held without transfer clients.
    /// </summary>
    public int TransferReservedConnections { get; init; } = 16;

    /// <summary>Pending TCP connections the kernel may queue.</summary>
    public int TcpBacklog { get; init; } = 512;

    /// <summary>
    /// Addresses allowed to transfer the zone (AXFR over TCP, RFC 5936 section 4.1: access control is the
    /// primary's); everyone else is REFUSED. Empty by default.
    /// </summary>
    public IReadOnlyCollection<System.Net.IPAddress> TransferClients { get; init; } = [];

    /// <summary>
    /// How long one message of a zone transfer may wait for the secondary to take it. A transfer lasts as long as the
    /// zone is large, so it is not bound by <see cref="TcpIdleTimeout"/>; the kernel wakes a blocked writer only
    /// after a third or more of the send buffer (megabytes) has drained, so a secondary on a slow link waits seconds
    /// between messages while making progress. One that stops reading is dropped after this.
    /// </summary>
    public TimeSpan TransferWriteTimeout { get; init; } = TimeSpan.FromSeconds(60);

    // TSIG (RFC 8945) and transfer access by address or prefix and key.

    /// <summary>
    /// The TSIG keys the server knows. A request signed with one of them gets a signed answer (every message of a
    /// transfer signed); one signed with any other key, a bad MAC or outside its time window gets NOTAUTH.
    /// </summary>
    public IReadOnlyList<TsigKey> TsigKeys { get; init; } = [];

    /// <summary>
    /// Transfer access by prefix and key, on top of <see cref="TransferClients"/> (addresses without a key). An address a
    /// rule with a key covers transfers only with that key.
    /// </summary>
    public IReadOnlyList<TransferRule> TransferRules { get; init; } = [];

    /// <summary>The clock TSIG times are checked and signed with.</summary>
    public TimeProvider Time { get; init; } = TimeProvider.System;
    /// <summary>
    /// Where every answered query is recorded for the query log (dnstap), or null: off, the default. The answer path
    /// only copies into its bounded queue; a full queue drops and counts.
    /// </summary>
    public QueryLog? QueryLog { get; init; }
    // Response rate limiting (RRL).

    /// <summary>
    /// The response rate limiter UDP answers are charged to; one table may serve several listeners. Null (the
    /// default): no rate limiting.
    /// </summary>
    public RateLimiter? RateLimiter { get; init; }

    /// <summary>
    /// Whether <see cref="RateLimiter"/> applies on this listener: null (the default) limits on every address but a
    /// loopback one, where the only clients are this machine's own resolver and MTA.
    /// </summary>
    public bool? RateLimitEnabled { get; init; }

    /// <summary>Called when answering one query failed unexpectedly; the query goes unanswered and serving goes on.</summary>
    public Action<Exception>? OnError { get; init; }
}
