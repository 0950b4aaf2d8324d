namespace CertDns.Dns.Dnssec;

/// <summary>The Type Bit Maps field of NSEC and NSEC3 RDATA (RFC 4034 section 4.1.2, RFC 5155 section 3.2.1).</summary>
public static class TypeBitmap
{
    /// <summary>The octets of the bitmap of <paramref name="types"/> (any order, duplicates allowed).</summary>
    public static byte[] Of(params ReadOnlySpan<ushort> types)
    {
        // One 32-octet block per window (the high octet of the type), written only for windows in use.
        var windows = new SortedDictionary<int, byte[]>();
        foreach (var type in types)
        {
            if (!windows.TryGetValue(type >> 8, out var bits)) windows[type >> 8] = bits = new byte[32];
            bits[(type & 0xFF) >> 3] |= (byte)(0x80 >> (type & 7));
        }
        var result = new List<byte>();
        foreach (var (window, bits) in windows)
        {
            // Trailing zero octets are left out: the length runs to the last octet with a bit set.
            int length = 32;
            while (bits[length - 1] == 0) length--;
            result.Add((byte)window);
            result.Add((byte)length);
            result.AddRange(bits.AsSpan(0, length));
        }
        return [.. result];
    }
}
