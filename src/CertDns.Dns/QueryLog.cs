using System.Net;
using System.Net.Sockets;

namespace CertDns.Dns;

/// <summary>
/// The query log's queue between the answer path and its writer (dnstap, <c>[log] dnstap</c>): a bounded ring of
/// slots allocated up front. An answer thread copies its query, its response and the client's address into a free
/// slot and goes on; when every slot is taken the entry is dropped and counted, never waited for. One writer thread
/// takes the entries in order (<see cref="TryTake"/>), encodes and writes them. Several answer threads may record at
/// once (a bounded multi-producer queue after Vyukov: a sequence number per slot, one compare-and-swap per entry).
/// </summary>
public sealed class QueryLog
{
    /// <summary>Bytes each slot holds for its query and response together; a larger pair grows its slot once.</summary>
    public const int SlotBytes = 1024;

    private readonly Slot[] _slots;
    private readonly int _mask;
    private long _enqueue;
    private long _dequeue;
    private long _dropped;
    private long _recorded;
    private int _writerWaiting;
    private readonly ManualResetEventSlim _entries = new(false);

    /// <summary>A queue of at least <paramref name="capacity"/> entries (rounded up to a power of two).</summary>
    /// <param name="capacity">Entries the queue holds before it drops; from 1 to 2^20.</param>
    /// <param name="queries">Whether the writer logs queries (AUTH_QUERY).</param>
    /// <param name="responses">Whether the writer logs responses (AUTH_RESPONSE).</param>
    public QueryLog(int capacity, bool queries = true, bool responses = true)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(capacity, 1 << 20);
        int size = (int)System.Numerics.BitOperations.RoundUpToPowerOf2((uint)capacity);
        _slots = new Slot[size];
        for (int i = 0; i < size; i++) _slots[i] = new Slot { Sequence = i };
        _mask = size - 1;
        Queries = queries;
        Responses = responses;
    }

    /// <summary>Entries the queue holds.</summary>
    public int Capacity => _slots.Length;

    /// <summary>Whether queries are logged.</summary>
    public bool Queries { get; }

    /// <summary>Whether responses are logged.</summary>
    public bool Responses { get; }

    /// <summary>Entries taken into the queue.</summary>
    public long Recorded => Interlocked.Read(ref _recorded);

    /// <summary>Entries dropped because the queue was full (the writer behind, or its reader gone).</summary>
    public long Dropped => Interlocked.Read(ref _dropped);

    /// <summary>
    /// Queues one answered (or unanswered: <paramref name="response"/> empty) query. <paramref name="client"/> is the
    /// client's socket address as the kernel gives it (sockaddr_in or sockaddr_in6); <paramref name="server"/> the
    /// address it was sent to. Never blocks; allocates nothing unless the pair outgrows its slot.
    /// </summary>
    public void Record(ReadOnlySpan<byte> query, ReadOnlySpan<byte> response, bool tcp, ReadOnlySpan<byte> client, QueryLogEndpoint server)
    {
        // An empty datagram is no query (a closing socket's receive returns one): nothing to log.
        if (query.IsEmpty) return;
        long position = Volatile.Read(ref _enqueue);
        Slot slot;
        while (true)
        {
            slot = _slots[position & _mask];
            long difference = Volatile.Read(ref slot.Sequence) - position;
            if (difference == 0)
            {
                if (Interlocked.CompareExchange(ref _enqueue, position + 1, position) == position) break;
                position = Volatile.Read(ref _enqueue);
            }
            else if (difference < 0)
            {
                // Full: the writer has not yet freed this slot from the previous lap.
                Interlocked.Increment(ref _dropped);
                return;
            }
            else
            {
                position = Volatile.Read(ref _enqueue);
            }
        }

        slot.UnixTicks = DateTime.UtcNow.Ticks - DateTime.UnixEpoch.Ticks;
        slot.Tcp = tcp;
        int length = query.Length + response.Length;
        // The one allocation on this path: a pair larger than any this slot held before (a big TCP answer).
        if (slot.Data.Length < length) slot.Data = new byte[length];
        query.CopyTo(slot.Data);
        response.CopyTo(slot.Data.AsSpan(query.Length));
        slot.QueryLength = query.Length;
        slot.ResponseLength = response.Length;
        slot.Client = QueryLogEndpoint.FromSocketAddress(client);
        slot.Server = server;
        Volatile.Write(ref slot.Sequence, position + 1);
        Interlocked.Increment(ref _recorded);
        if (Volatile.Read(ref _writerWaiting) != 0) _entries.Set();
    }

    /// <summary>Takes the oldest entry into <paramref name="entry"/> (only the writer calls this). False: none waiting.</summary>
    public bool TryTake(QueryLogEntry entry)
    {
        ArgumentNullException.ThrowIfNull(entry);
        long position = _dequeue;
        var slot = _slots[position & _mask];
        if (Volatile.Read(ref slot.Sequence) != position + 1) return false;
        int length = slot.QueryLength + slot.ResponseLength;
        if (entry.Buffer.Length < length) entry.Buffer = new byte[Math.Max(length, SlotBytes)];
        slot.Data.AsSpan(0, length).CopyTo(entry.Buffer);
        entry.QueryLength = slot.QueryLength;
        entry.ResponseLength = slot.ResponseLength;
        entry.Tcp = slot.Tcp;
        entry.UnixTicks = slot.UnixTicks;
        entry.Client = slot.Client;
        entry.Server = slot.Server;
        Volatile.Write(ref slot.Sequence, position + _slots.Length);
        _dequeue = position + 1;
        return true;
    }

    /// <summary>Blocks the writer until an entry may be waiting or <paramref name="timeout"/> passes.</summary>
    public void WaitForEntries(TimeSpan timeout)
    {
        // A full fence (a store then a load, as the recorder's Interlocked.Increment is on its side): checked after
        // announcing the wait, an entry recorded just before is seen, and one recorded after sees the announcement.
        Interlocked.Exchange(ref _writerWaiting, 1);
        if (Volatile.Read(ref _slots[_dequeue & _mask].Sequence) != _dequeue + 1) _entries.Wait(timeout);
        Volatile.Write(ref _writerWaiting, 0);
        _entries.Reset();
    }

    private sealed class Slot
    {
        public long Sequence;
        public byte[] Data = new byte[SlotBytes];
        public int QueryLength;
        public int ResponseLength;
        public bool Tcp;
        public long UnixTicks;
        public QueryLogEndpoint Client;
        public QueryLogEndpoint Server;
    }
}

