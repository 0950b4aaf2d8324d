using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using CertDns.Core;

namespace CertDns.Dns.Tests;

/// <summary>
/// Process-wide allocation counts are only meaningful with nothing else running: this collection runs alone.
/// </summary>
[CollectionDefinition(nameof(AloneCollection), DisableParallelization = true)]
public sealed class AloneCollection;

/// <summary>The per-query path allocates nothing: the responder exactly, the UDP loops as seen from the whole process.</summary>
[Collection(nameof(AloneCollection))]
public sealed class AllocationTests
{
    /// <summary>One query per answer shape the A path takes: every fingerprint form, views, keys, misses, test entries, the apex.</summary>
    private static byte[][] Queries() =>
        [.. Names().Select((n, i) => WireQuery.Build(n, WireQuery.A, id: (ushort)i, ednsSize: (ushort)(i % 2 == 0 ? 1232 : 0)))];

    private static string[] Names()
    {
        var valid = TestZone.Valid;
        var sha = Hex.Lower(valid.Sha256);
        string[] names =
        [
            TestZone.Name(TestZone.Split(valid.Sha256)),
            TestZone.Name(TestZone.Split(TestZone.Revoked.Sha256), "bl"),
            TestZone.Name(TestZone.Split(valid.Sha256), "wl"),
            TestZone.Name(sha[..56]),
            TestZone.Name(Hex.Lower(valid.Sha1)),
            TestZone.Name(Hex.Lower(valid.Md5)),
            TestZone.Name(QueryNames.PerByte(valid.Sha1)),
            TestZone.Name(Hex.Base32(valid.Sha256)),
            TestZone.Name(TestZone.Split(valid.SpkiSha256) + ".key"),
            TestZone.Name(TestZone.Split(TestZone.Unknown.Sha256)),
            TestZone.Name(sha[..20]),
            TestZone.Name("test"),
            TestZone.Name("invalid"),
            TestZone.Name("not-a-fingerprint"),
            TestZone.Apex,
        ];
        return names;
    }

