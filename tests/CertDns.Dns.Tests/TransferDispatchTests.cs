using System.Buffers.Binary;
using CertDns.Core;

namespace CertDns.Dns.Tests;

/// <summary>
/// One way into a transfer: the responder's one parse of the question decides between an answer, a refusal and a
/// transfer (AXFR, or IXFR with the client's serial from its authority SOA), given the ACL's verdict.
/// </summary>
public sealed class TransferDispatchTests
{
    private const uint Serial = 2026011501;
    private readonly DnsResponder _responder = TestZone.Responder(new SnapshotHolder(TestZone.Snapshot(Serial)));

    private (int Rcode, TransferMessages? Transfer) Ask(byte[] query, bool tcp = true, bool allowed = true)
    {
        var response = new byte[DnsResponder.MaxMessageSize];
        int length = _responder.Respond(query, response, DnsResponder.MaxMessageSize, tcp, allowed, out var transfer);
        Assert.True(transfer is null ? length > 0 : length == 0);
        return (transfer is null ? WireQuery.Rcode(response) : -1, transfer);
    }

    /// <summary>An IXFR query with the client's SOA in the authority section, its names compressed to the question.</summary>
    private static byte[] Ixfr(uint clientSerial)
    {
        var query = WireQuery.Build(TestZone.Apex, WireQuery.Ixfr).ToList();
        query[9] = 1; // NSCOUNT
        byte[] numbers = new byte[20];
        BinaryPrimitives.WriteUInt32BigEndian(numbers, clientSerial);
        // Owner, MNAME and RNAME all point at the question name (offset 12).
        query.AddRange([0xC0, 12, 0, 6, 0, 1, 0, 0, 0, 0, 0, (byte)(2 + 2 + numbers.Length), 0xC0, 12, 0xC0, 12, .. numbers]);
        return [.. query];
    }

    private static int Records(TransferMessages transfer)
    {
        int records = 0;
        using (transfer)
        {
            while (transfer.Next(out var frame)) records += BinaryPrimitives.ReadUInt16BigEndian(frame.Span[(2 + 6)..]);
        }
        return records;
    }

    [Fact]
    public void Respond_AxfrOfApexOverTcpAllowed_StartsTheWholeTransfer()
    {
        var (_, transfer) = Ask(WireQuery.Build(TestZone.Apex, WireQuery.Axfr));

        Assert.NotNull(transfer);
        // SOA, NS, glue, the test entries and every certificate, the SOA again: more than one record per certificate.
        Assert.True(Records(transfer) > 2 * TestZone.All.Count);
    }

    [Theory]
    [InlineData(Serial, 1)]
    [InlineData(Serial + 5, 1)]
    [InlineData(Serial - 1, 0)]
    public void Respond_IxfrWithCompressedClientSoa_SerialReadFromTheOneParse(uint clientSerial, int expected)
    {
        var (_, transfer) = Ask(Ixfr(clientSerial));

        Assert.NotNull(transfer);
        int records = Records(transfer);
        // A client at the zone's serial or past it gets one SOA; an older one the whole zone.
        if (expected == 1) Assert.Equal(1, records);
        else Assert.True(records > 2 * TestZone.All.Count);
    }

    [Fact]
    public void Respond_AxfrOverUdpAllowed_FormErr() =>
        Assert.Equal((1, null), Ask(WireQuery.Build(TestZone.Apex, WireQuery.Axfr), tcp: false));

    [Fact]
    public void Respond_AxfrNotAllowed_Refused() =>
        Assert.Equal((5, null), Ask(WireQuery.Build(TestZone.Apex, WireQuery.Axfr), allowed: false));

    [Fact]
    public void Respond_AxfrOfNameBelowApexAllowed_Refused() =>
        Assert.Equal((5, null), Ask(WireQuery.Build("ns." + TestZone.Apex, WireQuery.Axfr)));

    [Fact]
    public void Respond_IxfrWithoutClientSoaAllowed_Refused() =>
        Assert.Equal((5, null), Ask(WireQuery.Build(TestZone.Apex, WireQuery.Ixfr)));
}
