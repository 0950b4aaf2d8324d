using System.Buffers.Binary;
using System.Text;

namespace CertDns.Dns.Dnssec;

/// <summary>
/// The NSEC3 chain of a zone (RFC 5155 section 7.1): one NSEC3 per owner name of the zone, in every form it has and
/// with the empty non-terminals between each name and the apex (their bitmaps empty), ordered by hash, each naming the
/// next hash and its owner's types; the last names the first. Built by <see cref="Add"/>ing every owner with its
/// types, then <see cref="Seal"/>ed. Held compactly (32 octets a hashed name, owner text not kept) so a zone of
/// millions of names holds its chain in tens of MB; two chains give the NSEC3 records an IXFR step changes.
/// </summary>
public sealed class Nsec3Chain
{
    private readonly string _apex;
    private readonly int _apexLabels;
    private readonly Nsec3Parameters _parameters;
    // Names one label below the apex (a view's label) are the ancestor of many: added once.
    private readonly HashSet<string> _nearApex = new(StringComparer.OrdinalIgnoreCase);
    private readonly Dictionary<ulong, byte[]> _bitmaps = [];
    private Entry[] _entries = new Entry[1024];
    private int _count;
    private bool _sealed;

    /// <summary>An empty chain for the zone at <paramref name="apex"/>.</summary>
    public Nsec3Chain(string apex, Nsec3Parameters parameters)
    {
        ArgumentNullException.ThrowIfNull(apex);
        ArgumentNullException.ThrowIfNull(parameters);
        _apex = apex.TrimEnd('.');
        _apexLabels = Zone.SplitLabels(_apex).Count;
        _parameters = parameters;
    }

    /// <summary>The parameters the names are hashed with.</summary>
    public Nsec3Parameters Parameters => _parameters;

    /// <summary>The hashed names in the chain (after <see cref="Seal"/>).</summary>
    public int Count => _count;

    /// <summary>A type set as <see cref="Add"/> takes it: bit t for type t (every type this zone has is below 64).</summary>
    public static ulong Types(params ReadOnlySpan<ushort> types)
    {
        ulong mask = 0;
        foreach (var type in types)
        {
            if (type >= 64) throw new ArgumentOutOfRangeException(nameof(types), type, "NSEC3 chain types are below 64 here");
            mask |= 1UL << type;
        }
        return mask;
    }

    /// <summary>
    /// Adds <paramref name="owner"/> (at or below the apex) with <paramref name="types"/> (see <see cref="Types"/>), and
    /// every name between it and the apex as an empty non-terminal. A name added twice has the union of its types.
    /// </summary>
    public void Add(string owner, ulong types)
    {
        if (_sealed) throw new InvalidOperationException("The chain is sealed.");
        ArgumentNullException.ThrowIfNull(owner);
        var labels = Zone.SplitLabels(owner.TrimEnd('.'));
        Span<byte> wire = stackalloc byte[256];
        int length = CanonicalWire(labels, 0, wire);
        Append(wire[..length], types);
        // Each ancestor below the apex exists as an empty non-terminal (RFC 5155 section 7.1, step 4).
        for (int skip = 1; labels.Count - skip > _apexLabels; skip++)
        {
            length = CanonicalWire(labels, skip, wire);
            if (labels.Count - skip == _apexLabels + 1 && !_nearApex.Add(Encoding.ASCII.GetString(wire[..length]))) break;
            Append(wire[..length], 0);
        }
    }

    /// <summary>Sorts the chain by hash and merges names added more than once. No name may be added after.</summary>
    public void Seal()
    {
        if (_sealed) return;
        Array.Sort(_entries, 0, _count);
        int kept = 0;
        for (int i = 0; i < _count; i++)
        {
            if (kept > 0 && _entries[kept - 1].SameHash(_entries[i])) _entries[kept - 1].Types |= _entries[i].Types;
            else _entries[kept++] = _entries[i];
        }
        _count = kept;
        _sealed = true;
    }

    /// <summary>Whether <paramref name="owner"/> is in the chain (sealed), with its types.</summary>
    public bool TryFind(string owner, out ulong types)
    {
        Span<byte> wire = stackalloc byte[256];
        var labels = Zone.SplitLabels(owner.TrimEnd('.'));
        var probe = Hashed(wire[..CanonicalWire(labels, 0, wire)], 0);
        int at = Array.BinarySearch(_entries, 0, _count, probe);
        types = at >= 0 ? _entries[at].Types : 0;
        return at >= 0;
    }

    /// <summary>The chain's NSEC3 records in hash order, each with <paramref name="ttl"/> (RFC 9077: the SOA's negative TTL).</summary>
    public IEnumerable<ZoneRecord> Records(int ttl)
    {
        Seal();
        for (int i = 0; i < _count; i++) yield return Record(i, ttl);
    }

