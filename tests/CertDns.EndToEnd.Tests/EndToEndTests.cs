using System.Net;
using System.Text.RegularExpressions;
using ARSoft.Tools.Net;
using ARSoft.Tools.Net.Dns;
using CertDns.Core;
using CertDns.Pki;

namespace CertDns.EndToEnd.Tests;

/// <summary>
/// The whole path as an operator runs it: a CA made here with BouncyCastle, `certdns ca add`, `certs add`,
/// `crl ingest`, `block`, then `certdns serve` on loopback asked by the real dig and by ARSoft's DnsClient.
/// </summary>
public sealed class EndToEndTests : IDisposable
{
    private readonly TempDir _dir = new();
    private readonly TestAuthority _ca = new("E2E Test CA");
    private readonly DateTimeOffset _now = DateTimeOffset.UtcNow;
    private readonly Dictionary<string, ParsedCertificate> _certs = [];

    public EndToEndTests()
    {
        File.WriteAllText(_dir.File("ca.pem"), _ca.CertificatePem);
        Directory.CreateDirectory(_dir.File("certs"));
        foreach (var name in new[] { "valid", "revoked", "hold", "blocked", "later" })
        {
            var der = _ca.Issue($"{name}.e2e.example", _now.AddDays(-1), _now.AddDays(90));
            _certs[name] = CertificateFile.Read(der, name)[0];
            File.WriteAllText(_dir.File($"certs/{name}.pem"), TestAuthority.ToPem("CERTIFICATE", der));
        }
        File.WriteAllBytes(_dir.File("crl1.der"), _ca.CreateCrl(1, _now.AddMinutes(-5), _now.AddDays(7),
        [
            (_certs["revoked"].Serial, _now.AddHours(-1), RevocationReason.KeyCompromise),
            (_certs["hold"].Serial, _now.AddHours(-1), RevocationReason.CertificateHold),
        ]));
    }

    public void Dispose() => _dir.Dispose();

    private CertDnsProcess.Result Cli(params string[] args)
    {
        var result = CertDnsProcess.Run(_dir.Path, args);
        Assert.True(result.ExitCode == 0, $"certdns {string.Join(' ', args)} exited {result.ExitCode}: {result.Stderr}{result.Stdout}");
        return result;
    }

    private void Register()
    {
        Assert.Contains("added: CA 1", Cli("ca", "add", "ca.pem").Stdout);
        Assert.Contains("5 added", Cli("certs", "add", "certs").Stdout);
        Assert.Contains("0 added, 5 already registered", Cli("certs", "add", "certs").Stdout);
        Assert.Contains("2 entries (+2 -0)", Cli("crl", "ingest", "crl1.der").Stdout);
        Cli("block", "certs/blocked.pem", "--reason", "3 abuse complaints");
    }

    private static string Name(ParsedCertificate cert, string suffix = "status.example")
    {
        var hex = Hex.Lower(cert.Sha256);
        return $"{hex[..32]}.{hex[32..]}.{suffix}";
    }

    [PeerFact(Peer.Dig)]
    public async Task Serve_AfterIngest_DigSeesEveryStatusAndNegativeAnswers()
    {
        Register();
        using var server = CertDnsProcess.Serve(_dir.Path);

        Assert.Equal(["127.0.1.2"], await A(server, Name(_certs["valid"])));
        Assert.Equal(["127.0.0.2"], await A(server, Name(_certs["revoked"])));
        Assert.Equal(["127.0.0.4"], await A(server, Name(_certs["hold"])));
        Assert.Equal(["127.0.0.3"], await A(server, Name(_certs["blocked"])));

        var txt = await Dig.RunAsync(server.Port, Name(_certs["revoked"]), "TXT");
        Assert.Equal("NOERROR", txt.Status);
        Assert.Contains("revoked keyCompromise", txt.SingleAnswer("TXT")[4]);
        Assert.Contains("serial " + Hex.Lower(_certs["revoked"].Serial), txt.SingleAnswer("TXT")[4]);
        Assert.Contains("blocked: 3 abuse complaints since", (await Dig.RunAsync(server.Port, Name(_certs["blocked"]), "TXT")).SingleAnswer("TXT")[4]);

        // Unknown complete name: NXDOMAIN with the SOA for negative caching (RFC 2308).
        var unknown = await Dig.RunAsync(server.Port, new string('a', 32) + "." + new string('b', 32) + ".status.example", "A");
        Assert.Equal("NXDOMAIN", unknown.Status);
        Assert.Equal("SOA", Assert.Single(unknown.Authority)[3]);

        // The right-hand half is what a QNAME-minimising resolver asks first: NODATA, never NXDOMAIN.
        var hex = Hex.Lower(_certs["revoked"].Sha256);
        var prefix = await Dig.RunAsync(server.Port, $"{hex[32..]}.status.example", "A");
        Assert.Equal("NOERROR", prefix.Status);
        Assert.Empty(prefix.Answer);
        Assert.Equal("SOA", Assert.Single(prefix.Authority)[3]);

        Assert.Equal("REFUSED", (await Dig.RunAsync(server.Port, "www.example.com", "A")).Status);
        Assert.Contains("aa", (await Dig.RunAsync(server.Port, "status.example", "SOA")).Flags);

        // Views: bl lists only the block family, wl only valid.
        Assert.Equal(["127.0.0.2"], await A(server, Name(_certs["revoked"], "bl.status.example")));
        Assert.Equal("NXDOMAIN", (await Dig.RunAsync(server.Port, Name(_certs["valid"], "bl.status.example"), "A")).Status);
        Assert.Equal(["127.0.1.2"], await A(server, Name(_certs["valid"], "wl.status.example")));

        // TCP answers the same.
        Assert.Equal(["127.0.0.2"], await A(server, Name(_certs["revoked"]), "+tcp"));
        Assert.Equal(["127.0.0.2"], await A(server, "test.status.example"));
    }

