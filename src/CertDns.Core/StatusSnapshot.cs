namespace CertDns.Core;

/// <summary>
/// An immutable, compact view of everything the zone publishes. Certificates are records in parallel arrays, in the
/// order the store gave them (no object per certificate): the SHA-256 as fixed-size integers, validity (32-bit), a CA number,
/// and the revocation reason and block mark in one octet; revocation and block details live in small side tables.
/// SHA-256 (the form MTAs are told to use) has a hash index here, built in one pass with no sort; the other forms
/// (SHA-1, MD5, the key's SHA-256) are found through an <see cref="ICertificateDirectory"/>, which names the SHA-256 to
/// look up. Built off to the side and published by one reference swap.
/// </summary>
public sealed class StatusSnapshot
{
    private readonly DigestTable<Digest32> _sha256;
    // notBefore and notAfter in Unix seconds, clamped to 1970-2106 (see StatusSnapshotBuilder.Add).
    private readonly uint[] _validity;
    private readonly ushort[] _caOf;
    private readonly byte[] _flags;
    private readonly CaFacts[] _cas;
    private readonly int[] _revokedRecords;
    private readonly long[] _revokedAt;
    private readonly int[] _revokedCrl;
    private readonly string[] _crlNumbers;
    private readonly int[] _blockedRecords;
    private readonly BlockFacts[] _blocks;
    private readonly ICertificateDirectory? _directory;
    // The SHA-1, MD5 and key forms in memory, each built when first asked (shared with WithSerial's copies, the built
    // ones carried into a patch that adds no certificate).
    private readonly FormIndexes _forms;

    // Certificates a directory answer names before the pool is asked for more room; a key shared by more is rare.
    private const int Batch = 16;

    /// <summary>An empty snapshot with serial 0.</summary>
    public static StatusSnapshot Empty { get; } = new(new StatusSnapshotBuilder(0), 0, null);

    /// <summary>Builds the index from certificate objects (tests, small data); the store uses <see cref="StatusSnapshotBuilder"/>.</summary>
    /// <param name="serial">The zone's SOA serial for this data.</param>
    /// <param name="certificates">Every registered certificate.</param>
    /// <exception cref="ArgumentException">Two certificates have the same SHA-256.</exception>
    public StatusSnapshot(uint serial, IEnumerable<CertFacts> certificates)
        : this(serial, certificates as IReadOnlyCollection<CertFacts> ?? [.. certificates ?? throw new ArgumentNullException(nameof(certificates))])
    {
    }

    private StatusSnapshot(uint serial, IReadOnlyCollection<CertFacts> certificates)
        : this(StatusSnapshotBuilder.From(certificates), serial, ICertificateDirectory.InMemory(certificates))
    {
    }

    internal StatusSnapshot(StatusSnapshotBuilder b, uint serial, ICertificateDirectory? directory)
        : this(b.Finish(), serial, directory, table: null, forms: null)
    {
    }

    /// <param name="c">The arrays.</param>
    /// <param name="serial">The zone's SOA serial.</param>
    /// <param name="directory">Where the other digests are found.</param>
    /// <param name="table">The SHA-256 index over <c>c.Sha256</c> when one is built already; null builds it.</param>
    /// <param name="forms">The other forms' indexes when they hold for these records; null builds each when first asked.</param>
    private StatusSnapshot(SnapshotColumns c, uint serial, ICertificateDirectory? directory, DigestTable<Digest32>? table, FormIndexes? forms)
    {
        Serial = serial;
        Count = c.Sha256.Length;
        (_validity, _caOf, _flags, _cas) = (c.Validity, c.CaOf, c.Flags, c.Cas);
        (_revokedRecords, _revokedAt, _revokedCrl, _crlNumbers) = (c.RevokedRecords, c.RevokedAt, c.RevokedCrl, c.CrlNumbers);
        (_blockedRecords, _blocks) = (c.BlockedRecords, c.Blocks);
        _directory = directory;
        ulong seed = (ulong)Random.Shared.NextInt64() ^ ((ulong)Random.Shared.NextInt64() << 1);
        _sha256 = table ?? new DigestTable<Digest32>(c.Sha256, seed, unique: true);
        _forms = forms ?? new FormIndexes();
    }

