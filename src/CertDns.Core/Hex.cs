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

    /// <summary>Decodes unpadded base32; false when a character is outside the alphabet or the spare bits are not zero.</summary>
    public static bool TryDecodeBase32(ReadOnlySpan<char> s, out byte[] bytes)
    {
        bytes = new byte[s.Length * 5 / 8];
        int buffer = 0, bits = 0, i = 0;
        foreach (var ch in s)
        {
            int v = ch switch
            {
                >= 'a' and <= 'z' => ch - 'a',
                >= 'A' and <= 'Z' => ch - 'A',
                >= '2' and <= '7' => ch - '2' + 26,
                _ => -1,
            };
            if (v < 0) return false;
            buffer = (buffer << 5) | v;
            bits += 5;
            if (bits >= 8)
            {
                bytes[i++] = (byte)(buffer >> (bits - 8));
                bits -= 8;
            }
            buffer &= (1 << bits) - 1;
        }
        // Non-canonical encodings (spare bits set) would give two names for one digest.
        return buffer == 0;
    }
}
