namespace CertDns.Dns.Dnssec;

/// <summary>
/// "Base 32 Encoding with Extended Hex Alphabet" (RFC 4648 section 7) in lower case and without padding, the form of
/// NSEC3 owner labels (RFC 5155 section 3.3). Sort order of the text is the order of the octets it encodes.
/// </summary>
public static class Base32Hex
{
    private const string Alphabet = "0123456789abcdefghijklmnopqrstuv";

    /// <summary>The characters <paramref name="octets"/> encode to.</summary>
    public static int EncodedLength(int octets) => (octets * 8 + 4) / 5;

    /// <summary>Encodes <paramref name="octets"/> into <paramref name="target"/>; returns the characters written.</summary>
    public static int Encode(ReadOnlySpan<byte> octets, Span<char> target)
    {
        int bits = 0, buffer = 0, at = 0;
        foreach (var b in octets)
        {
            buffer = (buffer << 8) | b;
            bits += 8;
            while (bits >= 5)
            {
                bits -= 5;
                target[at++] = Alphabet[(buffer >> bits) & 31];
            }
        }
        if (bits > 0) target[at++] = Alphabet[(buffer << (5 - bits)) & 31];
        return at;
    }

    /// <summary>Encodes <paramref name="octets"/> as a string.</summary>
    public static string Encode(ReadOnlySpan<byte> octets)
    {
        Span<char> text = stackalloc char[EncodedLength(octets.Length)];
        return new string(text[..Encode(octets, text)]);
    }
}
