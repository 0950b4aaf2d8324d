using System.Buffers.Binary;
using CertDns.Core;

namespace CertDns.Dns;

/// <summary>The response kinds rate-limited apart (as BIND's and NSD's RRL tell them apart).</summary>
public enum ResponseKind
{
    /// <summary>NOERROR with records in the answer section.</summary>
    Answer,

    /// <summary>NOERROR without answers.</summary>
    NoData,

    /// <summary>NXDOMAIN.</summary>
    NxDomain,

    /// <summary>Any other rcode (FORMERR, REFUSED, SERVFAIL, BADCOOKIE, ...).</summary>
    Error,
}

/// <summary>What the rate limiter decided for one UDP response.</summary>
public enum RateDecision
{
    /// <summary>Within the rate: sent as it is.</summary>
    Send,

    /// <summary>Over the rate: not sent.</summary>
    Drop,

    /// <summary>Over the rate, and this one of every <see cref="RateLimitOptions.Slip"/>: sent truncated (TC=1), so a real client asks again over TCP.</summary>
    Slip,
}

/// <summary>The response rate limiter's settings (<c>[rrl]</c>); the defaults are BIND's and NSD's.</summary>
public sealed record RateLimitOptions
{
    /// <summary>Responses a second one client prefix gets of one kind (<c>responses-per-second</c>).</summary>
    public int ResponsesPerSecond { get; init; } = 20;

    /// <summary>NXDOMAIN responses a second per prefix (<c>nxdomains-per-second</c>); null: <see cref="ResponsesPerSecond"/>.</summary>
    public int? NxDomainsPerSecond { get; init; }

    /// <summary>Error responses a second per prefix (<c>errors-per-second</c>); null: <see cref="ResponsesPerSecond"/>.</summary>
    public int? ErrorsPerSecond { get; init; }

    /// <summary>Every Nth limited response goes out truncated instead of dropped (<c>slip</c>); 0 drops them all, 1 truncates them all.</summary>
    public int Slip { get; init; } = 2;

    /// <summary>
    /// Seconds a prefix's debt is remembered (<c>window</c>, as BIND's): a flood that went on this long is limited for
    /// as long again after it stops, so a steady flood above the rate gets nothing but slips.
    /// </summary>
    public int Window { get; init; } = 15;

    /// <summary>IPv4 clients sharing this many leading bits share a bucket (<c>ipv4-prefix-length</c>).</summary>
    public int Ipv4PrefixLength { get; init; } = 24;

    /// <summary>IPv6 clients sharing this many leading bits share a bucket (<c>ipv6-prefix-length</c>).</summary>
    public int Ipv6PrefixLength { get; init; } = 56;

    /// <summary>Buckets in the table (<c>table-size</c>, rounded up to a power of two): memory is fixed at 32 octets each, whatever the flood.</summary>
    public int TableSize { get; init; } = 1 << 17;
}

/// <summary>
/// Response rate limiting (RRL) as NSD, Knot and BIND do it, for UDP: a credit per (client prefix, response kind),
/// topped up by the rate each second, spent by each response; out of credit the response is dropped, or every
/// <see cref="RateLimitOptions.Slip"/>th sent truncated. Buckets live in one fixed table of four-way sets, the least
/// recently used of a set taken over by a newcomer: a flood from a million spoofed sources uses the same memory as one
/// client and allocates nothing per query. Prefixes are hashed with a random seed, so a flood cannot aim at one set.
/// Thread-safe (striped locks); the clock is injected for tests.
/// </summary>
public sealed class RateLimiter
{
    private const int Ways = 4;
    private const int Stripes = 256;

    private readonly Bucket[] _buckets;
    private readonly object[] _locks = new object[Stripes];
    private readonly int _setMask;
    private readonly int[] _rates = new int[4];
    private readonly int _slip;
    private readonly int _window;
    private readonly ulong _v4Mask;
    private readonly ulong _v6Mask;
    private readonly ulong _seed;
    private readonly TimeProvider _time;

