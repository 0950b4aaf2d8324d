namespace CertDns.Core;

/// <summary>
/// An immutable, compact view of everything the zone publishes. Certificates are records in arrays sorted by
/// SHA-256 (no object per certificate): the digests as fixed-size integers, validity, a CA number and the
/// revocation reason in one octet each; the few revocation and block details live in small side tables. SHA-1, MD5
/// and SPKI digests have their own sorted orderings. Built off to the side and published by one reference swap.
/// </summary>
public sealed class StatusSnapshot
{
    private const byte BlockedFlag = 0x80;
    private const byte ReasonMask = 0x7F;

    private readonly Digest32[] _sha256;
    // Where each value of the top 16 bits starts in _sha256: binary search then covers ~N/65536 entries.
    private readonly int[] _buckets;
    private readonly long[] _validity;
    private readonly ushort[] _caOf;
    private readonly byte[] _flags;
    private readonly CaFacts[] _cas;
    private readonly byte[] _serials;
    private readonly int[] _serialEnds;
    private readonly int[] _revokedRecords;
    private readonly long[] _revokedAt;
    private readonly int[] _revokedCrl;
    private readonly string[] _crlNumbers;
    private readonly int[] _blockedRecords;
    private readonly BlockFacts[] _blocks;
    private readonly DigestIndex<Digest20> _sha1;
    private readonly DigestIndex<Digest16> _md5;
    private readonly DigestIndex<Digest32> _spki;

    /// <summary>An empty snapshot with serial 0.</summary>
    public static StatusSnapshot Empty { get; } = new(0, []);

    /// <summary>Builds the index from certificate objects (tests, small data); the store uses <see cref="StatusSnapshotBuilder"/>.</summary>
    /// <param name="serial">The zone's SOA serial for this data.</param>
    /// <param name="certificates">Every registered certificate.</param>
    /// <exception cref="ArgumentException">Two certificates have the same SHA-256.</exception>
    public StatusSnapshot(uint serial, IEnumerable<CertFacts> certificates)
        : this(StatusSnapshotBuilder.From(certificates), serial)
    {
    }

    internal StatusSnapshot(StatusSnapshotBuilder b, uint serial)
    {
        Serial = serial;
        Count = b.Count;
        _sha256 = b.Sha256;
        _validity = b.Validity;
        _caOf = b.CaOf;
        _flags = b.Flags;
        _cas = b.Cas;
        _serials = b.Serials;
        _serialEnds = b.SerialEnds;
        (_revokedRecords, _revokedAt, _revokedCrl, _crlNumbers) = (b.RevokedRecords, b.RevokedAt, b.RevokedCrl, b.CrlNumbers);
        (_blockedRecords, _blocks) = (b.BlockedRecords, b.Blocks);
        // Three independent sorts: on more than one core they overlap, which is most of the time to first answer.
        DigestIndex<Digest20>? sha1 = null;
        DigestIndex<Digest16>? md5 = null;
        DigestIndex<Digest32>? spki = null;
        Parallel.Invoke(() => sha1 = new(b.Sha1), () => md5 = new(b.Md5), () => spki = new(b.Spki));
        (_sha1, _md5, _spki) = (sha1!, md5!, spki!);
        _buckets = new int[65537];
        int at = 0;
        for (int bucket = 0; bucket < 65536; bucket++)
        {
            _buckets[bucket] = at;
            while (at < _sha256.Length && (int)(_sha256[at].A >> 48) == bucket) at++;
        }
        _buckets[65536] = _sha256.Length;
    }

    /// <summary>The SOA serial of this data.</summary>
    public uint Serial { get; }

    /// <summary>How many certificates it holds.</summary>
    public int Count { get; }

    /// <summary>Every certificate (for export and status reports), built one at a time.</summary>
    public IEnumerable<CertFacts> Certificates
    {
        get
        {
            for (int r = 0; r < Count; r++) yield return Facts(r);
        }
    }

    /// <summary>
    /// The status and TTL the zone answers for a fingerprint, or <see cref="CertStatus.Unknown"/> when it is not
    /// registered. Allocates nothing: this is the per-query path; the TXT comes from <see cref="Evaluate(DigestKind, ReadOnlySpan{byte}, bool, DateTimeOffset, TimeSpan?)"/>.
    /// </summary>
    public CertStatus Answer(DigestKind kind, ReadOnlySpan<byte> digest, bool isKey, DateTimeOffset now, TimeSpan maxTtl, out TimeSpan ttl)
    {
        ttl = TimeSpan.Zero;
        var (which, start, end) = Match(kind, digest, isKey);
        if (start == end) return CertStatus.Unknown;
        int record;
        if (!isKey)
        {
            record = RecordAt(which, start);
        }
        else
        {
            var pick = new KeyPick();
            for (int i = start; i < end; i++)
            {
                int r = RecordAt(which, i);
                pick.Add(StatusOf(r, now), (_flags[r] & ReasonMask) == 1 + (int)RevocationReason.KeyCompromise, r);
            }
            record = pick.Chosen;
        }
        var status = StatusOf(record, now);
        ttl = StatusEvaluator.Ttl(_cas[_caOf[record]], status, NotAfter(record), now, maxTtl);
        return status;
    }

    /// <summary>The certificates a fingerprint names: one for a certificate digest, all carrying the key for a key digest.</summary>
    public IReadOnlyList<CertFacts> Find(DigestKind kind, ReadOnlySpan<byte> digest, bool isKey)
    {
        var (which, start, end) = Match(kind, digest, isKey);
        if (start == end) return [];
        if (!isKey) return [Facts(RecordAt(which, start))];
        var certs = new List<CertFacts>(end - start);
        for (int i = start; i < end; i++) certs.Add(Facts(RecordAt(which, i)));
        return certs;
    }

