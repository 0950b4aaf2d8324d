using System.Buffers.Binary;

namespace CertDns.Core;

/// <summary>
/// Fixed-size digests as integers: arrays of them need no object per entry, and comparing two is a few integer
/// compares instead of a loop over octets.
/// </summary>
internal interface IDigest<T> : IEquatable<T>
    where T : struct, IDigest<T>
{
    /// <summary>The first eight octets, big-endian: what the hash index keys on.</summary>
    ulong Head { get; }

    static abstract int Length { get; }

    static abstract T Read(ReadOnlySpan<byte> octets);

    void Write(Span<byte> octets);
}

/// <summary>A SHA-256 digest (certificate or SubjectPublicKeyInfo).</summary>
internal readonly record struct Digest32(ulong A, ulong B, ulong C, ulong D) : IDigest<Digest32>
{
    public ulong Head => A;

    public static int Length => 32;

    public static Digest32 Read(ReadOnlySpan<byte> o) => new(
        BinaryPrimitives.ReadUInt64BigEndian(o), BinaryPrimitives.ReadUInt64BigEndian(o[8..]),
        BinaryPrimitives.ReadUInt64BigEndian(o[16..]), BinaryPrimitives.ReadUInt64BigEndian(o[24..]));

    /// <summary>The first 28 octets (the 56-hex form), the rest zero.</summary>
    public static Digest32 ReadPrefix(ReadOnlySpan<byte> o) => new(
        BinaryPrimitives.ReadUInt64BigEndian(o), BinaryPrimitives.ReadUInt64BigEndian(o[8..]),
        BinaryPrimitives.ReadUInt64BigEndian(o[16..]), (ulong)BinaryPrimitives.ReadUInt32BigEndian(o[24..]) << 32);

    public bool HasPrefix(Digest32 prefix) => A == prefix.A && B == prefix.B && C == prefix.C && (D >> 32) == (prefix.D >> 32);

    public void Write(Span<byte> o)
    {
        BinaryPrimitives.WriteUInt64BigEndian(o, A);
        BinaryPrimitives.WriteUInt64BigEndian(o[8..], B);
        BinaryPrimitives.WriteUInt64BigEndian(o[16..], C);
        BinaryPrimitives.WriteUInt64BigEndian(o[24..], D);
    }

}

/// <summary>A SHA-1 digest.</summary>
internal readonly record struct Digest20(ulong A, ulong B, uint C) : IDigest<Digest20>
{
    public ulong Head => A;

    public static int Length => 20;

    public static Digest20 Read(ReadOnlySpan<byte> o) => new(
        BinaryPrimitives.ReadUInt64BigEndian(o), BinaryPrimitives.ReadUInt64BigEndian(o[8..]), BinaryPrimitives.ReadUInt32BigEndian(o[16..]));

    public void Write(Span<byte> o)
    {
        BinaryPrimitives.WriteUInt64BigEndian(o, A);
        BinaryPrimitives.WriteUInt64BigEndian(o[8..], B);
        BinaryPrimitives.WriteUInt32BigEndian(o[16..], C);
    }

}

/// <summary>An MD5 digest.</summary>
internal readonly record struct Digest16(ulong A, ulong B) : IDigest<Digest16>
{
    public ulong Head => A;

    public static int Length => 16;

    public static Digest16 Read(ReadOnlySpan<byte> o) => new(BinaryPrimitives.ReadUInt64BigEndian(o), BinaryPrimitives.ReadUInt64BigEndian(o[8..]));

    public void Write(Span<byte> o)
    {
        BinaryPrimitives.WriteUInt64BigEndian(o, A);
        BinaryPrimitives.WriteUInt64BigEndian(o[8..], B);
    }

}

