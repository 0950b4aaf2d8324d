using System.Net;
using ARSoft.Tools.Net.Dns;

namespace CertDns.Dns.Tests;

/// <summary>The zone model: what the apex publishes, and each record the same on the wire and as text.</summary>
public sealed class ZoneTests
{
    [Fact]
    public void ApexRecords_InZoneNameServer_SoaNsAndGlue()
    {
        var zone = new Zone(new ZoneOptions { Glue = new Dictionary<string, IReadOnlyList<IPAddress>> { ["ns.status.example"] = [IPAddress.Parse("192.0.2.53")] }, Refresh = 7200 });

        var records = zone.ApexRecords(42).ToList();

        Assert.Equal(["SOA", "NS", "A"], records.Select(r => r.TypeName));
        Assert.Equal("ns.status.example. hostmaster.status.example. 42 7200 600 604800 60", records[0].RdataText());
        Assert.Equal("ns.status.example.", records[1].RdataText());
        Assert.Equal(("ns.status.example", "192.0.2.53"), (records[2].Owner, records[2].RdataText()));
        Assert.Equal(60u, zone.NegativeTtl);
    }

    [Fact]
    public void ApexRecords_NameServerOutsideTheZone_NoGlue()
    {
        var zone = new Zone(new ZoneOptions { NameServers = ["ns1.example.net"] });

        Assert.Empty(zone.Glue);
        Assert.Equal(["SOA", "NS"], zone.ApexRecords(1).Select(r => r.TypeName));
    }

    [Fact]
    public void Soa_WireForm_ParsesToTheSameFieldsAsItsText()
    {
        var zone = new Zone(new ZoneOptions { Hostmaster = "dns-admin.example.org" });
        var soa = zone.Soa(2026011501);
        // Another implementation reads the RDATA: a record is one thing in both renderings.
        var message = new List<byte> { 0, 1, 0x84, 0, 0, 0, 0, 1, 0, 0, 0, 0 };
        message.AddRange(WireQuery.EncodeName("status.example"));
        message.AddRange([0, 6, 0, 1, 0, 0, 0x0E, 0x10, 0, (byte)soa.Rdata.Length]);
        message.AddRange(soa.Rdata.ToArray());

        var parsed = Assert.IsType<SoaRecord>(Assert.Single(DnsMessage.Parse(new ArraySegment<byte>([.. message])).AnswerRecords));

        Assert.Equal(string.Join(' ', parsed.MasterName + "", parsed.ResponsibleName + "", parsed.SerialNumber, parsed.RefreshInterval,
            parsed.RetryInterval, parsed.ExpireInterval, parsed.NegativeCachingTTL), soa.RdataText());
        Assert.Equal(2026011501u, parsed.SerialNumber);
        Assert.Equal("dns-admin.example.org.", parsed.ResponsibleName.ToString());
    }

    [Theory]
    [InlineData("plain text", "\"plain text\"")]
    [InlineData("say \"hi\" \\ bye", "\"say \\\"hi\\\" \\\\ bye\"")]
    [InlineData("caf\u00e9", "\"caf\\195\\169\"")]
    public void Txt_MasterFileText_EscapesAsRfc1035(string text, string expected)
    {
        Assert.Equal(expected, ZoneRecord.Txt("x.status.example", 300, text).RdataText());
    }
}
