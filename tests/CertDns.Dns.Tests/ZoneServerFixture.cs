using System.Net;
using ARSoft.Tools.Net;
using ARSoft.Tools.Net.Dns;
using CertDns.Core;

namespace CertDns.Dns.Tests;

/// <summary>The test zone served on 127.0.0.1 at a free port, over UDP and TCP.</summary>
public sealed class ZoneServerFixture : IAsyncLifetime
{
    public SnapshotHolder Holder { get; } = new(TestZone.Snapshot());

    public DnsServer Server { get; private set; } = null!;

    public int Port => Server.LocalEndPoint.Port;

    public async Task InitializeAsync()
    {
        Server = await DnsServer.StartAsync(new IPEndPoint(IPAddress.Loopback, 0), TestZone.Responder(Holder), new DnsServerOptions { UdpReceiveLoops = 2 });
    }

    public async Task DisposeAsync() => await Server.DisposeAsync();

    /// <summary>ARSoft's client on our port: the one-argument constructors always use port 53.</summary>
    public DnsClient Client(bool tcpOnly = false) => ArSoft.Client(Port, tcpOnly);
}

internal static class ArSoft
{
    public static DnsClient Client(int port, bool tcpOnly = false) => new(
        [IPAddress.Loopback],
        tcpOnly ? [new TcpClientTransport(port)] : [new UdpClientTransport(port), new TcpClientTransport(port)],
        true,
        3000);

    public static async Task<DnsMessage> AskAsync(this DnsClient client, string name, RecordType type, DnsQueryOptions? options = null)
    {
        var answer = await client.ResolveAsync(DomainName.Parse(name), type, RecordClass.INet, options);
        Assert.NotNull(answer);
        return answer;
    }
}
