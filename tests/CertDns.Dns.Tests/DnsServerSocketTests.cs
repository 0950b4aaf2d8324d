using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using ARSoft.Tools.Net.Dns;
using CertDns.Core;

namespace CertDns.Dns.Tests;

/// <summary>The server's transports driven with raw sockets: what well-behaved clients never send.</summary>
public sealed class DnsServerSocketTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(5);

    private static async Task<DnsServer> StartAsync(SnapshotHolder holder, DnsServerOptions? options = null, ZoneOptions? zone = null) =>
        await DnsServer.StartAsync(new IPEndPoint(IPAddress.Loopback, 0), TestZone.Responder(holder, zone), options);

    private static async Task<byte[]> UdpAsync(IPEndPoint server, byte[] query)
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        await socket.SendToAsync(query, SocketFlags.None, server);
        var buffer = new byte[65535];
        using var timeout = new CancellationTokenSource(Patience);
        int length = await socket.ReceiveAsync(buffer, SocketFlags.None, timeout.Token);
        return buffer[..length];
    }

    private static async Task<byte[]> ReadFrameAsync(Socket socket, CancellationToken token)
    {
        var prefix = new byte[2];
        await ReadExactlyAsync(socket, prefix, token);
        var message = new byte[BinaryPrimitives.ReadUInt16BigEndian(prefix)];
        await ReadExactlyAsync(socket, message, token);
        return message;
    }

    private static async Task ReadExactlyAsync(Socket socket, Memory<byte> buffer, CancellationToken token)
    {
        while (!buffer.IsEmpty)
        {
            int read = await socket.ReceiveAsync(buffer, SocketFlags.None, token);
            if (read == 0) throw new EndOfStreamException();
            buffer = buffer[read..];
        }
    }

    private static byte[] Frame(byte[] message) => [(byte)(message.Length >> 8), (byte)message.Length, .. message];

    public static TheoryData<string, byte[]> Malformed => new()
    {
        { "label length 64", [0xAB, 0xCD, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 64, .. new byte[64], 0, 0, 1, 0, 1] },
        { "truncated question", WireQuery.Build("test.status.example", WireQuery.A, id: 0xABCD)[..22] },
        { "compression pointer loop", [0xAB, 0xCD, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xC0, 0x0C, 0, 1, 0, 1] },
    };

    [Theory]
    [MemberData(nameof(Malformed))]
    public async Task Udp_MalformedQuery_FormErr(string fault, byte[] query)
    {
        _ = fault;
        await using var server = await StartAsync(new SnapshotHolder(TestZone.Snapshot()));

        var response = await UdpAsync(server.LocalEndPoint, query);

        Assert.Equal(0xABCD, WireQuery.Id(response));
        Assert.Equal(1, WireQuery.Rcode(response));
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Dispose_RightAfterStart_LoopsEndWithoutFault(bool batching)
    {
        // A server disposed before its UDP threads first ran closed their sockets under them; a socket call on the
        // thread then threw outside any handler and took the whole process down (seen once in CI).
        var errors = new System.Collections.Concurrent.ConcurrentQueue<Exception>();
        var options = new DnsServerOptions { UdpReceiveLoops = 2, UdpBatching = batching, OnError = errors.Enqueue };
        var holder = new SnapshotHolder(TestZone.Snapshot());
        for (int i = 0; i < 300; i++)
        {
            var server = await StartAsync(holder, options);
            var disposed = server.DisposeAsync().AsTask();
            Assert.Same(disposed, await Task.WhenAny(disposed, Task.Delay(Patience)));
            await disposed;
        }
        Assert.Empty(errors);
    }

    [Fact]
    public async Task Start_PortAnotherReusePortGroupHolds_RefusedRatherThanShared()
    {
        // Another process's SO_REUSEPORT socket of the same user (another server, or a test server in the next test
        // process that the kernel gave this port): joining its group would hand that process part of our queries.
        using var other = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        other.SetRawSocketOption(1, 15, BitConverter.GetBytes(1));
        other.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        var port = ((IPEndPoint)other.LocalEndPoint!).Port;

        var e = await Assert.ThrowsAsync<SocketException>(() => DnsServer.StartAsync(new IPEndPoint(IPAddress.Loopback, port),
            TestZone.Responder(new SnapshotHolder(TestZone.Snapshot())), new DnsServerOptions { UdpReceiveLoops = 2 }));
        Assert.Equal(SocketError.AddressAlreadyInUse, e.SocketErrorCode);
    }

    /// <summary>Whether a client socket setting SO_REUSEADDR and SO_REUSEPORT (as dig's does) may bind 127.0.0.1:port.</summary>
    private static bool ClientMayTake(int port)
    {
        using var client = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        client.SetRawSocketOption(1, 2, BitConverter.GetBytes(1));
        client.SetRawSocketOption(1, 15, BitConverter.GetBytes(1));
        try
        {
            client.Bind(new IPEndPoint(IPAddress.Loopback, port));
            return true;
        }
        catch (SocketException e) when (e.SocketErrorCode == SocketError.AddressAlreadyInUse)
        {
            return false;
        }
    }

    [Fact]
    public async Task Start_PortZeroWithSeveralLoops_GroupPortOutsideTheKernelsEphemeralRange()
    {
        // The kernel's choice of a client's port takes a SO_REUSEPORT group's port as free for a socket that sets the
        // option too (dig's does). A group on an ephemeral port was thus handed to a local dig now and then, which,
        // connected to the server, read its own query back as the answer ("query response not set").
        if (!OperatingSystem.IsLinux()) return;
        var (low, high) = CertDnsProcess.EphemeralRange();
        for (int i = 0; i < 8; i++)
        {
            await using var server = await DnsServer.StartAsync(new IPEndPoint(IPAddress.Loopback, 0),
                TestZone.Responder(new SnapshotHolder(TestZone.Snapshot())), new DnsServerOptions { UdpReceiveLoops = 2 });
            var port = server.LocalEndPoint.Port;
            Assert.False(low <= port && port <= high, $"port {port} is in the ephemeral range {low}-{high}");
            var response = await UdpAsync(server.LocalEndPoint, WireQuery.Build("test.status.example", WireQuery.A));
            Assert.Equal(1, WireQuery.Count(response, 1));
        }
    }

    [Fact]
    public void FreePort_ForPeersThatShareTheirPort_OutsideTheKernelsEphemeralRange()
    {
        // Knot's UDP workers are such a group: the port tests hand it must be one the kernel never gives a client.
        if (!OperatingSystem.IsLinux()) return;
        var (low, high) = CertDnsProcess.EphemeralRange();
        for (int i = 0; i < 32; i++)
        {
            var port = CertDnsProcess.FreePort();
            Assert.False(low <= port && port <= high, $"port {port} is in the ephemeral range {low}-{high}");
        }
    }

    [Fact]
    public async Task Start_AskedForAnEphemeralPortWithSeveralLoops_NoClientSocketCanJoinIt()
    {
        if (!OperatingSystem.IsLinux()) return;
        var (low, high) = CertDnsProcess.EphemeralRange();
        // A port the kernel hands out is free only until the next client of any process on the machine draws it (the
        // test projects run side by side, with dig and the peers' clients): the CI's second pass once lost that race,
        // "Address already in use" on the server's bind. So a taken port is drawn again; the server itself is not told
        // to retry, since an explicit port in use must fail.
        DnsServer? started = null;
        int port = 0;
        for (int attempt = 0; started is null; attempt++)
        {
            using (var probe = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp))
            {
                probe.Bind(new IPEndPoint(IPAddress.Loopback, 0));
                port = ((IPEndPoint)probe.LocalEndPoint!).Port;
            }
            Assert.InRange(port, low, high);
            try
            {
                started = await DnsServer.StartAsync(new IPEndPoint(IPAddress.Loopback, port),
                    TestZone.Responder(new SnapshotHolder(TestZone.Snapshot())), new DnsServerOptions { UdpReceiveLoops = 2 });
            }
            catch (SocketException e) when (e.SocketErrorCode == SocketError.AddressAlreadyInUse && attempt < 20)
            {
            }
        }
        await using var server = started;
        Assert.False(ClientMayTake(port), $"a client socket could bind the server's port {port}");
        // Both loops on the one socket answer.
        for (int i = 0; i < 4; i++)
        {
            var response = await UdpAsync(server.LocalEndPoint, WireQuery.Build("test.status.example", WireQuery.A));
            Assert.Equal(1, WireQuery.Count(response, 1));
        }
    }

    [Fact]
    public async Task Udp_BurstsFromManyClients_EveryAnswerToItsOwnAsker()
    {
        // Clients send without waiting, so one recvmmsg takes datagrams of several senders: each answer must go back
        // to the address its query came from, with its own ID and its own name's code.
        await using var server = await StartAsync(new SnapshotHolder(TestZone.Snapshot()), new DnsServerOptions { UdpReceiveLoops = 1 });
        var names = new[] { (TestZone.Valid, "127.0.1.2"), (TestZone.Revoked, "127.0.0.2") };
        const int clients = 16, perClient = 64;
        var sockets = Enumerable.Range(0, clients).Select(_ => new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp)).ToList();
        try
        {
            for (int c = 0; c < clients; c++)
            {
                sockets[c].Connect(server.LocalEndPoint);
                sockets[c].ReceiveTimeout = (int)Patience.TotalMilliseconds;
            }
            for (int q = 0; q < perClient; q++)
            {
                for (int c = 0; c < clients; c++)
                    sockets[c].Send(WireQuery.Build(TestZone.Name(TestZone.Split(names[(c + q) % 2].Item1.Sha256)), WireQuery.A, id: (ushort)(c * 1000 + q)));
            }
            var buffer = new byte[65535];
            for (int c = 0; c < clients; c++)
            {
                var seen = new HashSet<int>();
                for (int q = 0; q < perClient; q++)
                {
                    int length = sockets[c].Receive(buffer);
                    int id = WireQuery.Id(buffer.AsSpan(0, length));
                    Assert.Equal(c, id / 1000);
                    Assert.True(seen.Add(id % 1000));
                    var address = buffer.AsSpan(length - 4, 4).ToArray();
                    Assert.Equal(names[(c + id % 1000) % 2].Item2, string.Join('.', address));
                }
            }
        }
        finally
        {
            sockets.ForEach(s => s.Dispose());
        }
    }

    [Fact]
    public async Task Udp_ShortDatagram_SilenceAndServerKeepsAnswering()
    {
        await using var server = await StartAsync(new SnapshotHolder(TestZone.Snapshot()));
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        await socket.SendToAsync(new byte[5], SocketFlags.None, server.LocalEndPoint);

        using var shortWait = new CancellationTokenSource(TimeSpan.FromMilliseconds(300));
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () => await socket.ReceiveAsync(new byte[512], SocketFlags.None, shortWait.Token));
        var response = await UdpAsync(server.LocalEndPoint, WireQuery.Build("test.status.example", WireQuery.A));
        Assert.Equal(1, WireQuery.Count(response, 1));
    }

    [Fact]
    public async Task Udp_AnswerTooLong_TruncatedThenCompleteOverTcp()
    {
        // A long apex and a TXT at the 255-octet cap make an answer over 512 octets.
        var longCa = new CaFacts(9, "CN=" + new string('x', 240), true, Crl: new CrlFacts("1", TestZone.Now.AddDays(-1), TestZone.Now.AddDays(1)));
        var cert = TestZone.Revoked with { Ca = longCa };
        var apex = string.Join('.', Enumerable.Repeat(new string('z', 52), 3)) + ".example";
        await using var server = await StartAsync(new SnapshotHolder(new StatusSnapshot(1, [cert])), zone: new ZoneOptions { Apex = apex });
        var query = WireQuery.Build(TestZone.Split(cert.Sha256) + "." + apex, WireQuery.Txt);

        var udp = await UdpAsync(server.LocalEndPoint, query);
        Assert.True(WireQuery.Truncated(udp));
        Assert.Equal(0, WireQuery.Count(udp, 1));

        var answer = await ArSoft.Client(server.LocalEndPoint.Port, tcpOnly: true).AskAsync(TestZone.Split(cert.Sha256) + "." + apex, RecordType.Txt);
        Assert.False(answer.IsTruncated);
        Assert.Equal(255, System.Text.Encoding.UTF8.GetByteCount(Assert.Single(Assert.IsType<TxtRecord>(Assert.Single(answer.AnswerRecords)).TextParts)));

        // ARSoft's client falls back to TCP on its own when UDP comes back truncated.
        var retried = await ArSoft.Client(server.LocalEndPoint.Port).AskAsync(TestZone.Split(cert.Sha256) + "." + apex, RecordType.Txt);
        Assert.Single(retried.AnswerRecords);
    }

    [Fact]
    public async Task Tcp_TwoQueriesInOneWrite_BothAnsweredInOrder()
    {
        await using var server = await StartAsync(new SnapshotHolder(TestZone.Snapshot()));
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(server.LocalEndPoint);
        var first = WireQuery.Build(TestZone.Name(TestZone.Split(TestZone.Revoked.Sha256)), WireQuery.A, id: 0x0101);
        var second = WireQuery.Build(TestZone.Name(TestZone.Split(TestZone.Valid.Sha256)), WireQuery.Txt, id: 0x0202);

        await socket.SendAsync((byte[])[.. Frame(first), .. Frame(second)], SocketFlags.None);

        using var timeout = new CancellationTokenSource(Patience);
        var a = await ReadFrameAsync(socket, timeout.Token);
        var b = await ReadFrameAsync(socket, timeout.Token);
        Assert.Equal(0x0101, WireQuery.Id(a));
        Assert.Equal(0x0202, WireQuery.Id(b));
        Assert.IsType<ARecord>(Assert.Single(DnsMessage.Parse(new ArraySegment<byte>(a)).AnswerRecords));
        Assert.IsType<TxtRecord>(Assert.Single(DnsMessage.Parse(new ArraySegment<byte>(b)).AnswerRecords));
    }

    [Fact]
    public async Task Tcp_QuerySplitAcrossWrites_Answered()
    {
        await using var server = await StartAsync(new SnapshotHolder(TestZone.Snapshot()));
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(server.LocalEndPoint);
        var frame = Frame(WireQuery.Build("test.status.example", WireQuery.A, id: 0x0303));

        foreach (var piece in new[] { frame[..1], frame[1..9], frame[9..] })
        {
            await socket.SendAsync(piece, SocketFlags.None);
            await Task.Delay(20);
        }

        using var timeout = new CancellationTokenSource(Patience);
        Assert.Equal(0x0303, WireQuery.Id(await ReadFrameAsync(socket, timeout.Token)));
    }

    [Fact]
    public async Task Tcp_LengthPrefixThenSilence_DisconnectedAfterIdleTimeout()
    {
        await using var server = await StartAsync(new SnapshotHolder(TestZone.Snapshot()), new DnsServerOptions { TcpIdleTimeout = TimeSpan.FromMilliseconds(300) });
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(server.LocalEndPoint);

        await socket.SendAsync((byte[])[0xFF, 0xFF], SocketFlags.None);

        using var timeout = new CancellationTokenSource(Patience);
        var started = DateTime.UtcNow;
        int read = await socket.ReceiveAsync(new byte[16], SocketFlags.None, timeout.Token);
        Assert.Equal(0, read);
        Assert.InRange(DateTime.UtcNow - started, TimeSpan.FromMilliseconds(200), TimeSpan.FromSeconds(4));
        await WaitForAsync(() => server.TcpConnections == 0);
    }

    [Fact]
    public async Task Tcp_OverConnectionCap_ExtraConnectionClosed()
    {
        await using var server = await StartAsync(new SnapshotHolder(TestZone.Snapshot()), new DnsServerOptions { MaxTcpConnections = 1 });
        using var first = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await first.ConnectAsync(server.LocalEndPoint);
        await WaitForAsync(() => server.TcpConnections == 1);
        using var second = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await second.ConnectAsync(server.LocalEndPoint);

        using var timeout = new CancellationTokenSource(Patience);
        int read;
        try
        {
            read = await second.ReceiveAsync(new byte[16], SocketFlags.None, timeout.Token);
        }
        catch (SocketException e) when (e.SocketErrorCode == SocketError.ConnectionReset)
        {
            read = 0;
        }
        Assert.Equal(0, read);

        await first.SendAsync(Frame(WireQuery.Build("test.status.example", WireQuery.A, id: 7)), SocketFlags.None);
        Assert.Equal(7, WireQuery.Id(await ReadFrameAsync(first, timeout.Token)));
    }

    [Fact]
    public async Task Publish_NewSnapshot_NextAnswerReflectsItAndSerialIncreases()
    {
        var holder = new SnapshotHolder(TestZone.Snapshot(serial: 100));
        await using var server = await StartAsync(holder);
        var client = ArSoft.Client(server.LocalEndPoint.Port);
        var name = TestZone.Name(TestZone.Split(TestZone.Valid.Sha256));
        var before = await client.AskAsync(name, RecordType.A);
        Assert.Equal(IPAddress.Parse("127.0.1.2"), Assert.IsType<ARecord>(Assert.Single(before.AnswerRecords)).Address);

        var revoked = TestZone.Valid with { Revocation = new RevocationFacts(RevocationReason.KeyCompromise, TestZone.Now.AddMinutes(-5), "1001") };
        holder.Publish(new StatusSnapshot(101, TestZone.All.Select(c => c == TestZone.Valid ? revoked : c)));

        var after = await client.AskAsync(name, RecordType.A);
        Assert.Equal(IPAddress.Parse("127.0.0.2"), Assert.IsType<ARecord>(Assert.Single(after.AnswerRecords)).Address);
        var soa = Assert.IsType<SoaRecord>(Assert.Single((await client.AskAsync(TestZone.Apex, RecordType.Soa)).AnswerRecords));
        Assert.Equal(101u, soa.SerialNumber);
    }

    [Fact]
    public async Task DisposeAsync_WithOpenConnection_StopsPromptly()
    {
        var server = await StartAsync(new SnapshotHolder(TestZone.Snapshot()));
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(server.LocalEndPoint);
        await WaitForAsync(() => server.TcpConnections == 1);

        var dispose = server.DisposeAsync().AsTask();

        Assert.Same(dispose, await Task.WhenAny(dispose, Task.Delay(Patience)));
        Assert.Equal(0, server.TcpConnections);
    }

    [Fact]
    public async Task StartAsync_PortZero_UdpAndTcpOnSamePort()
    {
        await using var server = await StartAsync(new SnapshotHolder(TestZone.Snapshot()));
        using var tcp = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);

        await tcp.ConnectAsync(server.LocalEndPoint);

        Assert.NotEqual(0, server.LocalEndPoint.Port);
    }

    private static async Task WaitForAsync(Func<bool> condition)
    {
        var until = DateTime.UtcNow + Patience;
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < until, "condition not reached in time");
            await Task.Delay(10);
        }
    }
}
