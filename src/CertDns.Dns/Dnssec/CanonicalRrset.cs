using System.Buffers.Binary;

namespace CertDns.Dns.Dnssec;

/// <summary>
/// The canonical form of an RRset (RFC 4034 section 6.3): each RR as owner | type | class | original TTL | RDLENGTH |
/// RDATA with the owner in canonical wire form, no compression, RRs sorted by their RDATA as left-justified unsigned
/// octet strings and duplicates dropped. RDATA is taken as given: a caller whose RDATA holds names (SOA, NS) passes
/// them uncompressed and lower case (RFC 4034 section 6.2 item 3 as RFC 6840 section 5.1 leaves it).
/// </summary>
public static class CanonicalRrset
{
    /// <summary>Octets <see cref="Write"/> needs at most.</summary>
    public static int MaxLength(int ownerLength, IReadOnlyList<ReadOnlyMemory<byte>> rdatas)
    {
        int total = 0;
        for (int i = 0; i < rdatas.Count; i++) total += ownerLength + 10 + rdatas[i].Length;
        return total;
    }

    /// <summary>Writes the RRset in canonical form and order; returns the length written. Allocates nothing for up to 256 RRs.</summary>
    public static int Write(ReadOnlySpan<byte> owner, ushort type, ushort cls, uint originalTtl,
        IReadOnlyList<ReadOnlyMemory<byte>> rdatas, Span<byte> destination)
    {
        int count = rdatas.Count;
        Span<int> order = count <= 256 ? stackalloc int[count] : new int[count];
        for (int i = 0; i < count; i++) order[i] = i;
        // Insertion sort: RRsets here hold a handful of RRs, and it needs no delegate.
        for (int i = 1; i < count; i++)
        {
            int item = order[i], j = i - 1;
            while (j >= 0 && rdatas[order[j]].Span.SequenceCompareTo(rdatas[item].Span) > 0)
            {
                order[j + 1] = order[j];
                j--;
            }
            order[j + 1] = item;
        }

        Span<byte> name = stackalloc byte[CanonicalName.MaxLength];
        int nameLength = CanonicalName.CopyLower(owner, name);
        int at = 0;
        for (int k = 0; k < count; k++)
        {
            var rdata = rdatas[order[k]].Span;
            if (k > 0 && rdata.SequenceEqual(rdatas[order[k - 1]].Span)) continue;
            name[..nameLength].CopyTo(destination[at..]);
            at += nameLength;
            BinaryPrimitives.WriteUInt16BigEndian(destination[at..], type);
            BinaryPrimitives.WriteUInt16BigEndian(destination[(at + 2)..], cls);
            BinaryPrimitives.WriteUInt32BigEndian(destination[(at + 4)..], originalTtl);
            BinaryPrimitives.WriteUInt16BigEndian(destination[(at + 8)..], (ushort)rdata.Length);
            at += 10;
            rdata.CopyTo(destination[at..]);
            at += rdata.Length;
        }
        return at;
    }
}