    private StatusSnapshot(StatusSnapshot data, uint serial)
    {
        Serial = serial;
        Count = data.Count;
        (_sha256, _validity, _caOf, _flags, _cas, _directory, _forms) = (data._sha256, data._validity, data._caOf, data._flags, data._cas, data._directory, data._forms);
        (_revokedRecords, _revokedAt, _revokedCrl, _crlNumbers) = (data._revokedRecords, data._revokedAt, data._revokedCrl, data._crlNumbers);
        (_blockedRecords, _blocks) = (data._blockedRecords, data._blocks);
    }

    /// <summary>The same data under another SOA serial (the arrays are shared, not copied).</summary>
    public StatusSnapshot WithSerial(uint serial) => new(this, serial);

    /// <summary>
    /// The first instant after <paramref name="now"/> at which time alone changes an answer: a certificate becoming
    /// valid or expiring, a CRL passing its nextUpdate (whole seconds, as the data is kept). Null when none is ahead.
    /// Each record's instant is the one <see cref="StatusEvaluator.Status(bool, RevocationReason?, CaFacts, DateTimeOffset, DateTimeOffset, DateTimeOffset, out DateTimeOffset?)"/>
    /// gives with its status, so the rules live in one place. One pass over the records.
    /// </summary>
    public DateTimeOffset? NextChange(DateTimeOffset now)
    {
        DateTimeOffset? next = null;
        for (int r = 0; r < Count; r++)
        {
            StatusOf(r, now, out var until);
            // A date past 2106 was clamped to uint.MaxValue (see StatusSnapshotBuilder.Add): nothing to wait for.
            if (until is { } at && at.ToUnixTimeSeconds() <= uint.MaxValue && (next is null || at < next)) next = at;
        }
        return next;
    }

    /// <summary>
    /// The certificates whose published names may answer differently in this snapshot at <paramref name="nowAt"/> than in
    /// <paramref name="before"/> at <paramref name="beforeAt"/> (the zone journal turns them into record differences):
    /// each as it was (null when it was not registered) and as it is (null when it is gone). A certificate whose stored
    /// facts, CA facts and chain are the same and whose status no time boundary crosses between the two moments is left
    /// out; any other may be named although its records come out the same, never the reverse. One pass over the records
    /// of each snapshot; the facts are built only for the certificates named.
    /// </summary>
    /// <exception cref="DirectoryUnavailableException">A certificate gone from the store can no longer be described.</exception>
    public IEnumerable<(CertFacts? Before, CertFacts? Now)> ChangesSince(StatusSnapshot before, DateTimeOffset beforeAt, DateTimeOffset nowAt)
    {
        ArgumentNullException.ThrowIfNull(before);
        // A clock set back still compares the two moments: a boundary between them changes the status either way.
        var (from, to) = beforeAt <= nowAt ? (beforeAt, nowAt) : (nowAt, beforeAt);
        var matched = new bool[before.Count];
        var sameCa = new Dictionary<(int, int), bool>();
        for (int r = 0; r < Count; r++)
        {
            int o = before.Find(_sha256[r]);
            if (o < 0)
            {
                yield return (null, Facts(r));
                continue;
            }
            matched[o] = true;
            if (!SameFacts(before, o, r, sameCa) || Crosses(before, o, from, to) || Crosses(this, r, from, to))
                yield return (before.Facts(o), Facts(r));
        }
        for (int o = 0; o < before.Count; o++)
        {
            if (!matched[o]) yield return (before.Facts(o), null);
        }
    }

