using System.Buffers.Binary;
using System.Net;
using System.Text;
using CertDns.Core;

namespace CertDns.Dns;

/// <summary>
/// AXFR (RFC 5936) of the zone generated from the snapshot, so NSD, Knot or BIND secondaries can carry it:
/// SOA, NS, the name server's address, every published name with its A and TXT, and the SOA again. Messages are
/// at most about 16 KB; only the first carries the question.
/// </summary>
public static class ZoneTransfer
{
    private const int MessageTarget = 16 * 1024;

    /// <summary>Whether a query asks for a zone transfer (QTYPE AXFR), read from its question without a full parse.</summary>
    public static bool IsAxfr(ReadOnlySpan<byte> query)
    {
        if (query.Length < 12 + 5 || BinaryPrimitives.ReadUInt16BigEndian(query[4..]) != 1) return false;
        int at = 12;
        while (at < query.Length && query[at] != 0)
        {
            if ((query[at] & 0xC0) != 0) return false;
            at += query[at] + 1;
        }
        return at + 5 <= query.Length && BinaryPrimitives.ReadUInt16BigEndian(query[(at + 1)..]) == RecordType.Axfr;
    }

    /// <summary>The response messages for an AXFR of <paramref name="options"/>' apex, or null when the question is another name.</summary>
    public static IReadOnlyList<byte[]>? Build(ReadOnlySpan<byte> query, StatusSnapshot snapshot, ZoneOptions options, DateTimeOffset now)
    {
        int end = 12;
        var labels = new List<string>();
        while (query[end] != 0)
        {
            labels.Add(Encoding.ASCII.GetString(query.Slice(end + 1, query[end])));
            end += query[end] + 1;
        }
        var question = query[12..(end + 5)].ToArray();
        if (!string.Equals(string.Join('.', labels), options.Apex.TrimEnd('.'), StringComparison.OrdinalIgnoreCase)) return null;
        ushort id = BinaryPrimitives.ReadUInt16BigEndian(query);

        var messages = new List<byte[]>();
        var body = new List<byte>(MessageTarget + 1024);
        int count = 0;
        void Flush()
        {
            var message = new byte[12 + (messages.Count == 0 ? question.Length : 0) + body.Count];
            BinaryPrimitives.WriteUInt16BigEndian(message, id);
            message[2] = 0x84; // QR, opcode QUERY, AA
            BinaryPrimitives.WriteUInt16BigEndian(message.AsSpan(4), (ushort)(messages.Count == 0 ? 1 : 0));
            BinaryPrimitives.WriteUInt16BigEndian(message.AsSpan(6), (ushort)count);
            int at = 12;
            if (messages.Count == 0)
            {
                question.CopyTo(message, at);
                at += question.Length;
            }
            body.CopyTo(message, at);
            messages.Add(message);
            body.Clear();
            count = 0;
        }
        void Add(string owner, ushort type, int ttl, byte[] rdata)
        {
            WriteName(body, owner);
            Span<byte> fixedPart = stackalloc byte[10];
            BinaryPrimitives.WriteUInt16BigEndian(fixedPart, type);
            BinaryPrimitives.WriteUInt16BigEndian(fixedPart[2..], 1);
            BinaryPrimitives.WriteInt32BigEndian(fixedPart[4..], ttl);
            BinaryPrimitives.WriteUInt16BigEndian(fixedPart[8..], (ushort)rdata.Length);
            body.AddRange(fixedPart.ToArray());
            body.AddRange(rdata);
            if (++count >= 60000 || body.Count >= MessageTarget) Flush();
        }

        var apex = options.Apex.TrimEnd('.');
        var soa = Soa(options, snapshot.Serial);
        Add(apex, RecordType.Soa, options.ApexTtl, soa);
        Add(apex, RecordType.Ns, options.ApexTtl, Name(options.NsName));
        if (options.NsAddress is { } address && options.NsName.TrimEnd('.').EndsWith("." + apex, StringComparison.OrdinalIgnoreCase))
            Add(options.NsName.TrimEnd('.'), address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 ? RecordType.Aaaa : RecordType.A, options.ApexTtl, address.GetAddressBytes());
        foreach (var entry in ZoneExporter.Entries(snapshot, options, now))
        {
            var owner = entry.Owner + "." + apex;
            Add(owner, RecordType.A, entry.Ttl, StatusCodes.Address(entry.Status).ToArray());
            var text = Encoding.UTF8.GetBytes(entry.Text);
            Add(owner, RecordType.Txt, entry.Ttl, [(byte)text.Length, .. text]);
        }
        Add(apex, RecordType.Soa, options.ApexTtl, soa);
        if (count > 0) Flush();
        return messages;
    }