    [PeerFact(Peer.Kdig)]
    public void Serve_AfterIngest_KdigOverUdpAndTcpAgrees()
    {
        Register();
        using var server = CertDnsProcess.Serve(_dir.Path);

        foreach (var transport in new[] { "+notcp", "+tcp" })
        {
            var info = new System.Diagnostics.ProcessStartInfo(Peer.Path(Peer.Kdig)) { RedirectStandardOutput = true, UseShellExecute = false };
            foreach (var a in new[] { "@127.0.0.1", "-p", server.Port.ToString(System.Globalization.CultureInfo.InvariantCulture), Name(_certs["hold"]), "A", "+short", transport })
                info.ArgumentList.Add(a);
            using var p = System.Diagnostics.Process.Start(info)!;
            var output = p.StandardOutput.ReadToEnd().Trim();
            p.WaitForExit();
            Assert.Equal("127.0.0.4", output);
        }
    }

    [PeerFact(Peer.Dig)]
    public async Task Serve_IngestInAnotherProcess_AnswerAndSerialChangeWithoutRestart()
    {
        Register();
        using var server = CertDnsProcess.Serve(_dir.Path, "--poll", "0.5");
        var serialBefore = await Serial(server);
        Assert.Equal(["127.0.1.2"], await A(server, Name(_certs["later"])));

        File.WriteAllBytes(_dir.File("crl2.der"), _ca.CreateCrl(2, _now.AddMinutes(-1), _now.AddDays(7),
        [
            (_certs["revoked"].Serial, _now.AddHours(-1), RevocationReason.KeyCompromise),
            (_certs["later"].Serial, _now.AddMinutes(-2), RevocationReason.Superseded),
        ]));
        Assert.Contains("(+1 -1)", Cli("crl", "ingest", "crl2.der").Stdout);

        var until = DateTime.UtcNow.AddSeconds(10);
        var answer = await A(server, Name(_certs["later"]));
        while (answer.SequenceEqual(["127.0.1.2"]) && DateTime.UtcNow < until)
        {
            await Task.Delay(100);
            answer = await A(server, Name(_certs["later"]));
        }

        Assert.Equal(["127.0.0.2"], answer);
        Assert.Equal(["127.0.1.2"], await A(server, Name(_certs["hold"])));  // the hold was lifted by CRL 2
        Assert.True(await Serial(server) > serialBefore, "the SOA serial must increase when the data changes");
    }

    [Fact]
    public async Task Serve_AfterIngest_ArsoftClientGetsCodesOverUdpAndTcp()
    {
        Register();
        using var server = CertDnsProcess.Serve(_dir.Path);

        foreach (IClientTransport transport in new IClientTransport[] { new UdpClientTransport(server.Port), new TcpClientTransport(server.Port) })
        {
            var client = new DnsClient([IPAddress.Loopback], [transport], false, 5000);
            var revoked = await client.ResolveAsync(DomainName.Parse(Name(_certs["revoked"])), RecordType.A);
            Assert.NotNull(revoked);
            Assert.Equal(ReturnCode.NoError, revoked!.ReturnCode);
            Assert.Equal(IPAddress.Parse("127.0.0.2"), Assert.IsType<ARecord>(Assert.Single(revoked.AnswerRecords)).Address);

            var txt = await client.ResolveAsync(DomainName.Parse(Name(_certs["valid"])), RecordType.Txt);
            Assert.StartsWith("valid: issued by", Assert.IsType<TxtRecord>(Assert.Single(txt!.AnswerRecords)).TextData);

            var unknown = await client.ResolveAsync(DomainName.Parse(new string('c', 32) + "." + new string('d', 32) + ".status.example"), RecordType.A);
            Assert.Equal(ReturnCode.NxDomain, unknown!.ReturnCode);
            Assert.IsType<SoaRecord>(Assert.Single(unknown.AuthorityRecords));
        }
    }

    [PeerFact(Peer.Dig)]
    public async Task ServeDemo_NoConfiguration_AnswersTestEntryAndPrintedNames()
    {
        using var server = CertDnsProcess.Serve(_dir.Path, "--demo");

        Assert.Equal(["127.0.0.2"], await A(server, "test.status.example"));
        foreach (Match m in Regex.Matches(server.Output, @"^\s+(\w+)\s+(127\.\d+\.\d+\.\d+)\s+dig .* ([0-9a-f]{32}\.[0-9a-f]{32}\.status\.example) TXT", RegexOptions.Multiline))
            Assert.Equal([m.Groups[2].Value], await A(server, m.Groups[3].Value));
        Assert.Equal(7, Regex.Matches(server.Output, @"[0-9a-f]{32}\.[0-9a-f]{32}\.status\.example").Count);
        Assert.True(File.Exists(_dir.File("certdns.db")));
    }

    private static async Task<IReadOnlyList<string>> A(CertDnsProcess.Server server, string name, params string[] extra) =>
        (await Dig.RunAsync(server.Port, name, "A", ["+norec", .. extra])).Answer.Select(r => r[4]).ToList();

    private static async Task<uint> Serial(CertDnsProcess.Server server)
    {
        var soa = (await Dig.RunAsync(server.Port, "status.example", "SOA")).SingleAnswer("SOA")[4];
        return uint.Parse(soa.Split(' ')[2], System.Globalization.CultureInfo.InvariantCulture);
    }
}

