using System.Buffers;
using System.Buffers.Binary;

namespace CertDns.Dns.Dnssec;

/// <summary>
/// Makes RRSIG RDATA (RFC 4034 section 3): type covered, algorithm, labels, original TTL, expiration, inception, key
/// tag, signer's name, signature over RRSIG_RDATA (without the signature) | canonical RRset (section 3.1.8.1).
/// Written by hand because ARSoft's signer is faulty (ECDSA r/s not left-padded about once in 110, Ed25519 throws).
/// </summary>
public static class RrsigSigner
{
    /// <summary>Octets of the RRSIG RDATA <see cref="Sign"/> writes in a zone whose apex is <paramref name="signer"/> (wire form).</summary>
    public static int RdataLength(ReadOnlySpan<byte> signer) => 18 + CanonicalName.Length(signer) + DnssecKey.SignatureLength;

    /// <summary>
    /// Signs the RRset (<paramref name="owner"/> in uncompressed wire form, any case; <paramref name="rdatas"/>
    /// uncompressed, in any order) with <paramref name="key"/> for the zone <paramref name="signer"/> (wire form) and
    /// writes the RRSIG RDATA into <paramref name="destination"/>; returns its length. Allocates nothing in steady state
    /// (the signed data goes to a pooled buffer).
    /// </summary>
    public static int Sign(ReadOnlySpan<byte> owner, ushort type, ushort cls, uint originalTtl,
        IReadOnlyList<ReadOnlyMemory<byte>> rdatas, SignatureWindow window, DnssecKey key, ReadOnlySpan<byte> signer,
        Span<byte> destination)
    {
        int ownerLength = CanonicalName.Length(owner);
        if (ownerLength < 0) throw new ArgumentException("owner is not a name in uncompressed wire form", nameof(owner));
        if (rdatas.Count == 0) throw new ArgumentException("an RRset has at least one RR", nameof(rdatas));
        int headerLength = WriteHeader(owner, type, originalTtl, window, key, signer, destination);
        byte[] data = ArrayPool<byte>.Shared.Rent(headerLength + CanonicalRrset.MaxLength(ownerLength, rdatas));
        try
        {
            destination[..headerLength].CopyTo(data);
            int length = headerLength + CanonicalRrset.Write(owner, type, cls, originalTtl, rdatas, data.AsSpan(headerLength));
            return headerLength + key.Sign(data.AsSpan(0, length), destination[headerLength..]);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(data);
        }
    }

    /// <summary>The RRSIG RDATA up to and without the signature; returns its length.</summary>
    private static int WriteHeader(ReadOnlySpan<byte> owner, ushort type, uint originalTtl, SignatureWindow window,
        DnssecKey key, ReadOnlySpan<byte> signer, Span<byte> d)
    {
        BinaryPrimitives.WriteUInt16BigEndian(d, type);
        d[2] = (byte)key.Algorithm;
        d[3] = CanonicalName.LabelCount(owner);
        BinaryPrimitives.WriteUInt32BigEndian(d[4..], originalTtl);
        BinaryPrimitives.WriteUInt32BigEndian(d[8..], window.Expiration);
        BinaryPrimitives.WriteUInt32BigEndian(d[12..], window.Inception);
        BinaryPrimitives.WriteUInt16BigEndian(d[16..], key.KeyTag);
        return 18 + CanonicalName.CopyLower(signer, d[18..]);
    }

    /// <summary>
    /// Checks an RRSIG RDATA made by <see cref="Sign"/> against the RRset with <paramref name="key"/> (a self-check:
    /// the tests validate with ldns, Unbound and delv).
    /// </summary>
    public static bool Verify(ReadOnlySpan<byte> owner, ushort type, ushort cls, IReadOnlyList<ReadOnlyMemory<byte>> rdatas,
        ReadOnlySpan<byte> rrsig, DnssecKey key)
    {
        if (rrsig.Length < 18 + 1 + DnssecKey.SignatureLength) return false;
        int signerLength = CanonicalName.Length(rrsig[18..]);
        if (signerLength < 0) return false;
        int headerLength = 18 + signerLength;
        uint ttl = BinaryPrimitives.ReadUInt32BigEndian(rrsig[4..]);
        if (BinaryPrimitives.ReadUInt16BigEndian(rrsig) != type || BinaryPrimitives.ReadUInt16BigEndian(rrsig[16..]) != key.KeyTag) return false;
        var data = new byte[headerLength + CanonicalRrset.MaxLength(CanonicalName.Length(owner), rdatas)];
        rrsig[..headerLength].CopyTo(data);
        int length = headerLength + CanonicalRrset.Write(owner, type, cls, ttl, rdatas, data.AsSpan(headerLength));
        return key.Verify(data.AsSpan(0, length), rrsig[headerLength..]);
    }
}
