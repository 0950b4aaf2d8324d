namespace CertDns.Dns.Dnssec;

/// <summary>
/// A bounded, lock-free cache of RRSIG RDATAs by RRset (the key is the RRset itself, <see cref="RrsetKey"/>): two
/// candidate buckets of eight slots per key, sixteen places a key may live, so a cache far from full keeps every key
/// (with two slots a cache a third full lost about 5% of its keys to later ones, each re-signed when next asked); one
/// immutable entry per slot, replaced whole, so readers never see half an entry and memory is bounded by the slot
/// count. Each slot's hash sits in an array of its own, so a lookup compares sixteen integers on two cache lines and
/// reads only the entry whose hash matches. A hit allocates nothing. The hash is seeded per process
/// (<see cref="HashCode"/>), so no one can aim queries at one bucket. An entry signed in the previous window stays good
/// for a part of the current one that depends on its hash, so the re-signing at each window boundary is spread over
/// the hour instead of every RRset at once.
/// </summary>
internal sealed class SignatureCache
{
    private const int MaxWays = 8;

    private readonly Entry?[] _slots;
    // The hash (| 1, so never 0) of the entry each slot holds. Written after the entry and read before it: a reader
    // that sees the two out of step finds no match and signs again, which is all a miss costs.
    private readonly int[] _tags;
    private readonly int _ways, _bucketMask;

    public SignatureCache(int slots)
    {
        if (slots <= 1 || (slots & (slots - 1)) != 0) throw new ArgumentOutOfRangeException(nameof(slots), "a power of two above 1");
        _slots = new Entry?[slots];
        _tags = new int[slots];
        _ways = Math.Min(MaxWays, slots / 2);
        _bucketMask = slots / _ways - 1;
    }

    private sealed class Entry(byte[] key, SignatureWindow window, byte[][] signatures)
    {
        public readonly byte[] Key = key;
        public readonly SignatureWindow Window = window;
        public readonly byte[][] Signatures = signatures;
    }

    private static int Hash(ReadOnlySpan<byte> key)
    {
        var h = new HashCode();
        h.AddBytes(key);
        return h.ToHashCode();
    }

    /// <summary>Where the key's two buckets start.</summary>
    private (int First, int Second) Buckets(int h) => ((h & _bucketMask) * _ways, ((h >> 16 ^ h * 31) & _bucketMask) * _ways);

    /// <summary>The cached signatures, or null. <paramref name="intoWindow"/>: seconds since the current window's step began.</summary>
    public byte[][]? Get(ReadOnlySpan<byte> key, SignatureWindow window, uint step, uint intoWindow)
    {
        int h = Hash(key), tag = h | 1;
        var (first, second) = Buckets(h);
        var e = Find(key, tag, first) ?? Find(key, tag, second);
        if (e is null) return null;
        if (e.Window == window) return e.Signatures;
        // One window old: still good until this key's own point in the current step.
        return window.Inception - e.Window.Inception == step && intoWindow < (uint)h % step ? e.Signatures : null;
    }

    private Entry? Find(ReadOnlySpan<byte> key, int tag, int start)
    {
        for (int i = start; i < start + _ways; i++)
        {
            if (Volatile.Read(ref _tags[i]) != tag) continue;
            var e = Volatile.Read(ref _slots[i]);
            if (e is not null && key.SequenceEqual(e.Key)) return e;
        }
        return null;
    }

    public void Put(ReadOnlySpan<byte> key, SignatureWindow window, byte[][] signatures)
    {
        int h = Hash(key), tag = h | 1;
        int slot = Slot(key, tag, h);
        Volatile.Write(ref _slots[slot], new Entry(key.ToArray(), window, signatures));
        Volatile.Write(ref _tags[slot], tag);
    }

    /// <summary>
    /// The slot that holds this key already, else an empty one, else the one with the oldest signatures; among equals
    /// the first from a point in the sixteen that the key's hash picks, so full buckets do not always give up the same slot.
    /// </summary>
    private int Slot(ReadOnlySpan<byte> key, int tag, int h)
    {
        var (first, second) = Buckets(h);
        int places = 2 * _ways, from = (int)((uint)h >> 24) % places;
        int empty = -1, oldest = -1;
        uint oldestInception = uint.MaxValue;
        for (int k = 0; k < places; k++)
        {
            int j = (from + k) % places;
            int i = j < _ways ? first + j : second + j - _ways;
            var e = Volatile.Read(ref _slots[i]);
            if (e is null)
            {
                if (empty < 0) empty = i;
                continue;
            }
            if (Volatile.Read(ref _tags[i]) == tag && key.SequenceEqual(e.Key)) return i;
            if (e.Window.Inception < oldestInception) (oldest, oldestInception) = (i, e.Window.Inception);
        }
        return empty >= 0 ? empty : oldest;
    }
}
