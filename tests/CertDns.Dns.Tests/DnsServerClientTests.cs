using System.Net;
using ARSoft.Tools.Net;
using ARSoft.Tools.Net.Dns;
using CertDns.Core;

namespace CertDns.Dns.Tests;

/// <summary>The zone as ARSoft.Tools.Net's client sees it over the wire (SPEC sections 1 and 2).</summary>
public sealed class DnsServerClientTests(ZoneServerFixture zone) : IClassFixture<ZoneServerFixture>
{
    public static TheoryData<string, string?, string?> Views => new()
    {
        { "valid", null, "127.0.1.2" },
        { "revoked", null, "127.0.0.2" },
        { "blocked", null, "127.0.0.3" },
        { "hold", null, "127.0.0.4" },
        { "stale", null, "127.0.2.2" },
        { "untrusted", null, "127.0.2.3" },
        { "expired", null, "127.0.2.4" },
        { "unknown", null, null },
        { "valid", "bl", null },
        { "revoked", "bl", "127.0.0.2" },
        { "blocked", "bl", "127.0.0.3" },
        { "hold", "bl", "127.0.0.4" },
        { "stale", "bl", null },
        { "untrusted", "bl", null },
        { "expired", "bl", null },
        { "valid", "wl", "127.0.1.2" },
        { "revoked", "wl", null },
        { "blocked", "wl", null },
        { "hold", "wl", null },
        { "stale", "wl", null },
        { "untrusted", "wl", null },
        { "expired", "wl", null },
    };

    [Theory]
    [MemberData(nameof(Views))]
    public async Task ResolveA_StatusInView_AddressOrNxDomain(string status, string? view, string? expected)
    {
        var name = TestZone.Name(TestZone.Split(TestZone.ByName(status).Sha256), view);

        var answer = await zone.Client().AskAsync(name, RecordType.A);

        Assert.True(answer.IsAuthoritiveAnswer);
        if (expected is null)
        {
            // A complete 64-hex name that is not listed (in this view) cannot become one: NXDOMAIN with the SOA.
            Assert.Equal(ReturnCode.NxDomain, answer.ReturnCode);
            Assert.Empty(answer.AnswerRecords);
            Assert.IsType<SoaRecord>(Assert.Single(answer.AuthorityRecords));
        }
        else
        {
            Assert.Equal(ReturnCode.NoError, answer.ReturnCode);
            var a = Assert.IsType<ARecord>(Assert.Single(answer.AnswerRecords));
            Assert.Equal(IPAddress.Parse(expected), a.Address);
            Assert.Equal(300, a.TimeToLive);
            Assert.Equal(DomainName.Parse(name), a.Name);
        }
    }

    [Theory]
    [InlineData("revoked", "revoked keyCompromise 2026-01-13T12:00:00Z by \"CN=Example CA\" serial 0a1b07 (CRL 1000)")]
    [InlineData("blocked", "blocked: 3 abuse complaints since 2026-01-14")]
    [InlineData("valid", "valid: issued by \"CN=Example CA\" serial 0a1b05, CRL 1000 current until 2026-01-16T12:00:00Z")]
    public async Task ResolveTxt_ListedName_EvaluatorText(string status, string expected)
    {
        var answer = await zone.Client().AskAsync(TestZone.Name(TestZone.Split(TestZone.ByName(status).Sha256)), RecordType.Txt);

        var txt = Assert.IsType<TxtRecord>(Assert.Single(answer.AnswerRecords));
        Assert.Equal(expected, Assert.Single(txt.TextParts));
    }

    public static TheoryData<string, string> Forms
    {
        get
        {
            var c = TestZone.Revoked;
            var sha256 = Hex.Lower(c.Sha256);
            return new()
            {
                { "sha256 32.32", TestZone.Split(c.Sha256) },
                { "sha256 16.16.16.16", $"{sha256[..16]}.{sha256[16..32]}.{sha256[32..48]}.{sha256[48..]}" },
                { "sha256 prefix 56", sha256[..56] },
                { "sha256 base32 52", Hex.Base32(c.Sha256) },
                { "sha256 base32 upper", Hex.Base32(c.Sha256).ToUpperInvariant() },
                { "sha1 40", Hex.Lower(c.Sha1) },
                { "md5 32", Hex.Lower(c.Md5) },
                { "sha256 byte per label", QueryNames.PerByte(c.Sha256) },
                { "sha1 byte per label", QueryNames.PerByte(c.Sha1) },
                { "md5 byte per label", QueryNames.PerByte(c.Md5) },
                { "sha256 upper case", TestZone.Split(c.Sha256).ToUpperInvariant() },
                { "key sha256", TestZone.Split(c.SpkiSha256) + ".key" },
                { "key sha256 prefix 56", Hex.Lower(c.SpkiSha256)[..56] + ".key" },
            };
        }
    }

