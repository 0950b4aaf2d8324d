namespace CertDns.Core;

/// <summary>
/// An immutable, compact view of everything the zone publishes. Certificates are records in parallel arrays, in the
/// order the store gave them (no object per certificate): the digests as fixed-size integers, validity, a CA number,
/// and the revocation reason and block mark in one octet; revocation and block details live in small side tables.
/// Each digest form (SHA-256, SHA-1, MD5, SPKI) has a hash index: built in one pass, no sort, so loading is mostly
/// reading. Built off to the side and published by one reference swap.
/// </summary>
public sealed class StatusSnapshot
{
    private const byte BlockedFlag = 0x80;
    private const byte ReasonMask = 0x7F;

    private readonly DigestTable<Digest32> _sha256;
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
    private readonly DigestTable<Digest20> _sha1;
    private readonly DigestTable<Digest16> _md5;
    private readonly DigestTable<Digest32> _spki;

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
        _validity = b.Validity;
        _caOf = b.CaOf;
        _flags = b.Flags;
        _cas = b.Cas;
        _serials = b.Serials;
        _serialEnds = b.SerialEnds;
        (_revokedRecords, _revokedAt, _revokedCrl, _crlNumbers) = (b.RevokedRecords, b.RevokedAt, b.RevokedCrl, b.CrlNumbers);
        (_blockedRecords, _blocks) = (b.BlockedRecords, b.Blocks);
        // Four independent one-pass builds: on more than one core they overlap.
        ulong seed = (ulong)Random.Shared.NextInt64() ^ ((ulong)Random.Shared.NextInt64() << 1);
        DigestTable<Digest32>? spki = null;
        DigestTable<Digest20>? sha1 = null;
        DigestTable<Digest16>? md5 = null;
        var secondary = Task.Run(() => Parallel.Invoke(() => sha1 = new(b.Sha1, seed, unique: false),
            () => md5 = new(b.Md5, seed, unique: false), () => spki = new(b.Spki, seed, unique: false)));
        // On this thread, so a duplicate SHA-256 surfaces as the ArgumentException it is.
        _sha256 = new DigestTable<Digest32>(b.Sha256, seed, unique: true);
        secondary.GetAwaiter().GetResult();
        (_sha1, _md5, _spki) = (sha1!, md5!, spki!);
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
        var query = new Query(kind, digest, isKey);
        int position = -1;
        int record = NextMatch(in query, ref position);
        if (record < 0) return CertStatus.Unknown;
        if (isKey)
        {
            var pick = new KeyPick();
            for (int r = record; r >= 0; r = NextMatch(in query, ref position))
            {
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
        var query = new Query(kind, digest, isKey);
        int position = -1;
        var certs = new List<CertFacts>();
        for (int r = NextMatch(in query, ref position); r >= 0; r = NextMatch(in query, ref position))
        {
            certs.Add(Facts(r));
            // A certificate digest names one certificate (a 56-hex prefix shared by two would be a SHA-256 collision).
            if (!isKey) break;
        }
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

    /// <summary>A fingerprint read once into the key of the index it is looked up in.</summary>
    private readonly struct Query
    {
        public readonly int Index;
        public readonly bool Prefix;
        public readonly Digest32 Key32;
        public readonly Digest20 Key20;
        public readonly Digest16 Key16;

        public Query(DigestKind kind, ReadOnlySpan<byte> digest, bool isKey)
        {
            // Postfix's ccert_pubkey_fingerprint: only SHA-256 of the SPKI is registered; other digests name no key.
            (Index, Prefix) = (kind, digest.Length, isKey) switch
            {
                (DigestKind.Sha256, 32, false) => (0, false),
                (DigestKind.Sha256Prefix, 28, false) => (0, true),
                (DigestKind.Sha256, 32, true) => (3, false),
                (DigestKind.Sha256Prefix, 28, true) => (3, true),
                (DigestKind.Sha1, 20, false) => (1, false),
                (DigestKind.Md5, 16, false) => (2, false),
                _ => (-1, false),
            };
            if (Index is 0 or 3) Key32 = Prefix ? Digest32.ReadPrefix(digest) : Digest32.Read(digest);
            else if (Index == 1) Key20 = Digest20.Read(digest);
            else if (Index == 2) Key16 = Digest16.Read(digest);
        }
    }

    /// <summary>The next record matching <paramref name="q"/>, or -1; start with <paramref name="position"/> at -1.</summary>
    private int NextMatch(in Query q, ref int position)
    {
        switch (q.Index)
        {
            case 0:
            case 3:
            {
                var table = q.Index == 0 ? _sha256 : _spki;
                int r;
                while ((r = table.Next(q.Key32.A, ref position)) >= 0)
                {
                    if (q.Prefix ? table[r].HasPrefix(q.Key32) : table[r].Equals(q.Key32)) return r;
                }
                return -1;
            }
            case 1:
            {
                int r;
                while ((r = _sha1.Next(q.Key20.A, ref position)) >= 0 && !_sha1[r].Equals(q.Key20)) { }
                return r;
            }
            case 2:
            {
                int r;
                while ((r = _md5.Next(q.Key16.A, ref position)) >= 0 && !_md5[r].Equals(q.Key16)) { }
                return r;
            }
            default:
                return -1;
        }
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
