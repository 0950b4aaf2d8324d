using System.Buffers;
using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;

namespace CertDns.Dns;

/// <summary>
/// Serves a <see cref="DnsResponder"/> over UDP and TCP on one address and port (SPEC section 2, RFC 7766).
/// Each UDP loop is a thread blocked on its own socket (SO_REUSEPORT on Linux, as NSD and Knot run workers): on
/// Linux in recvmmsg, taking every datagram waiting and sending their answers with one sendmmsg, elsewhere in
/// recvfrom with one receive and one response buffer. Nothing is allocated per datagram. TCP is asynchronous.
/// On a wildcard address UDP answers leave from the address each query was sent to (IP_PKTINFO, Linux).
/// Several addresses are several servers, one each (<c>serve --listen</c> repeated).
/// </summary>
public sealed class DnsServer : IAsyncDisposable
{
    private const int FrameSize = 2 + DnsResponder.MaxMessageSize;

    private readonly Socket[] _udp;
    private readonly Socket _tcp;
    private readonly DnsResponder _responder;
    private readonly DnsServerOptions _options;
    private readonly CancellationTokenSource _stop = new();
    private readonly List<Task> _loops = [];
    private readonly ConcurrentDictionary<long, Task> _connections = new();
    private long _nextConnectionId;
    private int _tcpConnections;
    // TCP connections per client address, under its own lock: taken on accept, given back when a connection ends.
    private readonly Dictionary<IPAddress, int> _perClient = [];
    private int _disposed;
    // The query log's view of this server's address: computed once, copied into each logged entry.
    private readonly QueryLogEndpoint _logAddress;
    // Response rate limiting, on this listener's UDP only: null when off here.
    private readonly RateLimiter? _limiter;

    private DnsServer(Socket[] udp, Socket tcp, DnsResponder responder, DnsServerOptions options)
    {
        _udp = udp;
        _tcp = tcp;
        _responder = responder;
        _options = options;
        LocalEndPoint = (IPEndPoint)udp[0].LocalEndPoint!;
        _logAddress = QueryLogEndpoint.From(LocalEndPoint);
        // Off on loopback unless asked for (a local resolver or MTA is the only client there), on elsewhere; a
        // wildcard bind also answers the world, so it counts as elsewhere.
        _limiter = options.RateLimiter is { } limiter && (options.RateLimitEnabled ?? !IPAddress.IsLoopback(LocalEndPoint.Address)) ? limiter : null;
    }

    /// <summary>Whether this listener's UDP answers go through the rate limiter.</summary>
    public bool RateLimiting => _limiter is not null;

    /// <summary>The address and port both transports listen on (the chosen port when 0 was asked for).</summary>
    public IPEndPoint LocalEndPoint { get; }

    /// <summary>TCP connections open now.</summary>
    public int TcpConnections => Volatile.Read(ref _tcpConnections);

    /// <summary>Binds UDP and TCP on <paramref name="endpoint"/> and starts answering.</summary>
    /// <exception cref="SocketException">The address or port cannot be bound.</exception>
    public static Task<DnsServer> StartAsync(IPEndPoint endpoint, DnsResponder responder, DnsServerOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(endpoint);
        ArgumentNullException.ThrowIfNull(responder);
        options ??= new DnsServerOptions();
        cancellationToken.ThrowIfCancellationRequested();

        var (udp, tcp) = Bind(endpoint, options.TcpBacklog, Math.Max(1, options.UdpReceiveLoops), options.UdpReceiveBuffer);
        var server = new DnsServer(udp, tcp, responder, options);
        server.Start();
        return Task.FromResult(server);
    }

