using System.Net;
using System.Net.Sockets;
using CertDns.Core;

namespace CertDns.Dns.Tests;

/// <summary>
/// Wildcard and IPv6 binds: on 0.0.0.0 or [::] a UDP answer must leave from the address its query was sent to, or
/// the client (dig, any stub resolver) drops it as coming from a stranger.
/// </summary>
public sealed class ListenAddressTests
{
    private static Task<DnsServer> StartAsync(IPAddress address, bool batching) =>
        DnsServer.StartAsync(new IPEndPoint(address, 0), TestZone.Responder(new SnapshotHolder(TestZone.Snapshot())),
            new DnsServerOptions { UdpBatching = batching, UdpReceiveLoops = 2 });

    /// <summary>Sends one query from a socket of its own and returns where the answer came from and its id.</summary>
    private static async Task<(IPEndPoint From, ushort Id)> AskAsync(IPEndPoint server, ushort id)
    {
        using var socket = new Socket(server.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
        socket.Bind(new IPEndPoint(server.AddressFamily == AddressFamily.InterNetwork ? IPAddress.Any : IPAddress.IPv6Any, 0));
        await socket.SendToAsync(WireQuery.Build(TestZone.Apex, WireQuery.A, id: id), SocketFlags.None, server);
        var buffer = new byte[4096];
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        var result = await socket.ReceiveFromAsync(buffer, SocketFlags.None, new IPEndPoint(server.AddressFamily == AddressFamily.InterNetwork ? IPAddress.Any : IPAddress.IPv6Any, 0), timeout.Token);
        return ((IPEndPoint)result.RemoteEndPoint, WireQuery.Id(buffer.AsSpan(0, result.ReceivedBytes)));
    }

    [PeerTheory(Peer.Dig)]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Dig_WildcardBindQueriedOnOtherLoopbackAddresses_Answered(bool batching)
    {
        await using var server = await StartAsync(IPAddress.Any, batching);
        foreach (var address in new[] { "127.0.0.2", "127.0.0.3", "127.0.0.1" })
        {
            var dig = await Dig.RunAtAsync(address, server.LocalEndPoint.Port, TestZone.Apex, "SOA");
            Assert.True(dig.Status == "NOERROR", $"dig @{address}: {dig.Output}");
            Assert.Single(dig.Answer);
        }
    }

    [Theory]
    [InlineData("0.0.0.0", "127.0.0.2", true)]
    [InlineData("0.0.0.0", "127.0.0.3", false)]
    [InlineData("::", "::1", true)]
    [InlineData("::", "::1", false)]
    [InlineData("::", "127.0.0.2", true)]
    [InlineData("::", "127.0.0.3", false)]
    [InlineData("::1", "::1", true)]
    [InlineData("::1", "::1", false)]
    public async Task Udp_QueryToAddress_AnsweredFromThatAddress(string listen, string target, bool batching)
    {
        await using var server = await StartAsync(IPAddress.Parse(listen), batching);
        var to = IPAddress.Parse(target);
        // A dual-stack [::] socket is asked over IPv4 with a plain IPv4 socket, as an IPv4-only client would.
        var (from, id) = await AskAsync(new IPEndPoint(to, server.LocalEndPoint.Port), 4242);
        Assert.Equal(4242, id);
        Assert.Equal(to, from.Address.IsIPv4MappedToIPv6 ? from.Address.MapToIPv4() : from.Address);
        Assert.Equal(server.LocalEndPoint.Port, from.Port);
    }

    [Fact]
    public async Task Udp_WildcardBind_ManyQueriesFromSeveralAddressesInOneBatch_EachFromItsOwn()
    {
        // Several datagrams to different destinations waiting at once: one recvmmsg takes them, and each answer in
        // the sendmmsg names its own source.
        await using var server = await StartAsync(IPAddress.Any, batching: true);
        var asks = Enumerable.Range(2, 20).Select(i => AskAsync(new IPEndPoint(IPAddress.Parse($"127.0.0.{i}"), server.LocalEndPoint.Port), (ushort)i)).ToArray();
        var answers = await Task.WhenAll(asks);
        for (int i = 0; i < answers.Length; i++)
        {
            Assert.Equal(IPAddress.Parse($"127.0.0.{i + 2}"), answers[i].From.Address);
            Assert.Equal(i + 2, answers[i].Id);
        }
    }
}
