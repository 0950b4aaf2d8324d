using System.Buffers.Binary;
using System.Diagnostics;
using System.Net;
using ARSoft.Tools.Net.Dns;
using CertDns.Core;

namespace CertDns.Dns.Tests;

/// <summary>
/// The zone's identity (several NS, glue only where configured, MNAME and RNAME) and the DNS details of issue #13:
/// the DO bit copied (RFC 3225), nothing below an NXDOMAIN answering NOERROR (RFC 8020), IXFR over UDP (RFC 1995).
/// </summary>
public sealed class ZoneIdentityTests
{
    private static readonly ZoneOptions TwoServers = new()
    {
        NameServers = ["ns1.status.example", "ns.example.net", "a.b-c.status.example"],
        Glue = new Dictionary<string, IReadOnlyList<IPAddress>>
        {
            ["ns1.status.example"] = [IPAddress.Parse("192.0.2.53"), IPAddress.Parse("2001:db8::53")],
            ["a.b-c.status.example"] = [IPAddress.Parse("198.51.100.7")],
        },
        Hostmaster = ZoneOptions.RnameFromEmail("dns.admin@example.org"),
    };

    private static byte[] Respond(DnsResponder responder, byte[] query, bool tcp = false, bool transferAllowed = false)
    {
        var response = new byte[DnsResponder.MaxMessageSize];
        int length = responder.Respond(query, response, DnsResponder.MaxMessageSize, tcp, transferAllowed, out var transfer);
        transfer?.Dispose();
        return response[..length];
    }

    private static DnsMessage Parse(byte[] response) => DnsMessage.Parse(new ArraySegment<byte>(response));

    private static DnsResponder Responder(ZoneOptions? options = null) => TestZone.Responder(new SnapshotHolder(TestZone.Snapshot()), options);

    [Fact]
    public void UseZone_NewIdentity_TheNextAnswerHasIt()
    {
        var responder = Responder();

        responder.UseZone(TwoServers);

        var ns = Parse(Respond(responder, WireQuery.Build(TestZone.Apex, WireQuery.Ns))).AnswerRecords;
        Assert.Equal(["ns1.status.example.", "ns.example.net.", "a.b-c.status.example."], ns.Select(r => Assert.IsType<NsRecord>(r).NameServer.ToString()));
        var soa = Assert.IsType<SoaRecord>(Assert.Single(Parse(Respond(responder, WireQuery.Build(TestZone.Apex, WireQuery.Soa))).AnswerRecords));
        Assert.Equal("ns1.status.example.", soa.MasterName.ToString());
        Assert.Equal(["dns.admin", "example", "org"], soa.ResponsibleName.Labels);
        Assert.Same(TwoServers, responder.Options);
    }

    [Fact]
    public void UseZone_InvalidIdentityOrAnotherApex_RefusedAndTheOldZoneStays()
    {
        var responder = Responder(TwoServers);
        var before = responder.Zone;

        // An in-zone name server without glue, and a different zone: neither is taken.
        Assert.Throws<ArgumentException>(() => responder.UseZone(TwoServers with { Glue = new Dictionary<string, IReadOnlyList<IPAddress>>() }));
        Assert.Throws<ArgumentException>(() => responder.UseZone(new ZoneOptions { Apex = "other.example" }));

        Assert.Same(before, responder.Zone);
        Assert.Equal(3, Parse(Respond(responder, WireQuery.Build(TestZone.Apex, WireQuery.Ns))).AnswerRecords.Count);
    }

    [Fact]
    public async Task UseZone_SwappedWhileAnswering_EveryAnswerWhollyOneZone()
    {
        // Two identities whose SOA MNAME and NS RRset differ: an answer mixing them would pair one's MNAME with the other's NS.
        var one = new ZoneOptions { NameServers = ["ns.one.example"], Glue = new Dictionary<string, IReadOnlyList<IPAddress>>() };
        var two = TwoServers;
        var responder = Responder(one);
        using var stop = new CancellationTokenSource();
        var swapper = Task.Run(() =>
        {
            for (long i = 0; !stop.IsCancellationRequested; i++) responder.UseZone(i % 2 == 0 ? two : one);
        });
        var query = WireQuery.Build(TestZone.Apex, WireQuery.Ns);
        var seen = new HashSet<string>();
        var until = Stopwatch.StartNew();
        while (until.Elapsed < TimeSpan.FromSeconds(2) && seen.Count < 2 || until.Elapsed < TimeSpan.FromMilliseconds(300))
        {
            var message = Parse(Respond(responder, query));
            var names = string.Join(" ", message.AnswerRecords.Select(r => ((NsRecord)r).NameServer.ToString()));
            Assert.True(names is "ns.one.example." or "ns1.status.example. ns.example.net. a.b-c.status.example.", names);
            // The glue goes with its own NS RRset: none with the first zone, three addresses with the second.
            Assert.Equal(names == "ns.one.example." ? 0 : 3, message.AdditionalRecords.Count);
            seen.Add(names);
        }
        await stop.CancelAsync();
        await swapper;
        Assert.Equal(2, seen.Count);
    }

