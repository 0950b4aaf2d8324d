using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using CertDns.Core;

namespace CertDns.Dns.Tests;

/// <summary>
/// A million random, mutated and deliberately malformed datagrams through the real UDP server: it must never
/// throw, never stall, answer every packet whose header can be read (FORMERR for the malformed ones), and still
/// answer a valid query correctly afterwards.
/// </summary>
public sealed class FuzzTests
{
    /// <summary>What the fuzzer promises about a packet.</summary>
    private enum Shape : byte
    {
        /// <summary>No header to answer (under 12 octets or QR set): must get silence.</summary>
        Unanswerable = 1,
        /// <summary>Anything with a readable query header: must get one response with its ID.</summary>
        Answerable,
        /// <summary>A query header with opcode 0 and a fault the parser must see: FORMERR.</summary>
        Malformed,
        /// <summary>A well-formed query, possibly with EDNS options of any size: never FORMERR.</summary>
        WellFormed,
    }

    /// <summary>IPv4 caps a UDP payload at 65,507 octets; the 65,535-octet message is tried over the responder and TCP.</summary>
    private const int MaxUdpPayload = 65_507;

    private static readonly byte[][] Seeds =
    [
        WireQuery.Build(TestZone.Name(TestZone.Split(TestZone.Valid.Sha256)), WireQuery.A),
        WireQuery.Build(TestZone.Name(TestZone.Split(TestZone.Revoked.Sha256), "bl"), WireQuery.Txt, ednsSize: 1232),
        WireQuery.Build(TestZone.Name(QueryNames.PerByte(TestZone.Valid.Sha1)), WireQuery.Any, ednsSize: 4096),
        WireQuery.Build(TestZone.Name(Hex.Base32(TestZone.Valid.Sha256)), WireQuery.A),
        WireQuery.Build(TestZone.Apex, WireQuery.Soa, ednsSize: 512),
        WireQuery.Build("test." + TestZone.Apex, WireQuery.A),
    ];

    /// <param name="batching">recvmmsg/sendmmsg (Linux) or one recvfrom/sendto per datagram.</param>
    /// <param name="wildcard">Bound to 0.0.0.0 and asked on 127.0.0.2: every answer carries its source (IP_PKTINFO).</param>
    [Theory]
    [InlineData(true, false)]
    [InlineData(false, false)]
    [InlineData(true, true)]
    public async Task Udp_MillionFuzzedPackets_NoCrashNoStallFormErrWhereHeaderReadable(bool batching, bool wildcard)
    {
        var errors = new ConcurrentQueue<Exception>();
        await using var server = await DnsServer.StartAsync(new IPEndPoint(wildcard ? IPAddress.Any : IPAddress.Loopback, 0),
            TestZone.Responder(new SnapshotHolder(TestZone.Snapshot())), new DnsServerOptions { OnError = errors.Enqueue, UdpBatching = batching });
        using var client = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        // Connected: only answers from exactly this address reach the client.
        client.Connect(new IPEndPoint(wildcard ? IPAddress.Parse("127.0.0.2") : IPAddress.Loopback, server.LocalEndPoint.Port));
        // A stall is a response that does not come: the loop fails the test instead of hanging.
        client.ReceiveTimeout = 10_000;

        var random = new Random(20261128);
        var packet = new byte[65_535];
        var response = new byte[65_535];
        var pending = new Shape[65_536];
        const int total = 1_000_000, window = 32;
        var failures = new List<string>();
        int formErrs = 0, answered = 0, silent = 0, wellFormed = 0;

        for (int sent = 0; sent < total && failures.Count < 10;)
        {
            int outstanding = 0;
            for (int k = 0; k < window && sent < total; k++, sent++)
            {
                var (size, shape) = Next(random, packet, sent);
                ushort id = (ushort)sent;
                if (size >= 2) BinaryPrimitives.WriteUInt16BigEndian(packet, id);
                client.Send(packet.AsSpan(0, size));
                if (shape == Shape.Unanswerable)
                {
                    silent++;
                    continue;
                }
                pending[id] = shape;
                outstanding++;
            }
            for (; outstanding > 0; outstanding--)
            {
                int n;
                try
                {
                    n = client.Receive(response);
                }
                catch (SocketException e) when (e.SocketErrorCode == SocketError.TimedOut)
                {
                    failures.Add($"stalled: {outstanding} responses missing after packet {sent}");
                    break;
                }
                var r = response.AsSpan(0, n);
                ushort id = WireQuery.Id(r);
                var shape = pending[id];
                pending[id] = 0;
                answered++;
                if (n < 12 || (r[2] & 0x80) == 0 || shape == 0) failures.Add($"packet {id}: unexpected response of {n} octets");
                else if (shape == Shape.Malformed && WireQuery.Rcode(r) != 1) failures.Add($"packet {id}: malformed but rcode {WireQuery.Rcode(r)}");
                else if (shape == Shape.WellFormed && WireQuery.Rcode(r) == 1) failures.Add($"packet {id}: well-formed but FORMERR");
                if (shape == Shape.Malformed) formErrs++;
                if (shape == Shape.WellFormed) wellFormed++;
            }
        }

        Assert.Empty(failures);
        Assert.Empty(errors);
        Assert.Equal(total, answered + silent);
        Assert.True(formErrs > 100_000 && wellFormed > 50_000 && silent > 10_000, $"{formErrs} FORMERR, {wellFormed} well-formed, {silent} silent");

        client.Send(Seeds[0]);
        int length = client.Receive(response);
        Assert.Equal(0, WireQuery.Rcode(response.AsSpan(0, length)));
        Assert.Equal([127, 0, 1, 2], response[(length - 4)..length]);
    }