    /// <summary>A limiter with <paramref name="options"/>, its seconds read from <paramref name="time"/>.</summary>
    /// <exception cref="ArgumentOutOfRangeException">A rate, the window, a prefix length or the table size is out of range.</exception>
    public RateLimiter(RateLimitOptions options, TimeProvider time)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(time);
        ArgumentOutOfRangeException.ThrowIfLessThan(options.ResponsesPerSecond, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(options.NxDomainsPerSecond ?? 1, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(options.ErrorsPerSecond ?? 1, 1);
        ArgumentOutOfRangeException.ThrowIfNegative(options.Slip);
        ArgumentOutOfRangeException.ThrowIfLessThan(options.Window, 1);
        if (options.Ipv4PrefixLength is < 1 or > 32) throw new ArgumentOutOfRangeException(nameof(options), "ipv4-prefix-length is 1 to 32");
        if (options.Ipv6PrefixLength is < 1 or > 64) throw new ArgumentOutOfRangeException(nameof(options), "ipv6-prefix-length is 1 to 64");
        if (options.TableSize is < Ways or > 1 << 24) throw new ArgumentOutOfRangeException(nameof(options), "table-size is 4 to 16777216");
        Options = options;
        _time = time;
        int size = (int)System.Numerics.BitOperations.RoundUpToPowerOf2((uint)options.TableSize);
        _buckets = new Bucket[size];
        _setMask = size / Ways - 1;
        for (int i = 0; i < Stripes; i++) _locks[i] = new object();
        _rates[(int)ResponseKind.Answer] = options.ResponsesPerSecond;
        _rates[(int)ResponseKind.NoData] = options.ResponsesPerSecond;
        _rates[(int)ResponseKind.NxDomain] = options.NxDomainsPerSecond ?? options.ResponsesPerSecond;
        _rates[(int)ResponseKind.Error] = options.ErrorsPerSecond ?? options.ResponsesPerSecond;
        _slip = options.Slip;
        _window = options.Window;
        _v4Mask = ~0UL << (64 - options.Ipv4PrefixLength);
        _v6Mask = ~0UL << (64 - options.Ipv6PrefixLength);
        _seed = BinaryPrimitives.ReadUInt64LittleEndian(KernelRandom.GetBytes(8)) | 1;
    }

    /// <summary>The settings in force.</summary>
    public RateLimitOptions Options { get; }

    /// <summary>Buckets in the table (fixed at construction).</summary>
    public int Capacity => _buckets.Length;

    /// <summary>
    /// Charges one response of <paramref name="kind"/> to the prefix of <paramref name="clientAddress"/> (4 or 16
    /// octets; anything else is charged to one shared bucket) and says whether it may go.
    /// </summary>
    public RateDecision Check(ReadOnlySpan<byte> clientAddress, ResponseKind kind)
    {
        ulong prefix;
        int tag;
        if (clientAddress.Length == 4)
        {
            prefix = ((ulong)BinaryPrimitives.ReadUInt32BigEndian(clientAddress) << 32) & _v4Mask;
            tag = 1;
        }
        else if (clientAddress.Length == 16)
        {
            prefix = BinaryPrimitives.ReadUInt64BigEndian(clientAddress) & _v6Mask;
            tag = 2;
        }
        else
        {
            prefix = 0;
            tag = 3;
        }
        // Family and kind in the tag, never 0: a zeroed bucket is an empty one.
        tag = (tag << 4) | ((int)kind + 1);
        ulong hash = (prefix ^ _seed ^ ((ulong)tag << 56)) * 0x9E3779B97F4A7C15UL;
        int set = (int)(hash >> 32) & _setMask;
        long now = _time.GetUtcNow().ToUnixTimeSeconds();
        int rate = _rates[(int)kind];

        lock (_locks[set & (Stripes - 1)])
        {
            ref Bucket bucket = ref Find(set * Ways, prefix, tag, now, rate);
            long elapsed = now - bucket.Second;
            if (elapsed > 0)
            {
                // A second's rate of credit each second, never more than one second's worth saved up.
                bucket.Balance = (int)Math.Min(rate, bucket.Balance + Math.Min(elapsed, _window + 1L) * rate);
                bucket.Second = now;
            }
            else if (elapsed < 0)
            {
                // The clock went back: start the second again rather than lend credit from the future.
                bucket.Second = now;
            }
            // The debt is bounded: after the flood it takes at most the window to be paid off.
            if (bucket.Balance > -(long)_window * rate) bucket.Balance--;
            if (bucket.Balance >= 0) return RateDecision.Send;
            if (_slip == 0) return RateDecision.Drop;
            if (++bucket.Slipped >= _slip)
            {
                bucket.Slipped = 0;
                return RateDecision.Slip;
            }
            return RateDecision.Drop;
        }
    }

    /// <summary>The set's bucket for (prefix, tag), or the least recently charged one of the set, started afresh.</summary>
    private ref Bucket Find(int first, ulong prefix, int tag, long now, int rate)
    {
        int oldest = first;
        for (int i = first; i < first + Ways; i++)
        {
            ref Bucket b = ref _buckets[i];
            if (b.Tag == tag && b.Prefix == prefix) return ref b;
            if (b.Tag == 0 || (_buckets[oldest].Tag != 0 && b.Second < _buckets[oldest].Second)) oldest = i;
        }
        ref Bucket taken = ref _buckets[oldest];
        taken = new Bucket { Prefix = prefix, Tag = tag, Second = now, Balance = rate, Slipped = 0 };
        return ref taken;
    }

    private struct Bucket
    {
        public ulong Prefix;
        public long Second;
        public int Tag;
        public int Balance;
        public int Slipped;
    }
}
