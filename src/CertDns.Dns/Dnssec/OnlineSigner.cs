namespace CertDns.Dns.Dnssec;

/// <summary>
/// Signs answers as they are written (online signing): every RRset's RRSIGs come from a cache keyed by the RRset
/// itself and the aligned <see cref="SignatureWindow"/>, so a name asked again, and the apex's RRsets, are signed once
/// per window; a miss signs with each active key that signs the type and caches the result. Positive RRsets and
/// negative answers (NSEC at names that do not exist) have caches of their own, so a flood of unknown names cannot
/// evict the known ones. Thread-safe.
/// </summary>
public sealed class OnlineSigner
{
    public const int DefaultPositiveSlots = 1 << 18, DefaultNegativeSlots = 1 << 15;

    private readonly SignatureCache _positive, _negative;

    public OnlineSigner(DnssecKeySet keys, int positiveSlots = DefaultPositiveSlots, int negativeSlots = DefaultNegativeSlots)
    {
        ArgumentNullException.ThrowIfNull(keys);
        Keys = keys;
        _positive = new SignatureCache(positiveSlots);
        _negative = new SignatureCache(negativeSlots);
        RrsigLength = RrsigSigner.RdataLength(keys.ZoneWire);
    }

    public DnssecKeySet Keys { get; }

    /// <summary>Octets of one RRSIG RDATA.</summary>
    public int RrsigLength { get; }

    /// <summary>Signatures made (cache misses), for the tests and metrics.</summary>
    public long Signed => Interlocked.Read(ref _signed);

    private long _signed;

    /// <summary>The RRSIG RDATAs of the RRset <paramref name="key"/> describes, from the cache or signed now.</summary>
    internal byte[][] Signatures(ReadOnlySpan<byte> key, SignatureWindow window, bool negative)
    {
        var cache = negative ? _negative : _positive;
        if (cache.Get(key, window) is { } cached) return cached;
        var (owner, type, ttl, rdatas) = RrsetKey.Parse(key);
        var signers = Keys.SignersFor(type);
        var signatures = new byte[signers.Count][];
        for (int i = 0; i < signers.Count; i++)
        {
            signatures[i] = new byte[RrsigLength];
            RrsigSigner.Sign(owner, type, 1, ttl, rdatas, window, signers[i], Keys.ZoneWire, signatures[i]);
        }
        Interlocked.Add(ref _signed, signers.Count);
        cache.Put(key, window, signatures);
        return signatures;
    }
}
