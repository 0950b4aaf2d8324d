using System.Buffers.Binary;

namespace CertDns.Dns.Dnssec;

/// <summary>
/// An RRset written out as a cache key, which is also everything needed to sign it: type (2), original TTL (4),
/// owner length (1), owner in canonical form, then each RDATA as length (2) and octets. Built on the stack per
/// query; parsed back only on a cache miss.
/// </summary>
internal ref struct RrsetKey
{
    /// <summary>Room for a key of any RRset an answer holds (13 NS names, a DNSKEY set in a rollover).</summary>
    public const int MaxLength = 4096;

    private readonly Span<byte> _buffer;

    public RrsetKey(Span<byte> buffer, ReadOnlySpan<byte> owner, ushort type, uint originalTtl)
    {
        _buffer = buffer;
        BinaryPrimitives.WriteUInt16BigEndian(buffer, type);
        BinaryPrimitives.WriteUInt32BigEndian(buffer[2..], originalTtl);
        int ownerLength = CanonicalName.CopyLower(owner, buffer[7..]);
        buffer[6] = (byte)ownerLength;
        Length = 7 + ownerLength;
    }

    public int Length { get; private set; }

    public readonly ReadOnlySpan<byte> Span => _buffer[..Length];

    public void Add(ReadOnlySpan<byte> rdata)
    {
        BinaryPrimitives.WriteUInt16BigEndian(_buffer[Length..], (ushort)rdata.Length);
        rdata.CopyTo(_buffer[(Length + 2)..]);
        Length += 2 + rdata.Length;
    }

    /// <summary>Opens the RDATA about to be written in place (names lowered by the caller); <see cref="EndRdata"/> closes it.</summary>
    public Span<byte> BeginRdata() => _buffer[(Length + 2)..];

    public void EndRdata(int length)
    {
        BinaryPrimitives.WriteUInt16BigEndian(_buffer[Length..], (ushort)length);
        Length += 2 + length;
    }

    /// <summary>The parts of a key, for signing it (allocates: misses only).</summary>
    public static (byte[] Owner, ushort Type, uint Ttl, ReadOnlyMemory<byte>[] Rdatas) Parse(ReadOnlySpan<byte> key)
    {
        ushort type = BinaryPrimitives.ReadUInt16BigEndian(key);
        uint ttl = BinaryPrimitives.ReadUInt32BigEndian(key[2..]);
        var owner = key.Slice(7, key[6]).ToArray();
        var rdatas = new List<ReadOnlyMemory<byte>>();
        for (int at = 7 + key[6]; at < key.Length;)
        {
            int length = BinaryPrimitives.ReadUInt16BigEndian(key[at..]);
            rdatas.Add(key.Slice(at + 2, length).ToArray());
            at += 2 + length;
        }
        return (owner, type, ttl, [.. rdatas]);
    }
}
