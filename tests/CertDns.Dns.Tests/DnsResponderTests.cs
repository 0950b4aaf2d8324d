using System.Buffers.Binary;
using System.Net;
using ARSoft.Tools.Net.Dns;
using CertDns.Core;

namespace CertDns.Dns.Tests;

/// <summary>DnsResponder on raw bytes: header rules, malformed input, EDNS, truncation and compression.</summary>
public sealed class DnsResponderTests
{
    private readonly SnapshotHolder _holder = new(TestZone.Snapshot());
    private readonly DnsResponder _responder;

    public DnsResponderTests() => _responder = TestZone.Responder(_holder);

    private static readonly string RevokedName = TestZone.Name(TestZone.Split(TestZone.Revoked.Sha256));

    private byte[] Respond(byte[] query, bool tcp = false, int max = DnsResponder.MaxMessageSize)
    {
        var response = new byte[DnsResponder.MaxMessageSize];
        int length = _responder.Respond(query, response, max, tcp);
        return response[..length];
    }

    private static DnsMessage Parse(byte[] response) => DnsMessage.Parse(new ArraySegment<byte>(response));

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(11)]
    public void Respond_ShorterThanHeader_Silence(int length)
    {
        Assert.Empty(Respond(new byte[length]));
    }

    [Fact]
    public void Respond_ResponseBitSet_Silence()
    {
        var query = WireQuery.Build(RevokedName, WireQuery.A);
        query[2] |= 0x80;

        Assert.Empty(Respond(query));
    }

    /// <summary>Malformed queries and whether the question can be echoed in the FORMERR.</summary>
    public static TheoryData<string, byte[], bool> Malformed
    {
        get
        {
            var good = WireQuery.Build("test.status.example", WireQuery.A);
            byte[] header = [0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
            byte[] tail = [0, 1, 0, 1];
            var longName = Enumerable.Repeat(WireQuery.EncodeName(new string('a', 63))[..64], 4).SelectMany(b => b).ToArray();
            return new TheoryData<string, byte[], bool>
            {
                { "label length 64", [.. header, 64, .. new byte[64], 0, .. tail], false },
                { "label type 0x80", [.. header, 0x81, (byte)'a', 0, .. tail], false },
                { "compression pointer to the header", [.. header, 0xC0, 0x0C, .. tail], false },
                { "compression pointer loop", [.. header, 1, (byte)'a', 0xC0, 0x0C, .. tail], false },
                { "name longer than 255 octets", [.. header, .. longName, 0, .. tail], false },
                { "truncated in the name", good[..20], false },
                { "truncated in the type", good[..^3], false },
                { "no question", [0x12, 0x34, 0x01, 0x00, 0, 0, 0, 0, 0, 0, 0, 0], false },
                { "two questions", [.. With(good, 5, 2), .. WireQuery.EncodeName("x.status.example"), .. tail], false },
                { "trailing bytes", [.. good, 0], true },
                { "answer count", With(good, 7, 1), true },
                { "authority count", With(good, 9, 1), true },
                { "additional count without a record", With(good, 11, 1), true },
                { "two OPT records", [.. With(good, 11, 2), .. Opt(), .. Opt()], true },
                { "OPT not at the root", [.. With(good, 11, 1), 1, (byte)'a', 0, .. Opt()[1..]], true },
                { "OPT data past the end", [.. With(good, 11, 1), .. Opt()[..^2], 0, 9, 1], true },
            };
        }
    }

    private static byte[] With(byte[] message, int offset, byte value)
    {
        var copy = (byte[])message.Clone();
        copy[offset] = value;
        return copy;
    }

    private static byte[] Opt(ushort size = 1232, byte version = 0) => [0, 0, 41, (byte)(size >> 8), (byte)size, 0, version, 0, 0, 0, 0];

    [Theory]
    [MemberData(nameof(Malformed))]
    public void Respond_MalformedQuery_FormErr(string fault, byte[] query, bool questionEchoed)
    {
        _ = fault;
        var response = Respond(query);

        Assert.Equal(1, WireQuery.Rcode(response));
        Assert.Equal(0x1234, WireQuery.Id(response));
        Assert.True((response[2] & 0x80) != 0);
        Assert.Equal(questionEchoed ? 1 : 0, WireQuery.Count(response, 0));
        Assert.Equal(0, WireQuery.Count(response, 1));
        Assert.Equal(0, WireQuery.Count(response, 2));
        if (!questionEchoed) Assert.Equal(12, response.Length);
    }

    [Theory]
    [InlineData(1)] // IQUERY, obsolete (RFC 3425)
    [InlineData(2)] // STATUS
    [InlineData(4)] // NOTIFY: we are no secondary
    [InlineData(5)] // UPDATE
    [InlineData(15)]
    public void Respond_UnknownOpcode_NotImp(int opcode)
    {
        var response = Respond(WireQuery.Build(RevokedName, WireQuery.A, opcode: opcode));

        Assert.Equal(4, WireQuery.Rcode(response));
        Assert.Equal(opcode, (response[2] >> 3) & 0xF);
        Assert.Equal(0, WireQuery.Count(response, 1));
    }

    [Fact]
    public void Respond_EdnsQueryWithDo_OptWithOurSizeVersion0AndDoCopied()
    {
        var response = Respond(WireQuery.Build(RevokedName, WireQuery.A, ednsSize: 4096, dnssecOk: true));

        Assert.Equal(1, WireQuery.Count(response, 3));
        var opt = response.AsSpan(response.Length - 11);
        Assert.Equal([0, 0, 41], opt[..3].ToArray());
        Assert.Equal(1232, BinaryPrimitives.ReadUInt16BigEndian(opt[3..]));
        // RFC 3225 section 3: the DO bit is copied into the response, though nothing is signed.
        Assert.Equal(0x8000u, BinaryPrimitives.ReadUInt32BigEndian(opt[5..]));
        Assert.Equal(0, BinaryPrimitives.ReadUInt16BigEndian(opt[9..]));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Respond_ErrorsAndDenials_DoBitAsInTheQuery(bool dnssecOk)
    {
        foreach (var (name, type) in new[] { ("x.invalid.status.example", WireQuery.A), ("example.org", WireQuery.A), (RevokedName, (ushort)252) })
        {
            var response = Respond(WireQuery.Build(name, type, ednsSize: 1232, dnssecOk: dnssecOk));
            var opt = response.AsSpan(response.Length - 11);
            Assert.Equal(dnssecOk ? 0x8000u : 0u, BinaryPrimitives.ReadUInt32BigEndian(opt[5..]) & 0xFFFF);
        }
    }

    [Fact]
    public void Respond_NoEdns_NoOpt()
    {
        var response = Parse(Respond(WireQuery.Build(RevokedName, WireQuery.A)));

        Assert.False(response.IsEDnsEnabled);
        Assert.Empty(response.AdditionalRecords);
    }

    [Fact]
    public void Respond_EdnsVersion1_BadVers()
    {
        var response = Respond(WireQuery.Build(RevokedName, WireQuery.A, ednsSize: 1232, ednsVersion: 1));

        // RFC 6891 section 6.1.3: BADVERS is 16, its upper 8 bits in the OPT's extended RCODE.
        Assert.Equal(0, WireQuery.Rcode(response));
        Assert.Equal(0, WireQuery.Count(response, 1));
        var opt = response.AsSpan(response.Length - 11);
        Assert.Equal(1, opt[5]);
        Assert.Equal(0, opt[6]);
        Assert.Equal(ReturnCode.BadVersion, Parse(response).ReturnCode);
    }

    [Theory]
    [InlineData(3)] // CH: version.bind and the like are not ours
    [InlineData(4)] // HS
    [InlineData(254)] // NONE
    public void Respond_ClassNotIn_Refused(ushort @class)
    {
        Assert.Equal(5, WireQuery.Rcode(Respond(WireQuery.Build(RevokedName, WireQuery.A, @class: @class))));
    }

    [Fact]
    public void Respond_ClassAny_Answered()
    {
        Assert.Equal(1, WireQuery.Count(Respond(WireQuery.Build(RevokedName, WireQuery.A, @class: 255)), 1));
    }

    [Theory]
    [InlineData(WireQuery.Axfr, false, 1)]
    [InlineData(WireQuery.Axfr, true, 5)]
    [InlineData(WireQuery.Ixfr, false, 5)]
    [InlineData(WireQuery.Ixfr, true, 5)]
    public void Respond_ZoneTransfer_NotOffered(ushort type, bool tcp, int rcode)
    {
        Assert.Equal(rcode, WireQuery.Rcode(Respond(WireQuery.Build(TestZone.Apex, type), tcp)));
    }

    [Fact]
    public void Respond_MixedCase_QuestionEchoedAndOwnerPointsAtIt()
    {
        var name = "Test.BL.Status.EXAMPLE";
        var query = WireQuery.Build(name, WireQuery.A);

        var response = Respond(query);

        int questionEnd = query.Length;
        Assert.Equal(query.AsSpan(12), response.AsSpan(12, questionEnd - 12));
        // The answer's owner is a pointer to offset 12: the name as the client spelt it (SPEC section 1).
        Assert.Equal([0xC0, 0x0C], response[questionEnd..(questionEnd + 2)]);
        Assert.Equal("Test.BL.Status.EXAMPLE.", Parse(response).AnswerRecords[0].Name.ToString());
    }

    [Fact]
    public void Respond_NegativeAnswer_SoaOwnerPointsAtApexInQuestion()
    {
        var query = WireQuery.Build("invalid.Status.Example", WireQuery.A);

        var response = Respond(query);

        Assert.Equal(3, WireQuery.Rcode(response));
        // "invalid" is 1+7 octets after offset 12: the apex suffix starts at 20.
        Assert.Equal([0xC0, 20], response[query.Length..(query.Length + 2)]);
        var soa = Assert.IsType<SoaRecord>(Assert.Single(Parse(response).AuthorityRecords));
        Assert.Equal("Status.Example.", soa.Name.ToString());
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Respond_Flags_AuthoritativeRdCopiedNoRecursion(bool rd)
    {
        var query = WireQuery.Build(RevokedName, WireQuery.A, rd: rd);
        query[3] = 0x10; // CD

        var response = Respond(query);

        Assert.True(WireQuery.Authoritative(response));
        Assert.Equal(rd, (response[2] & 0x01) != 0);
        Assert.Equal(0, response[3] & 0x80);
        Assert.Equal(0x10, response[3] & 0x10);
        Assert.False(WireQuery.Truncated(response));
    }

    [Fact]
    public void Respond_AnswerOverLimit_TruncatedWithQuestionAndOpt()
    {
        var query = WireQuery.Build(RevokedName, WireQuery.Txt, ednsSize: 4096);
        var full = Respond(query);
        Assert.True(full.Length > 120);

        var response = Respond(query, max: 120);

        Assert.True(WireQuery.Truncated(response));
        Assert.Equal((1, 0, 0, 1), (WireQuery.Count(response, 0), WireQuery.Count(response, 1), WireQuery.Count(response, 2), WireQuery.Count(response, 3)));
        Assert.Equal(query.Length, response.Length);
        Assert.Equal(query.AsSpan(12, query.Length - 23), response.AsSpan(12, query.Length - 23));
    }

    [Fact]
    public void Respond_SameAnswerOverTcp_Complete()
    {
        var query = WireQuery.Build(RevokedName, WireQuery.Txt);

        var response = Respond(query, tcp: true);

        Assert.False(WireQuery.Truncated(response));
        Assert.IsType<TxtRecord>(Assert.Single(Parse(response).AnswerRecords));
    }

    [Fact]
    public void Respond_LimitBelowQuestion_HeaderOnlyWithTc()
    {
        var response = Respond(WireQuery.Build(RevokedName, WireQuery.Txt), max: 40);

        Assert.Equal(12, response.Length);
        Assert.True(WireQuery.Truncated(response));
        Assert.Equal(0, WireQuery.Count(response, 0));
    }

    /// <summary>The UDP limit: 512 without EDNS, else the client's size (at least 512) but never over ours.</summary>
    [Theory]
    [InlineData(null, 512)]
    [InlineData((ushort)100, 512)]
    [InlineData((ushort)1000, 1000)]
    [InlineData((ushort)4096, 1232)]
    public void Respond_LongAnswer_TruncatedAtClientLimit(ushort? ednsSize, int limit)
    {
        // A long apex and a long TXT make answers of every size; find where truncation starts.
        var longCa = new CaFacts(9, "CN=" + new string('x', 240), true, Crl: new CrlFacts("1", TestZone.Now.AddDays(-1), TestZone.Now.AddDays(1)));
        var cert = TestZone.Revoked with { Ca = longCa };
        var apex = string.Join('.', Enumerable.Repeat(new string('z', 52), 3)) + ".example";
        var responder = new DnsResponder(new ZoneOptions { Apex = apex }, new SnapshotHolder(new StatusSnapshot(1, [cert])), new FakeTimeProvider(TestZone.Now));
        var query = WireQuery.Build(TestZone.Split(cert.Sha256) + "." + apex, WireQuery.Txt, ednsSize: ednsSize);
        var response = new byte[DnsResponder.MaxMessageSize];

        int length = responder.Respond(query, response, DnsResponder.MaxMessageSize, tcp: false);
        int full = responder.Respond(query, response.AsSpan(), DnsResponder.MaxMessageSize, tcp: true);

        Assert.True(full > 512);
        Assert.Equal(full > limit, WireQuery.Truncated(response.AsSpan(0, length)) || length < full);
        Assert.True(length <= limit);
    }

    [Theory]
    [InlineData("t\u00e9st")]
    [InlineData("a.b")]
    public void Respond_LabelWithNonAsciiOrDot_NxDomain(string label)
    {
        var octets = System.Text.Encoding.UTF8.GetBytes(label);
        byte[] query = [0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, (byte)octets.Length, .. octets, .. WireQuery.EncodeName(TestZone.Apex), 0, 1, 0, 1];

        Assert.Equal(3, WireQuery.Rcode(Respond(query)));
    }

    [Fact]
    public void Respond_ApexSoa_SerialFromSnapshot()
    {
        _holder.Publish(TestZone.Snapshot(serial: 77));

        var soa = Assert.IsType<SoaRecord>(Assert.Single(Parse(Respond(WireQuery.Build(TestZone.Apex, WireQuery.Soa))).AnswerRecords));

        Assert.Equal(77u, soa.SerialNumber);
    }

    [Fact]
    public void Respond_NsAddressIpv6_Aaaa()
    {
        var responder = new DnsResponder(new ZoneOptions { Glue = new Dictionary<string, IReadOnlyList<IPAddress>> { ["ns.status.example"] = [IPAddress.IPv6Loopback] } }, _holder, TimeProvider.System);
        var response = new byte[512];

        int length = responder.Respond(WireQuery.Build("ns.status.example", WireQuery.Aaaa), response, 512, false);

        var aaaa = Assert.IsType<AaaaRecord>(Assert.Single(Parse(response[..length]).AnswerRecords));
        Assert.Equal(IPAddress.IPv6Loopback, aaaa.Address);
    }

    [Fact]
    public void Respond_NameServerOutsideZone_NoAddressRecord()
    {
        var responder = new DnsResponder(new ZoneOptions { NameServers = ["ns1.example.net"] }, _holder, TimeProvider.System);
        var response = new byte[512];

        int length = responder.Respond(WireQuery.Build(TestZone.Apex, WireQuery.Ns), response, 512, false);

        var message = Parse(response[..length]);
        Assert.Equal("ns1.example.net.", Assert.IsType<NsRecord>(Assert.Single(message.AnswerRecords)).NameServer.ToString());
        Assert.Empty(message.AdditionalRecords);
    }

    [Theory]
    [InlineData("")]
    [InlineData("a..b")]
    [InlineData("caf\u00e9.example")]
    public void Constructor_InvalidApex_Throws(string apex)
    {
        Assert.Throws<ArgumentException>(() => new DnsResponder(new ZoneOptions { Apex = apex }, _holder, TimeProvider.System));
    }
}
