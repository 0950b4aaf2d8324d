using System.Buffers.Binary;
using System.Text;

namespace CertDns.TestInfrastructure;

/// <summary>Builds raw DNS queries, including malformed ones, and reads the parts of a response tests check.</summary>
public static class WireQuery
{
    public const ushort A = 1, Ns = 2, Soa = 6, Txt = 16, Aaaa = 28, Opt = 41, Ixfr = 251, Axfr = 252, Any = 255;

    public static byte[] Build(string name, ushort type, ushort id = 0x1234, ushort @class = 1, bool rd = true, int opcode = 0,
        ushort? ednsSize = null, byte ednsVersion = 0, bool dnssecOk = false)
    {
        var bytes = new List<byte>();
        bytes.AddRange([(byte)(id >> 8), (byte)id, (byte)((opcode << 3) | (rd ? 1 : 0)), 0, 0, 1, 0, 0, 0, 0, 0, (byte)(ednsSize is null ? 0 : 1)]);
        bytes.AddRange(EncodeName(name));
        bytes.AddRange([(byte)(type >> 8), (byte)type, (byte)(@class >> 8), (byte)@class]);
        if (ednsSize is { } size)
        {
            bytes.AddRange([0, 0, (byte)Opt, (byte)(size >> 8), (byte)size, 0, ednsVersion, (byte)(dnssecOk ? 0x80 : 0), 0, 0, 0]);
        }
        return bytes.ToArray();
    }

    public static byte[] EncodeName(string name)
    {
        var bytes = new List<byte>();
        foreach (var label in name.TrimEnd('.').Split('.', StringSplitOptions.RemoveEmptyEntries))
        {
            var octets = Encoding.ASCII.GetBytes(label);
            bytes.Add((byte)octets.Length);
            bytes.AddRange(octets);
        }
        bytes.Add(0);
        return bytes.ToArray();
    }

    public static ushort Id(ReadOnlySpan<byte> message) => BinaryPrimitives.ReadUInt16BigEndian(message);

    public static int Rcode(ReadOnlySpan<byte> message) => message[3] & 0x0F;

    public static bool Truncated(ReadOnlySpan<byte> message) => (message[2] & 0x02) != 0;

    public static bool Authoritative(ReadOnlySpan<byte> message) => (message[2] & 0x04) != 0;

    public static int Count(ReadOnlySpan<byte> message, int section) => BinaryPrimitives.ReadUInt16BigEndian(message[(4 + 2 * section)..]);

    // DNS cookies (RFC 7873): queries carrying a COOKIE option, and the option read back from a response.

    /// <summary>A query like <see cref="Build"/>'s with an OPT (1232) carrying a COOKIE option of <paramref name="cookie"/>.</summary>
    public static byte[] WithCookie(string name, ushort type, byte[] cookie, ushort id = 0x1234) =>
        AddCookie(Build(name, type, id, ednsSize: 1232), cookie);

    /// <summary>RFC 7873 section 5.4: no question, an OPT with only a COOKIE option.</summary>
    public static byte[] CookieOnly(byte[] cookie, ushort id = 0x1234) =>
        AddCookie([(byte)(id >> 8), (byte)id, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, (byte)Opt, 0x04, 0xD0, 0, 0, 0, 0, 0, 0], cookie);

    /// <summary>Appends a COOKIE option to the query's OPT, which must be its last record.</summary>
    private static byte[] AddCookie(byte[] query, byte[] cookie)
    {
        var bytes = query.ToList();
        int rdLengthAt = bytes.Count - 2;
        int rdLength = (bytes[rdLengthAt] << 8 | bytes[rdLengthAt + 1]) + 4 + cookie.Length;
        bytes[rdLengthAt] = (byte)(rdLength >> 8);
        bytes[rdLengthAt + 1] = (byte)rdLength;
        bytes.AddRange([0, 10, (byte)(cookie.Length >> 8), (byte)cookie.Length, .. cookie]);
        return [.. bytes];
    }

    /// <summary>The response's OPT: its extended rcode and the COOKIE option's data (null without one); null when there is no OPT.</summary>
    public static (int ExtendedRcode, byte[]? Cookie)? ReadOpt(ReadOnlySpan<byte> message)
    {
        int pos = 12;
        int questions = Count(message, 0), records = Count(message, 1) + Count(message, 2) + Count(message, 3);
        for (int i = 0; i < questions; i++) pos = SkipName(message, pos) + 4;
        for (int i = 0; i < records; i++)
        {
            pos = SkipName(message, pos);
            ushort type = BinaryPrimitives.ReadUInt16BigEndian(message[pos..]);
            int rdLength = BinaryPrimitives.ReadUInt16BigEndian(message[(pos + 8)..]);
            if (type == Opt)
            {
                int extended = message[pos + 4];
                var rdata = message.Slice(pos + 10, rdLength);
                for (int at = 0; at + 4 <= rdata.Length;)
                {
                    int code = BinaryPrimitives.ReadUInt16BigEndian(rdata[at..]), length = BinaryPrimitives.ReadUInt16BigEndian(rdata[(at + 2)..]);
                    if (code == 10) return (extended, rdata.Slice(at + 4, length).ToArray());
                    at += 4 + length;
                }
                return (extended, null);
            }
            pos += 10 + rdLength;
        }
        return null;
    }

    private static int SkipName(ReadOnlySpan<byte> message, int pos)
    {
        while (message[pos] != 0)
        {
            if ((message[pos] & 0xC0) == 0xC0) return pos + 2;
            pos += 1 + message[pos];
        }
        return pos + 1;
    }
}