    /// <summary>
    /// The NSEC3 records <paramref name="after"/> has differently from <paramref name="before"/> (both sealed, same
    /// zone and parameters): those of hashed names gone or whose next hash or types changed are deleted, those of
    /// names new or changed are added.
    /// </summary>
    public static void Difference(Nsec3Chain before, Nsec3Chain after, int ttl, List<ZoneRecord> deleted, List<ZoneRecord> added)
    {
        ArgumentNullException.ThrowIfNull(before);
        ArgumentNullException.ThrowIfNull(after);
        before.Seal();
        after.Seal();
        int i = 0, j = 0;
        while (i < before._count || j < after._count)
        {
            int order = i >= before._count ? 1 : j >= after._count ? -1 : before._entries[i].CompareTo(after._entries[j]);
            if (order < 0) deleted.Add(before.Record(i++, ttl));
            else if (order > 0) added.Add(after.Record(j++, ttl));
            else
            {
                if (before._entries[i].Types != after._entries[j].Types || !before.Next(i).SameHash(after.Next(j)))
                {
                    deleted.Add(before.Record(i, ttl));
                    added.Add(after.Record(j, ttl));
                }
                i++;
                j++;
            }
        }
    }

    private ref Entry Next(int i) => ref _entries[(i + 1) % _count];

    private ZoneRecord Record(int i, int ttl)
    {
        Span<byte> hash = stackalloc byte[Nsec3Parameters.HashLength];
        ref var entry = ref _entries[i];
        if (!_bitmaps.TryGetValue(entry.Types, out var bitmap)) _bitmaps[entry.Types] = bitmap = Bitmap(entry.Types);
        Next(i).Write(hash);
        var rdata = _parameters.Rdata(hash, bitmap);
        entry.Write(hash);
        return new ZoneRecord(Base32Hex.Encode(hash) + "." + _apex, DnssecType.Nsec3, ttl, rdata);
    }

    private static byte[] Bitmap(ulong types)
    {
        var list = new List<ushort>();
        for (ushort t = 0; t < 64; t++)
        {
            if ((types & (1UL << t)) != 0) list.Add(t);
        }
        return TypeBitmap.Of(list.ToArray());
    }

    private void Append(ReadOnlySpan<byte> canonicalName, ulong types)
    {
        if (_count == _entries.Length) Array.Resize(ref _entries, _entries.Length * 2);
        _entries[_count++] = Hashed(canonicalName, types);
    }

    private Entry Hashed(ReadOnlySpan<byte> canonicalName, ulong types)
    {
        Span<byte> hash = stackalloc byte[Nsec3Parameters.HashLength];
        _parameters.Hash(canonicalName, hash);
        return Entry.Of(hash, types);
    }

    /// <summary>The labels from <paramref name="skip"/> on in canonical wire form (RFC 4034 section 6.2: ASCII lower case).</summary>
    private static int CanonicalWire(List<byte[]> labels, int skip, Span<byte> wire)
    {
        int at = 0;
        for (int i = skip; i < labels.Count; i++)
        {
            wire[at++] = (byte)labels[i].Length;
            foreach (var b in labels[i]) wire[at++] = b is >= (byte)'A' and <= (byte)'Z' ? (byte)(b | 0x20) : b;
        }
        wire[at++] = 0;
        return at;
    }

    /// <summary>A hashed name as three big-endian integers (so they compare as the octets do) and its types.</summary>
    private struct Entry : IComparable<Entry>
    {
        public ulong H0;
        public ulong H1;
        public uint H2;
        public ulong Types;

        public static Entry Of(ReadOnlySpan<byte> hash, ulong types) => new()
        {
            H0 = BinaryPrimitives.ReadUInt64BigEndian(hash),
            H1 = BinaryPrimitives.ReadUInt64BigEndian(hash[8..]),
            H2 = BinaryPrimitives.ReadUInt32BigEndian(hash[16..]),
            Types = types,
        };

        public readonly bool SameHash(in Entry other) => H0 == other.H0 && H1 == other.H1 && H2 == other.H2;

        public readonly void Write(Span<byte> hash)
        {
            BinaryPrimitives.WriteUInt64BigEndian(hash, H0);
            BinaryPrimitives.WriteUInt64BigEndian(hash[8..], H1);
            BinaryPrimitives.WriteUInt32BigEndian(hash[16..], H2);
        }

        public readonly int CompareTo(Entry other)
        {
            int c = H0.CompareTo(other.H0);
            if (c == 0) c = H1.CompareTo(other.H1);
            return c != 0 ? c : H2.CompareTo(other.H2);
        }
    }
}