    /// <summary>
    /// <see cref="ChangesSince"/> when the store names the certificates whose stored facts changed (its change log, with
    /// no CA or CRL change among them): those, each as it was and as it is, and every other certificate whose status a
    /// time boundary crosses between the two moments (its facts are the same in both, so one side tells). The records
    /// the journal makes of them are the ones <see cref="ChangesSince"/> gives; no hash lookup for the others.
    /// </summary>
    /// <param name="before">The snapshot published before.</param>
    /// <param name="beforeAt">When it was published.</param>
    /// <param name="nowAt">When this one is published.</param>
    /// <param name="changed">The SHA-256 of every certificate whose stored facts may differ between the two.</param>
    /// <exception cref="DirectoryUnavailableException">A certificate gone from the store can no longer be described.</exception>
    public IEnumerable<(CertFacts? Before, CertFacts? Now)> ChangesAmong(StatusSnapshot before, DateTimeOffset beforeAt, DateTimeOffset nowAt,
        IReadOnlyCollection<byte[]> changed)
    {
        ArgumentNullException.ThrowIfNull(before);
        ArgumentNullException.ThrowIfNull(changed);
        var (from, to) = beforeAt <= nowAt ? (beforeAt, nowAt) : (nowAt, beforeAt);
        var named = new HashSet<Digest32>();
        foreach (var sha256 in changed)
        {
            if (sha256.Length != 32 || !named.Add(Digest32.Read(sha256))) continue;
            var key = Digest32.Read(sha256);
            int o = before.Find(key), r = Find(key);
            if (o >= 0 || r >= 0) yield return (o < 0 ? null : before.Facts(o), r < 0 ? null : Facts(r));
        }
        for (int o = 0; o < before.Count; o++)
        {
            if (!Crosses(before, o, from, to) || named.Contains(before._sha256[o])) continue;
            int r = Find(before._sha256[o]);
            yield return (before.Facts(o), r < 0 ? null : Facts(r));
        }
    }

