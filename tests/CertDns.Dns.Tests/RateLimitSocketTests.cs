using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using CertDns.Core;

namespace CertDns.Dns.Tests;

/// <summary>
/// Rate limiting over real sockets from many loopback sources: Linux routes all of 127.0.0.0/8 to lo, so clients bound
/// to 127.1.0.x and 127.2.0.x are two /24 prefixes as the server sees them.
/// </summary>
public sealed class RateLimitSocketTests
{
    private static readonly string Revoked = TestZone.Name(TestZone.Split(TestZone.Revoked.Sha256));

    private static Task<DnsServer> StartAsync(bool? enabled, IPAddress? at = null) =>
        DnsServer.StartAsync(new IPEndPoint(at ?? IPAddress.Loopback, 0), TestZone.Responder(new SnapshotHolder(TestZone.Snapshot())), new DnsServerOptions
        {
            RateLimiter = new RateLimiter(new RateLimitOptions { ResponsesPerSecond = 10, Slip = 2, Window = 5 }, TimeProvider.System),
            RateLimitEnabled = enabled,
        });

    /// <summary>
    /// Sends <paramref name="count"/> queries from each of <paramref name="sources"/>, as fast as the sockets take them,
    /// then collects the answers that come. A dropped answer never comes: a quiet spell on a socket is the only bound.
    /// </summary>
    private static List<byte[]> Udp(IPEndPoint server, IEnumerable<string> sources, byte[] query, int count)
    {
        var sockets = sources.Select(source =>
        {
            var socket = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
            socket.Bind(new IPEndPoint(IPAddress.Parse(source), 0));
            socket.Connect(server);
            socket.ReceiveBufferSize = 1 << 20;
            return socket;
        }).ToList();
        try
        {
            for (int i = 0; i < count; i++)
            {
                foreach (var socket in sockets)
                {
                    BinaryPrimitives.WriteUInt16BigEndian(query, (ushort)i);
                    socket.Send(query);
                }
            }
            var answers = new List<byte[]>();
            var buffer = new byte[65535];
            foreach (var socket in sockets)
            {
                for (int got = 0; got < count && socket.Poll(TimeSpan.FromMilliseconds(answers.Count == 0 ? 5000 : 300), SelectMode.SelectRead); got++)
                {
                    int length = socket.Receive(buffer);
                    answers.Add(buffer[..length]);
                }
            }
            return answers;
        }
        finally
        {
            sockets.ForEach(s => s.Dispose());
        }
    }

    private static async Task<byte[]> TcpAsync(IPEndPoint server, string source, byte[] query)
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        socket.Bind(new IPEndPoint(IPAddress.Parse(source), 0));
        await socket.ConnectAsync(server);
        await socket.SendAsync((byte[])[(byte)(query.Length >> 8), (byte)query.Length, .. query]);
        var prefix = new byte[2];
        await socket.ReceiveAsync(prefix);
        var message = new byte[BinaryPrimitives.ReadUInt16BigEndian(prefix)];
        for (int read = 0; read < message.Length;) read += await socket.ReceiveAsync(message.AsMemory(read));
        return message;
    }

    [Fact]
    public async Task Udp_OnePrefixFlooded_LimitedAndSlipped_OtherPrefixAndTcpAnswered()
    {
        await using var server = await StartAsync(enabled: true);
        Assert.True(server.RateLimiting);
        var query = WireQuery.Build(Revoked, WireQuery.Txt, ednsSize: 1232);

        // The flood comes from twenty addresses of one /24.
        var flood = Udp(server.LocalEndPoint, Enumerable.Range(1, 20).Select(host => $"127.1.0.{host}"), query, 10);
        var full = flood.Where(a => !WireQuery.Truncated(a)).ToList();
        var slipped = flood.Where(a => WireQuery.Truncated(a)).ToList();

        // 200 queries within a second or two at 10 a second: most go unanswered in full.
        Assert.InRange(full.Count, 10, 30);
        Assert.NotEmpty(slipped);
        Assert.True(flood.Count < 200, $"{flood.Count} of 200 flooded queries answered");
        Assert.All(slipped, s => Assert.True(s.Length <= query.Length && WireQuery.Count(s, 1) == 0));

        // Another prefix, at the same time: every answer in full.
        var other = Udp(server.LocalEndPoint, ["127.2.0.1"], query, 5);
        Assert.Equal(5, other.Count);
        Assert.All(other, a => Assert.Equal(1, WireQuery.Count(a, 1)));

        // TCP is never limited: the flooded prefix gets its answers there.
        for (int i = 0; i < 20; i++)
        {
            var answer = await TcpAsync(server.LocalEndPoint, "127.1.0.1", query);
            Assert.False(WireQuery.Truncated(answer));
            Assert.Equal(1, WireQuery.Count(answer, 1));
        }
    }

    [Fact]
    public async Task Udp_LoopbackListenerByDefault_NotLimited()
    {
        await using var server = await StartAsync(enabled: null);

        Assert.False(server.RateLimiting);
        var answers = Udp(server.LocalEndPoint, ["127.1.0.1"], WireQuery.Build(Revoked, WireQuery.A), 100);
        Assert.Equal(100, answers.Count(a => !WireQuery.Truncated(a)));
    }

    [Fact]
    public async Task Udp_WildcardListenerByDefault_Limited()
    {
        await using var server = await StartAsync(enabled: null, at: IPAddress.Any);

        Assert.True(server.RateLimiting);
    }
}