    [Fact]
    public void Respond_EveryAnswerShape_AllocatesNothing()
    {
        var responder = TestZone.Responder(new SnapshotHolder(TestZone.Snapshot()));
        var queries = Queries();
        var response = new byte[DnsResponder.MaxMessageSize];
        int answered = 0;
        for (int i = 0; i < 10_000; i++) answered += responder.Respond(queries[i % queries.Length], response, DnsResponder.MaxMessageSize, tcp: false) > 0 ? 1 : 0;

        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 100_000; i++) answered += responder.Respond(queries[i % queries.Length], response, DnsResponder.MaxMessageSize, tcp: false) > 0 ? 1 : 0;
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.Equal(110_000, answered);
        Assert.Equal(0, allocated);
        // The metrics' counters are on the measured path: every answer was counted, and counting allocated nothing.
        Assert.Equal(110_000, responder.Counters.Total);
    }

    [Fact]
    public void Respond_RateLimitedAndCookies_AllocatesNothing()
    {
        var time = new FakeTimeProvider(TestZone.Now);
        var responder = new DnsResponder(new ZoneOptions(), new SnapshotHolder(TestZone.Snapshot()), time)
        {
            Cookies = new ServerCookies(new byte[16], default, time),
        };
        var limiter = new RateLimiter(new RateLimitOptions { ResponsesPerSecond = 100 }, time);
        // Plain queries (answered, slipped, dropped) and ones with a client cookie, from many prefixes.
        var queries = Queries().Concat(Queries().Select(q => WithClientCookie(q))).ToArray();
        var response = new byte[DnsResponder.MaxMessageSize];
        var address = new byte[4];
        long sent = 0;
        void Ask(int count)
        {
            for (int i = 0; i < count; i++)
            {
                BinaryPrimitives.WriteInt32BigEndian(address, (i % 50) << 8);
                sent += responder.Respond(queries[i % queries.Length], response, DnsResponder.MaxMessageSize, false, false, address, limiter, out _) > 0 ? 1 : 0;
            }
        }
        Ask(10_000);

        long before = GC.GetAllocatedBytesForCurrentThread();
        Ask(100_000);
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.Equal(0, allocated);
        Assert.True(responder.Counters.RateLimitedResponses > 0 && responder.Counters.SlippedResponses > 0, "the limiter was on the measured path");
        Assert.True(responder.Counters.Cookies(CookieOutcome.ClientOnly) > 0);
    }

    private static byte[] WithClientCookie(byte[] query)
    {
        var name = new List<string>();
        for (int pos = 12; query[pos] != 0; pos += 1 + query[pos]) name.Add(System.Text.Encoding.ASCII.GetString(query, pos + 1, query[pos]));
        return WireQuery.WithCookie(string.Join('.', name), WireQuery.A, [1, 2, 3, 4, 5, 6, 7, 8], WireQuery.Id(query));
    }

    [Theory]
    [InlineData(true, false)]
    [InlineData(false, false)]
    // A wildcard bind: every answer names its source address from the query's control data (IP_PKTINFO).
    [InlineData(true, true)]
    [InlineData(false, true)]
    // Rate limiting on: one client far over the rate, every limited answer slipped (slip 1) so each query gets one.
    [InlineData(true, false, true)]
    [InlineData(false, false, true)]
    [InlineData(true, true, true)]
    public async Task UdpServer_ManyQueries_AllocatesUnderFourBytesPerQuery(bool batching, bool wildcard, bool rateLimited = false)
    {
        var limiter = rateLimited ? new RateLimiter(new RateLimitOptions { ResponsesPerSecond = 1000, Slip = 1 }, TimeProvider.System) : null;
        await using var server = await DnsServer.StartAsync(new IPEndPoint(wildcard ? IPAddress.Any : IPAddress.Loopback, 0), TestZone.Responder(new SnapshotHolder(TestZone.Snapshot())),
            new DnsServerOptions { UdpBatching = batching, RateLimiter = limiter, RateLimitEnabled = rateLimited ? true : null });
        using var client = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        // Connected: the kernel delivers only answers from exactly this address, so a wrong source fails the test.
        client.Connect(new IPEndPoint(wildcard ? IPAddress.Parse("127.0.0.2") : IPAddress.Loopback, server.LocalEndPoint.Port));
        client.ReceiveTimeout = 5000;
        var queries = Queries();
        var buffer = new byte[65535];
        int mismatched = 0;
        void Ask(int count)
        {
            // No Assert inside the loop: xunit's comparers allocate, and this counts every allocation in the process.
            for (int i = 0; i < count; i++)
            {
                client.Send(queries[i % queries.Length]);
                int length = client.Receive(buffer);
                if (WireQuery.Id(buffer.AsSpan(0, length)) != i % queries.Length) mismatched++;
            }
        }
        Ask(5_000);

        const int count = 50_000;
        // The whole process counts (timers, other fixtures winding down): the quietest of three rounds is the server's.
        long allocated = long.MaxValue;
        for (int round = 0; round < 3; round++)
        {
            long before = GC.GetTotalAllocatedBytes(precise: true);
            Ask(count);
            allocated = Math.Min(allocated, GC.GetTotalAllocatedBytes(precise: true) - before);
        }

        Assert.Equal(0, mismatched);
        if (rateLimited) Assert.True(server.RateLimiting);
        // One object per datagram would be 24 bytes or more each.
        Assert.True(allocated < 4L * count, $"{allocated} bytes allocated for {count} queries");
        Console.WriteLine($"UDP server: {allocated} bytes allocated in the process for {count} queries");
    }

    /// <summary>
    /// The signed zone over UDP, every query with DO and every RRset's signatures already cached (issue #15: "the
    /// answer path allocates nothing for a cached signature"): the A answers of every name form with their RRSIGs, the
    /// repeated unknown names' compact denials, the apex SOA, NS and DNSKEY. The whole process allocates nothing per query.
    /// </summary>
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task UdpServer_SignedCachedAnswers_AllocateUnderFourBytesPerQuery(bool batching)
    {
        using var keys = CertDns.Dns.Dnssec.DnssecKeySet.Generate(TestZone.Apex, CertDns.Dns.Dnssec.DnssecAlgorithm.EcdsaP256Sha256, split: false, TestZone.Now);
        var signer = new CertDns.Dns.Dnssec.OnlineSigner(keys);
        var responder = new DnsResponder(new ZoneOptions(), new SnapshotHolder(TestZone.Snapshot()), new FakeTimeProvider(TestZone.Now), signer);
        await using var server = await DnsServer.StartAsync(new IPEndPoint(IPAddress.Loopback, 0), responder, new DnsServerOptions { UdpBatching = batching });
        using var client = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        client.Connect(server.LocalEndPoint);
        client.ReceiveTimeout = 5000;
        // Queries() with DO (and EDNS, which DO needs), the apex's RRsets, ids in order as the mismatch count reads them.
        var names = Names().Select(n => (n, WireQuery.A))
            .Concat([(TestZone.Apex, WireQuery.Soa), (TestZone.Apex, WireQuery.Ns), (TestZone.Apex, (ushort)48)]).ToArray();
        var queries = names.Select((q, i) => WireQuery.Build(q.Item1, q.Item2, id: (ushort)i, ednsSize: 1232, dnssecOk: true)).ToArray();
        var buffer = new byte[65535];
        int mismatched = 0, unsigned = 0;
        void Ask(int count)
        {
            for (int i = 0; i < count; i++)
            {
                client.Send(queries[i % queries.Length]);
                int length = client.Receive(buffer);
                if (WireQuery.Id(buffer.AsSpan(0, length)) != i % queries.Length) mismatched++;
                // Every answer carries an RRSIG: in the answer section (data) or the authority section (a denial's SOA and NSEC).
                if (buffer.AsSpan(0, length).IndexOf((ReadOnlySpan<byte>)[0x00, 46, 0x00, 0x01]) < 0) unsigned++;
            }
        }
        Ask(5_000);
        long signed = signer.Signed;

        const int count = 50_000;
        long allocated = long.MaxValue;
        for (int round = 0; round < 3; round++)
        {
            long before = GC.GetTotalAllocatedBytes(precise: true);
            Ask(count);
            allocated = Math.Min(allocated, GC.GetTotalAllocatedBytes(precise: true) - before);
        }

        Assert.Equal(0, mismatched);
        Assert.Equal(0, unsigned);
        // Every signature the measured rounds sent came from the cache.
        Assert.True(signed > 0);
        Assert.Equal(signed, signer.Signed);
        Assert.True(allocated < 4L * count, $"{allocated} bytes allocated for {count} signed queries");
        Console.WriteLine($"UDP server, signed: {allocated} bytes allocated in the process for {count} queries");
    }

    /// <summary>
    /// The query log on: each answer is copied into a slot allocated up front, and the writer (here a thread draining
    /// into one reused entry, as the dnstap writer does before it encodes) takes it; nothing is allocated per query.
    /// </summary>
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task UdpServer_QueryLogOn_AllocatesUnderFourBytesPerQuery(bool batching)
    {
        var log = new QueryLog(1024);
        using var stop = new CancellationTokenSource();
        long taken = 0;
        var writer = new Thread(() =>
        {
            var entry = new QueryLogEntry();
            while (!stop.IsCancellationRequested)
            {
                while (log.TryTake(entry)) taken++;
                log.WaitForEntries(TimeSpan.FromMilliseconds(100));
            }
        }) { IsBackground = true };
        writer.Start();
        await using (var server = await DnsServer.StartAsync(new IPEndPoint(IPAddress.Loopback, 0), TestZone.Responder(new SnapshotHolder(TestZone.Snapshot())),
            // One loop, one socket, no SO_REUSEPORT: the port is this server's alone, so every query the client sends is
            // this server's to log (another process of the same user can share a SO_REUSEPORT group and answer some).
            new DnsServerOptions { UdpBatching = batching, QueryLog = log, UdpReceiveLoops = 1 }))
        {
            using var client = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
            client.Connect(server.LocalEndPoint);
            client.ReceiveTimeout = 5000;
            var queries = Queries();
            var buffer = new byte[65535];
            void Ask(int count)
            {
                for (int i = 0; i < count; i++)
                {
                    client.Send(queries[i % queries.Length]);
                    client.Receive(buffer);
                }
            }
            Ask(5_000);

            const int count = 50_000;
            long allocated = long.MaxValue;
            for (int round = 0; round < 3; round++)
            {
                long before = GC.GetTotalAllocatedBytes(precise: true);
                Ask(count);
                allocated = Math.Min(allocated, GC.GetTotalAllocatedBytes(precise: true) - before);
            }

            Assert.True(allocated < 4L * count, $"{allocated} bytes allocated for {count} queries with the query log on");
            Console.WriteLine($"UDP server, query log on: {allocated} bytes allocated in the process for {count} queries");
        }
        stop.Cancel();
        writer.Join();
        // Every query was logged or counted as dropped (a writer this quick drops none, but the count is what holds).
        Assert.Equal(5_000 + 3 * 50_000, log.Recorded + log.Dropped);
        Assert.Equal(log.Recorded, taken);
    }
}