    /// <summary>
    /// The snapshot a whole load gives after the writes the store's change log names, when they are of the kinds it can
    /// say (the log says X'' for any other): listings set or lifted, certificates added or whose CRL entries changed
    /// (<paramref name="rows"/>, each worked out as a whole load does), and CRLs that replaced the current CRL of a series
    /// which alone covers its CA's certificates (<paramref name="renewed"/>). Every other fact is copied. Records stay in
    /// this snapshot's order (a record named in <paramref name="rows"/> takes the row's facts in its place) and added ones
    /// follow in the order given (the store's table order, as a whole load reads them), so directory passes stay in step.
    /// </summary>
    /// <param name="serial">The new snapshot's SOA serial.</param>
    /// <param name="blocks">Certificates whose listing may have changed, with the listing they have now.</param>
    /// <param name="rows">Certificates added, or whose facts may have changed, since this snapshot was loaded.</param>
    /// <param name="directory">Where the new snapshot finds the other digests.</param>
    /// <param name="renewed">Per CA, the current CRL of the one series that covers its certificates as this snapshot holds
    /// it (<see cref="CurrentCrl"/>) and as it is now: each CA record carrying the former carries the latter, and each
    /// revocation of the CA's certificates that cites the former's number cites the latter's.</param>
    public StatusSnapshot Patch(uint serial, IReadOnlyDictionary<string, BlockFacts?> blocks, IReadOnlyList<CertificateRow> rows, ICertificateDirectory? directory,
        IReadOnlyDictionary<long, (CrlFacts Before, CrlFacts After)>? renewed = null)
    {
        ArgumentNullException.ThrowIfNull(blocks);
        ArgumentNullException.ThrowIfNull(rows);
        // Column by column, not record by record through a builder: a renewal at ten million certificates touches the
        // CA records and the revocations' CRL numbers, and copying the rest is a few large copies (the record-by-record
        // rebuild, with a hash lookup and two binary searches per record and a new SHA-256 index, took 5 s).
        // What each changed record of this snapshot is now, in record order: a row re-read, or else a listing set or
        // lifted (a re-read row carries its listing).
        var changed = new SortedDictionary<int, (CertificateRow? Row, BlockFacts? Block)>();
        var added = new List<CertificateRow>();
        var addedKeys = new HashSet<Digest32>();
        foreach (var row in rows)
        {
            var key = Digest32.Read(row.Sha256);
            if (Find(key) is var r and >= 0) changed[r] = (row, null);
            else if (addedKeys.Add(key)) added.Add(row);
        }
        foreach (var (hex, block) in blocks)
            if (Find(Digest32.Read(Convert.FromHexString(hex))) is var r and >= 0) changed.TryAdd(r, (null, block));
        int count = Count + added.Count;
        var revocations = new List<(int Record, RevocationFacts? Facts)>(changed.Count + added.Count);
        var listings = new List<(int Record, BlockFacts? Facts)>(changed.Count + added.Count);

        // The CA records by index: this snapshot's (renewed), then any variant new here, each added once.
        var cas = new List<CaFacts>(_cas.Length);
        foreach (var ca in _cas)
            cas.Add(renewed is not null && ca.Crl is not null && renewed.TryGetValue(ca.Id, out var crl) && Equals(ca.Crl, crl.Before) ? ca with { Crl = crl.After } : ca);
        // An added or re-read certificate's CA facts equal in value one held already, unless its variant is new here.
        var caIndex = new Dictionary<CaFacts, int>(ReferenceEqualityComparer.Instance);
        ushort CaOf(CaFacts facts)
        {
            if (caIndex.TryGetValue(facts, out int index)) return (ushort)index;
            index = cas.FindIndex(c => SameCa(c, facts));
            if (index < 0)
            {
                if (cas.Count > ushort.MaxValue) throw new InvalidOperationException("A snapshot holds at most 65,536 CAs.");
                index = cas.Count;
                cas.Add(facts);
            }
            return (ushort)(caIndex[facts] = index);
        }

        var sha256 = _sha256.Records;
        if (added.Count > 0) Array.Resize(ref sha256, count);
        var validity = new uint[2 * count];
        var caOf = new ushort[count];
        var flags = new byte[count];
        Array.Copy(_validity, validity, _validity.Length);
        Array.Copy(_caOf, caOf, _caOf.Length);
        Array.Copy(_flags, flags, _flags.Length);
        void Set(int r, CertificateRow row)
        {
            validity[2 * r] = StatusSnapshotBuilder.Seconds(row.NotBefore);
            validity[2 * r + 1] = StatusSnapshotBuilder.Seconds(row.NotAfter);
            caOf[r] = CaOf(row.Ca);
            flags[r] = StatusFlags.Encode(row.Revocation?.Reason, row.Block is not null);
            revocations.Add((r, row.Revocation));
            listings.Add((r, row.Block));
        }
        // In record order, then the added ones after, so the side columns' merges below read them in order.
        foreach (var (r, (row, block)) in changed)
        {
            if (row is not null)
            {
                Set(r, row);
                continue;
            }
            flags[r] = StatusFlags.Encode(StatusFlags.Reason(flags[r]), block is not null);
            listings.Add((r, block));
        }
        for (int i = 0; i < added.Count; i++)
        {
            sha256[Count + i] = Digest32.Read(added[i].Sha256);
            Set(Count + i, added[i]);
        }

        // Revocations: this snapshot's, with a renewed CRL's number where they cite the one it replaced, except where a
        // changed record says what it is now.
        var numbers = new CrlNumbers(_crlNumbers);
        var renumber = new (int From, int To)?[_cas.Length];
        if (renewed is not null)
        {
            for (int c = 0; c < _cas.Length; c++)
                if (renewed.TryGetValue(_cas[c].Id, out var crl) && Array.IndexOf(_crlNumbers, crl.Before.Number) is var from && (from >= 0 || crl.Before.Number is null))
                    renumber[c] = (crl.Before.Number is null ? -1 : from, numbers.IndexOf(crl.After.Number));
        }
        var revokedRecords = new List<int>(_revokedRecords.Length + revocations.Count);
        var revokedAt = new List<long>(revokedRecords.Capacity);
        var revokedCrl = new List<int>(revokedRecords.Capacity);
        Merge(_revokedRecords, revocations, old =>
        {
            int cited = _revokedCrl[old];
            if (renumber[_caOf[_revokedRecords[old]]] is { } change && cited == change.From) cited = change.To;
            revokedRecords.Add(_revokedRecords[old]);
            revokedAt.Add(_revokedAt[old]);
            revokedCrl.Add(cited);
        }, (r, facts) =>
        {
            revokedRecords.Add(r);
            revokedAt.Add(facts.RevokedAt.ToUnixTimeSeconds());
            revokedCrl.Add(numbers.IndexOf(facts.CrlNumber));
        });
        var blockedRecords = new List<int>(_blockedRecords.Length + listings.Count);
        var blocked = new List<BlockFacts>(blockedRecords.Capacity);
        Merge(_blockedRecords, listings, old =>
        {
            blockedRecords.Add(_blockedRecords[old]);
            blocked.Add(_blocks[old]);
        }, (r, facts) =>
        {
            blockedRecords.Add(r);
            blocked.Add(facts);
        });

        var columns = new SnapshotColumns(sha256, validity, caOf, flags, [.. cas], [.. revokedRecords], [.. revokedAt], [.. revokedCrl], numbers.ToArray(), [.. blockedRecords], [.. blocked]);
        // The same certificates in the same records: the SHA-256 index still holds (it is never written once built), and
        // so do the other forms' (at 10M each takes a scan of the store and 205 MB to build again).
        return added.Count == 0 ? new StatusSnapshot(columns, serial, directory, _sha256, _forms.Carried()) : new StatusSnapshot(columns, serial, directory, null, null);
    }

