using System.Formats.Asn1;

namespace CertDns.Pki;

/// <summary>
/// The public keys CertDns will verify a signature with, checked on the DER SubjectPublicKeyInfo before any
/// arithmetic, so that no certificate or CRL check costs more than a few milliseconds (a 16384-bit RSA key with a
/// 16384-bit exponent takes seconds a signature). The same bounds apply to every CA, every certificate and every
/// CRL signer:
/// <list type="bullet">
/// <item>RSA (and RSASSA-PSS keys): modulus 2048 to 8192 bits (CA/B Forum Baseline Requirements 6.1.5 set the
/// floor; Go's crypto/tls caps certificate keys at 8192 bits since CVE-2023-29409); public exponent odd, at least 3
/// and below 2^256 (BR 6.1.6, NIST SP 800-89 5.3.3).</item>
/// <item>ECDSA: named curves P-256, P-384 and P-521 only (BR 6.1.5; RFC 5480 2.1.1 forbids specified curves).</item>
/// <item>Ed25519 and Ed448 (RFC 8410): fixed cost.</item>
/// <item>DSA: the (L, N) sizes of FIPS 186-4 4.2 with explicit parameters (PKITS 4.1.4 still signs with 1024/160).</item>
/// </list>
/// </summary>
public static class KeyBounds
{
    /// <summary>Smallest RSA modulus accepted, in bits.</summary>
    public const int MinRsaBits = 2048;

    /// <summary>Largest RSA modulus accepted, in bits.</summary>
    public const int MaxRsaBits = 8192;

    /// <summary>Largest RSA public exponent accepted, in bits (the exponent is below 2^256).</summary>
    public const int MaxRsaExponentBits = 256;

    private const string Rsa = "1.2.840.113549.1.1.1";
    private const string RsaPss = "1.2.840.113549.1.1.10";
    private const string EcPublicKey = "1.2.840.10045.2.1";
    private const string Dsa = "1.2.840.10040.4.1";
    private const string Ed25519 = "1.3.101.112";
    private const string Ed448 = "1.3.101.113";

    private static readonly Dictionary<string, (string Name, int PointOctets)> Curves = new()
    {
        ["1.2.840.10045.3.1.7"] = ("P-256", 32),
        ["1.3.132.0.34"] = ("P-384", 48),
        ["1.3.132.0.35"] = ("P-521", 66),
    };

    private static readonly HashSet<(int L, int N)> DsaSizes = [(1024, 160), (2048, 224), (2048, 256), (3072, 256)];

    /// <summary>Why the key in <paramref name="spki"/> is refused, or null when it is within bounds.</summary>
    public static string? Refusal(ReadOnlyMemory<byte> spki)
    {
        try
        {
            var outer = new AsnReader(spki, AsnEncodingRules.DER);
            var info = outer.ReadSequence();
            if (outer.HasData) return "trailing bytes after the SubjectPublicKeyInfo";
            var algorithm = info.ReadSequence();
            var oid = algorithm.ReadObjectIdentifier();
            var key = info.ReadBitString(out int unused);
            if (info.HasData || unused != 0) return "malformed SubjectPublicKeyInfo";
            return oid switch
            {
                Rsa or RsaPss => RsaRefusal(key),
                EcPublicKey => EcRefusal(algorithm, key),
                Ed25519 => key.Length == 32 ? null : "an Ed25519 key is 32 octets",
                Ed448 => key.Length == 57 ? null : "an Ed448 key is 57 octets",
                Dsa => DsaRefusal(algorithm),
                _ => $"unsupported public key algorithm {oid}",
            };
        }
        catch (AsnContentException e)
        {
            return $"malformed SubjectPublicKeyInfo: {e.Message}";
        }
    }

    private static string? RsaRefusal(byte[] key)
    {
        var reader = new AsnReader(key, AsnEncodingRules.DER);
        var sequence = reader.ReadSequence();
        var modulus = sequence.ReadIntegerBytes().Span;
        var exponent = sequence.ReadIntegerBytes().Span;
        if (sequence.HasData || reader.HasData) return "malformed RSA public key";
        if (modulus[0] >= 0x80 || exponent[0] >= 0x80) return "negative RSA modulus or exponent";
        int bits = Bits(modulus);
        if (bits < MinRsaBits || bits > MaxRsaBits)
            return $"RSA modulus of {bits} bits, outside {MinRsaBits}..{MaxRsaBits} (CA/B Forum BR 6.1.5)";
        int exponentBits = Bits(exponent);
        if (exponentBits > MaxRsaExponentBits)
            return $"RSA public exponent of {exponentBits} bits, above 2^{MaxRsaExponentBits}-1 (CA/B Forum BR 6.1.6)";
        if ((exponent[^1] & 1) == 0 || exponentBits < 2)
            return "RSA public exponent must be odd and at least 3 (CA/B Forum BR 6.1.6)";
        return null;
    }

    private static string? EcRefusal(AsnReader algorithm, ReadOnlySpan<byte> point)
    {
        if (!algorithm.HasData || algorithm.PeekTag() != Asn1Tag.ObjectIdentifier)
            return "EC key without a named curve (RFC 5480 2.1.1: specified curves are not allowed)";
        var curve = algorithm.ReadObjectIdentifier();
        if (algorithm.HasData) return "malformed EC parameters";
        if (!Curves.TryGetValue(curve, out var known)) return $"EC curve {curve} is not P-256, P-384 or P-521";
        // An uncompressed (04) or compressed (02, 03) point of that curve (SEC 1 2.3.3).
        bool fits = point.Length == 1 + 2 * known.PointOctets && point[0] == 4
                    || point.Length == 1 + known.PointOctets && point[0] is 2 or 3;
        return fits ? null : $"malformed {known.Name} point";
    }

    private static string? DsaRefusal(AsnReader algorithm)
    {
        if (!algorithm.HasData) return "DSA key without parameters (inherited parameters are not supported)";
        var parameters = algorithm.ReadSequence();
        int l = Bits(parameters.ReadIntegerBytes().Span);
        int n = Bits(parameters.ReadIntegerBytes().Span);
        parameters.ReadIntegerBytes();
        if (parameters.HasData || algorithm.HasData) return "malformed DSA parameters";
        return DsaSizes.Contains((l, n)) ? null : $"DSA sizes ({l}, {n}) are not among those of FIPS 186-4 4.2";
    }

    /// <summary>Bit length of a non-negative big-endian INTEGER's content octets.</summary>
    private static int Bits(ReadOnlySpan<byte> value)
    {
        int i = 0;
        while (i < value.Length - 1 && value[i] == 0) i++;
        value = value[i..];
        if (value.Length == 1 && value[0] == 0) return 0;
        return (value.Length - 1) * 8 + (8 - System.Numerics.BitOperations.LeadingZeroCount((uint)value[0]) + 24);
    }
}
