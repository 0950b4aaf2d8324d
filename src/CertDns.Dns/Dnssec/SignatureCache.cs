namespace CertDns.Dns.Dnssec;

/// <summary>
/// A bounded, lock-free cache of RRSIG RDATAs by RRset (the key is the RRset itself, <see cref="RrsetKey"/>): two
/// candidate slots per key (two-choice hashing, so a cache a third full still keeps nearly every key), one immutable
/// entry per slot, replaced whole, so readers never see half an entry and memory is bounded by the slot count. A hit
/// allocates nothing. The hash is seeded per process (<see cref="HashCode"/>), so no one can aim queries at one slot.
/// An entry signed in the previous window stays good for a part of the current one that depends on its hash, so
/// the re-signing at each window boundary is spread over the hour instead of every RRset at once.
/// </summary>
internal sealed class SignatureCache
{
    private readonly Entry?[] _slots;
    private readonly int _mask;

    public SignatureCache(int slots)
    {
        if (slots <= 1 || (slots & (slots - 1)) != 0) throw new ArgumentOutOfRangeException(nameof(slots), "a power of two above 1");
        _slots = new Entry?[slots];
        _mask = slots - 1;
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

    /// <summary>The cached signatures, or null. <paramref name="intoWindow"/>: seconds since the current window's step began.</summary>
    public byte[][]? Get(ReadOnlySpan<byte> key, SignatureWindow window, uint step, uint intoWindow)
    {
        int h = Hash(key);
        var e = Volatile.Read(ref _slots[h & _mask]);
        if (e is null || !key.SequenceEqual(e.Key)) e = Volatile.Read(ref _slots[(h >> 16 ^ h * 31) & _mask]);
        if (e is null || !key.SequenceEqual(e.Key)) return null;
        if (e.Window == window) return e.Signatures;
        // One window old: still good until this key's own point in the current step.
        return window.Inception - e.Window.Inception == step && intoWindow < (uint)h % step ? e.Signatures : null;
    }

    public void Put(ReadOnlySpan<byte> key, SignatureWindow window, byte[][] signatures)
    {
        int h = Hash(key);
        int first = h & _mask, second = (h >> 16 ^ h * 31) & _mask;
        var a = Volatile.Read(ref _slots[first]);
        var b = Volatile.Read(ref _slots[second]);
        // The slot that holds this key already, else an empty one, else the one with the older signatures.
        int slot = a is not null && key.SequenceEqual(a.Key) ? first
            : b is not null && key.SequenceEqual(b.Key) ? second
            : a is null ? first : b is null ? second
            : b.Window.Inception < a.Window.Inception ? second : first;
        Volatile.Write(ref _slots[slot], new Entry(key.ToArray(), window, signatures));
    }
}