    [Theory]
    [MemberData(nameof(Forms))]
    public async Task ResolveA_EveryFingerprintForm_Revoked(string form, string relative)
    {
        _ = form;
        var answer = await zone.Client().AskAsync(TestZone.Name(relative), RecordType.A);

        Assert.Equal(ReturnCode.NoError, answer.ReturnCode);
        Assert.Equal(IPAddress.Parse("127.0.0.2"), Assert.IsType<ARecord>(Assert.Single(answer.AnswerRecords)).Address);
    }

    public static TheoryData<string, ReturnCode> Negatives
    {
        get
        {
            var unknown = TestZone.Unknown;
            var revoked = Hex.Lower(TestZone.Revoked.Sha256);
            return new TheoryData<string, ReturnCode>
            {
                // The right-hand half of a split name is what a QNAME-minimising resolver asks first (RFC 9156).
                { revoked[32..], ReturnCode.NoError },
                { "bl", ReturnCode.NoError },
                { "wl", ReturnCode.NoError },
                { "key", ReturnCode.NoError },
                { TestZone.Split(unknown.Sha256), ReturnCode.NxDomain },
                { Hex.Base32(unknown.Sha256), ReturnCode.NxDomain },
                { Hex.Lower(unknown.Sha1), ReturnCode.NoError },
                { Hex.Lower(unknown.Md5), ReturnCode.NoError },
                { Hex.Lower(unknown.Sha256)[..56], ReturnCode.NoError },
                { "invalid", ReturnCode.NxDomain },
                { "invalid.bl", ReturnCode.NxDomain },
                { "not-a-fingerprint", ReturnCode.NxDomain },
                // Longer than any digest: nothing can exist below.
                { TestZone.Split(TestZone.Revoked.Sha256) + ".ab.cd", ReturnCode.NxDomain },
            };
        }
    }

    [Theory]
    [MemberData(nameof(Negatives))]
    public async Task ResolveA_NotListed_NegativeAnswerWithSoa(string relative, ReturnCode expected)
    {
        var answer = await zone.Client().AskAsync(TestZone.Name(relative), RecordType.A);

        Assert.Equal(expected, answer.ReturnCode);
        Assert.Empty(answer.AnswerRecords);
        var soa = Assert.IsType<SoaRecord>(Assert.Single(answer.AuthorityRecords));
        Assert.Equal(DomainName.Parse(TestZone.Apex), soa.Name);
        // RFC 2308 section 3: the negative TTL is min(SOA TTL, MINIMUM).
        Assert.Equal(60, soa.TimeToLive);
        Assert.Equal(60, soa.NegativeCachingTTL);
        Assert.Equal(zone.Holder.Current.Serial, soa.SerialNumber);
    }

    [Theory]
    [InlineData(RecordType.Aaaa)]
    [InlineData(RecordType.Mx)]
    [InlineData(RecordType.Soa)]
    [InlineData(RecordType.Ns)]
    public async Task Resolve_OtherTypeAtListedName_NoDataWithSoa(RecordType type)
    {
        var answer = await zone.Client().AskAsync(TestZone.Name(TestZone.Split(TestZone.Revoked.Sha256)), type);

        Assert.Equal(ReturnCode.NoError, answer.ReturnCode);
        Assert.Empty(answer.AnswerRecords);
        Assert.IsType<SoaRecord>(Assert.Single(answer.AuthorityRecords));
    }

    [Theory]
    [InlineData("test", null, "127.0.0.2")]
    [InlineData("test-blocked", null, "127.0.0.3")]
    [InlineData("test-hold", null, "127.0.0.4")]
    [InlineData("test-valid", null, "127.0.1.2")]
    [InlineData("test-stale", null, "127.0.2.2")]
    [InlineData("test-untrusted", null, "127.0.2.3")]
    [InlineData("test-expired", null, "127.0.2.4")]
    [InlineData("test", "bl", "127.0.0.2")]
    [InlineData("test-hold", "bl", "127.0.0.4")]
    [InlineData("test-valid", "bl", null)]
    [InlineData("test-stale", "bl", null)]
    [InlineData("test-valid", "wl", "127.0.1.2")]
    [InlineData("test", "wl", null)]
    [InlineData("test-expired", "wl", null)]
    public async Task ResolveA_TestEntry_VisiblePerView(string entry, string? view, string? expected)
    {
        var answer = await zone.Client().AskAsync(TestZone.Name(entry, view), RecordType.A);

        if (expected is null)
        {
            Assert.Equal(ReturnCode.NxDomain, answer.ReturnCode);
            Assert.IsType<SoaRecord>(Assert.Single(answer.AuthorityRecords));
        }
        else
        {
            Assert.Equal(IPAddress.Parse(expected), Assert.IsType<ARecord>(Assert.Single(answer.AnswerRecords)).Address);
            var txt = await zone.Client().AskAsync(TestZone.Name(entry, view), RecordType.Txt);
            Assert.StartsWith("test entry: ", Assert.Single(Assert.IsType<TxtRecord>(Assert.Single(txt.AnswerRecords)).TextParts));
        }
    }

