using CertDns.Store;
using System.Globalization;
using System.Text.RegularExpressions;

namespace CertDns.EndToEnd.Tests;

/// <summary><c>serve --listen</c> repeated: IPv4, IPv6 and wildcard listeners side by side, each answering dig.</summary>
public sealed partial class ServeListenTests : IDisposable
{
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    [PeerFact(Peer.Dig)]
    public async Task Serve_SeveralListens_EachAnswersOnItsOwnAddress()
    {
        // The helper listens on 127.0.0.1:0 first; the others are added to it.
        using (CertStore.Open(_dir.File("certdns.db"))) { } // serve never creates a store (issue #12)
        using var server = CertDnsProcess.Serve(_dir.Path, "--listen", "[::1]:0", "--listen", "0.0.0.0:0");
        var bound = Listening().Matches(server.Output.Split('\n').First(l => l.Contains("serving ", StringComparison.Ordinal)))
            .Select(m => (Address: m.Groups[1].Value, Port: int.Parse(m.Groups[2].Value, CultureInfo.InvariantCulture))).ToList();
        Assert.Equal(["127.0.0.1", "[::1]", "0.0.0.0"], bound.Select(b => b.Address));

        var asks = new[] { ("127.0.0.1", bound[0].Port), ("::1", bound[1].Port), ("127.0.0.2", bound[2].Port), ("127.0.0.3", bound[2].Port) };
        foreach (var (address, port) in asks)
        {
            var dig = await Dig.RunAtAsync(address, port, "status.example", "SOA");
            Assert.True(dig.Status == "NOERROR", $"dig @{address} -p {port}: {dig.Output}");
            Assert.Single(dig.Answer);
            var tcp = await Dig.RunAtAsync(address, port, "status.example", "SOA", "+tcp");
            Assert.Equal("NOERROR", tcp.Status);
        }
    }

    [Fact]
    public void Serve_SameListenTwice_OneLineExit1()
    {
        var result = CertDnsProcess.Run(_dir.Path, "serve", "--listen", "127.0.0.1:5399", "--listen", "127.0.0.1:5399");

        Assert.Equal(1, result.ExitCode);
        Assert.Contains("127.0.0.1:5399", Assert.Single(result.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries)));
        Assert.Contains("twice", result.Stderr);
    }

    [GeneratedRegex(@"(\d+\.\d+\.\d+\.\d+|\[[0-9a-f:]+\]):(\d+) \(udp, tcp\)")]
    private static partial Regex Listening();
}
