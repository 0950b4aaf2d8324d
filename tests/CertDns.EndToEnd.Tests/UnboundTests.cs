using System.Diagnostics;
using System.Globalization;
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
    public static readonly string Binary = Peer.Path(Peer.Unbound);

    private readonly TempDir _dir = new();
    private readonly StatusScenario _scenario;

    public UnboundTests() => _scenario = StatusScenario.Register(_dir, "Resolver Test CA");

    public void Dispose() => _dir.Dispose();

    [PeerFact(Peer.Unbound, Peer.Dig)]
    public async Task Unbound_QnameMinimisationStrict_EveryStatusResolves()
    {
        using var certdns = CertDnsProcess.Serve(_dir.Path);
        using var unbound = StartUnbound(certdns.Port);

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

    private sealed class Unbound(Process process, int port) : IDisposable
    {
        public int Port { get; } = port;

        public void Dispose()
        {
            if (!process.HasExited) process.Kill(entireProcessTree: true);
            process.WaitForExit(5000);
            process.Dispose();
        }
    }

    private Unbound StartUnbound(int certdnsPort)
    {
        var port = CertDnsProcess.FreePort();
        var conf = _dir.File("unbound.conf");
        // Everything stays on loopback: outgoing queries leave from 127.0.0.1, and even the root is a stub to
        // CertDns (which refuses it), so Unbound can never reach a real name server.
        File.WriteAllText(conf, string.Create(CultureInfo.InvariantCulture, $"""
            server:
                interface: 127.0.0.1
                port: {port}
                outgoing-interface: 127.0.0.1
                do-ip6: no
                access-control: 127.0.0.0/8 allow
                chroot: ""
                username: ""
                directory: "{_dir.Path}"
                pidfile: "{_dir.File("unbound.pid")}"
                use-syslog: no
                logfile: ""
                verbosity: 1
                module-config: "iterator"
                do-not-query-localhost: no
                qname-minimisation: yes
                qname-minimisation-strict: yes
                harden-below-nxdomain: yes
                num-threads: 1
            stub-zone:
                name: "status.example"
                stub-addr: 127.0.0.1@{certdnsPort}
            stub-zone:
                name: "."
                stub-addr: 127.0.0.1@{certdnsPort}
            """));
        var info = new ProcessStartInfo(Binary) { UseShellExecute = false, RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (var a in new[] { "-d", "-c", conf }) info.ArgumentList.Add(a);
        var process = Process.Start(info)!;
        var unbound = new Unbound(process, port);
        var until = DateTime.UtcNow.AddSeconds(20);
        while (DateTime.UtcNow < until)
        {
            if (process.HasExited) throw new InvalidOperationException("unbound exited: " + process.StandardError.ReadToEnd());
            using var probe = new System.Net.Sockets.UdpClient();
            try
            {
                probe.Connect(System.Net.IPAddress.Loopback, port);
                // A header-only query: any reply shows Unbound is listening.
                probe.Send([0x12, 0x34, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
                probe.Client.ReceiveTimeout = 200;
                var from = new System.Net.IPEndPoint(System.Net.IPAddress.Any, 0);
                probe.Receive(ref from);
                return unbound;
            }
            catch (System.Net.Sockets.SocketException)
            {
                Thread.Sleep(100);
            }
        }
        unbound.Dispose();
        throw new TimeoutException("unbound did not start");
    }
}