    [Fact]
    public async Task Respond_MaximumSizeMessages_FormErrOverResponderAndTcp()
    {
        // 65,535 octets: a header and a question followed by an OPT whose length runs past the message end.
        var message = new byte[DnsResponder.MaxMessageSize];
        var seed = Seeds[0];
        seed.CopyTo(message, 0);
        message[11] = 1;
        message[seed.Length + 2] = (byte)WireQuery.Opt;
        BinaryPrimitives.WriteUInt16BigEndian(message.AsSpan(seed.Length + 9), 0xFFFF);
        var responder = TestZone.Responder(new SnapshotHolder(TestZone.Snapshot()));
        var response = new byte[DnsResponder.MaxMessageSize];

        int length = responder.Respond(message, response, DnsResponder.MaxMessageSize, tcp: true);
        Assert.Equal(1, WireQuery.Rcode(response.AsSpan(0, length)));

        await using var server = await DnsServer.StartAsync(new IPEndPoint(IPAddress.Loopback, 0), responder);
        using var tcp = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await tcp.ConnectAsync(server.LocalEndPoint);
        await tcp.SendAsync((byte[])[0xFF, 0xFF, .. message], SocketFlags.None);
        var frame = new byte[2 + DnsResponder.MaxMessageSize];
        int read = 0;
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        while (read < 2 || read < 2 + BinaryPrimitives.ReadUInt16BigEndian(frame))
        {
            int n = await tcp.ReceiveAsync(frame.AsMemory(read), SocketFlags.None, timeout.Token);
            Assert.NotEqual(0, n);
            read += n;
        }
        Assert.Equal(1, WireQuery.Rcode(frame.AsSpan(2)));
    }