    [Fact]
    public async Task ResolveSoa_Apex_SerialAndTimers()
    {
        var answer = await zone.Client().AskAsync(TestZone.Apex, RecordType.Soa);

        var soa = Assert.IsType<SoaRecord>(Assert.Single(answer.AnswerRecords));
        Assert.Equal(DomainName.Parse("ns.status.example"), soa.MasterName);
        Assert.Equal(DomainName.Parse("hostmaster.status.example"), soa.ResponsibleName);
        Assert.Equal(zone.Holder.Current.Serial, soa.SerialNumber);
        Assert.Equal((3600, 600, 604800, 60), (soa.RefreshInterval, soa.RetryInterval, soa.ExpireInterval, soa.NegativeCachingTTL));
        Assert.Equal(3600, soa.TimeToLive);
        Assert.Empty(answer.AuthorityRecords);
    }

    [Fact]
    public async Task ResolveNs_Apex_NameServerWithAddress()
    {
        var answer = await zone.Client().AskAsync(TestZone.Apex, RecordType.Ns);

        Assert.Equal(DomainName.Parse("ns.status.example"), Assert.IsType<NsRecord>(Assert.Single(answer.AnswerRecords)).NameServer);
        var glue = Assert.IsType<ARecord>(Assert.Single(answer.AdditionalRecords, r => r is ARecord));
        Assert.Equal(DomainName.Parse("ns.status.example"), glue.Name);
        Assert.Equal(IPAddress.Loopback, glue.Address);
    }

    [Fact]
    public async Task ResolveA_NameServer_Address()
    {
        var answer = await zone.Client().AskAsync("NS.status.example", RecordType.A);

        Assert.Equal(IPAddress.Loopback, Assert.IsType<ARecord>(Assert.Single(answer.AnswerRecords)).Address);
    }

    [Fact]
    public async Task ResolveAny_Apex_SoaOnly()
    {
        var answer = await zone.Client().AskAsync(TestZone.Apex, RecordType.Any);

        Assert.IsType<SoaRecord>(Assert.Single(answer.AnswerRecords));
    }

    [Fact]
    public async Task ResolveAny_ListedName_AddressOnly()
    {
        var answer = await zone.Client().AskAsync(TestZone.Name(TestZone.Split(TestZone.Hold.Sha256)), RecordType.Any);

        Assert.Equal(IPAddress.Parse("127.0.0.4"), Assert.IsType<ARecord>(Assert.Single(answer.AnswerRecords)).Address);
    }

    [Theory]
    [InlineData("example.org")]
    [InlineData("example")]
    [InlineData("xstatus.example")]
    [InlineData("status.example.org")]
    public async Task ResolveA_OutsideZone_Refused(string name)
    {
        var answer = await zone.Client().AskAsync(name, RecordType.A);

        Assert.Equal(ReturnCode.Refused, answer.ReturnCode);
        Assert.Empty(answer.AnswerRecords);
    }

    [Fact]
    public async Task ResolveA_OverTcp_SameAnswer()
    {
        var answer = await zone.Client(tcpOnly: true).AskAsync(TestZone.Name(TestZone.Split(TestZone.Blocked.Sha256)), RecordType.A);

        Assert.Equal(IPAddress.Parse("127.0.0.3"), Assert.IsType<ARecord>(Assert.Single(answer.AnswerRecords)).Address);
    }

    [Fact]
    public async Task Resolve_Edns_OptWithOurPayloadSize()
    {
        var options = new DnsQueryOptions { IsEDnsEnabled = true, EDnsOptions = new OptRecord(4096) };

        var answer = await zone.Client().AskAsync(TestZone.Name("test"), RecordType.A, options);

        Assert.True(answer.IsEDnsEnabled);
        Assert.Equal(1232, answer.EDnsOptions!.UdpPayloadSize);
        Assert.Equal(0, answer.EDnsOptions.Version);
        Assert.False(answer.EDnsOptions.IsDnsSecOk);
    }
}
