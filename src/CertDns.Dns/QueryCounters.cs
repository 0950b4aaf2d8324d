using CertDns.Core;

namespace CertDns.Dns;

/// <summary>
/// What the answer path counts, for the metrics endpoint: one preallocated array of cells indexed by transport,
/// rcode, status and view, each bumped with a plain <see cref="Interlocked.Increment(ref long)"/>. Nothing is
/// allocated or formatted per query; the exporter reads the cells on scrape.
/// </summary>
public sealed class QueryCounters
{
    /// <summary>Transports counted: UDP (0) and TCP (1).</summary>
    public const int Transports = 2;

    /// <summary>Header rcodes (4 bits; BADVERS is counted as its low bits, as the header carries them).</summary>
    public const int Rcodes = 16;

    /// <summary>Statuses counted, <see cref="CertStatus.Unknown"/> standing for "no certificate answered".</summary>
    public static readonly int Statuses = Enum.GetValues<CertStatus>().Length;

    /// <summary>Views counted.</summary>
    public static readonly int Views = Enum.GetValues<ZoneView>().Length;

    private readonly long[] _queries = new long[Transports * Rcodes * Statuses * Views];
    private long _transfers;
    private long _refusedTransfers;
    // IXFR answers by kind: TransferKind.IxfrCurrent, IxfrIncremental, IxfrWhole.
    private readonly long[] _ixfr = new long[4];
    // Response rate limiting and DNS cookies.
    private long _rateLimited;
    private long _slipped;
    private readonly long[] _cookies = new long[Enum.GetValues<CookieOutcome>().Length];

    /// <summary>Counts one answered query.</summary>
    public void Query(bool tcp, int rcode, CertStatus status, ZoneView view) =>
        Interlocked.Increment(ref _queries[Index(tcp ? 1 : 0, rcode & 0xF, (int)status, (int)view)]);

    /// <summary>Counts one zone transfer started (AXFR or IXFR).</summary>
    public void Transfer() => Interlocked.Increment(ref _transfers);

    /// <summary>Counts one transfer started, and an IXFR also by what it answered with.</summary>
    public void Transfer(TransferKind kind)
    {
        Interlocked.Increment(ref _transfers);
        if (kind != TransferKind.Axfr) Interlocked.Increment(ref _ixfr[(int)kind]);
    }

    /// <summary>IXFRs answered so far with <paramref name="kind"/>.</summary>
    public long Ixfr(TransferKind kind) => Volatile.Read(ref _ixfr[(int)kind]);

    /// <summary>Counts one transfer request refused (not on the ACL, over UDP, or not the apex).</summary>
    public void TransferRefused() => Interlocked.Increment(ref _refusedTransfers);

    /// <summary>Counts one UDP response the rate limiter dropped.</summary>
    public void RateLimited() => Interlocked.Increment(ref _rateLimited);

    /// <summary>Counts one UDP response the rate limiter sent truncated instead (a slip).</summary>
    public void Slipped() => Interlocked.Increment(ref _slipped);

    /// <summary>Counts one query's COOKIE option by what it turned out to be.</summary>
    public void Cookie(CookieOutcome outcome) => Interlocked.Increment(ref _cookies[(int)outcome]);

    /// <summary>UDP responses dropped by the rate limiter so far.</summary>
    public long RateLimitedResponses => Volatile.Read(ref _rateLimited);

    /// <summary>UDP responses the rate limiter slipped (sent truncated) so far.</summary>
    public long SlippedResponses => Volatile.Read(ref _slipped);

    /// <summary>Queries whose COOKIE option had this outcome so far.</summary>
    public long Cookies(CookieOutcome outcome) => Volatile.Read(ref _cookies[(int)outcome]);

    /// <summary>Queries answered so far with these labels.</summary>
    public long Queries(int transport, int rcode, CertStatus status, ZoneView view) =>
        Volatile.Read(ref _queries[Index(transport, rcode, (int)status, (int)view)]);

    /// <summary>Every query answered so far, whatever its labels.</summary>
    public long Total
    {
        get
        {
            long sum = 0;
            for (int i = 0; i < _queries.Length; i++) sum += Volatile.Read(ref _queries[i]);
            return sum;
        }
    }

    /// <summary>Zone transfers started so far.</summary>
    public long Transfers => Volatile.Read(ref _transfers);

    /// <summary>Transfer requests refused so far.</summary>
    public long TransfersRefused => Volatile.Read(ref _refusedTransfers);

    private static int Index(int transport, int rcode, int status, int view) => ((transport * Rcodes + rcode) * Statuses + status) * Views + view;
}
