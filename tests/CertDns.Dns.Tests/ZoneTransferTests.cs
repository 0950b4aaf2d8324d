using System.Buffers.Binary;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;
using CertDns.Core;

namespace CertDns.Dns.Tests;

/// <summary>AXFR of zones large enough to take many messages: what real dig receives, and a secondary that reads slowly.</summary>
public sealed partial class ZoneTransferTests
{
    private static readonly ZoneOptions Zone = new();

    /// <summary><paramref name="count"/> certificates of every status but stale, a TXT near the 255-octet cap on some.</summary>
    private static StatusSnapshot Snapshot(int count)
    {
        var crl = new CrlFacts("1000", TestZone.Now.AddDays(-1), TestZone.Now.AddDays(1));
        var cas = new[]
        {
            new CaFacts(1, "CN=Transfer CA", Trusted: true, Crl: crl),
            new CaFacts(2, "CN=" + new string('x', 200), Trusted: true, Crl: crl),
            new CaFacts(3, "CN=Distrusted CA", Trusted: false, DistrustedAt: TestZone.Now.AddDays(-3), DistrustReason: "misissuance", Crl: crl),
        };
        var certificates = Enumerable.Range(0, count).Select(i =>
        {
            var der = BitConverter.GetBytes(i);
            var cert = new CertFacts(SHA256.HashData(der), SHA1.HashData(der), MD5.HashData(der), SHA256.HashData([.. der, 1]),
                Serial: [(byte)(i >> 16), (byte)(i >> 8), (byte)i], NotBefore: TestZone.Now.AddDays(-30), NotAfter: TestZone.Now.AddDays(300), Ca: cas[i % 3]);
            return (i % 5) switch
            {
                0 => cert with { Revocation = new RevocationFacts(RevocationReason.KeyCompromise, TestZone.Now.AddDays(-2), "1000") },
                1 => cert with { Revocation = new RevocationFacts(RevocationReason.CertificateHold, TestZone.Now.AddDays(-2), "1000") },
                2 => cert with { Block = new BlockFacts("3 abuse complaints", TestZone.Now.AddDays(-1)) },
                3 => cert with { NotAfter = TestZone.Now.AddDays(-1) },
                _ => cert,
            };
        });
        return new StatusSnapshot(2026011501, certificates);
    }

    private static Task<DnsServer> StartAsync(StatusSnapshot snapshot, TimeSpan? idle = null, TimeSpan? write = null) =>
        DnsServer.StartAsync(new IPEndPoint(IPAddress.Loopback, 0), TestZone.Responder(new SnapshotHolder(snapshot), Zone), new DnsServerOptions
        {
            TransferClients = [IPAddress.Loopback],
            TcpIdleTimeout = idle ?? TimeSpan.FromSeconds(10),
            TransferWriteTimeout = write ?? TimeSpan.FromSeconds(60),
        });

    /// <summary>The records the transfer must carry below the SOA and NS: every exported name's A and TXT.</summary>
    private static List<string> Expected(StatusSnapshot snapshot)
    {
        var records = new List<string>();
        foreach (var entry in ZoneExporter.Entries(snapshot, Zone, TestZone.Now))
        {
            var owner = $"{entry.Owner}.{TestZone.Apex}.";
            records.Add($"{owner} {entry.Ttl} A {string.Join('.', StatusCodes.Address(entry.Status).ToArray())}");
            records.Add($"{owner} {entry.Ttl} TXT {entry.Text}");
        }
        return records;
    }

    /// <summary>The wire size without compression: header, question, and every record with whole names.</summary>
    private static int Uncompressed(IEnumerable<string> records, int messages)
    {
        static int NameLength(string name) => name.TrimEnd('.').Length + 2;
        int size = messages * 12 + NameLength(TestZone.Apex) + 4;
        foreach (var record in records)
        {
            var parts = record.Split(' ', 4);
            size += NameLength(parts[0]) + 10 + (parts[2] == "A" ? 4 : 1 + Encoding.UTF8.GetByteCount(parts[3]));
        }
        return size;
    }

