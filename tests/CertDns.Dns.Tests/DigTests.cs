using CertDns.Core;

namespace CertDns.Dns.Tests;

/// <summary>The zone as BIND's dig sees it: what an operator debugging the list will type (SPEC, "who uses it").</summary>
public sealed class DigTests(ZoneServerFixture zone) : IClassFixture<ZoneServerFixture>
{
    private static string Listed(string status, string? view = null) => TestZone.Name(TestZone.Split(TestZone.ByName(status).Sha256), view);

    [PeerTheory(Peer.Dig)]
    [InlineData("valid", null, "127.0.1.2")]
    [InlineData("revoked", null, "127.0.0.2")]
    [InlineData("blocked", null, "127.0.0.3")]
    [InlineData("hold", null, "127.0.0.4")]
    [InlineData("stale", null, "127.0.2.2")]
    [InlineData("untrusted", null, "127.0.2.3")]
    [InlineData("expired", null, "127.0.2.4")]
    [InlineData("revoked", "bl", "127.0.0.2")]
    [InlineData("valid", "wl", "127.0.1.2")]
    public async Task Dig_ListedName_StatusAddress(string status, string? view, string address)
    {
        var result = await Dig.RunAsync(zone.Port, Listed(status, view), "A");

        Assert.Equal("NOERROR", result.Status);
        Assert.Contains("aa", result.Flags);
        Assert.DoesNotContain("ra", result.Flags);
        var a = result.SingleAnswer("A");
        Assert.Equal(address, a[4]);
        Assert.Equal("300", a[1]);
    }

    [PeerTheory(Peer.Dig)]
    [InlineData("valid", "bl")]
    [InlineData("stale", "bl")]
    [InlineData("revoked", "wl")]
    [InlineData("unknown", null)]
    public async Task Dig_NotListedInView_NxDomainWithSoa(string status, string? view)
    {
        var result = await Dig.RunAsync(zone.Port, Listed(status, view), "A");

        Assert.Equal("NXDOMAIN", result.Status);
        Assert.Empty(result.Answer);
        var soa = Assert.Single(result.Authority);
        Assert.Equal(("status.example.", "60", "SOA"), (soa[0], soa[1], soa[3]));
        Assert.StartsWith($"ns.status.example. hostmaster.status.example. {zone.Holder.Current.Serial} ", soa[4]);
    }

    [PeerFact(Peer.Dig)]
    public async Task Dig_Txt_EvaluatorText()
    {
        var result = await Dig.RunAsync(zone.Port, Listed("blocked"), "TXT");

        Assert.Equal("\"blocked: 3 abuse complaints since 2026-01-14\"", result.SingleAnswer("TXT")[4]);
    }

    [PeerFact(Peer.Dig)]
    public async Task Dig_MixedCaseName_AnsweredInTheQueryCase()
    {
        var name = TestZone.Split(TestZone.Revoked.Sha256).ToUpperInvariant() + ".Status.EXAMPLE";

        var result = await Dig.RunAsync(zone.Port, name, "A");

        Assert.Equal(name + ".", result.SingleAnswer("A")[0]);
    }

    [PeerTheory(Peer.Dig)]
    [InlineData("right half of a split name")]
    [InlineData("bl")]
    public async Task Dig_EmptyNonTerminal_NoDataWithSoa(string which)
    {
        var relative = which == "bl" ? "bl" : Hex.Lower(TestZone.Revoked.Sha256)[32..];

        var result = await Dig.RunAsync(zone.Port, TestZone.Name(relative), "A");

        Assert.Equal("NOERROR", result.Status);
        Assert.Empty(result.Answer);
        Assert.Equal("SOA", Assert.Single(result.Authority)[3]);
    }

    [PeerFact(Peer.Dig)]
    public async Task Dig_Invalid_NxDomain()
    {
        Assert.Equal("NXDOMAIN", (await Dig.RunAsync(zone.Port, "invalid.status.example", "A")).Status);
    }

    [PeerTheory(Peer.Dig)]
    [InlineData("test", "127.0.0.2")]
    [InlineData("test.bl", "127.0.0.2")]
    [InlineData("test-valid.wl", "127.0.1.2")]
    public async Task Dig_TestEntry_Address(string entry, string address)
    {
        Assert.Equal(address, (await Dig.RunAsync(zone.Port, TestZone.Name(entry), "A")).SingleAnswer("A")[4]);
    }