    private static (Socket[] Udp, Socket Tcp) Bind(IPEndPoint endpoint, int backlog, int loops, int receiveBuffer)
    {
        // Port 0: the kernel (or, for a group, this server) picks a free UDP port, which may be taken for TCP; try a few.
        int attempts = endpoint.Port == 0 ? 50 : 1;
        // One socket per loop where the kernel spreads datagrams over sockets sharing a port; elsewhere loops share one.
        int sockets = OperatingSystem.IsLinux() ? loops : 1;
        // A group of SO_REUSEPORT sockets is open to any socket of the same user that sets the option, and the kernel's
        // choice of a client's port (bind to port 0, or an unbound connect) takes such a group's port as free. On a
        // port of the kernel's ephemeral range a local client (dig, a resolver's query socket) can thus be given the
        // server's port: unconnected it takes part of the queries, connected to the server it receives its own query
        // as the answer. There the loops share one socket, which no autobind can join.
        var ephemeral = sockets > 1 ? EphemeralPorts.Read() : default;
        if (sockets > 1 && (endpoint.Port != 0 ? ephemeral.Contains(endpoint.Port) : !ephemeral.RoomOutside)) sockets = 1;
        for (int attempt = 1; ; attempt++)
        {
            var udp = new List<Socket>();
            Socket? tcp = null;
            try
            {
                var port = endpoint.Port;
                if (sockets > 1)
                {
                    // SO_REUSEPORT shares a port among sockets of the same user: a bind could join a group that is
                    // already there (another server's, or for port 0 one the kernel hands out again) and take part of
                    // its queries. A plain bind first claims a port no UDP socket holds; the group then takes it over.
                    using var claim = new Socket(endpoint.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
                    if (endpoint.Address.Equals(IPAddress.IPv6Any)) claim.DualMode = true;
                    // For port 0 the group's port is drawn outside the ephemeral range (the kernel draws inside it).
                    claim.Bind(new IPEndPoint(endpoint.Address, port == 0 ? ephemeral.PickOutside() : port));
                    port = ((IPEndPoint)claim.LocalEndPoint!).Port;
                }
                for (int i = 0; i < sockets; i++)
                {
                    var socket = new Socket(endpoint.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
                    udp.Add(socket);
                    if (endpoint.Address.Equals(IPAddress.IPv6Any)) socket.DualMode = true;
                    if (OperatingSystem.IsWindows())
                    {
                        // SIO_UDP_CONNRESET off: an ICMP port unreachable must not fail the next receive.
                        socket.IOControl(unchecked((int)0x9800000C), [0, 0, 0, 0], null);
                    }
                    // SOL_SOCKET, SO_REUSEPORT: the kernel only lets sockets of the same user join the group.
                    if (sockets > 1) socket.SetRawSocketOption(1, 15, BitConverter.GetBytes(1));
                    SetReceiveBuffer(socket, receiveBuffer);
                    if (IsWildcard(endpoint.Address) && UdpBatch.Supported) UdpBatch.EnablePacketInfo(socket);
                    // Wakes a loop now and then so that a stop is noticed even where closing a socket does not
                    // interrupt the receive. Set here, not by the loop's thread: a server disposed at once would
                    // have closed the socket under it.
                    socket.ReceiveTimeout = 500;
                    socket.Bind(new IPEndPoint(endpoint.Address, port));
                    port = ((IPEndPoint)socket.LocalEndPoint!).Port;
                }

                tcp = new Socket(endpoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
                if (endpoint.Address.Equals(IPAddress.IPv6Any)) tcp.DualMode = true;
                tcp.Bind(new IPEndPoint(endpoint.Address, port));
                tcp.Listen(backlog);
                return ([.. udp], tcp);
            }
            catch (SocketException e) when (e.SocketErrorCode == SocketError.AddressAlreadyInUse && attempt < attempts)
            {
                udp.ForEach(u => u.Dispose());
                tcp?.Dispose();
            }
            catch
            {
                udp.ForEach(u => u.Dispose());
                tcp?.Dispose();
                throw;
            }
        }
    }

    /// <summary>
    /// The ports the kernel hands to sockets that do not name one (Linux: net.ipv4.ip_local_port_range, which IPv6
    /// uses too); the kernel's default where the file cannot be read.
    /// </summary>
    private readonly record struct EphemeralPorts(int Low, int High)
    {
        public static EphemeralPorts Read()
        {
            try
            {
                var fields = File.ReadAllText("/proc/sys/net/ipv4/ip_local_port_range").Split((char[])['\t', ' ', '\n'], StringSplitOptions.RemoveEmptyEntries);
                if (fields.Length == 2 && int.TryParse(fields[0], out var low) && int.TryParse(fields[1], out var high) && 0 < low && low <= high && high <= 65535)
                    return new EphemeralPorts(low, high);
            }
            catch (IOException)
            {
            }
            catch (UnauthorizedAccessException)
            {
            }
            return new EphemeralPorts(32768, 60999);
        }

        public bool Contains(int port) => Low <= port && port <= High;

        public bool RoomOutside => Low > 1024 || High < 65535;

        /// <summary>A random unprivileged port outside the range (the caller's bind says whether it is free).</summary>
        public int PickOutside()
        {
            int below = Math.Max(0, Low - 1024), above = 65535 - High;
            int pick = Random.Shared.Next(below + above);
            return pick < below ? 1024 + pick : High + 1 + (pick - below);
        }
    }

    /// <summary>A bind to every address: the kernel cannot know which one a reply should leave from.</summary>
    private static bool IsWildcard(IPAddress address) => address.Equals(IPAddress.Any) || address.Equals(IPAddress.IPv6Any);

    private static void SetReceiveBuffer(Socket socket, int size)
    {
        if (size <= 0) return;
        try
        {
            // SO_RCVBUFFORCE passes net.core.rmem_max when the process may (CAP_NET_ADMIN), as NSD does.
            if (OperatingSystem.IsLinux()) socket.SetRawSocketOption(1, 33, BitConverter.GetBytes(size));
            else socket.ReceiveBufferSize = size;
        }
        catch (SocketException)
        {
            // Without the capability the kernel caps SO_RCVBUF at rmem_max: take what it gives.
            socket.ReceiveBufferSize = size;
        }
    }

    private void Start()
    {
        int loops = Math.Max(1, _options.UdpReceiveLoops);
        for (int i = 0; i < loops; i++)
        {
            var socket = _udp[i % _udp.Length];
            var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            // A thread of its own blocked in recvfrom, as rbldnsd and NSD workers are: no event loop, no thread-pool hop.
            bool batched = _options.UdpBatching && UdpBatch.Supported;
            // On a wildcard bind each answer must name its source (IP_PKTINFO), which sendto cannot: one datagram a
            // call then goes through recvmmsg/sendmmsg too.
            bool packetInfo = IsWildcard(LocalEndPoint.Address) && UdpBatch.Supported;
            var thread = new Thread(() =>
            {
                try
                {
                    if (batched || packetInfo) UdpBatchLoop(socket, batched ? UdpBatch.Slots : 1, packetInfo);
                    else UdpLoop(socket);
                }
                finally { done.SetResult(); }
            })
            { IsBackground = true, Name = $"certdns udp {i}" };
            thread.Start();
            _loops.Add(done.Task);
        }
        _loops.Add(Task.Run(AcceptLoopAsync));
    }

    private void UdpLoop(Socket udp)
    {
        var receive = ArrayPool<byte>.Shared.Rent(DnsResponder.MaxMessageSize);
        var response = ArrayPool<byte>.Shared.Rent(DnsResponder.MaxMessageSize);
        var client = new SocketAddress(udp.AddressFamily);
        try
        {
            while (!_stop.IsCancellationRequested)
            {
                int received;
                try
                {
                    received = udp.ReceiveFrom(receive.AsSpan(0, DnsResponder.MaxMessageSize), SocketFlags.None, client);
                }
                catch (SocketException e) when (IsClientFault(e.SocketErrorCode) || e.SocketErrorCode == SocketError.TimedOut || e.SocketErrorCode == SocketError.WouldBlock)
                {
                    continue;
                }
                catch (SocketException e) when (!_stop.IsCancellationRequested)
                {
                    _options.OnError?.Invoke(e);
                    continue;
                }

                var query = receive.AsSpan(0, received);
                int length = Answer(query, response.AsSpan(0, DnsResponder.MaxMessageSize), null, client.Buffer.Span[..client.Size], null, out _, out _);
                if (length == 0) continue;
                try
                {
                    udp.SendTo(response.AsSpan(0, length), SocketFlags.None, client);
                }
                catch (SocketException e) when (IsClientFault(e.SocketErrorCode) || e.SocketErrorCode == SocketError.NoBufferSpaceAvailable)
                {
                    // One client's unreachable address (or a full send queue) must not stop the loop.
                }
            }
        }
        catch (Exception e) when (IsStopping(e))
        {
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(receive);
            ArrayPool<byte>.Shared.Return(response);
        }
    }

    /// <summary>
    /// The loop on Linux: every datagram waiting (up to <paramref name="slots"/>) taken by one recvmmsg, their answers
    /// sent by one sendmmsg, each from the address its query was sent to when <paramref name="packetInfo"/>.
    /// </summary>
    private void UdpBatchLoop(Socket udp, int slots, bool packetInfo)
    {
        using var batch = new UdpBatch(slots, packetInfo);
        Span<int> lengths = stackalloc int[UdpBatch.Slots];
        // The descriptor stays blocking (no async use); its receive timeout was set when it was bound.
        var handle = udp.SafeHandle;
        bool referenced = false;
        try
        {
            // Held for the loop's life: closing the socket cannot hand its descriptor number to another file
            // meanwhile. A server disposed before this thread ran finds the handle closed: that is a stop.
            handle.DangerousAddRef(ref referenced);
            while (!_stop.IsCancellationRequested)
            {
                int received;
                try
                {
                    received = batch.Receive(handle);
                }
                catch (SocketException e) when (!_stop.IsCancellationRequested)
                {
                    _options.OnError?.Invoke(e);
                    continue;
                }
                // One reading of the clock for the batch: every query in it had arrived when the receive returned. Read
                // per query it was 2% of the answer path's time (perf, 100k certificates).
                var at = _responder.Time.GetUtcNow();
                for (int i = 0; i < received; i++)
                    lengths[i] = Answer(batch.Query(i), batch.Response(i), null, batch.Sender(i), at, out _, out _);
                batch.Send(handle, received, lengths);
            }
        }
        catch (Exception e) when (IsStopping(e))
        {
        }
        finally
        {
            if (referenced) handle.DangerousRelease();
        }
    }

    /// <summary>ICMP errors from earlier sends surface on later socket calls; UDP servers must ignore them.</summary>
    private static bool IsClientFault(SocketError error) => error is SocketError.ConnectionReset or SocketError.ConnectionRefused
        or SocketError.HostUnreachable or SocketError.NetworkUnreachable or SocketError.MessageSize or SocketError.AddressNotAvailable;

    private bool IsStopping(Exception e) => _stop.IsCancellationRequested
        && e is OperationCanceledException or ObjectDisposedException or SocketException;

    /// <summary>
    /// Whether a UDP query is an IXFR from a transfer client (RFC 1995 section 2 lets it have the SOA over UDP). Only an
    /// IXFR reads the sender's address, so ordinary answers stay allocation-free.
    /// </summary>
    private bool UdpTransferAllowed(ReadOnlySpan<byte> query, ReadOnlySpan<byte> sockaddr, TsigKey? key)
    {
        if ((_options.TransferClients.Count == 0 && _options.TransferRules.Count == 0) || !DnsResponder.AsksIxfr(query)) return false;
        return SenderAddress(sockaddr) is { } address && TransferAllowed(address, key);
    }

    /// <summary>
    /// The transfer ACL (RFC 5936 section 4.1): server.allow-transfer's addresses without a key, and the [[transfer]]
    /// rules, where an address a keyed rule covers needs that key (RFC 8945).
    /// </summary>
    private bool TransferAllowed(IPAddress address, TsigKey? key)
    {
        if (_options.TransferRules.Count > 0)
        {
            bool covered = false;
            foreach (var rule in _options.TransferRules)
            {
                if (rule.Key is not null && rule.Network.Contains(address)) covered = true;
            }
            if (covered) return TransferRule.Allows(_options.TransferRules, address, key);
            if (TransferRule.Allows(_options.TransferRules, address, key)) return true;
        }
        // A loop, not a lambda: a closure over the address would be allocated on entry, for every query.
        foreach (var allowed in _options.TransferClients)
        {
            if (allowed.Equals(address)) return true;
        }
        return false;
    }

    /// <summary>Whether an address may take the TCP slots held for secondaries: on some transfer rule, keyed or not.</summary>
    private bool TransferCandidate(IPAddress address) =>
        _options.TransferClients.Any(a => a.Equals(address)) || TransferRule.Covers(_options.TransferRules, address);

    /// <summary>
    /// The sender's address octets inside a Linux sockaddr (4 for IPv4, also when mapped into IPv6; 16 for IPv6): what
    /// cookies are bound to and the rate limiter buckets by. A slice, not a copy.
    /// </summary>
    private static ReadOnlySpan<byte> ClientAddress(ReadOnlySpan<byte> sockaddr)
    {
        if (sockaddr.Length < 8) return default;
        int family = sockaddr[0] | (sockaddr[1] << 8);
        if (family == 2) return sockaddr.Slice(4, 4);
        if (family != 10 || sockaddr.Length < 24) return default;
        var address = sockaddr.Slice(8, 16);
        bool mapped = BinaryPrimitives.ReadUInt64LittleEndian(address) == 0 && BinaryPrimitives.ReadUInt32BigEndian(address[8..]) == 0xFFFF;
        return mapped ? address[12..] : address;
    }

    /// <summary>
    /// Answers one message (<see cref="AnswerSigned"/>) and hands it to the query log, when it is on. <paramref name="at"/>
    /// is the responder's clock read once for a batch of UDP queries, or null to read it for this message.
    /// </summary>
    private int Answer(ReadOnlySpan<byte> query, Span<byte> response, IPAddress? tcpClient, ReadOnlySpan<byte> sockaddr, DateTimeOffset? at,
        out TransferMessages? transfer, out Tsig.TransferSigner? signer)
    {
        int length = AnswerSigned(query, response, tcpClient, sockaddr, at, out transfer, out signer);
        // The query log's one hook: a copy into its queue, never a wait; its own thread encodes and writes.
        // A transfer's messages are not logged, only the query that asked for it. sockaddr is the peer's, UDP or TCP.
        _options.QueryLog?.Record(query, transfer is null ? response[..length] : default, tcpClient is not null, sockaddr, _logAddress);
        return length;
    }

    /// <summary>
    /// Answers one message, TSIG first (RFC 8945 section 5.2): a request whose TSIG fails gets NOTAUTH with the TSIG
    /// error and nothing else, whoever sent it; one signed with a known key is answered (and its transfer access
    /// decided) as signed by that key, and the answer, or every message of the transfer (<paramref name="signer"/>), is
    /// signed. <paramref name="tcpClient"/> is the TCP peer (null over UDP); <paramref name="sockaddr"/> the peer's socket address, which decides transfer access over UDP.
    /// </summary>
    private int AnswerSigned(ReadOnlySpan<byte> query, Span<byte> response, IPAddress? tcpClient, ReadOnlySpan<byte> sockaddr, DateTimeOffset? at,
        out TransferMessages? transfer, out Tsig.TransferSigner? signer)
    {
        signer = null;
        transfer = null;
        bool tcp = tcpClient is not null;
        try
        {
            // Responses are never answered (RFC 1035 section 4.1.1), signed or not: the responder stays silent on them.
            var tsig = query.Length >= DnsQuery.HeaderLength && (query[2] & 0x80) == 0 ? Tsig.Check(query, _options.TsigKeys, _options.Time) : null;
            if (tsig is { Status: not TsigStatus.Valid })
            {
                Interlocked.Increment(ref tsig.Status == TsigStatus.BadKey ? ref _tsigBadKey : ref tsig.Status == TsigStatus.BadTime ? ref _tsigBadTime : ref _tsigBadSig);
                return Tsig.WriteError(query, response[..Math.Min(response.Length, ClientLimit(query, tcp))], tsig, Now());
            }
            var key = tsig?.Key;
            bool allowed = tcp ? TransferAllowed(tcpClient!, key) : UdpTransferAllowed(query, sockaddr, key);
            // A signed answer keeps room for its TSIG within the client's limit.
            int max = key is null ? DnsResponder.MaxMessageSize : ClientLimit(query, tcp) - Tsig.MaxRecordLength(key);
            // Cookies are bound to the client's address, over TCP too; only UDP is charged to the rate limiter.
            int length = _responder.Respond(query, response, max, tcp, allowed, ClientAddress(sockaddr), tcp ? null : _limiter,
                at ?? _responder.Time.GetUtcNow(), out transfer);
            // A transfer refused only for want of the key its address needs: NOTAUTH, as for a bad signature (RFC 8945
            // section 5.2). There is no TSIG to echo; naming the key would tell anyone which to try.
            if (transfer is null && length >= DnsQuery.HeaderLength && (response[3] & 0x0F) == ResponseCode.Refused && !allowed && key is null
                && AsksTransfer(query) && NeedsKey(tcp ? tcpClient! : SenderAddress(sockaddr)))
                response[3] = (byte)((response[3] & 0xF0) | Tsig.NotAuth);
            if (tsig is not null && key is not null)
            {
                Interlocked.Increment(ref _tsigSigned);
                if (transfer is not null) signer = new Tsig.TransferSigner(key, tsig.Mac, tsig.OriginalId, _options.Time);
                else if (length > 0) length = Tsig.SignResponse(response, length, key, tsig.Mac, tsig.OriginalId, (ulong)Now());
            }
            return length;
        }
        catch (Exception e)
        {
            // A fault in one answer (a bug, a bad snapshot) must not take the server down: this query goes unanswered.
            _options.OnError?.Invoke(e);
            transfer?.Dispose();
            transfer = null;
            signer = null;
            return 0;
        }
    }

    /// <summary>Whether a keyed [[transfer]] rule covers <paramref name="address"/>.</summary>
    private bool NeedsKey(IPAddress? address)
    {
        if (address is null) return false;
        foreach (var rule in _options.TransferRules)
        {
            if (rule.Key is not null && rule.Network.Contains(address)) return true;
        }
        return false;
    }

    /// <summary>Whether the question asks AXFR or IXFR (read only once the responder has refused it).</summary>
    private static bool AsksTransfer(ReadOnlySpan<byte> query)
    {
        int pos = DnsQuery.HeaderLength;
        if (!DnsQuery.SkipName(query, ref pos) || pos + 2 > query.Length) return false;
        ushort type = BinaryPrimitives.ReadUInt16BigEndian(query[pos..]);
        return type is RecordType.Axfr or RecordType.Ixfr;
    }

    /// <summary>The address in a Linux sockaddr_in or sockaddr_in6.</summary>
    private static IPAddress? SenderAddress(ReadOnlySpan<byte> sockaddr)
    {
        if (sockaddr.Length < 8) return null;
        // Linux sockaddr_in (family 2, address at 4) and sockaddr_in6 (family 10, address at 8).
        int family = sockaddr[0] | (sockaddr[1] << 8);
        IPAddress? address = family switch
        {
            2 => new IPAddress(sockaddr.Slice(4, 4)),
            10 when sockaddr.Length >= 24 => new IPAddress(sockaddr.Slice(8, 16)),
            _ => null,
        };
        return address is { IsIPv4MappedToIPv6: true } ? address.MapToIPv4() : address;
    }

    private long Now() => _options.Time.GetUtcNow().ToUnixTimeSeconds();

    /// <summary>The most the client takes (RFC 6891 section 6.2.5, RFC 1035 section 4.2.1), as the responder reckons it.</summary>
    private int ClientLimit(ReadOnlySpan<byte> query, bool tcp)
    {
        if (tcp) return DnsResponder.MaxMessageSize;
        Span<ushort> labels = stackalloc ushort[DnsQuery.MaxLabels];
        var q = new DnsQuery(query, labels);
        q.Parse();
        return q.HasOpt ? Math.Clamp((int)q.UdpPayloadSize, DnsResponder.ClassicUdpSize, Math.Clamp(_responder.Options.UdpPayloadSize, DnsResponder.ClassicUdpSize, DnsResponder.MaxMessageSize))
            : DnsResponder.ClassicUdpSize;
    }

    private long _tsigSigned, _tsigBadKey, _tsigBadSig, _tsigBadTime;

    /// <summary>Requests answered signed with a known key (RFC 8945).</summary>
    public long TsigSigned => Interlocked.Read(ref _tsigSigned);

    /// <summary>Requests refused NOTAUTH/BADKEY: signed with a key this server does not know.</summary>
    public long TsigBadKey => Interlocked.Read(ref _tsigBadKey);

    /// <summary>Requests refused NOTAUTH/BADSIG (or BADTRUNC, FORMERR): the MAC did not verify.</summary>
    public long TsigBadSig => Interlocked.Read(ref _tsigBadSig);

    /// <summary>Requests refused NOTAUTH/BADTIME: signed outside the time window.</summary>
    public long TsigBadTime => Interlocked.Read(ref _tsigBadTime);

    private async Task AcceptLoopAsync()
    {
        var token = _stop.Token;
        while (!token.IsCancellationRequested)
        {
            Socket client;
            try
            {
                client = await _tcp.AcceptAsync(token);
            }
            catch (Exception e) when (IsStopping(e))
            {
                return;
            }
            catch (SocketException)
            {
                // The peer gave up before we accepted (ECONNABORTED and the like).
                continue;
            }

            var address = client.RemoteEndPoint is IPEndPoint remote ? (remote.Address.IsIPv4MappedToIPv6 ? remote.Address.MapToIPv4() : remote.Address) : IPAddress.None;
            // Secondaries (by address; a key is checked per request) may take the slots held for transfers.
            bool transferAllowed = TransferCandidate(address);
            if (!TryTakeSlot(address, transferAllowed))
            {
                client.Dispose();
                continue;
            }
            client.NoDelay = true;
            // The client's socket address, once per connection: its cookies are bound to it, and the query log records it.
            byte[] peer = [];
            if (client.RemoteEndPoint is IPEndPoint from)
            {
                var serialized = from.Serialize();
                peer = serialized.Buffer[..serialized.Size].ToArray();
            }
            long id = Interlocked.Increment(ref _nextConnectionId);
            var connection = Task.Run(() => ServeTcpAsync(client, address, peer), CancellationToken.None);
            _connections[id] = connection;
            _ = connection.ContinueWith(_ => _connections.TryRemove(id, out Task? _), CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        }
    }

    /// <summary>
    /// Takes a TCP slot for a client: within the total, within the client's own share, and outside the slots held for
    /// transfer clients unless it is one. False: the connection is closed on accept.
    /// </summary>
    private bool TryTakeSlot(IPAddress address, bool transferClient)
    {
        int reserved = _options.TransferClients.Count == 0 && _options.TransferRules.Count == 0 ? 0 : Math.Clamp(_options.TransferReservedConnections, 0, _options.MaxTcpConnections - 1);
        lock (_perClient)
        {
            if (Volatile.Read(ref _tcpConnections) >= _options.MaxTcpConnections - (transferClient ? 0 : reserved)) return false;
            _perClient.TryGetValue(address, out int held);
            if (held >= _options.MaxTcpConnectionsPerClient) return false;
            _perClient[address] = held + 1;
            Interlocked.Increment(ref _tcpConnections);
            return true;
        }
    }

    private void ReleaseSlot(IPAddress address)
    {
        lock (_perClient)
        {
            if (_perClient.TryGetValue(address, out int held) && held > 1) _perClient[address] = held - 1;
            else _perClient.Remove(address);
            Interlocked.Decrement(ref _tcpConnections);
        }
    }

    /// <summary>
    /// RFC 7766: two-octet length framing; every complete query already received is answered, in order, and the
    /// answers go out in one write (pipelining, section 6.2.1.1).
    /// </summary>
    private async Task ServeTcpAsync(Socket socket, IPAddress address, byte[] peer)
    {
        var input = ArrayPool<byte>.Shared.Rent(2 * FrameSize);
        // For cookies: TCP answers are never rate-limited.
        var client = address.GetAddressBytes();
        var output = ArrayPool<byte>.Shared.Rent(2 * FrameSize);
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(_stop.Token);
        try
        {
            int start = 0, end = 0;
            while (true)
            {
                // The next query must arrive whole within the idle timeout: stalled and idle clients are dropped alike.
                deadline.CancelAfter(_options.TcpIdleTimeout);
                while (true)
                {
                    int available = end - start;
                    int need = available >= 2 ? 2 + BinaryPrimitives.ReadUInt16BigEndian(input.AsSpan(start)) : 2;
                    if (available >= need) break;
                    if (start + need > input.Length)
                    {
                        input.AsSpan(start, available).CopyTo(input);
                        start = 0;
                        end = available;
                    }
                    int read = await socket.ReceiveAsync(input.AsMemory(end), SocketFlags.None, deadline.Token);
                    if (read == 0) return;
                    end += read;
                }

                int pending = 0;
                while (end - start >= 2)
                {
                    int length = BinaryPrimitives.ReadUInt16BigEndian(input.AsSpan(start));
                    if (end - start < 2 + length) break;
                    if (output.Length - pending < FrameSize)
                    {
                        await SendAsync(socket, output.AsMemory(0, pending), deadline.Token);
                        pending = 0;
                    }
                    int answered = Answer(input.AsSpan(start + 2, length), output.AsSpan(pending + 2, DnsResponder.MaxMessageSize), address, peer, null, out var transfer, out var signer);
                    start += 2 + length;
                    if (transfer is not null)
                    {
                        if (pending > 0) await SendAsync(socket, output.AsMemory(0, pending), deadline.Token);
                        pending = 0;
                        using (transfer)
                        {
                            while (true)
                            {
                                ReadOnlyMemory<byte> frame;
                                try
                                {
                                    if (!transfer.Next(out frame)) break;
                                }
                                catch (Exception e)
                                {
                                    // The store became unreadable part way (the directory), or a bug: reported, and the
                                    // connection ends without the closing SOA, so the secondary cannot take the zone as
                                    // complete and retries.
                                    _options.OnError?.Invoke(e);
                                    return;
                                }
                                // RFC 8945 section 5.3.1: a signed request gets every message signed.
                                if (signer is not null) frame = signer.Sign(frame);
                                // Bounded per message, not per transfer: a large zone takes longer than any idle timeout.
                                deadline.CancelAfter(_options.TransferWriteTimeout);
                                await SendAsync(socket, frame, deadline.Token);
                            }
                        }
                        continue;
                    }
                    if (answered == 0) continue;
                    BinaryPrimitives.WriteUInt16BigEndian(output.AsSpan(pending), (ushort)answered);
                    pending += 2 + answered;
                }
                if (pending > 0) await SendAsync(socket, output.AsMemory(0, pending), deadline.Token);
                if (start == end) start = end = 0;
            }
        }
        catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
        {
            // Timed out, reset by the peer, or the server is stopping: in every case the connection ends here.
        }
        finally
        {
            socket.Dispose();
            ArrayPool<byte>.Shared.Return(input);
            ArrayPool<byte>.Shared.Return(output);
            ReleaseSlot(address);
        }
    }

    private static async ValueTask SendAsync(Socket socket, ReadOnlyMemory<byte> data, CancellationToken token)
    {
        while (!data.IsEmpty)
        {
            int sent = await socket.SendAsync(data, SocketFlags.None, token);
            data = data[sent..];
        }
    }

    /// <summary>Stops receiving, closes every connection and waits for the loops to end.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        await _stop.CancelAsync();
        foreach (var udp in _udp) udp.Dispose();
        _tcp.Dispose();
        await Task.WhenAll(_loops);
        await Task.WhenAll(_connections.Values);
        _stop.Dispose();
    }
}