    [PeerFact(Peer.Dig)]
    public async Task Dig_Axfr_LargeZone_EveryNameInManyCompressedMessages()
    {
        var snapshot = Snapshot(3000);
        await using var server = await StartAsync(snapshot);

        var output = await Dig.RunRawAsync(server.LocalEndPoint.Port, TestZone.Apex, "AXFR", "+time=30");

        var lines = output.Split('\n').Where(l => l.Length > 0 && !l.StartsWith(';')).Select(l => Whitespace().Split(l.Trim(), 5)).ToList();
        Assert.Equal("SOA", lines[0][3]);
        Assert.Equal("SOA", lines[^1][3]);
        Assert.Contains(" 2026011501 ", lines[0][4]);
        Assert.Equal("NS", lines[1][3]);
        // dig prints TXT quoted, with '"' and '\' escaped.
        var received = lines[2..^1].Select(l => $"{l[0]} {l[1]} {l[3]} {(l[3] == "TXT" ? l[4][1..^1].Replace("\\\"", "\"", StringComparison.Ordinal).Replace("\\\\", "\\", StringComparison.Ordinal) : l[4])}").ToList();
        var expected = Expected(snapshot);
        // The name server's address, in the zone under the apex.
        expected.AddRange(Zone.Glue.SelectMany(g => g.Value.Select(a => $"{g.Key}. {Zone.ApexTtl} A {a}")));
        Assert.Equal(expected.Count, received.Count);
        Assert.Equal(expected.Order(StringComparer.Ordinal), received.Order(StringComparer.Ordinal));

        var size = XfrSize().Match(output);
        Assert.True(size.Success, output[^300..]);
        int records = int.Parse(size.Groups[1].Value, CultureInfo.InvariantCulture);
        int messages = int.Parse(size.Groups[2].Value, CultureInfo.InvariantCulture);
        int bytes = int.Parse(size.Groups[3].Value, CultureInfo.InvariantCulture);
        Assert.Equal(expected.Count + 3, records);
        Assert.True(messages > 10, $"{messages} messages");
        // Owners compressed: a name's TXT points at its A's owner, and every owner at the apex already written.
        int whole = Uncompressed([.. lines.Select(l => $"{l[0]} {l[1]} {l[3]} {l[4]}")], messages);
        Assert.True(bytes < whole * 0.8, $"{bytes} bytes on the wire, {whole} without compression");
    }

    [PeerTheory(Peer.Dig)]
    [InlineData(2026011400u, true)]
    [InlineData(2026011501u, false)]
    [InlineData(2026011600u, false)]
    // Serial arithmetic (RFC 1982): 4,000,000,000 is less than 2^31 past the zone's serial, so it is later; 4,200,000,000
    // is more than 2^31 past it, so it is earlier.
    [InlineData(4000000000u, false)]
    [InlineData(4200000000u, true)]
    public async Task Dig_Ixfr_OlderSerialGetsWholeZone_CurrentGetsOneSoa(uint clientSerial, bool whole)
    {
        // RFC 1995 section 4: without differences to send, the whole zone as AXFR sends it, or one SOA when up to date.
        var snapshot = Snapshot(200);
        await using var server = await StartAsync(snapshot);

        var output = await Dig.RunRawAsync(server.LocalEndPoint.Port, TestZone.Apex, $"IXFR={clientSerial}", "+tcp", "+time=10");

        var records = output.Split('\n').Where(l => l.Length > 0 && !l.StartsWith(';')).Select(l => Whitespace().Split(l.Trim(), 5)).ToList();
        Assert.Equal("SOA", records[0][3]);
        Assert.Contains(" 2026011501 ", records[0][4]);
        Assert.Equal(whole ? Expected(snapshot).Count + 4 : 1, records.Count);
        if (whole) Assert.Equal("SOA", records[^1][3]);
    }

    [Fact]
    public async Task Axfr_SlowSecondaryLongerThanIdleTimeout_TransferCompletes()
    {
        // The idle timeout drops clients that send nothing; a secondary still reading a long transfer is not idle.
        var snapshot = Snapshot(25_000);
        var idle = TimeSpan.FromSeconds(1);
        await using var server = await StartAsync(snapshot, idle);
        using var client = await AskAxfrAsync(server);

        // SOA, NS, the name server's A, every name's A and TXT, SOA.
        int expected = Expected(snapshot).Count + 4;
        var started = DateTime.UtcNow;
        var received = new List<byte>();
        var chunk = new byte[64 * 1024];
        using var patience = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        while (true)
        {
            int read = await client.ReceiveAsync(chunk, SocketFlags.None, patience.Token);
            if (read == 0) break;
            received.AddRange(chunk.AsSpan(0, read));
            if (Answers(received) >= expected) break;
            // About 1.6 MB/s: once the socket buffers are full the transfer takes several idle timeouts.
            await Task.Delay(40);
        }
        int answers = Answers(received);
        Assert.Equal(expected, answers);
        Assert.True(DateTime.UtcNow - started > 2 * idle, $"the transfer took {DateTime.UtcNow - started}, too fast to test the timeout");
    }

    [Fact]
    public async Task Axfr_SecondaryStopsReading_DroppedAfterWriteTimeout()
    {
        var write = TimeSpan.FromSeconds(1);
        await using var server = await StartAsync(Snapshot(25_000), write: write);
        using var client = await AskAxfrAsync(server);
        var started = DateTime.UtcNow;
        // The secondary takes nothing: the server fills the socket buffers, waits, and gives up on this connection.
        while (server.TcpConnections > 0 && DateTime.UtcNow - started < TimeSpan.FromSeconds(30)) await Task.Delay(100);

        Assert.Equal(0, server.TcpConnections);
        Assert.True(DateTime.UtcNow - started >= write, "dropped before the write timeout");
        // What arrived ends part way: no closing SOA, so the secondary cannot take the zone as complete.
        var received = new List<byte>();
        var chunk = new byte[64 * 1024];
        int read;
        while ((read = await client.ReceiveAsync(chunk, SocketFlags.None)) > 0) received.AddRange(chunk.AsSpan(0, read));
        Assert.InRange(Answers(received), 1, Expected(Snapshot(25_000)).Count);
    }

    private static async Task<Socket> AskAxfrAsync(DnsServer server)
    {
        var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { ReceiveBufferSize = 256 * 1024 };
        await client.ConnectAsync(server.LocalEndPoint);
        var query = WireQuery.Build(TestZone.Apex, WireQuery.Axfr, id: 0x4242);
        await client.SendAsync((byte[])[(byte)(query.Length >> 8), (byte)query.Length, .. query], SocketFlags.None);
        return client;
    }

    /// <summary>The answer records in the whole messages of a TCP stream, each checked to answer our query without error.</summary>
    private static int Answers(List<byte> stream)
    {
        var bytes = System.Runtime.InteropServices.CollectionsMarshal.AsSpan(stream);
        int answers = 0;
        while (bytes.Length >= 2 && bytes.Length >= 2 + BinaryPrimitives.ReadUInt16BigEndian(bytes))
        {
            var message = bytes.Slice(2, BinaryPrimitives.ReadUInt16BigEndian(bytes));
            Assert.Equal(0x4242, BinaryPrimitives.ReadUInt16BigEndian(message));
            Assert.Equal(0, message[3] & 0x0F);
            answers += BinaryPrimitives.ReadUInt16BigEndian(message[6..]);
            bytes = bytes[(2 + message.Length)..];
        }
        return answers;
    }

    [GeneratedRegex(@"\s+")]
    private static partial Regex Whitespace();

    [GeneratedRegex(@";; XFR size: (\d+) records \(messages (\d+), bytes (\d+)\)")]
    private static partial Regex XfrSize();
}
