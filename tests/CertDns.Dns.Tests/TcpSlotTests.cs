using System.Net;
using System.Net.Sockets;
using CertDns.Core;
using CertDns.Dns;

namespace CertDns.Dns.Tests;

/// <summary>
/// Issue 12 case 4: one client holding every TCP connection locked out every other TCP client, the allowed secondary's
/// AXFR included. Connections are capped per client address, and slots are held back for transfer clients.
/// </summary>
public sealed class TcpSlotTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(20);

    private static async Task<List<Socket>> ConnectFromAsync(IPAddress source, IPEndPoint server, int count)
    {
        var sockets = new List<Socket>();
        for (int i = 0; i < count; i++)
        {
            var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            socket.Bind(new IPEndPoint(source, 0));
            sockets.Add(socket);
            // The kernel completes the handshake from its backlog; the server accepts and keeps or closes each.
            await socket.ConnectAsync(server);
        }
        return sockets;
    }

    private static async Task WaitForAsync(Func<bool> condition, string what)
    {
        var until = DateTime.UtcNow + Patience;
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < until, what);
            await Task.Delay(10);
        }
    }

    private static void AssertAxfrComplete(string output)
    {
        var types = output.Split('\n').Where(l => l.Length > 0 && !l.StartsWith(';'))
            .Select(l => l.Split((char[])['\t', ' '], StringSplitOptions.RemoveEmptyEntries)[3]).ToList();
        Assert.True(types.Count > 2, "no transfer: " + output);
        // RFC 5936 section 2.2: a complete transfer begins and ends with the SOA.
        Assert.Equal("SOA", types[0]);
        Assert.Equal("SOA", types[^1]);
    }

    [PeerFact(Peer.Dig)]
    public async Task Tcp_300ConnectionsFromOneAddress_AllowedSecondaryTransfersAndOthersAnswered()
    {
        await using var server = await DnsServer.StartAsync(new IPEndPoint(IPAddress.Loopback, 0), TestZone.Responder(new SnapshotHolder(TestZone.Snapshot())),
            new DnsServerOptions { TransferClients = [IPAddress.Loopback], TcpIdleTimeout = TimeSpan.FromMinutes(2) });
        var hog = await ConnectFromAsync(IPAddress.Parse("127.0.0.2"), server.LocalEndPoint, 300);
        try
        {
            // The hog keeps its share and no more: the rest of its connections were closed on accept.
            await WaitForAsync(() => server.TcpConnections == new DnsServerOptions().MaxTcpConnectionsPerClient, $"connections held: {server.TcpConnections}");

            var axfr = await Dig.RunRawAsync(server.LocalEndPoint.Port, TestZone.Apex, "AXFR", "+time=10");
            var other = await Dig.RunAsync(server.LocalEndPoint.Port, "test." + TestZone.Apex, "A", "+tcp", "-b", "127.0.0.3");

            AssertAxfrComplete(axfr);
            Assert.Equal("NOERROR", other.Status);
            Assert.Equal("127.0.0.2", other.SingleAnswer("A")[4]);
        }
        finally
        {
            foreach (var socket in hog) socket.Dispose();
        }
    }

    [PeerFact(Peer.Dig)]
    public async Task Tcp_ManyAddressesFillOrdinarySlots_AllowedSecondaryStillTransfers()
    {
        var options = new DnsServerOptions
        {
            TransferClients = [IPAddress.Loopback], MaxTcpConnections = 20, MaxTcpConnectionsPerClient = 4, TransferReservedConnections = 2,
            TcpIdleTimeout = TimeSpan.FromMinutes(2),
        };
        await using var server = await DnsServer.StartAsync(new IPEndPoint(IPAddress.Loopback, 0), TestZone.Responder(new SnapshotHolder(TestZone.Snapshot())), options);
        var crowd = new List<Socket>();
        try
        {
            for (int host = 10; host < 20; host++) crowd.AddRange(await ConnectFromAsync(IPAddress.Parse($"127.0.0.{host}"), server.LocalEndPoint, 4));
            await WaitForAsync(() => server.TcpConnections == 18, $"connections held: {server.TcpConnections}");

            AssertAxfrComplete(await Dig.RunRawAsync(server.LocalEndPoint.Port, TestZone.Apex, "AXFR", "+time=10"));
        }
        finally
        {
            foreach (var socket in crowd) socket.Dispose();
        }
    }
}