    /// <summary>
    /// Walks a side column (<paramref name="records"/>, sorted) and the changed records (sorted, each with what it has
    /// now, or null for nothing) in record order: <paramref name="keep"/> gets the index of each entry whose record did
    /// not change, <paramref name="take"/> each changed record that has something now.
    /// </summary>
    private static void Merge<T>(int[] records, List<(int Record, T? Facts)> changed, Action<int> keep, Action<int, T> take)
        where T : class
    {
        int i = 0, j = 0;
        while (i < records.Length || j < changed.Count)
        {
            if (j == changed.Count || (i < records.Length && records[i] < changed[j].Record))
            {
                keep(i++);
                continue;
            }
            var (r, facts) = changed[j++];
            if (i < records.Length && records[i] == r) i++;
            if (facts is not null) take(r, facts);
        }
    }

    /// <summary>
    /// The CRL this snapshot holds as covering certificates of CA <paramref name="caId"/>. True with <paramref name="crl"/>
    /// null when it holds no CA record of that CA (nothing of it to renew); true with the CRL when every CA record of it
    /// that carries a CRL carries that one, and one does; false when its records carry several (several series cover
    /// them: one CRL's renewal cannot be told apart) or none (what its revocations cite is not known here).
    /// </summary>
    /// <param name="caId">The store's id of the CA.</param>
    /// <param name="crl">The CRL, or null.</param>
    public bool CurrentCrl(long caId, out CrlFacts? crl)
    {
        crl = null;
        bool held = false;
        foreach (var ca in _cas)
        {
            if (ca.Id != caId) continue;
            held = true;
            if (ca.Crl is null) continue;
            if (crl is not null && !Equals(crl, ca.Crl)) return false;
            crl ??= ca.Crl;
        }
        return !held || crl is not null;
    }

    /// <summary>Whether time alone changes record <paramref name="r"/>'s status after <paramref name="from"/>, by <paramref name="to"/>.</summary>
    private static bool Crosses(StatusSnapshot s, int r, DateTimeOffset from, DateTimeOffset to)
    {
        s.StatusOf(r, from, out var until);
        return until is { } at && at <= to;
    }

    /// <summary>Whether record <paramref name="o"/> of <paramref name="before"/> and record <paramref name="r"/> here hold the same facts.</summary>
    private bool SameFacts(StatusSnapshot before, int o, int r, Dictionary<(int, int), bool> sameCa)
    {
        if (_flags[r] != before._flags[o] || _validity[2 * r] != before._validity[2 * o] || _validity[2 * r + 1] != before._validity[2 * o + 1]) return false;
        var pair = (before._caOf[o], _caOf[r]);
        if (!sameCa.TryGetValue(pair, out bool same)) sameCa[pair] = same = SameCa(before._cas[pair.Item1], _cas[pair.Item2]);
        if (!same) return false;
        int mine = Array.BinarySearch(_revokedRecords, r), theirs = Array.BinarySearch(before._revokedRecords, o);
        if ((mine < 0) != (theirs < 0)) return false;
        if (mine >= 0 && (_revokedAt[mine] != before._revokedAt[theirs]
            || (_revokedCrl[mine] < 0 ? null : _crlNumbers[_revokedCrl[mine]]) != (before._revokedCrl[theirs] < 0 ? null : before._crlNumbers[before._revokedCrl[theirs]])))
            return false;
        mine = Array.BinarySearch(_blockedRecords, r);
        theirs = Array.BinarySearch(before._blockedRecords, o);
        if ((mine < 0) != (theirs < 0)) return false;
        return mine < 0 || Equals(_blocks[mine], before._blocks[theirs]);
    }