    [Fact]
    public void Respond_SeveralNameServers_EveryNsAndOnlyTheConfiguredGlue()
    {
        var message = Parse(Respond(Responder(TwoServers), WireQuery.Build(TestZone.Apex, WireQuery.Ns)));

        Assert.Equal(["ns1.status.example.", "ns.example.net.", "a.b-c.status.example."],
            message.AnswerRecords.Select(r => Assert.IsType<NsRecord>(r).NameServer.ToString()));
        Assert.Equal(["ns1.status.example. 192.0.2.53", "ns1.status.example. 2001:db8::53", "a.b-c.status.example. 198.51.100.7"],
            message.AdditionalRecords.Select(r => r switch
            {
                ARecord a => $"{a.Name} {a.Address}",
                AaaaRecord aaaa => $"{aaaa.Name} {aaaa.Address}",
                _ => r.ToString(),
            }));
    }

    [Fact]
    public void Respond_Soa_MnameTheFirstNsAndRnameFromTheContact()
    {
        var soa = Assert.IsType<SoaRecord>(Assert.Single(Parse(Respond(Responder(TwoServers), WireQuery.Build(TestZone.Apex, WireQuery.Soa))).AnswerRecords));

        Assert.Equal("ns1.status.example.", soa.MasterName.ToString());
        // The local part's dot stays inside the first label (RFC 1035 section 8).
        Assert.Equal(["dns.admin", "example", "org"], soa.ResponsibleName.Labels);
    }

    [Theory]
    [InlineData("hostmaster@example.org", "hostmaster.example.org")]
    [InlineData("dns.admin@example.org", "dns\\.admin.example.org")]
    [InlineData("a.b.c@status.example.", "a\\.b\\.c.status.example")]
    public void RnameFromEmail_Address_MasterFileRname(string email, string rname) => Assert.Equal(rname, ZoneOptions.RnameFromEmail(email));

    [Theory]
    [InlineData("hostmaster")]
    [InlineData("@example.org")]
    [InlineData("a@b@example.org")]
    [InlineData("hostmaster@")]
    public void RnameFromEmail_NotAnAddress_Refused(string email) => Assert.Throws<ArgumentException>(() => ZoneOptions.RnameFromEmail(email));

    [Fact]
    public void Zone_RnameWithEscapedDot_TextKeepsTheEscape()
    {
        var zone = new Zone(TwoServers);

        Assert.Equal("ns1.status.example. dns\\.admin.example.org. 7 3600 600 604800 60", zone.Soa(7).RdataText());
    }