/// <summary>
/// A hash index over digests kept in record order: open addressing with linear probing on the digest's first eight
/// octets (already uniform, mixed with a per-snapshot seed so no one can line registered digests up in one probe
/// run). Building it is one pass, no sort; a lookup is one or two cache lines. Several records may share a digest
/// (an SPKI carried by several certificates) or a prefix: <see cref="Next"/> walks them all.
/// </summary>
internal sealed class DigestTable<T>
    where T : struct, IDigest<T>
{
    private readonly T[] _byRecord;
    // Record number plus one; zero is an empty slot. A third more slots than records keeps probe runs short.
    private readonly int[] _slots;
    private readonly ulong _seed;

    /// <exception cref="ArgumentException"><paramref name="unique"/> and two records have the same digest.</exception>
    public DigestTable(T[] byRecord, ulong seed, bool unique)
    {
        _byRecord = byRecord;
        _seed = seed;
        _slots = new int[Math.Max(8, byRecord.Length + byRecord.Length / 3 + 1)];
        int parts = Math.Min(Environment.ProcessorCount, 4);
        if (unique && parts > 1 && byRecord.Length >= SharedFillFrom)
        {
            FillShared(parts);
            return;
        }
        for (int r = 0; r < byRecord.Length; r++)
        {
            int i = Home(byRecord[r].Head);
            while (_slots[i] != 0)
            {
                if (unique && _byRecord[_slots[i] - 1].Equals(byRecord[r])) throw new ArgumentException("Two certificates have the same SHA-256.");
                if (++i == _slots.Length) i = 0;
            }
            _slots[i] = r + 1;
        }
    }

    /// <summary>Records from which a unique table is filled on several cores (a million cost 0.1-0.2 s on one, in a start or reload).</summary>
    internal const int SharedFillFrom = 1 << 16;

    /// <summary>
    /// Fills the slots from <paramref name="parts"/> threads, each a share of the records, a slot claimed by
    /// compare-and-swap. Slots only ever fill, so every record still sits in its probe run from its home slot, which
    /// is all a lookup relies on. Of two equal digests the later of two claims passes the other's slot (they walk from
    /// the same home; the earlier slot was empty or already held when the later walk read it), so a duplicate is
    /// still found. Only where digests are unique: the order of records sharing a run is no longer record order.
    /// </summary>
    private void FillShared(int parts)
    {
        int share = (_byRecord.Length + parts - 1) / parts;
        var others = new Task[parts - 1];
        for (int p = 1; p < parts; p++)
        {
            int from = p * share, to = Math.Min(_byRecord.Length, from + share);
            others[p - 1] = Task.Factory.StartNew(() => FillShare(from, to), CancellationToken.None, TaskCreationOptions.None, TaskScheduler.Default);
        }
        ArgumentException? duplicate = null;
        try
        {
            FillShare(0, Math.Min(_byRecord.Length, share));
        }
        catch (ArgumentException e)
        {
            duplicate = e;
        }
        // Every share ends before the table is used or a duplicate reported: none writes into a table given up.
        foreach (var other in others) ((IAsyncResult)other).AsyncWaitHandle.WaitOne();
        if (duplicate is not null) throw duplicate;
        foreach (var other in others) other.GetAwaiter().GetResult();
    }

    private void FillShare(int from, int to)
    {
        for (int r = from; r < to; r++)
        {
            int i = Home(_byRecord[r].Head);
            while (true)
            {
                int slot = Volatile.Read(ref _slots[i]);
                if (slot == 0 && (slot = Interlocked.CompareExchange(ref _slots[i], r + 1, 0)) == 0) break;
                if (_byRecord[slot - 1].Equals(_byRecord[r])) throw new ArgumentException("Two certificates have the same SHA-256.");
                if (++i == _slots.Length) i = 0;
            }
        }
    }

    public T this[int record] => _byRecord[record];

    /// <summary>The digests in record order, as given (not to be written: the slots index them).</summary>
    public T[] Records => _byRecord;

    /// <summary>
    /// The next record whose first eight octets are <paramref name="head"/>, or -1 at the end of its probe run.
    /// Start with <paramref name="position"/> at -1; callers compare the whole digest or prefix.
    /// </summary>
    public int Next(ulong head, ref int position)
    {
        int i = position < 0 ? Home(head) : position + 1 == _slots.Length ? 0 : position + 1;
        while (true)
        {
            int slot = _slots[i];
            position = i;
            if (slot == 0) return -1;
            if (_byRecord[slot - 1].Head == head) return slot - 1;
            if (++i == _slots.Length) i = 0;
        }
    }

    /// <summary>The next record whose digest equals <paramref name="key"/>, or -1; start with <paramref name="position"/> at -1.</summary>
    public int NextEqual(in T key, ref int position)
    {
        int r;
        while ((r = Next(key.Head, ref position)) >= 0 && !_byRecord[r].Equals(key)) { }
        return r;
    }

    // Lemire's multiply-shift maps the mixed 64 bits onto the table without a division.
    private int Home(ulong head) => (int)Math.BigMul((head ^ _seed) * 0x9E3779B97F4A7C15UL, (ulong)_slots.Length, out _);
}
