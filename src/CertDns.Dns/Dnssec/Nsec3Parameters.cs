using System.Buffers.Binary;
using System.Security.Cryptography;

namespace CertDns.Dns.Dnssec;

/// <summary>
/// The NSEC3 hash parameters of a zone (RFC 5155 section 3.1): the hash algorithm (1, SHA-1, the only one defined),
/// the flags (opt-out bit), the extra iterations and the salt. <see cref="Default"/> is RFC 9276's advice: SHA-1, no
/// extra iterations, an empty salt, opt-out off (extra iterations and salt cost resolvers and stop no zone walker).
/// </summary>
public sealed record Nsec3Parameters(byte Algorithm, byte Flags, ushort Iterations, byte[] Salt)
{
    /// <summary>The one hash algorithm defined, SHA-1 (RFC 5155 section 11).</summary>
    public const byte Sha1 = 1;

    /// <summary>The octets of a SHA-1 hash.</summary>
    public const int HashLength = 20;

    /// <summary>RFC 9276 section 3.1: SHA-1, flags 0, 0 extra iterations, empty salt.</summary>
    public static Nsec3Parameters Default { get; } = new(Sha1, 0, 0, []);

    /// <summary>
    /// The hash of <paramref name="canonicalName"/> (uncompressed wire form, lower case, RFC 4034 section 6.2) into
    /// <paramref name="hash"/> (20 octets): IH(salt, x, 0) = H(x || salt), IH(salt, x, k) = H(IH(salt, x, k - 1) || salt).
    /// </summary>
    public void Hash(ReadOnlySpan<byte> canonicalName, Span<byte> hash)
    {
        if (Algorithm != Sha1) throw new NotSupportedException($"NSEC3 hash algorithm {Algorithm}");
        int length = Math.Max(canonicalName.Length, HashLength) + Salt.Length;
        Span<byte> input = length <= 512 ? stackalloc byte[length] : new byte[length];
        canonicalName.CopyTo(input);
        Salt.CopyTo(input[canonicalName.Length..]);
        SHA1.HashData(input[..(canonicalName.Length + Salt.Length)], hash);
        for (int i = 0; i < Iterations; i++)
        {
            hash[..HashLength].CopyTo(input);
            Salt.CopyTo(input[HashLength..]);
            SHA1.HashData(input[..(HashLength + Salt.Length)], hash);
        }
    }

    /// <summary>NSEC3PARAM RDATA (RFC 5155 section 4.2): algorithm, flags (0: no opt-out here), iterations, salt.</summary>
    public byte[] ParamRdata()
    {
        var rdata = new byte[5 + Salt.Length];
        rdata[0] = Algorithm;
        rdata[1] = 0;
        BinaryPrimitives.WriteUInt16BigEndian(rdata.AsSpan(2), Iterations);
        rdata[4] = (byte)Salt.Length;
        Salt.CopyTo(rdata, 5);
        return rdata;
    }

    /// <summary>NSEC3 RDATA (RFC 5155 section 3.2) naming the next hashed owner and the owner's types.</summary>
    public byte[] Rdata(ReadOnlySpan<byte> nextHash, ReadOnlySpan<byte> typeBitmap)
    {
        var rdata = new byte[6 + Salt.Length + nextHash.Length + typeBitmap.Length];
        rdata[0] = Algorithm;
        rdata[1] = Flags;
        BinaryPrimitives.WriteUInt16BigEndian(rdata.AsSpan(2), Iterations);
        rdata[4] = (byte)Salt.Length;
        Salt.CopyTo(rdata, 5);
        int at = 5 + Salt.Length;
        rdata[at++] = (byte)nextHash.Length;
        nextHash.CopyTo(rdata.AsSpan(at));
        typeBitmap.CopyTo(rdata.AsSpan(at + nextHash.Length));
        return rdata;
    }
}
