using System.Net;
using System.Net.Sockets;

namespace CertDns.Dns.Tests;

/// <summary>The query log's queue: bounded, in order, dropping and counting when full, addresses as dnstap wants them.</summary>
public sealed class QueryLogTests
{
    private static readonly QueryLogEndpoint Server = QueryLogEndpoint.From(new IPEndPoint(IPAddress.Loopback, 53));

    private static byte[] SocketAddress(IPEndPoint endpoint)
    {
        var serialized = endpoint.Serialize();
        return serialized.Buffer[..serialized.Size].ToArray();
    }

    [Fact]
    public void Record_MoreThanCapacity_KeepsTheFirstInOrderAndCountsTheRestDropped()
    {
        var log = new QueryLog(4);
        var client = SocketAddress(new IPEndPoint(IPAddress.Parse("192.0.2.7"), 4242));
        for (byte i = 0; i < 10; i++) log.Record([i, 1, 2], [i, 9], tcp: i % 2 == 1, client, Server);

        var entry = new QueryLogEntry();
        var taken = new List<byte>();
        while (log.TryTake(entry))
        {
            taken.Add(entry.Query[0]);
            Assert.Equal(new byte[] { entry.Query[0], 9 }, entry.Response.ToArray());
            Assert.Equal(entry.Query[0] % 2 == 1, entry.Tcp);
        }

        Assert.Equal(new byte[] { 0, 1, 2, 3 }, taken);
        Assert.Equal(4, log.Recorded);
        Assert.Equal(6, log.Dropped);
    }

    [Fact]
    public void Record_AfterTheWriterCaughtUp_SlotsAreReused()
    {
        var log = new QueryLog(2);
        var entry = new QueryLogEntry();
        var client = SocketAddress(new IPEndPoint(IPAddress.Loopback, 1));
        for (int round = 0; round < 100; round++)
        {
            log.Record([(byte)round], [], tcp: false, client, Server);
            Assert.True(log.TryTake(entry));
            Assert.Equal(round, entry.Query[0]);
            Assert.True(entry.Response.IsEmpty);
        }
        Assert.False(log.TryTake(entry));
        Assert.Equal(0, log.Dropped);
    }

    [Fact]
    public void Record_LargerThanASlot_KeepsEveryByte()
    {
        var log = new QueryLog(1);
        var response = Enumerable.Range(0, 5000).Select(i => (byte)i).ToArray();
        log.Record([1, 2, 3], response, tcp: true, SocketAddress(new IPEndPoint(IPAddress.Loopback, 1)), Server);

        var entry = new QueryLogEntry();
        Assert.True(log.TryTake(entry));
        Assert.Equal(response, entry.Response.ToArray());
        Assert.Equal(new byte[] { 1, 2, 3 }, entry.Query.ToArray());
    }

    [Theory]
    [InlineData("192.0.2.7", "192.0.2.7", false)]
    [InlineData("2001:db8::53", "2001:db8::53", true)]
    // A dual-stack socket ([::]) sees IPv4 clients as ::ffff:a.b.c.d; dnstap readers expect them as INET.
    [InlineData("::ffff:192.0.2.7", "192.0.2.7", false)]
    public void FromSocketAddress_KernelLayout_AddressFamilyAndPort(string address, string expected, bool v6)
    {
        var endpoint = QueryLogEndpoint.FromSocketAddress(SocketAddress(new IPEndPoint(IPAddress.Parse(address), 5353)));

        Span<byte> bytes = stackalloc byte[16];
        int length = endpoint.WriteAddress(bytes);
        Assert.Equal(IPAddress.Parse(expected), new IPAddress(bytes[..length]));
        Assert.Equal(v6, endpoint.IsV6);
        Assert.Equal(5353, endpoint.Port);
    }

    [Fact]
    public void Record_ManyThreadsAtOnce_EveryEntryTakenOrCountedOnce()
    {
        var log = new QueryLog(64);
        const int threads = 4, each = 20_000;
        var client = SocketAddress(new IPEndPoint(IPAddress.Loopback, 1));
        long taken = 0;
        var done = 0;
        var writer = new Thread(() =>
        {
            var entry = new QueryLogEntry();
            while (true)
            {
                bool finished = Volatile.Read(ref done) == threads;
                while (log.TryTake(entry))
                {
                    // Each entry arrives whole: its response repeats its query's first byte.
                    if (entry.Response[0] != entry.Query[0]) throw new InvalidOperationException("torn entry");
                    taken++;
                }
                if (finished) return;
                log.WaitForEntries(TimeSpan.FromMilliseconds(50));
            }
        });
        writer.Start();
        var producers = Enumerable.Range(0, threads).Select(t => new Thread(() =>
        {
            for (int i = 0; i < each; i++) log.Record([(byte)i, 0], [(byte)i], tcp: false, client, Server);
            Interlocked.Increment(ref done);
        })).ToList();
        producers.ForEach(p => p.Start());
        producers.ForEach(p => p.Join());
        writer.Join();

        Assert.Equal(threads * each, taken + log.Dropped);
        Assert.Equal(taken, log.Recorded);
    }
}
