namespace CertDns.Core;

/// <summary>Lower-case hex and the RFC 4648 base32 alphabet used by query names.</summary>
public static class Hex
{
    public static string Lower(ReadOnlySpan<byte> bytes) => Convert.ToHexStringLower(bytes);

    /// <summary>Upper-case hex with colons, as Postfix and OpenSSL print digests.</summary>
    public static string Colons(ReadOnlySpan<byte> bytes) => string.Join(':', Convert.ToHexString(bytes).Chunk(2).Select(c => new string(c)));

    public static bool IsHex(ReadOnlySpan<char> s)
    {
        foreach (var c in s)
        {
            if (!char.IsAsciiHexDigit(c)) return false;
        }
        return true;
    }

    public static bool IsBase32(ReadOnlySpan<char> s)
    {
        foreach (var c in s)
        {
            if (!(char.IsAsciiLetter(c) || c is >= '2' and <= '7')) return false;
        }
        return true;
    }

    /// <summary>RFC 4648 base32 without padding, lower case (names are compared case-insensitively).</summary>
    public static string Base32(ReadOnlySpan<byte> bytes)
    {
        const string alphabet = "abcdefghijklmnopqrstuvwxyz234567";
        var sb = new System.Text.StringBuilder((bytes.Length * 8 + 4) / 5);
        int buffer = 0, bits = 0;
        foreach (var b in bytes)
        {
            buffer = (buffer << 8) | b;
            bits += 8;
            while (bits >= 5)
            {
                sb.Append(alphabet[(buffer >> (bits - 5)) & 31]);
                bits -= 5;
            }
        }
        if (bits > 0) sb.Append(alphabet[(buffer << (5 - bits)) & 31]);
        return sb.ToString();
    }
}
