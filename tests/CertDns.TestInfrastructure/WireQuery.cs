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
}
