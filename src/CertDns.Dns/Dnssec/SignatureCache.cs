namespace CertDns.Dns.Dnssec;

/// <summary>
/// A bounded, lock-free cache of RRSIG RDATAs by RRset (the key is the RRset itself, <see cref="RrsetKey"/>): direct
/// mapped, one immutable entry per slot, replaced whole, so readers never see half an entry and memory is bounded by
/// the slot count. A hit allocates nothing; an entry of an older signature window is a miss (it is re-signed).
/// The hash is seeded per process (<see cref="HashCode"/>), so no one can aim queries at one slot from outside.
/// </summary>
internal sealed class SignatureCache
{
    private readonly Entry?[] _slots;
    private readonly int _mask;

    public SignatureCache(int slots)
    {
        if (slots <= 0 || (slots & (slots - 1)) != 0) throw new ArgumentOutOfRangeException(nameof(slots), "a power of two");
        _slots = new Entry?[slots];
        _mask = slots - 1;
    }

    private sealed class Entry(byte[] key, SignatureWindow window, byte[][] signatures)
    {
        public readonly byte[] Key = key;
        public readonly SignatureWindow Window = window;
        public readonly byte[][] Signatures = signatures;
    }

    private int Slot(ReadOnlySpan<byte> key)
    {
        var h = new HashCode();
        h.AddBytes(key);
        return h.ToHashCode() & _mask;
    }

    public byte[][]? Get(ReadOnlySpan<byte> key, SignatureWindow window)
    {
        var e = Volatile.Read(ref _slots[Slot(key)]);
        return e is not null && e.Window == window && key.SequenceEqual(e.Key) ? e.Signatures : null;
    }

    public void Put(ReadOnlySpan<byte> key, SignatureWindow window, byte[][] signatures) =>
        Volatile.Write(ref _slots[Slot(key)], new Entry(key.ToArray(), window, signatures));
}
