using System.Security.Cryptography;
using System.Text;

namespace CertDns.Dns;

/// <summary>The HMAC algorithms TSIG keys may use (RFC 8945 section 6); SHA-1 only for secondaries that know no better.</summary>
public enum TsigAlgorithm
{
    /// <summary><c>hmac-sha1</c> (RFC 8945 section 6: optional, for old peers).</summary>
    HmacSha1,

    /// <summary><c>hmac-sha256</c>: mandatory to implement, the one to pick.</summary>
    HmacSha256,

    /// <summary><c>hmac-sha384</c>.</summary>
    HmacSha384,

    /// <summary><c>hmac-sha512</c>.</summary>
    HmacSha512,
}

/// <summary>
/// A TSIG key (RFC 8945): its name, algorithm and secret. The secret never appears in <see cref="ToString"/>, logs, the
/// status page or metrics; only the name does.
/// </summary>
public sealed class TsigKey
{
    /// <summary>Creates a key, checking the name and that the secret is at least as long as the algorithm's output.</summary>
    /// <param name="name">The key's name as both sides configure it (a DNS name; case and a final dot do not matter).</param>
    /// <param name="algorithm">The HMAC.</param>
    /// <param name="secret">The shared secret, decoded from base64.</param>
    /// <exception cref="ArgumentException">The name is not a DNS name, or the secret is shorter than <see cref="MinimumSecretLength"/>.</exception>
    public TsigKey(string name, TsigAlgorithm algorithm, byte[] secret)
    {
        ArgumentNullException.ThrowIfNull(name);
        ArgumentNullException.ThrowIfNull(secret);
        Name = name.Trim().TrimEnd('.').ToLowerInvariant();
        if (Name.Length == 0 || Name.Length > 253 || Name.Split('.').Any(l => l.Length is 0 or > 63) || Name.Any(c => c <= ' ' || c >= 0x7F))
            throw new ArgumentException($"\"{name}\" is not a valid key name", nameof(name));
        Algorithm = algorithm;
        if (secret.Length < MinimumSecretLength(algorithm))
            throw new ArgumentException(
                $"the secret has {secret.Length} octets; {AlgorithmName(algorithm)} needs at least {MinimumSecretLength(algorithm)} (RFC 2104 section 3: a key shorter than the hash output weakens the MAC; tsig-keygen and keymgr make keys that long)",
                nameof(secret));
        Secret = secret;
        NameWire = Tsig.EncodeName(Name);
        AlgorithmWire = Tsig.EncodeName(AlgorithmName(algorithm));
    }

    /// <summary>The key's name, lower case, without the final dot.</summary>
    public string Name { get; }

    /// <summary>The HMAC.</summary>
    public TsigAlgorithm Algorithm { get; }

    internal byte[] Secret { get; }

    /// <summary>
    /// Name, algorithm and a digest of the secret (never the secret): two keys with the same text are the same key, so a
    /// configuration reload sees a changed secret. Still kept out of logs (the key is declared secret there).
    /// </summary>
    public string Identity => $"{Name} {AlgorithmName(Algorithm)} {Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(Secret), 0, 8)}";

    /// <summary>The name in canonical wire form (lower case, uncompressed), as the MAC covers it.</summary>
    internal byte[] NameWire { get; }

    /// <summary>The algorithm's name in wire form.</summary>
    internal byte[] AlgorithmWire { get; }

    /// <summary>The full MAC length: the hash output.</summary>
    public int MacLength => Algorithm switch
    {
        TsigAlgorithm.HmacSha1 => 20,
        TsigAlgorithm.HmacSha256 => 32,
        TsigAlgorithm.HmacSha384 => 48,
        _ => 64,
    };

    /// <summary>The shortest secret taken for <paramref name="algorithm"/>: its output length (RFC 2104 section 3).</summary>
    public static int MinimumSecretLength(TsigAlgorithm algorithm) => algorithm switch
    {
        TsigAlgorithm.HmacSha1 => 20,
        TsigAlgorithm.HmacSha256 => 32,
        TsigAlgorithm.HmacSha384 => 48,
        _ => 64,
    };

    /// <summary>The algorithm's name as TSIG carries it and NSD, Knot and BIND configure it (<c>hmac-sha256</c>).</summary>
    public static string AlgorithmName(TsigAlgorithm algorithm) => algorithm switch
    {
        TsigAlgorithm.HmacSha1 => "hmac-sha1",
        TsigAlgorithm.HmacSha256 => "hmac-sha256",
        TsigAlgorithm.HmacSha384 => "hmac-sha384",
        _ => "hmac-sha512",
    };

    /// <summary>Reads an algorithm's name (<c>hmac-sha256</c>, any case); false for any other.</summary>
    public static bool TryParseAlgorithm(string text, out TsigAlgorithm algorithm)
    {
        ArgumentNullException.ThrowIfNull(text);
        foreach (var a in Enum.GetValues<TsigAlgorithm>())
        {
            if (string.Equals(text.Trim().TrimEnd('.'), AlgorithmName(a), StringComparison.OrdinalIgnoreCase))
            {
                algorithm = a;
                return true;
            }
        }
        algorithm = default;
        return false;
    }

    internal IncrementalHash CreateHmac() => IncrementalHash.CreateHMAC(Algorithm switch
    {
        TsigAlgorithm.HmacSha1 => HashAlgorithmName.SHA1,
        TsigAlgorithm.HmacSha256 => HashAlgorithmName.SHA256,
        TsigAlgorithm.HmacSha384 => HashAlgorithmName.SHA384,
        _ => HashAlgorithmName.SHA512,
    }, Secret);

    /// <summary>The name and algorithm; never the secret.</summary>
    public override string ToString() => $"{Name} ({AlgorithmName(Algorithm)})";

    internal static string Describe(ReadOnlySpan<byte> nameWire)
    {
        var text = new StringBuilder();
        for (int pos = 0; pos < nameWire.Length && nameWire[pos] != 0; pos += 1 + nameWire[pos])
        {
            if (text.Length > 0) text.Append('.');
            text.Append(Encoding.ASCII.GetString(nameWire.Slice(pos + 1, nameWire[pos])));
        }
        return text.ToString();
    }
}