    /// <summary>CA facts compared by value down the chain (a link's serial is an array, which the records compare by reference).</summary>
    private static bool SameCa(CaFacts? a, CaFacts? b)
    {
        if (ReferenceEquals(a, b)) return true;
        if (a is null || b is null) return false;
        if (a.Id != b.Id || a.Name != b.Name || a.Trusted != b.Trusted || a.DistrustedAt != b.DistrustedAt || a.DistrustReason != b.DistrustReason
            || !Equals(a.Crl, b.Crl) || a.NoCrlReason != b.NoCrlReason) return false;
        if (a.Link is null || b.Link is null) return a.Link is null && b.Link is null;
        var (x, y) = (a.Link, b.Link);
        return x.Name == y.Name && x.Serial.AsSpan().SequenceEqual(y.Serial) && x.NotBefore == y.NotBefore && x.NotAfter == y.NotAfter
            && Equals(x.Revocation, y.Revocation) && SameCa(x.Issuer, y.Issuer);
    }

    /// <summary>The record holding the certificate whose SHA-256 is <paramref name="key"/>, or -1.</summary>
    private int Find(Digest32 key)
    {
        int position = -1, r;
        while ((r = _sha256.Next(key.A, ref position)) >= 0)
        {
            if (_sha256[r].Equals(key)) return r;
        }
        return -1;
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
            if (Count == 0) yield break;
            // The directory's details in its own order, which is the order the snapshot was loaded in (certificates
            // added since come after): one pass instead of a lookup per certificate. A record the pass does not line
            // up with is looked up by itself.
            using var pass = (_directory ?? throw new DirectoryUnavailableException("this snapshot has no certificate directory")).InOrder().GetEnumerator();
            bool more = pass.MoveNext();
            var sha256 = new byte[32];
            for (int r = 0; r < Count; r++)
            {
                _sha256[r].Write(sha256);
                if (more && pass.Current.Sha256.AsSpan().SequenceEqual(sha256))
                {
                    yield return Facts(r, pass.Current.Details);
                    more = pass.MoveNext();
                }
                else
                {
                    yield return Facts(r);
                }
            }
        }
    }

    /// <summary>
    /// The status and TTL the zone answers for a fingerprint, or <see cref="CertStatus.Unknown"/> when it is not
    /// registered. Allocates nothing: this is the per-query path; the TXT comes from <see cref="Evaluate(DigestKind, ReadOnlySpan{byte}, bool, DateTimeOffset, TimeSpan?)"/>.
    /// </summary>
    public CertStatus Answer(DigestKind kind, ReadOnlySpan<byte> digest, bool isKey, DateTimeOffset now, TimeSpan maxTtl, out TimeSpan ttl)
    {
        ttl = TimeSpan.Zero;
        int record = FindRecord(kind, digest, isKey, now);
        if (record < 0) return CertStatus.Unknown;
        var status = StatusOf(record, now, out _);
        ttl = StatusEvaluator.Ttl(_cas[_caOf[record]], status, NotAfter(record), now, maxTtl);
        return status;
    }

    /// <summary>
    /// The certificates a fingerprint names: one for a certificate digest (every one that shares it, for a SHA-1 or MD5
    /// that several have), all carrying the key for a key digest.
    /// </summary>
    public IReadOnlyList<CertFacts> Find(DigestKind kind, ReadOnlySpan<byte> digest, bool isKey)
    {
        if (!ICertificateDirectory.Serves(kind, digest.Length, isKey))
            return FindSha256(kind, digest, isKey) is var record and >= 0 ? [Facts(record)] : [];
        int[] records = System.Buffers.ArrayPool<int>.Shared.Rent(Batch);
        try
        {
            int count = FromDirectory(kind, digest, isKey, ref records);
            return [.. records.Take(count).Select(Facts)];
        }
        finally
        {
            System.Buffers.ArrayPool<int>.Shared.Return(records);
        }
    }

    /// <summary>The verdict (status, TXT, TTL) for a name, or null when the fingerprint is not registered.</summary>
    public Verdict? Evaluate(QueryName name, DateTimeOffset now, TimeSpan? maxTtl = null)
    {
        ArgumentNullException.ThrowIfNull(name);
        if (name.Kind != NameKind.Fingerprint || name.Value is null) return null;
        return Evaluate(name.Digest, name.Value, name.IsKey, now, maxTtl);
    }

    /// <summary>
    /// The verdict (status, TXT, TTL) for a fingerprint, or null when it is not registered. One lookup: the record
    /// is chosen as <see cref="Answer"/> chooses it (for a key, <see cref="KeyPick"/> over the snapshot's own
    /// statuses, which are <see cref="StatusEvaluator.Evaluate"/>'s by construction), and only that record is
    /// described.
    /// </summary>
    public Verdict? Evaluate(DigestKind kind, ReadOnlySpan<byte> digest, bool isKey, DateTimeOffset now, TimeSpan? maxTtl = null)
    {
        int record = FindRecord(kind, digest, isKey, now);
        return record < 0 ? null : StatusEvaluator.Evaluate(Facts(record), now, maxTtl);
    }

    /// <summary>The record a fingerprint answers with (for a key, the one its certificates' statuses pick), or -1.</summary>
    private int FindRecord(DigestKind kind, ReadOnlySpan<byte> digest, bool isKey, DateTimeOffset now)
    {
        if (!ICertificateDirectory.Serves(kind, digest.Length, isKey)) return FindSha256(kind, digest, isKey);
        // One certificate or none by the form's index in memory; several, or no index yet, are the store's to say.
        if (_directory is not null && _forms.Find(kind, digest, isKey, this) is var known and >= -1) return known;
        int[] records = System.Buffers.ArrayPool<int>.Shared.Rent(Batch);
        try
        {
            int count = FromDirectory(kind, digest, isKey, ref records);
            var pick = new KeyPick();
            for (int i = 0; i < count; i++)
            {
                int r = records[i];
                pick.Add(StatusOf(r, now, out _), StatusFlags.Reason(_flags[r]) == RevocationReason.KeyCompromise, r);
            }
            // A key's renewals are decided by the key rule (spec 2.3); certificates that share a SHA-1 or MD5 (a collision)
            // by precedence (spec 2.2), so a collision cannot hide a revocation behind a valid twin.
            return isKey ? pick.Chosen : pick.Worst;
        }
        finally
        {
            System.Buffers.ArrayPool<int>.Shared.Return(records);
        }
    }

    private CertStatus StatusOf(int r, DateTimeOffset now, out DateTimeOffset? until)
    {
        byte flags = _flags[r];
        return StatusEvaluator.Status(StatusFlags.IsBlocked(flags), StatusFlags.Reason(flags), _cas[_caOf[r]],
            DateTimeOffset.FromUnixTimeSeconds(_validity[2 * r]), NotAfter(r), now, out until);
    }

    private DateTimeOffset NotAfter(int r) => DateTimeOffset.FromUnixTimeSeconds(_validity[2 * r + 1]);

    /// <summary>The record of a certificate by its SHA-256 or 56-hex prefix, or -1 (also for any other form).</summary>
    private int FindSha256(DigestKind kind, ReadOnlySpan<byte> digest, bool isKey)
    {
        if (isKey) return -1;
        bool prefix;
        Digest32 key;
        if (kind == DigestKind.Sha256 && digest.Length == 32) (prefix, key) = (false, Digest32.Read(digest));
        else if (kind == DigestKind.Sha256Prefix && digest.Length == 28) (prefix, key) = (true, Digest32.ReadPrefix(digest));
        else return -1;
        int position = -1, r;
        // A 56-hex prefix shared by two certificates would be a SHA-256 collision in 224 bits: the first match is the one.
        while ((r = _sha256.Next(key.A, ref position)) >= 0)
        {
            if (prefix ? _sha256[r].HasPrefix(key) : _sha256[r].Equals(key)) return r;
        }
        return -1;
    }

    /// <summary>
    /// Builds the in-memory index of one of the SHA-1, MD5 and key forms now, on the calling thread (otherwise the
    /// first lookup of the form starts it in the background): false when the store could not be read.
    /// </summary>
    public bool IndexForm(DigestKind kind, bool isKey) => _directory is not null && _forms.BuildNow(kind, isKey, this);

    /// <summary>Whether the in-memory index of a form (SHA-1, MD5, or with <paramref name="isKey"/> the key's) is built.</summary>
    public bool HasFormIndex(DigestKind kind, bool isKey) => _forms.IsBuilt(kind, isKey);

    /// <summary>Calls <paramref name="row"/> with the record and the form's digest of each certificate the directory names that this snapshot holds.</summary>
    internal void DigestsByRecord(DigestKind kind, bool isKey, Action<int, ReadOnlySpan<byte>> row)
    {
        var directory = _directory ?? throw new DirectoryUnavailableException("this snapshot has no certificate directory");
        // The store names them in table order, the order the records were loaded in (certificates added since come
        // after): the next record is compared first, and only a row out of step with it is looked up in the hash index.
        // At 10M those lookups, two cache misses each, were half of a form's build (about 6 s of 13).
        int next = 0;
        directory.Digests(kind, isKey, (sha256, digest) =>
        {
            if (sha256.Length != 32) return;
            int r;
            if (next < Count && _sha256[next].Equals(Digest32.Read(sha256))) r = next++;
            else if ((r = FindSha256(DigestKind.Sha256, sha256, isKey: false)) >= 0) next = r + 1;
            else return;
            row(r, digest);
        });
    }

    /// <summary>
    /// The records of the certificates the directory names for a fingerprint, into <paramref name="records"/> (replaced
    /// by a larger pooled array when they do not fit); those the snapshot does not hold (added since) are skipped. A
    /// certificate digest names one, or several when certificates share a SHA-1 or MD5 (a collision).
    /// </summary>
    private int FromDirectory(DigestKind kind, ReadOnlySpan<byte> digest, bool isKey, ref int[] records)
    {
        if (_directory is null) return 0;
        var pool = System.Buffers.ArrayPool<byte>.Shared;
        byte[] sha256s = pool.Rent(records.Length * 32);
        try
        {
            int named;
            while ((named = _directory.Find(kind, digest, isKey, sha256s)) * 32 > sha256s.Length)
            {
                pool.Return(sha256s);
                sha256s = pool.Rent(named * 32);
            }
            if (named > records.Length)
            {
                System.Buffers.ArrayPool<int>.Shared.Return(records);
                records = System.Buffers.ArrayPool<int>.Shared.Rent(named);
            }
            int count = 0;
            for (int i = 0; i < named; i++)
            {
                int r = FindSha256(DigestKind.Sha256, sha256s.AsSpan(i * 32, 32), isKey: false);
                if (r >= 0) records[count++] = r;
            }
            return count;
        }
        finally
        {
            pool.Return(sha256s);
        }
    }

    private CertFacts Facts(int r)
    {
        var sha256 = new byte[32];
        _sha256[r].Write(sha256);
        // Only the directory knows the rest; a certificate it no longer knows (the store was replaced) cannot be described.
        return Facts(r, _directory?.Details(sha256) ?? throw new DirectoryUnavailableException("a certificate of the snapshot is no longer in the store"));
    }

    private CertFacts Facts(int r, CertificateDetails details)
    {
        var sha256 = new byte[32];
        _sha256[r].Write(sha256);
        int revoked = Array.BinarySearch(_revokedRecords, r);
        int blocked = Array.BinarySearch(_blockedRecords, r);
        return new CertFacts(sha256, details.Sha1, details.Md5, details.SpkiSha256, details.Serial,
            details.NotBefore, details.NotAfter, _cas[_caOf[r]],
            revoked < 0 ? null : new RevocationFacts(StatusFlags.Reason(_flags[r])!.Value, DateTimeOffset.FromUnixTimeSeconds(_revokedAt[revoked]),
                _revokedCrl[revoked] < 0 ? null : _crlNumbers[_revokedCrl[revoked]]),
            blocked >= 0 ? _blocks[blocked] : null);
    }
}

/// <summary>A certificate as a whole load works it out: what the snapshot keeps of it.</summary>
/// <param name="Sha256">Its SHA-256.</param>
/// <param name="NotBefore">Unix seconds.</param>
/// <param name="NotAfter">Unix seconds.</param>
/// <param name="Ca">Its CA facts with the CRL that covers it (or why none does).</param>
/// <param name="Revocation">What a covering CRL lists for it.</param>
/// <param name="Block">Its local listing.</param>
public sealed record CertificateRow(byte[] Sha256, long NotBefore, long NotAfter, CaFacts Ca, RevocationFacts? Revocation, BlockFacts? Block);