    [PeerTheory(Peer.Dig)]
    [InlineData("SOA", "ns.status.example. hostmaster.status.example.")]
    [InlineData("NS", "ns.status.example.")]
    public async Task Dig_Apex_SoaAndNs(string type, string rdataStart)
    {
        var result = await Dig.RunAsync(zone.Port, TestZone.Apex, type);

        Assert.StartsWith(rdataStart, result.SingleAnswer(type)[4]);
    }

    [PeerFact(Peer.Dig)]
    public async Task Dig_OutsideZone_Refused()
    {
        Assert.Equal("REFUSED", (await Dig.RunAsync(zone.Port, "example.org", "A")).Status);
    }

    [PeerFact(Peer.Dig)]
    public async Task Dig_Tcp_SameAnswer()
    {
        Assert.Equal("127.0.0.4", (await Dig.RunAsync(zone.Port, Listed("hold"), "A", "+tcp")).SingleAnswer("A")[4]);
    }

    [PeerTheory(Peer.Dig)]
    [InlineData("+rec", true)]
    [InlineData("+norec", false)]
    public async Task Dig_RecursionDesired_CopiedNeverAvailable(string option, bool rd)
    {
        var result = await Dig.RunAsync(zone.Port, Listed("revoked"), "A", option);

        Assert.Equal(rd, result.Flags.Contains("rd"));
        Assert.DoesNotContain("ra", result.Flags);
        Assert.Contains("aa", result.Flags);
    }

    [PeerTheory(Peer.Dig)]
    [InlineData("+noedns", null)]
    [InlineData("+bufsize=512", "udp: 1232")]
    [InlineData("+bufsize=4096", "udp: 1232")]
    public async Task Dig_Edns_OptOnlyWhenAsked(string option, string? expected)
    {
        var result = await Dig.RunAsync(zone.Port, Listed("revoked"), "A", option);

        Assert.Equal("NOERROR", result.Status);
        if (expected is null) Assert.Null(result.Edns);
        else Assert.EndsWith(expected, result.Edns);
    }

    [PeerFact(Peer.Dig)]
    public async Task Dig_EdnsVersion1_BadVers()
    {
        var result = await Dig.RunAsync(zone.Port, Listed("revoked"), "A", "+edns=1", "+noednsneg");

        Assert.Equal("BADVERS", result.Status);
        Assert.Contains("version: 0", result.Edns);
    }

    [PeerTheory(Peer.Dig)]
    [InlineData("status")]
    [InlineData("notify")]
    public async Task Dig_UnknownOpcode_NotImp(string opcode)
    {
        Assert.Equal("NOTIMP", (await Dig.RunAsync(zone.Port, Listed("revoked"), "A", "+opcode=" + opcode)).Status);
    }

    [PeerFact(Peer.Dig)]
    public async Task Dig_Axfr_TransferRefused()
    {
        Assert.Contains("; Transfer failed.", await Dig.RunRawAsync(zone.Port, TestZone.Apex, "AXFR"));
    }

    [PeerFact(Peer.Dig)]
    public async Task Dig_AnswerOver512_TruncatedOverUdpThenRetriedOverTcp()
    {
        // A long apex and a TXT at the 255-octet cap make an answer over 512 octets.
        var longCa = new CaFacts(9, "CN=" + new string('x', 240), true, Crl: new CrlFacts("1", TestZone.Now.AddDays(-1), TestZone.Now.AddDays(1)));
        var cert = TestZone.Revoked with { Ca = longCa };
        var apex = string.Join('.', Enumerable.Repeat(new string('z', 52), 3)) + ".example";
        var responder = new DnsResponder(new ZoneOptions { Apex = apex }, new SnapshotHolder(new StatusSnapshot(1, [cert])), new FakeTimeProvider(TestZone.Now));
        await using var server = await DnsServer.StartAsync(new System.Net.IPEndPoint(System.Net.IPAddress.Loopback, 0), responder);
        var name = TestZone.Split(cert.Sha256) + "." + apex;

        var truncated = await Dig.RunAsync(server.LocalEndPoint.Port, name, "TXT", "+noedns", "+ignore");
        var retried = await Dig.RunAsync(server.LocalEndPoint.Port, name, "TXT", "+noedns");
        var large = await Dig.RunAsync(server.LocalEndPoint.Port, name, "TXT", "+bufsize=1232");

        Assert.Contains("tc", truncated.Flags);
        Assert.Empty(truncated.Answer);
        Assert.Contains("Truncated, retrying in TCP mode.", retried.Output);
        Assert.Single(retried.Answer);
        Assert.DoesNotContain("tc", large.Flags);
        Assert.Single(large.Answer);
    }
}