    /// <summary>
    /// A NOTIFY (RFC 1996) for the zone to a secondary, over UDP, retried until acknowledged: the secondary then
    /// checks our SOA and transfers the zone when the serial moved.
    /// </summary>
    public static async Task<bool> NotifyAsync(IPEndPoint secondary, ZoneOptions options, uint serial, CancellationToken cancel = default)
    {
        var message = new List<byte>();
        var id = (ushort)Random.Shared.Next(ushort.MaxValue);
        message.AddRange([(byte)(id >> 8), (byte)id, 0x24, 0x00, 0, 1, 0, 1, 0, 0, 0, 0]); // opcode NOTIFY, AA; QD 1, AN 1
        WriteName(message, options.Apex.TrimEnd('.'));
        message.AddRange([0, 6, 0, 1]);
        // The answer section may carry the new SOA (RFC 1996 section 3.7): a hint, the secondary still asks.
        WriteName(message, options.Apex.TrimEnd('.'));
        var soa = Soa(options, serial);
        message.AddRange([0, 6, 0, 1, (byte)(options.ApexTtl >> 24), (byte)(options.ApexTtl >> 16), (byte)(options.ApexTtl >> 8), (byte)options.ApexTtl, (byte)(soa.Length >> 8), (byte)soa.Length]);
        message.AddRange(soa);
        using var udp = new System.Net.Sockets.UdpClient(secondary.AddressFamily);
        var payload = message.ToArray();
        for (int attempt = 0; attempt < 3; attempt++)
        {
            await udp.SendAsync(payload, secondary, cancel).ConfigureAwait(false);
            using var wait = CancellationTokenSource.CreateLinkedTokenSource(cancel);
            wait.CancelAfter(TimeSpan.FromSeconds(2));
            try
            {
                var reply = await udp.ReceiveAsync(wait.Token).ConfigureAwait(false);
                if (reply.Buffer.Length >= 12 && BinaryPrimitives.ReadUInt16BigEndian(reply.Buffer) == id) return true;
            }
            catch (OperationCanceledException) when (!cancel.IsCancellationRequested)
            {
            }
            catch (System.Net.Sockets.SocketException)
            {
                // ICMP port unreachable: the secondary is not up (yet); try again.
            }
        }
        return false;
    }

    private static byte[] Soa(ZoneOptions options, uint serial)
    {
        var rdata = new List<byte>();
        WriteName(rdata, options.NsName.TrimEnd('.'));
        WriteName(rdata, options.Hostmaster.TrimEnd('.'));
        Span<byte> numbers = stackalloc byte[20];
        BinaryPrimitives.WriteUInt32BigEndian(numbers, serial);
        BinaryPrimitives.WriteInt32BigEndian(numbers[4..], options.Refresh);
        BinaryPrimitives.WriteInt32BigEndian(numbers[8..], options.Retry);
        BinaryPrimitives.WriteInt32BigEndian(numbers[12..], options.Expire);
        BinaryPrimitives.WriteInt32BigEndian(numbers[16..], options.Minimum);
        rdata.AddRange(numbers.ToArray());
        return [.. rdata];
    }

    private static byte[] Name(string name)
    {
        var bytes = new List<byte>();
        WriteName(bytes, name.TrimEnd('.'));
        return [.. bytes];
    }

    private static void WriteName(List<byte> output, string name)
    {
        foreach (var label in name.Split('.', StringSplitOptions.RemoveEmptyEntries))
        {
            output.Add((byte)label.Length);
            output.AddRange(Encoding.ASCII.GetBytes(label));
        }
        output.Add(0);
    }
}