/// <summary>An address and port as dnstap carries them: four bytes (IPv4) or sixteen (IPv6), kept inline.</summary>
public readonly struct QueryLogEndpoint
{
    private readonly Int128 _address;

    private QueryLogEndpoint(Int128 address, bool v6, int port)
    {
        _address = address;
        IsV6 = v6;
        Port = port;
    }

    /// <summary>Sixteen address bytes (INET6) rather than four (INET).</summary>
    public bool IsV6 { get; }

    /// <summary>The port.</summary>
    public int Port { get; }

    /// <summary>No address (a socket address of an unknown family).</summary>
    public bool IsEmpty => Port == 0 && _address == 0 && !IsV6;

    /// <summary>Writes the address bytes (4 or 16) into <paramref name="destination"/> and returns how many.</summary>
    public int WriteAddress(Span<byte> destination)
    {
        Span<byte> all = stackalloc byte[16];
        System.Buffers.Binary.BinaryPrimitives.WriteInt128BigEndian(all, _address);
        var bytes = IsV6 ? all : all[12..];
        bytes.CopyTo(destination);
        return bytes.Length;
    }

    /// <summary>The endpoint of <paramref name="endpoint"/>, an IPv4-mapped IPv6 address as IPv4.</summary>
    public static QueryLogEndpoint From(IPEndPoint endpoint)
    {
        ArgumentNullException.ThrowIfNull(endpoint);
        var address = endpoint.Address.IsIPv4MappedToIPv6 ? endpoint.Address.MapToIPv4() : endpoint.Address;
        Span<byte> bytes = stackalloc byte[16];
        bytes.Clear();
        bool v6 = address.AddressFamily == AddressFamily.InterNetworkV6;
        address.TryWriteBytes(v6 ? bytes : bytes[12..], out _);
        return new QueryLogEndpoint(System.Buffers.Binary.BinaryPrimitives.ReadInt128BigEndian(bytes), v6, endpoint.Port);
    }

    /// <summary>
    /// Reads a socket address as the kernel writes it (Linux sockaddr_in: family 2, port at 2, address at 4;
    /// sockaddr_in6: family 10, address at 8); an IPv4-mapped IPv6 address (a dual-stack socket) becomes IPv4.
    /// </summary>
    public static QueryLogEndpoint FromSocketAddress(ReadOnlySpan<byte> sockaddr)
    {
        if (sockaddr.Length < 8) return default;
        int family = sockaddr[0] | (sockaddr[1] << 8);
        int port = (sockaddr[2] << 8) | sockaddr[3];
        Span<byte> bytes = stackalloc byte[16];
        bytes.Clear();
        if (family == 2)
        {
            sockaddr.Slice(4, 4).CopyTo(bytes[12..]);
            return new QueryLogEndpoint(System.Buffers.Binary.BinaryPrimitives.ReadInt128BigEndian(bytes), false, port);
        }
        if (family is 10 or 23 && sockaddr.Length >= 24)
        {
            sockaddr.Slice(8, 16).CopyTo(bytes);
            // ::ffff:a.b.c.d: ten zero bytes, two 0xff.
            bool mapped = bytes[..10].IndexOfAnyExcept((byte)0) < 0 && bytes[10] == 0xff && bytes[11] == 0xff;
            if (mapped) bytes[..12].Clear();
            return new QueryLogEndpoint(System.Buffers.Binary.BinaryPrimitives.ReadInt128BigEndian(bytes), !mapped, port);
        }
        return default;
    }
}

/// <summary>One logged query and its response, as the writer takes it from a <see cref="QueryLog"/> (reused).</summary>
public sealed class QueryLogEntry
{
    internal byte[] Buffer = new byte[QueryLog.SlotBytes];
    internal int QueryLength;
    internal int ResponseLength;

    /// <summary>The query as received.</summary>
    public ReadOnlySpan<byte> Query => Buffer.AsSpan(0, QueryLength);

    /// <summary>The response as sent; empty when the query went unanswered or was a zone transfer.</summary>
    public ReadOnlySpan<byte> Response => Buffer.AsSpan(QueryLength, ResponseLength);

    /// <summary>The query as a memory slice (for encoders that take memory).</summary>
    public ReadOnlyMemory<byte> QueryMemory => Buffer.AsMemory(0, QueryLength);

    /// <summary>The response as a memory slice.</summary>
    public ReadOnlyMemory<byte> ResponseMemory => Buffer.AsMemory(QueryLength, ResponseLength);

    /// <summary>Over TCP rather than UDP.</summary>
    public bool Tcp { get; internal set; }

    /// <summary>When it was answered: 100 ns ticks since 1970-01-01 UTC.</summary>
    public long UnixTicks { get; internal set; }

    /// <summary>The client's address and port.</summary>
    public QueryLogEndpoint Client { get; internal set; }

    /// <summary>The server's address and port the query was sent to.</summary>
    public QueryLogEndpoint Server { get; internal set; }
}