    /// <summary>Writes the next fuzz packet into <paramref name="p"/>; returns its length and what the server owes it.</summary>
    private static (int Length, Shape Shape) Next(Random random, byte[] p, int n)
    {
        var seed = Seeds[n % Seeds.Length];
        switch (n % 10)
        {
            case 0:
            {
                // Pure noise; now and then nothing at all or the largest datagram IPv4 carries.
                int length = (n / 10 % 100) switch { 0 => 0, 1 => MaxUdpPayload, 2 => random.Next(12), _ => random.Next(1500) };
                random.NextBytes(p.AsSpan(0, length));
                return (length, length < 12 || (p[2] & 0x80) != 0 ? Shape.Unanswerable : Shape.Answerable);
            }
            case 1:
            case 2:
            {
                // A real query with bytes flipped, cut short or lengthened: anything goes, but a header gets an answer.
                int length = seed.Length;
                seed.CopyTo(p, 0);
                for (int flips = random.Next(1, 6); flips > 0; flips--) p[random.Next(length)] ^= (byte)random.Next(1, 256);
                if (random.Next(3) == 0) length = random.Next(length + 1);
                else if (random.Next(3) == 0)
                {
                    int extra = random.Next(1, 300);
                    random.NextBytes(p.AsSpan(length, extra));
                    length += extra;
                }
                return (length, length < 12 || (p[2] & 0x80) != 0 ? Shape.Unanswerable : Shape.Answerable);
            }
            case 3:
            {
                // Question cut inside the name or the type and class.
                Seeds[0].CopyTo(p, 0);
                int questionEnd = 12 + WireQuery.EncodeName(TestZone.Name(TestZone.Split(TestZone.Valid.Sha256))).Length + 4;
                return (random.Next(13, questionEnd), Shape.Malformed);
            }
            case 4:
            {
                // Compression pointer in the question: to itself (a loop), forwards, or backwards into the header.
                Header(p, qd: 1);
                int at = 12;
                for (int labels = random.Next(3); labels > 0; labels--) at = Label(p, at, random.Next(1, 64), random);
                ushort target = (ushort)(random.Next(3) switch { 0 => at, 1 => at + 2, _ => random.Next(12) });
                BinaryPrimitives.WriteUInt16BigEndian(p.AsSpan(at), (ushort)(0xC000 | target));
                return (at + 2 + 4, Shape.Malformed);
            }
            case 5:
            {
                // A label length from 64 to 191: over RFC 1035's 63, or the extended and reserved label types.
                Header(p, qd: 1);
                int at = Label(p, 12, random.Next(1, 64), random);
                int length = random.Next(64, 192);
                p[at] = (byte)length;
                random.NextBytes(p.AsSpan(at + 1, length));
                return (at + 1 + length + 5, Shape.Malformed);
            }
            case 6:
            {
                // A name over 255 octets, made of legal labels.
                Header(p, qd: 1);
                int at = 12;
                while (at - 12 < 256) at = Label(p, at, random.Next(20, 64), random);
                p[at] = 0;
                return (at + 5, Shape.Malformed);
            }
            case 7:
            {
                // Counts that lie: no question, several, or records announced that are not there.
                seed.CopyTo(p, 0);
                int field = random.Next(4);
                ushort value = field == 0 ? (ushort)(random.Next(2) == 0 ? 0 : random.Next(2, 65536)) : (ushort)random.Next(1, 65536);
                if (field == 3) value = (ushort)Math.Max(value, p[11] + 1);
                BinaryPrimitives.WriteUInt16BigEndian(p.AsSpan(4 + 2 * field), value);
                return (seed.Length, Shape.Malformed);
            }
            default:
            {
                // EDNS options of every size: well-formed (answered normally) or with lengths that do not add up (FORMERR).
                var plain = Seeds[0];
                plain.CopyTo(p, 0);
                p[11] = 1;
                int at = plain.Length;
                int size = n / 10 % 1200;
                p[at] = 0;
                BinaryPrimitives.WriteUInt16BigEndian(p.AsSpan(at + 1), WireQuery.Opt);
                BinaryPrimitives.WriteUInt16BigEndian(p.AsSpan(at + 3), 1232);
                BinaryPrimitives.WriteUInt32BigEndian(p.AsSpan(at + 5), 0);
                BinaryPrimitives.WriteUInt16BigEndian(p.AsSpan(at + 9), (ushort)(size + 4));
                BinaryPrimitives.WriteUInt16BigEndian(p.AsSpan(at + 11), (ushort)random.Next(65536));
                BinaryPrimitives.WriteUInt16BigEndian(p.AsSpan(at + 13), (ushort)size);
                random.NextBytes(p.AsSpan(at + 15, size));
                int length = at + 15 + size;
                return random.Next(2) == 0 ? (length, Shape.WellFormed) : (length + (random.Next(2) == 0 ? -1 : 1), Shape.Malformed);
            }
        }
    }

    /// <summary>A query header: random ID and RD, opcode 0, the given question count, nothing else.</summary>
    private static void Header(byte[] p, ushort qd)
    {
        Array.Clear(p, 0, 12);
        p[2] = 1;
        BinaryPrimitives.WriteUInt16BigEndian(p.AsSpan(4), qd);
    }

    private static int Label(byte[] p, int at, int length, Random random)
    {
        p[at] = (byte)length;
        for (int i = 1; i <= length; i++) p[at + i] = (byte)('a' + random.Next(26));
        return at + 1 + length;
    }
}
