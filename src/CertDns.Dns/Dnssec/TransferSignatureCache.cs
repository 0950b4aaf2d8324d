using System.Buffers.Binary;
using System.Security.Cryptography;

namespace CertDns.Dns.Dnssec;

/// <summary>
/// The RRSIGs of the zone's transfer form for one signature window, so a transfer of millions of RRsets signs only what
/// changed: each RRset's signature by each key, found by a 128-bit digest of what it signs (key tag, owner, type,
/// original TTL, RDATAs). Signatures are held in 1 MiB chunks of fixed-size RRSIG RDATA slots, not one array each,
/// so a million RRsets cost about 130 MB and the garbage collector sees a few hundred objects. Thread-safe.
/// </summary>
internal sealed class TransferSignatureCache
{
    private const int ChunkSlots = 8192;

    private readonly Lock _lock = new();
    private readonly Dictionary<UInt128, int> _slots = [];
    private readonly List<byte[]> _chunks = [];
    private readonly Stack<int> _free = new();
    private readonly int _slotLength;
    private int _used;

    /// <summary>A cache for <paramref name="window"/> of RRSIG RDATA <paramref name="slotLength"/> octets long.</summary>
    public TransferSignatureCache(SignatureWindow window, int slotLength) => (Window, _slotLength) = (window, slotLength);

    /// <summary>The window every signature here was made in.</summary>
    public SignatureWindow Window { get; }

    /// <summary>The signatures held.</summary>
    public int Count
    {
        get
        {
            lock (_lock) return _slots.Count;
        }
    }

    /// <summary>The octets the signatures take (the index not counted).</summary>
    public long Bytes
    {
        get
        {
            lock (_lock) return (long)_chunks.Count * ChunkSlots * _slotLength;
        }
    }

    /// <summary>The identity of an RRset's signature by the key <paramref name="keyTag"/>.</summary>
    public static UInt128 Id(ushort keyTag, ReadOnlySpan<byte> owner, ushort type, uint originalTtl, IReadOnlyList<ReadOnlyMemory<byte>> rdatas)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        Span<byte> head = stackalloc byte[8];
        BinaryPrimitives.WriteUInt16BigEndian(head, keyTag);
        BinaryPrimitives.WriteUInt16BigEndian(head[2..], type);
        BinaryPrimitives.WriteUInt32BigEndian(head[4..], originalTtl);
        hash.AppendData(head);
        hash.AppendData(owner);
        // The RDATAs in the order given, each with its length: the transfer form gives an RRset's RRs in one order.
        foreach (var rdata in rdatas)
        {
            BinaryPrimitives.WriteUInt16BigEndian(head, (ushort)rdata.Length);
            hash.AppendData(head[..2]);
            hash.AppendData(rdata.Span);
        }
        Span<byte> digest = stackalloc byte[32];
        hash.GetHashAndReset(digest);
        return BinaryPrimitives.ReadUInt128BigEndian(digest);
    }

    /// <summary>Copies the RRSIG RDATA for <paramref name="id"/> into a new array; null when it is not held.</summary>
    public byte[]? Get(UInt128 id)
    {
        lock (_lock)
        {
            if (!_slots.TryGetValue(id, out int slot)) return null;
            return Slot(slot).ToArray();
        }
    }

    /// <summary>Keeps <paramref name="rrsig"/> (exactly the slot length) for <paramref name="id"/>; the first one kept stays.</summary>
    public byte[] Add(UInt128 id, ReadOnlySpan<byte> rrsig)
    {
        if (rrsig.Length != _slotLength) throw new ArgumentException($"an RRSIG of {rrsig.Length} octets, not {_slotLength}", nameof(rrsig));
        lock (_lock)
        {
            if (_slots.TryGetValue(id, out int held)) return Slot(held).ToArray();
            int slot = _free.Count > 0 ? _free.Pop() : _used++;
            if (slot / ChunkSlots == _chunks.Count) _chunks.Add(new byte[ChunkSlots * _slotLength]);
            rrsig.CopyTo(Slot(slot));
            _slots[id] = slot;
            return rrsig.ToArray();
        }
    }

    /// <summary>Forgets the signature of an RRset no longer published.</summary>
    public void Remove(UInt128 id)
    {
        lock (_lock)
        {
            if (_slots.Remove(id, out int slot)) _free.Push(slot);
        }
    }

    private Span<byte> Slot(int slot) => _chunks[slot / ChunkSlots].AsSpan(slot % ChunkSlots * _slotLength, _slotLength);
}
