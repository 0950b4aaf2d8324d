using System.Buffers.Binary;

namespace CertDns.Core;

/// <summary>
/// Fixed-size digests as big-endian integers: comparing them compares the octets lexicographically, so sorted
/// arrays of them need no per-byte loop and no object per entry.
/// </summary>
internal interface IDigest<T> : IComparable<T>
    where T : struct, IDigest<T>
{
    static abstract int Length { get; }

    static abstract T Read(ReadOnlySpan<byte> octets);

    void Write(Span<byte> octets);
}

/// <summary>A SHA-256 digest (certificate or SubjectPublicKeyInfo).</summary>
internal readonly record struct Digest32(ulong A, ulong B, ulong C, ulong D) : IDigest<Digest32>
{
    public static int Length => 32;

    public static Digest32 Read(ReadOnlySpan<byte> o) => new(
        BinaryPrimitives.ReadUInt64BigEndian(o), BinaryPrimitives.ReadUInt64BigEndian(o[8..]),
        BinaryPrimitives.ReadUInt64BigEndian(o[16..]), BinaryPrimitives.ReadUInt64BigEndian(o[24..]));

    /// <summary>The first 28 octets (the 56-hex form), the rest zero: the lowest digest with that prefix.</summary>
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

    public int CompareTo(Digest32 other) =>
        A != other.A ? A.CompareTo(other.A) : B != other.B ? B.CompareTo(other.B) : C != other.C ? C.CompareTo(other.C) : D.CompareTo(other.D);
}

/// <summary>A SHA-1 digest.</summary>
internal readonly record struct Digest20(ulong A, ulong B, uint C) : IDigest<Digest20>
{
    public static int Length => 20;

    public static Digest20 Read(ReadOnlySpan<byte> o) => new(
        BinaryPrimitives.ReadUInt64BigEndian(o), BinaryPrimitives.ReadUInt64BigEndian(o[8..]), BinaryPrimitives.ReadUInt32BigEndian(o[16..]));

    public void Write(Span<byte> o)
    {
        BinaryPrimitives.WriteUInt64BigEndian(o, A);
        BinaryPrimitives.WriteUInt64BigEndian(o[8..], B);
        BinaryPrimitives.WriteUInt32BigEndian(o[16..], C);
    }

    public int CompareTo(Digest20 other) => A != other.A ? A.CompareTo(other.A) : B != other.B ? B.CompareTo(other.B) : C.CompareTo(other.C);
}

/// <summary>An MD5 digest.</summary>
internal readonly record struct Digest16(ulong A, ulong B) : IDigest<Digest16>
{
    public static int Length => 16;

    public static Digest16 Read(ReadOnlySpan<byte> o) => new(BinaryPrimitives.ReadUInt64BigEndian(o), BinaryPrimitives.ReadUInt64BigEndian(o[8..]));

    public void Write(Span<byte> o)
    {
        BinaryPrimitives.WriteUInt64BigEndian(o, A);
        BinaryPrimitives.WriteUInt64BigEndian(o[8..], B);
    }

    public int CompareTo(Digest16 other) => A != other.A ? A.CompareTo(other.A) : B.CompareTo(other.B);
}

/// <summary>
/// A secondary index: record numbers ordered by one digest that is kept in record order, so a record's digest is
/// found by its number (for output) and a digest's records by binary search (for answers).
/// </summary>
internal sealed class DigestIndex<T>
    where T : struct, IDigest<T>
{
    private readonly T[] _byRecord;
    private readonly int[] _order;

    public DigestIndex(T[] byRecord)
    {
        _byRecord = byRecord;
        _order = new int[byRecord.Length];
        for (int i = 0; i < _order.Length; i++) _order[i] = i;
        var keys = (T[])byRecord.Clone();
        Array.Sort(keys, _order);
    }

    public T this[int record] => _byRecord[record];

    /// <summary>The records whose digest is <paramref name="key"/>, as a range of positions in the ordering.</summary>
    public (int Start, int End) Range(T key)
    {
        int lo = LowerBound(key);
        int hi = lo;
        while (hi < _order.Length && _byRecord[_order[hi]].CompareTo(key) == 0) hi++;
        return (lo, hi);
    }

    public int LowerBound(T key)
    {
        int lo = 0, hi = _order.Length;
        while (lo < hi)
        {
            int mid = (int)((uint)(lo + hi) >> 1);
            if (_byRecord[_order[mid]].CompareTo(key) < 0) lo = mid + 1;
            else hi = mid;
        }
        return lo;
    }

    public int RecordAt(int position) => _order[position];

    public int Count => _order.Length;
}