    [Fact]
    public void Zone_InZoneNameServerWithoutGlue_Refused()
    {
        var e = Assert.Throws<ArgumentException>(() => new Zone(new ZoneOptions { NameServers = ["ns1.status.example", "ns.example.net"] }));

        Assert.Contains("ns1.status.example", e.Message, StringComparison.Ordinal);
        Assert.Contains("no glue", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("ns.example.net")]
    [InlineData("other.status.example")]
    public void Zone_GlueForNoInZoneNameServer_Refused(string name)
    {
        Assert.Throws<ArgumentException>(() => new Zone(new ZoneOptions
        {
            NameServers = ["ns.example.net"],
            Glue = new Dictionary<string, IReadOnlyList<IPAddress>> { [name] = [IPAddress.Loopback] },
        }));
    }

    [Fact]
    public void Zone_OutOfZoneNameServersOnly_NoGlueNoAddressRecords()
    {
        var zone = new Zone(new ZoneOptions { NameServers = ["ns1.example.net", "ns2.example.org"] });

        Assert.Empty(zone.Glue);
        Assert.Equal(["SOA", "NS", "NS"], zone.ApexRecords(1).Select(r => r.TypeName));
    }

    [Theory]
    [InlineData("ns1", WireQuery.A, "192.0.2.53")]
    [InlineData("ns1", WireQuery.Aaaa, "2001:db8::53")]
    [InlineData("a.b-c", WireQuery.A, "198.51.100.7")]
    public void Respond_InZoneNameServer_ItsConfiguredAddress(string name, ushort type, string address)
    {
        var message = Parse(Respond(Responder(TwoServers), WireQuery.Build(TestZone.Name(name), type)));

        Assert.Equal(ReturnCode.NoError, message.ReturnCode);
        var record = Assert.Single(message.AnswerRecords);
        Assert.Equal(address, record is ARecord a ? a.Address.ToString() : Assert.IsType<AaaaRecord>(record).Address.ToString());
    }

    [Fact]
    public void Respond_AboveAnInZoneNameServer_NoData()
    {
        // b-c is no fingerprint form, so it read as NXDOMAIN, while a.b-c below it answers (RFC 8020 section 2).
        var message = Parse(Respond(Responder(TwoServers), WireQuery.Build(TestZone.Name("b-c"), WireQuery.A)));

        Assert.Equal(ReturnCode.NoError, message.ReturnCode);
        Assert.Empty(message.AnswerRecords);
    }

    /// <summary>Names that answer NXDOMAIN: none of them may have a NOERROR name below (RFC 8020 section 2).</summary>
    public static TheoryData<string> NxDomainNames() =>
    [
        "invalid",
        "invalid.bl",
        "test.wl",
        "test-valid.bl",
        TestZone.Split(TestZone.Unknown.Sha256),
        Hex.Base32(TestZone.Unknown.Sha256),
        Hex.Base32(TestZone.Unknown.Sha256) + ".wl",
        // A 52-character base32 label whose spare bits are set: no name at all.
        Hex.Base32(TestZone.Unknown.Sha256)[..51] + "z",
        TestZone.Split(TestZone.Revoked.Sha256) + ".wl",
    ];

    [Theory]
    [MemberData(nameof(NxDomainNames))]
    public void Respond_BelowAnNxDomain_NxDomain(string relative)
    {
        var responder = Responder();
        Assert.Equal(3, WireQuery.Rcode(Respond(responder, WireQuery.Build(TestZone.Name(relative), WireQuery.A))));

        foreach (var below in new[] { "x", "zz", "ab", "x.y", "test" })
            Assert.True(WireQuery.Rcode(Respond(responder, WireQuery.Build(TestZone.Name(below + "." + relative), WireQuery.A))) == 3, $"{below}.{relative}");
    }

    [Theory]
    [InlineData("x.test")]
    [InlineData("x.test.bl")]
    [InlineData("a.test-valid")]
    public void Respond_BelowATestEntry_NxDomain(string relative) =>
        Assert.Equal(3, WireQuery.Rcode(Respond(Responder(), WireQuery.Build(TestZone.Name(relative), WireQuery.A))));

    [Fact]
    public void Respond_RightHandPartsOfSplitNames_StillNoData()
    {
        // Section 1.4: a prefix of a longer name is not below an NXDOMAIN; minimising resolvers must get NODATA there.
        var split = TestZone.Split(TestZone.Revoked.Sha256);
        var responder = Responder();
        foreach (var relative in new[] { split[(split.IndexOf('.') + 1)..], "bl", "wl", "key", "key.bl", "zzzz", "test.key" })
        {
            var response = Respond(responder, WireQuery.Build(TestZone.Name(relative), WireQuery.A));
            Assert.True(WireQuery.Rcode(response) == 0, relative);
            Assert.Equal(0, WireQuery.Count(response, 1));
        }
    }

    /// <summary>An IXFR query with the client's SOA at <paramref name="serial"/> in the authority section.</summary>
    private static byte[] Ixfr(uint serial, bool edns = false)
    {
        var query = WireQuery.Build(TestZone.Apex, WireQuery.Ixfr).ToList();
        query[9] = 1;
        byte[] numbers = new byte[20];
        BinaryPrimitives.WriteUInt32BigEndian(numbers, serial);
        query.AddRange([0xC0, 12, 0, 6, 0, 1, 0, 0, 0, 0, 0, (byte)(2 + 2 + numbers.Length), 0xC0, 12, 0xC0, 12, .. numbers]);
        if (edns)
        {
            query[11] = 1;
            query.AddRange([0, 0, (byte)WireQuery.Opt, 0x04, 0xD0, 0, 0, 0x80, 0, 0, 0]);
        }
        return [.. query];
    }

    [Theory]
    [InlineData(2026011501u)]
    [InlineData(1u)]
    public void Respond_IxfrOverUdpAllowed_TheCurrentSoaAlone(uint clientSerial)
    {
        var message = Parse(Respond(Responder(), Ixfr(clientSerial), tcp: false, transferAllowed: true));

        Assert.Equal(ReturnCode.NoError, message.ReturnCode);
        Assert.True(message.IsAuthoritiveAnswer);
        // RFC 1995 section 2: the SOA of the server's current version; a client behind it then asks over TCP.
        Assert.Equal(2026011501u, Assert.IsType<SoaRecord>(Assert.Single(message.AnswerRecords)).SerialNumber);
    }

    [Fact]
    public void Respond_IxfrOverUdpFromOthers_Refused() =>
        Assert.Equal(5, WireQuery.Rcode(Respond(Responder(), Ixfr(1), tcp: false, transferAllowed: false)));

    [Fact]
    public void Respond_IxfrOverUdpWithDo_DoCopied()
    {
        var response = Respond(Responder(), Ixfr(1, edns: true), tcp: false, transferAllowed: true);

        Assert.Equal(0x8000u, BinaryPrimitives.ReadUInt32BigEndian(response.AsSpan(response.Length - 6)) & 0xFFFF);
    }

    [PeerFact(Peer.Dig)]
    public async Task Dig_DnssecOk_DoFlagInTheAnswer()
    {
        await using var server = await DnsServer.StartAsync(new IPEndPoint(IPAddress.Loopback, 0), Responder(TwoServers));

        var withDo = await Dig.RunAsync(server.LocalEndPoint.Port, TestZone.Name("x.invalid"), "A", "+dnssec");
        var without = await Dig.RunAsync(server.LocalEndPoint.Port, TestZone.Name("test"), "A");

        Assert.Equal("NXDOMAIN", withDo.Status);
        Assert.Contains("flags: do;", withDo.Edns, StringComparison.Ordinal);
        Assert.DoesNotContain("do;", without.Edns ?? "", StringComparison.Ordinal);
    }

    [PeerFact(Peer.Dig)]
    public async Task Dig_AxfrAndNs_EveryNameServerAndOnlyTheConfiguredGlue()
    {
        await using var server = await DnsServer.StartAsync(new IPEndPoint(IPAddress.Loopback, 0), Responder(TwoServers),
            new DnsServerOptions { TransferClients = [IPAddress.Loopback] });

        var axfr = (await Dig.RunRawAsync(server.LocalEndPoint.Port, TestZone.Apex, "AXFR", "+nocmd", "+nostats"))
            .Split('\n').Where(l => l.Length > 0 && !l.StartsWith(';')).Select(l => l.Split((char[])[' ', '\t'], StringSplitOptions.RemoveEmptyEntries)).ToList();

        Assert.Equal(["ns1.status.example.", "ns.example.net.", "a.b-c.status.example."], axfr.Where(r => r[3] == "NS").Select(r => r[4]));
        Assert.Equal(["ns1.status.example. A 192.0.2.53", "ns1.status.example. AAAA 2001:db8::53", "a.b-c.status.example. A 198.51.100.7"],
            axfr.Where(r => r[3] is "A" or "AAAA" && !r[4].StartsWith("127.", StringComparison.Ordinal)).Select(r => $"{r[0]} {r[3]} {r[4]}"));
        Assert.Equal("ns1.status.example.", axfr[0][4]);
        Assert.Equal("dns\\.admin.example.org.", axfr[0][5]);
    }

    [PeerFact(Peer.Kdig)]
    public async Task Kdig_IxfrOverUdp_AllowedGetsTheSoaOthersRefused()
    {
        var allowed = await DnsServer.StartAsync(new IPEndPoint(IPAddress.Loopback, 0), Responder(), new DnsServerOptions { TransferClients = [IPAddress.Loopback] });
        var closed = await DnsServer.StartAsync(new IPEndPoint(IPAddress.Loopback, 0), Responder());
        await using (allowed)
        await using (closed)
        {
            var answer = await KdigAsync(allowed.LocalEndPoint.Port, "IXFR=1", "+notcp");
            var refused = await KdigAsync(closed.LocalEndPoint.Port, "IXFR=1", "+notcp");

            // kdig prints a transfer's summary: one message over UDP, holding the one SOA.
            Assert.True(System.Text.RegularExpressions.Regex.IsMatch(answer, @"status\.example\.\s+3600\s+IN\s+SOA\s+ns\.status\.example\. hostmaster\.status\.example\. 2026011501 "), answer);
            Assert.Contains("(1 messages, 1 records)", answer, StringComparison.Ordinal);
            Assert.Contains("(UDP)", answer, StringComparison.Ordinal);
            Assert.Contains("REFUSED", refused, StringComparison.Ordinal);
        }
    }

    private static async Task<string> KdigAsync(int port, params string[] args)
    {
        var start = new ProcessStartInfo(Peer.Path(Peer.Kdig)) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var arg in new[] { "@127.0.0.1", "-p", port.ToString(System.Globalization.CultureInfo.InvariantCulture), TestZone.Apex, "+retry=0", "+timeout=2" }.Concat(args))
            start.ArgumentList.Add(arg);
        using var process = Process.Start(start)!;
        var output = await process.StandardOutput.ReadToEndAsync();
        output += await process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        return output;
    }
}