    /// <summary>The verdict (status, TXT, TTL) for a name, or null when the fingerprint is not registered.</summary>
    public Verdict? Evaluate(QueryName name, DateTimeOffset now, TimeSpan? maxTtl = null)
    {
        ArgumentNullException.ThrowIfNull(name);
        if (name.Kind != NameKind.Fingerprint || name.Value is null) return null;
        return Evaluate(name.Digest, name.Value, name.IsKey, now, maxTtl);
    }

    /// <summary>The verdict (status, TXT, TTL) for a fingerprint, or null when it is not registered.</summary>
    public Verdict? Evaluate(DigestKind kind, ReadOnlySpan<byte> digest, bool isKey, DateTimeOffset now, TimeSpan? maxTtl = null)
    {
        var certs = Find(kind, digest, isKey);
        if (certs.Count == 0) return null;
        return isKey ? StatusEvaluator.EvaluateKey(certs, now, maxTtl) : StatusEvaluator.Evaluate(certs[0], now, maxTtl);
    }

    private CertStatus StatusOf(int r, DateTimeOffset now)
    {
        int flags = _flags[r];
        RevocationReason? reason = (flags & ReasonMask) == 0 ? null : (RevocationReason)((flags & ReasonMask) - 1);
        return StatusEvaluator.Status((flags & BlockedFlag) != 0, reason, _cas[_caOf[r]],
            DateTimeOffset.FromUnixTimeSeconds(_validity[2 * r]), NotAfter(r), now);
    }

    private DateTimeOffset NotAfter(int r) => DateTimeOffset.FromUnixTimeSeconds(_validity[2 * r + 1]);

    /// <summary>Which ordering holds the matches (0: SHA-256, 1: SHA-1, 2: MD5, 3: SPKI) and their positions in it.</summary>
    private (int Which, int Start, int End) Match(DigestKind kind, ReadOnlySpan<byte> digest, bool isKey)
    {
        switch (kind)
        {
            case DigestKind.Sha256 when digest.Length == 32 && !isKey:
            {
                var key = Digest32.Read(digest);
                int at = LowerBound(key);
                return (0, at, at < _sha256.Length && _sha256[at] == key ? at + 1 : at);
            }
            case DigestKind.Sha256Prefix when digest.Length == 28 && !isKey:
            {
                var prefix = Digest32.ReadPrefix(digest);
                int at = LowerBound(prefix), end = at;
                while (end < _sha256.Length && _sha256[end].HasPrefix(prefix)) end++;
                return (0, at, end);
            }
            // Postfix's ccert_pubkey_fingerprint: only SHA-256 of the SPKI is registered; other digests name no key.
            case DigestKind.Sha256 when digest.Length == 32:
            {
                var (start, end) = _spki.Range(Digest32.Read(digest));
                return (3, start, end);
            }
            case DigestKind.Sha256Prefix when digest.Length == 28:
            {
                var prefix = Digest32.ReadPrefix(digest);
                int at = _spki.LowerBound(prefix), end = at;
                while (end < _spki.Count && _spki[_spki.RecordAt(end)].HasPrefix(prefix)) end++;
                return (3, at, end);
            }
            case DigestKind.Sha1 when digest.Length == 20 && !isKey:
            {
                var (start, end) = _sha1.Range(Digest20.Read(digest));
                return (1, start, end);
            }
            case DigestKind.Md5 when digest.Length == 16 && !isKey:
            {
                var (start, end) = _md5.Range(Digest16.Read(digest));
                return (2, start, end);
            }
            default:
                return (0, 0, 0);
        }
    }

    private int RecordAt(int which, int position) => which switch
    {
        0 => position,
        1 => _sha1.RecordAt(position),
        2 => _md5.RecordAt(position),
        _ => _spki.RecordAt(position),
    };

    private int LowerBound(Digest32 key)
    {
        int bucket = (int)(key.A >> 48);
        int lo = _buckets[bucket], hi = _buckets[bucket + 1];
        while (lo < hi)
        {
            int mid = (int)((uint)(lo + hi) >> 1);
            if (_sha256[mid].CompareTo(key) < 0) lo = mid + 1;
            else hi = mid;
        }
        return lo;
    }

    private CertFacts Facts(int r)
    {
        var sha256 = new byte[32];
        _sha256[r].Write(sha256);
        var sha1 = new byte[20];
        _sha1[r].Write(sha1);
        var md5 = new byte[16];
        _md5[r].Write(md5);
        var spki = new byte[32];
        _spki[r].Write(spki);
        int serialStart = r == 0 ? 0 : _serialEnds[r - 1];
        int revoked = Array.BinarySearch(_revokedRecords, r);
        int blocked = Array.BinarySearch(_blockedRecords, r);
        return new CertFacts(sha256, sha1, md5, spki, _serials[serialStart.._serialEnds[r]],
            DateTimeOffset.FromUnixTimeSeconds(_validity[2 * r]), NotAfter(r), _cas[_caOf[r]],
            revoked < 0 ? null : new RevocationFacts((RevocationReason)((_flags[r] & ReasonMask) - 1), DateTimeOffset.FromUnixTimeSeconds(_revokedAt[revoked]),
                _revokedCrl[revoked] < 0 ? null : _crlNumbers[_revokedCrl[revoked]]),
            blocked >= 0 ? _blocks[blocked] : null);
    }
}
