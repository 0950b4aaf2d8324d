using CertDns.Core;
using CertDns.Pki;

namespace CertDns.EndToEnd.Tests;

/// <summary>
/// Unbound as an MTA host's resolver, with a stub zone to CertDns and strict QNAME minimisation (RFC 9156):
/// it asks the right-hand labels of split names first, so an NXDOMAIN for an empty non-terminal would make
/// a revoked certificate look unknown. Every status must come through it unchanged.
/// </summary>
public sealed class UnboundTests : IDisposable
{
    private readonly TempDir _dir = new();
    private readonly StatusScenario _scenario;

    public UnboundTests() => _scenario = StatusScenario.Register(_dir, "Resolver Test CA");

    public void Dispose() => _dir.Dispose();

    [PeerFact(Peer.Unbound, Peer.Dig)]
    public async Task Unbound_QnameMinimisationStrict_EveryStatusResolves()
    {
        using var certdns = CertDnsProcess.Serve(_dir.Path);
        using var unbound = ValidatingUnbound.Start(_dir, "u", certdns.Port, anchor: null, qnameMinimisationStrict: true);

        foreach (var (name, code) in new[] { ("valid", "127.0.1.2"), ("revoked", "127.0.0.2"), ("held", "127.0.0.4"), ("blocked", "127.0.0.3") })
        {
            var hex = Hex.Lower(_scenario.Clients[name].Parsed.Sha256);
            foreach (var form in new[] { $"{hex[..32]}.{hex[32..]}", hex[..56], Hex.Lower(_scenario.Clients[name].Parsed.Sha1), Hex.Base32(_scenario.Clients[name].Parsed.Sha256) })
            {
                var answer = await Dig.RunAsync(unbound.Port, $"{form}.status.example", "A", "+rec");
                Assert.True(answer.Status == "NOERROR", $"{name} as {form}: {answer.Status} through Unbound\n{answer.Output}");
                Assert.Equal(code, answer.SingleAnswer("A")[4]);
            }
            var bl = await Dig.RunAsync(unbound.Port, $"{hex[..32]}.{hex[32..]}.bl.status.example", "A", "+rec");
            Assert.Equal(name == "valid" ? "NXDOMAIN" : "NOERROR", bl.Status);
        }

        var revoked = Hex.Lower(_scenario.Clients["revoked"].Parsed.Sha256);
        var txt = await Dig.RunAsync(unbound.Port, $"{revoked[..32]}.{revoked[32..]}.status.example", "TXT", "+rec");
        Assert.Contains("revoked keyCompromise", txt.SingleAnswer("TXT")[4]);

        var unknown = await Dig.RunAsync(unbound.Port, $"{new string('a', 32)}.{new string('b', 32)}.status.example", "A", "+rec");
        Assert.Equal("NXDOMAIN", unknown.Status);
    }
}
