using System.Data;
using CertDns.Core;
using Dapper;
using Microsoft.Data.Sqlite;
using SQLitePCL;

namespace CertDns.Store;

/// <summary>
/// Reads everything the zone publishes into an immutable snapshot (<see cref="CertStore.Snapshots"/>): the store's rows
/// streamed through <see cref="CrlCoverage"/>, the coverage rules, and into a <see cref="StatusSnapshotBuilder"/>.
/// </summary>
public sealed class SnapshotLoader : StoreAggregate
{
    internal SnapshotLoader(CertStore store) : base(store) { }

    /// <summary>
    /// Reads everything the zone publishes into an immutable snapshot, inside one read transaction so that it
    /// is consistent with the serial it carries (the long scans on a second connection whose transaction reads that
    /// same commit: <see cref="PinnedReader"/>). Per certificate it works out which current CRLs cover it
    /// (RFC 5280 6.3.3: issuer, distribution point, certificate kind, reasons) and what they list for it.
    /// One scan of each table through SQLite's own API: no query per certificate, no object per row.
    /// </summary>
    /// <param name="directory">Where the snapshot finds the certificates' SHA-1, MD5 and key digests; by default this
    /// store's indexes through connections of its own that close with this store (a server that keeps snapshots longer
    /// passes a <see cref="StoreCertificateDirectory"/> it owns).</param>
    public StatusSnapshot Load(ICertificateDirectory? directory = null)
    {
        using var tx = _db.BeginTransaction(deferred: true);
        var serial = _store.ReadSerial(tx);
        var count = _db.ExecuteScalar<long>("SELECT COUNT(*) FROM certificates;", transaction: tx);
        var builder = new StatusSnapshotBuilder((int)count);
        var caRows = _db.Query<CaRow>("SELECT * FROM cas;", transaction: tx).ToDictionary(c => c.Id);
        var coverage = LoadCoverage(tx, caRows.Values);

        // Revocations first, into the coverage's map by issuing CA (key, not name) and serial: matching them during the
        // certificate scan costs a hash per certificate instead of an index descent and a row fetch per revocation.
        // The long scans run on a connection of their own pinned to this transaction's commit, where the store gives one
        // and is large enough for the mutex to matter (below, the second connection's heap would outweigh it: about
        // 2 MB RSS against 30 ms at 100k certificates).
        using var pinned = count >= PinnedFrom ? PinnedReader.Open(_db.Handle!, _store.Path) : null;
        var handle = pinned?.Db ?? _db.Handle!;
        SqliteColumns.Check(handle, raw.sqlite3_prepare_v2(handle, "SELECT scope_id, delta, ca_id, serial, reason, revoked_at FROM revocations;", out var statement));
        using (statement)
        {
            int rc;
            var row = SqliteColumns.Of(statement);
            while ((rc = row.Step()) == raw.SQLITE_ROW)
                coverage.AddEntry(row.Int64(0), row.Int64(1) != 0, row.Int64(2), row.Blob(3), (RevocationReason)row.Int64(4), row.Int64(5));
            SqliteColumns.Check(handle, rc == raw.SQLITE_DONE ? raw.SQLITE_OK : rc);
        }

        // The chain, once per CA and snapshot: each intermediate's own certificate judged under its parent, parent first.
        var cas = ChainFacts(tx, caRows, coverage);

        // One CA record per distinct answer basis (issuer, covering CRL, why none covers), not one per certificate.
        // Consecutive rows almost always share it: the last one is kept and compared by reference before any hashing.
        var variants = new Dictionary<(long Ca, CrlFacts? Crl, string? Gap), int>();
        (long Ca, CrlFacts? Crl, string? Gap, int Index) lastVariant = (-1, null, null, -1);
        int Variant(long caId, CrlFacts? crl, string? gap)
        {
            if (lastVariant.Ca == caId && ReferenceEquals(lastVariant.Crl, crl) && ReferenceEquals(lastVariant.Gap, gap)) return lastVariant.Index;
            if (!variants.TryGetValue((caId, crl, gap), out var index))
            {
                var facts = crl is null && gap is null ? cas[caId] : cas[caId] with { Crl = crl, NoCrlReason = crl is null ? $"no current CRL covers it: {gap}" : null };
                variants[(caId, crl, gap)] = index = builder.AddCa(facts);
            }
            lastVariant = (caId, crl, gap, index);
            return index;
        }
        // Columns only a scoped CRL (issuingDistributionPoint) or a revocation looks at are read only when one is stored.
        bool readKind = coverage.NeedsKind, readPoints = coverage.NeedsPoints, readSerial = coverage.NeedsSerials;

        // A plain scan in table order reads the file front to back; the snapshot sorts in memory. The statement runs on
        // SQLite's own API inside the open transaction. Reading rows and working each out are about equal halves, so
        // this thread steps SQLite and copies the columns into batches while another core works them out in order.
        SqliteColumns.Check(handle, raw.sqlite3_prepare_v2(handle,
            "SELECT sha256, serial, not_before, not_after, ca_id, is_ca, crl_point_set FROM certificates;", out statement));
        using (statement)
        {
            using var full = new System.Collections.Concurrent.BlockingCollection<RowBatch>(boundedCapacity: 4);
            using var empty = new System.Collections.Concurrent.BlockingCollection<RowBatch>();
            for (int i = 0; i < 6; i++) empty.Add(new RowBatch());
            using var stop = new CancellationTokenSource();
            var worker = Task.Factory.StartNew(() =>
            {
                try
                {
                    foreach (var batch in full.GetConsumingEnumerable(stop.Token))
                    {
                        for (int i = 0; i < batch.Count; i++)
                        {
                            var judged = coverage.Judge(batch.CaId[i], batch.IsCa[i], batch.SerialOf(i), batch.Points[i]);
                            builder.Add(batch.Sha256.AsSpan(i * 32, 32), batch.NotBefore[i], batch.NotAfter[i], Variant(batch.CaId[i], judged.Crl, judged.Gap), judged.Revocation, null);
                        }
                        empty.Add(batch);
                    }
                }
                catch
                {
                    stop.Cancel();
                    throw;
                }
            }, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
            try
            {
                int rc;
                var row = SqliteColumns.Of(statement);
                var batch = empty.Take(stop.Token).Reset();
                while ((rc = row.Step()) == raw.SQLITE_ROW)
                {
                    batch.Read(row, readKind, readPoints, readSerial);
                    if (batch.Count < RowBatch.Size) continue;
                    full.Add(batch, stop.Token);
                    batch = empty.Take(stop.Token).Reset();
                }
                SqliteColumns.Check(handle, rc == raw.SQLITE_DONE ? raw.SQLITE_OK : rc);
                if (batch.Count > 0) full.Add(batch, stop.Token);
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested)
            {
                // The worker failed: its exception is the one to report.
            }
            finally
            {
                full.CompleteAdding();
            }
            worker.GetAwaiter().GetResult();
        }
        foreach (var (sha256, reason, since) in SqlRows.Read(_db, tx, "SELECT sha256, reason, since FROM listings;", r => (r.Blob(0), r.GetString(1), r.GetInt64(2))))
            builder.Block(sha256, new BlockFacts(reason, DateTimeOffset.FromUnixTimeSeconds(since)));
        tx.Commit();
        var served = directory ?? _store.Directory;
        // The store's directory holds a read transaction across lookups for a moment: from here on they read at least
        // what this load read (a certificate it holds is found by every form).
        (served as StoreCertificateDirectory)?.ReleaseReads();
        return builder.Build(serial, served);
    }

    /// <summary>
    /// The snapshot <see cref="Load"/> would give now, built from <paramref name="before"/> (loaded at store serial
    /// <paramref name="since"/>, whose commit token was <paramref name="commit"/>) and the change log: the certificates it
    /// names are read and judged again as <see cref="Load"/> judges them (their listing, their CRL entries, added ones), and
    /// a CRL that replaced the current one of a series renews that CRL's facts wherever the snapshot carries them; nothing
    /// else is read. Null when the log cannot say (it does not reach back, another commit or file, a change that reaches
    /// any number of certificates, a renewal the snapshot cannot tell apart: <see cref="Renewals"/>): load the whole store then.
    /// </summary>
    /// <param name="before">The snapshot loaded at <paramref name="since"/>.</param>
    /// <param name="since">The store serial <paramref name="before"/> was read at.</param>
    /// <param name="commit">The store's commit token of that serial (<see cref="ChangeLog.CommitOf"/>).</param>
    /// <param name="directory">As for <see cref="Load"/>.</param>
    public ChangedLoad? LoadChanged(StatusSnapshot before, uint since, ulong? commit, ICertificateDirectory? directory = null)
    {
        ArgumentNullException.ThrowIfNull(before);
        using var tx = _db.BeginTransaction(deferred: true);
        var changes = _store.Changes.Since(since, commit, tx);
        if (changes is null || changes.Whole) return null;
        var caRows = _db.Query<CaRow>("SELECT * FROM cas;", transaction: tx).ToDictionary(c => c.Id);
        var series = LoadSeries(tx);
        Dictionary<long, (CrlFacts Before, CrlFacts After)>? renewed = null;
        if (changes.Crls.Count > 0 && (renewed = Renewals(tx, before, changes.Crls, caRows, series)) is null) return null;
        var blocks = new Dictionary<string, BlockFacts?>(StringComparer.Ordinal);
        var named = new List<(long Id, byte[] Sha256)>();
        foreach (var sha256 in changes.Certificates)
        {
            var hex = Convert.ToHexString(sha256);
            if (blocks.ContainsKey(hex)) continue;
            var listing = SqlRows.First(_db, tx, "SELECT reason, since FROM listings WHERE sha256 = @sha256;",
                r => (Reason: r.GetString(0), Since: r.GetInt64(1)), ("@sha256", sha256));
            blocks[hex] = listing is { } l ? new BlockFacts(l.Reason, DateTimeOffset.FromUnixTimeSeconds(l.Since)) : null;
            if (_db.ExecuteScalar<long?>("SELECT id FROM certificates WHERE sha256 = @sha256;", new { sha256 }, tx) is { } id)
                named.Add((id, sha256));
        }
        var rows = named.Count == 0 ? [] : Judged(tx, [.. named.OrderBy(a => a.Id).Select(a => a.Sha256)], blocks, caRows, series);
        tx.Commit();
        var served = directory ?? _store.Directory;
        (served as StoreCertificateDirectory)?.ReleaseReads();
        // A renewed CRL changes the text of every certificate it covers: the journal compares the whole snapshots then.
        return new ChangedLoad(before.Patch(changes.Serial, blocks, rows, served, renewed), renewed is null ? changes.Certificates : null);
    }

    /// <summary>
    /// For CRLs that replaced the current CRL of their series (<paramref name="scopes"/>), per CA of the issuer's name:
    /// the CRL facts <paramref name="before"/> carries for its certificates and those of the series now. Null (load the
    /// whole store) unless each renewal reaches no further than those facts and the entries the log names: the series is
    /// the only one of its issuer's name, no indirect CRL is stored, no registered CA is a child of that name (its own
    /// certificate's status would fold into everything below it), the series never had a delta CRL (a delta's number is
    /// cited by its entries apart from the base's), and the snapshot holds one CRL for the name's certificates, or none of them.
    /// </summary>
    private Dictionary<long, (CrlFacts Before, CrlFacts After)>? Renewals(IDbTransaction tx, StatusSnapshot before, IReadOnlyList<long> scopes,
        Dictionary<long, CaRow> cas, List<CrlSeries> series)
    {
        if (series.Exists(s => s.Scope.Indirect)) return null;
        var renewed = new Dictionary<long, (CrlFacts Before, CrlFacts After)>();
        foreach (var scope in scopes)
        {
            var s = series.Find(x => x.Id == scope);
            if (s is null || !cas.TryGetValue(s.CaId, out var issuer)) return null;
            var name = NameGroup(cas, issuer.Id);
            if (series.Count(x => name.Contains(x.CaId)) != 1 || cas.Values.Any(c => c.ParentId is { } parent && name.Contains(parent))) return null;
            if (_db.ExecuteScalar<long?>("SELECT 1 FROM crls WHERE scope_id = @scope AND is_delta = 1 LIMIT 1;", new { scope }, tx) is not null) return null;
            CrlFacts? held = null;
            foreach (var ca in name)
            {
                if (!before.CurrentCrl(ca, out var crl) || (crl is not null && held is not null && !Equals(crl, held))) return null;
                held ??= crl;
            }
            // No certificate of the name is held: those the log names are judged anew, nothing else carries the CRL.
            if (held is null) continue;
            foreach (var ca in name) renewed[ca] = (held, s.Facts);
        }
        return renewed;
    }

    /// <summary>The CAs whose subject is <paramref name="caId"/>'s (coverage matches entries within such a name, or a part of it).</summary>
    private static HashSet<long> NameGroup(Dictionary<long, CaRow> cas, long caId)
    {
        var subject = cas[caId].SubjectDer;
        return [.. cas.Values.Where(c => c.SubjectDer.AsSpan().SequenceEqual(subject)).Select(c => c.Id)];
    }

    /// <summary>
    /// Certificates worked out exactly as <see cref="Load"/> works out each row: the same coverage, chain facts and CA
    /// variant; in the order given. The coverage holds the entries that can speak for them and for the CAs' own
    /// certificates (their serial under any CA of their issuer's name, in any series), read by key; past a bound on the
    /// lookups, every entry as <see cref="Load"/> reads them.
    /// </summary>
    private List<CertificateRow> Judged(IDbTransaction tx, List<byte[]> certificates, Dictionary<string, BlockFacts?> blocks,
        Dictionary<long, CaRow> caRows, List<CrlSeries> series)
    {
        var coverage = new CrlCoverage(caRows.Values.Select(c => new CoverageCa(c.Id, c.Subject, c.SubjectDer, c.ParentId)), series);
        var read = certificates.Select(sha256 => SqlRows.Read(_db, tx,
            "SELECT serial, not_before, not_after, ca_id, is_ca, crl_point_set FROM certificates WHERE sha256 = @sha256;",
            r => (Sha256: sha256, Serial: r.Blob(0), NotBefore: r.GetInt64(1), NotAfter: r.GetInt64(2), CaId: r.GetInt64(3), IsCa: r.GetInt64(4), Points: r.BlobOrNull(5)),
            ("@sha256", sha256)).Single()).ToList();
        var wanted = read.Select(c => (c.CaId, c.Serial)).Concat(SqlRows.Read(_db, tx,
            "SELECT a.parent_id, c.serial FROM cas a JOIN certificates c ON c.sha256 = a.sha256 WHERE a.parent_id IS NOT NULL AND c.ca_id = a.parent_id;",
            r => (CaId: r.GetInt64(0), Serial: r.Blob(1)))).ToList();
        var groups = new Dictionary<long, HashSet<long>>();
        var lookups = new List<(long Series, long Ca, byte[] Serial)>();
        var seen = new HashSet<(long, long, string)>();
        foreach (var (caId, serial) in wanted)
        {
            if (!caRows.ContainsKey(caId)) continue;
            if (!groups.TryGetValue(caId, out var name)) groups[caId] = name = NameGroup(caRows, caId);
            var hex = Convert.ToHexString(serial);
            foreach (var s in series)
            {
                if (!s.Scope.Indirect && !name.Contains(s.CaId)) continue;
                foreach (var ca in name)
                    if (seen.Add((s.Id, ca, hex))) lookups.Add((s.Id, ca, serial));
            }
        }
        if (lookups.Count > MaxEntryLookups)
        {
            foreach (var (scope, delta, ca, serial, reason, at) in SqlRows.Read(_db, tx,
                "SELECT scope_id, delta, ca_id, serial, reason, revoked_at FROM revocations;",
                r => (r.GetInt64(0), r.GetInt64(1), r.GetInt64(2), r.Blob(3), r.GetInt64(4), r.GetInt64(5))))
                coverage.AddEntry(scope, delta != 0, ca, serial, (RevocationReason)reason, at);
        }
        else
        {
            foreach (var (scope, ca, serial) in lookups)
                foreach (var (delta, reason, at) in SqlRows.Read(_db, tx,
                    "SELECT delta, reason, revoked_at FROM revocations WHERE scope_id = @scope AND delta IN (0, 1) AND ca_id = @ca AND serial = @serial;",
                    r => (r.GetInt64(0), r.GetInt64(1), r.GetInt64(2)), ("@scope", scope), ("@ca", ca), ("@serial", serial)))
                    coverage.AddEntry(scope, delta != 0, ca, serial, (RevocationReason)reason, at);
        }
        var cas = ChainFacts(tx, caRows, coverage);
        bool readKind = coverage.NeedsKind, readPoints = coverage.NeedsPoints, readSerial = coverage.NeedsSerials;
        var rows = new List<CertificateRow>(read.Count);
        foreach (var c in read)
        {
            var judged = coverage.Judge(c.CaId, readKind && c.IsCa != 0, readSerial ? c.Serial : [], readPoints && c.Points is { Length: > 0 } p ? p : null);
            var facts = judged.Crl is null && judged.Gap is null ? cas[c.CaId]
                : cas[c.CaId] with { Crl = judged.Crl, NoCrlReason = judged.Crl is null ? $"no current CRL covers it: {judged.Gap}" : null };
            rows.Add(new CertificateRow(c.Sha256, c.NotBefore, c.NotAfter, facts, judged.Revocation, blocks[Convert.ToHexString(c.Sha256)]));
        }
        return rows;
    }

    // Past this many keyed reads of revocations, one scan of the table is cheaper (a million rows take about a second).
    private const int MaxEntryLookups = 100_000;

    /// <summary>
    /// Every CA's facts with its <see cref="CaFacts.Link"/>: the intermediate's own certificate (stored as a certificate
    /// of its parent by <c>ca add</c>) as its parent's CRLs judge it, and the parent's facts with their own link. An
    /// intermediate whose certificate is not stored (registered before the chain was folded) has no CRL to judge it by:
    /// it counts as stale, never as valid, until <c>ca add</c> is run for it again.
    /// </summary>
    private Dictionary<long, CaFacts> ChainFacts(IDbTransaction tx, Dictionary<long, CaRow> rows, CrlCoverage coverage)
    {
        var own = SqlRows.Read(_db, tx,
            "SELECT a.id, c.serial, c.not_before, c.not_after, c.crl_point_set FROM cas a JOIN certificates c ON c.sha256 = a.sha256 WHERE a.parent_id IS NOT NULL AND c.ca_id = a.parent_id;",
            r => (Ca: r.GetInt64(0), Serial: r.Blob(1), NotBefore: r.GetInt64(2), NotAfter: r.GetInt64(3), Points: r.BlobOrNull(4))).ToDictionary(x => x.Ca);
        var facts = new Dictionary<long, CaFacts>();
        var building = new HashSet<long>();
        CaFacts Of(long id)
        {
            if (facts.TryGetValue(id, out var done)) return done;
            var row = rows[id];
            var ca = new CaFacts(row.Id, row.Subject, row.Trusted, CertStore.Time(row.DistrustedAt), row.DistrustReason);
            // A loop in the hierarchy (a damaged store) ends the chain there: the loop's CA is judged as having no CRL.
            if (row.ParentId is { } parentId && rows.ContainsKey(parentId) && building.Add(id))
            {
                var parent = Of(parentId);
                if (own.TryGetValue(id, out var cert))
                {
                    var judged = coverage.Judge(parentId, isCa: true, cert.Serial, cert.Points is { Length: > 0 } p ? p : null);
                    var issuer = judged.Crl is null && judged.Gap is null ? parent
                        : parent with { Crl = judged.Crl, NoCrlReason = judged.Crl is null ? $"no current CRL covers it: {judged.Gap}" : null };
                    ca = ca with { Link = new CaLink(row.Subject, cert.Serial, DateTimeOffset.FromUnixTimeSeconds(cert.NotBefore), DateTimeOffset.FromUnixTimeSeconds(cert.NotAfter), judged.Revocation, issuer) };
                }
                else
                {
                    var issuer = parent with { Crl = null, NoCrlReason = "its certificate is not stored as one of its parent's: run `certdns ca add` for it again" };
                    ca = ca with { Link = new CaLink(row.Subject, [], DateTimeOffset.FromUnixTimeSeconds(row.NotBefore), DateTimeOffset.FromUnixTimeSeconds(row.NotAfter), null, issuer) };
                }
            }
            facts[id] = ca;
            return ca;
        }
        foreach (var id in rows.Keys) Of(id);
        // A CA (or CRL signer) revoked or held by its parent signs no CRL that counts; what is below it is revoked anyway.
        foreach (var ca in facts.Values)
            if (ca.Link?.Revocation is { Reason: not RevocationReason.RemoveFromCrl }) coverage.Disable(ca.Id);
        return facts;
    }

    /// <summary>The coverage rules over every CA and current CRL series, without their entries: for listings that judge freshness.</summary>
    public CrlCoverage LoadCoverage()
    {
        using var tx = _db.BeginTransaction(deferred: true);
        var coverage = LoadCoverage(tx, _db.Query<CaRow>("SELECT * FROM cas;", transaction: tx));
        tx.Commit();
        return coverage;
    }

    private CrlCoverage LoadCoverage(IDbTransaction tx, IEnumerable<CaRow> cas) =>
        new(cas.Select(c => new CoverageCa(c.Id, c.Subject, c.SubjectDer, c.ParentId)), LoadSeries(tx));

    /// <summary>Every CRL series with its current full CRL, and its delta when one applies to that base (RFC 5280 5.2.4).</summary>
    private List<CrlSeries> LoadSeries(IDbTransaction tx)
    {
        var result = new List<CrlSeries>();
        // A distrusted CA's CRLs change no answer: not its own certificates' (they are untrusted), nor anyone else's
        // through indirect entries.
        foreach (var s in _db.Query<ScopeRow>("SELECT s.* FROM crl_scopes s JOIN cas a ON a.id = s.ca_id WHERE a.trusted = 1;", transaction: tx))
        {
            var full = _db.QuerySingleOrDefault<CrlRow>("SELECT * FROM crls WHERE scope_id = @Id AND is_delta = 0 ORDER BY id DESC LIMIT 1;", new { s.Id }, tx);
            if (full is null) continue;
            var delta = _db.QuerySingleOrDefault<CrlRow>("SELECT * FROM crls WHERE scope_id = @Id AND is_delta = 1 AND id > @full ORDER BY id DESC LIMIT 1;", new { s.Id, full = full.Id }, tx);
            var next = CertStore.Time(full.NextUpdate);
            if (delta is not null && delta.NextUpdate is { } dn && (next is null || dn < next.Value.ToUnixTimeSeconds())) next = CertStore.Time(dn);
            var number = delta is null ? full.Number : $"{full.Number} delta {delta.Number}";
            var thisUpdate = DateTimeOffset.FromUnixTimeSeconds(delta?.ThisUpdate ?? full.ThisUpdate);
            var scope = new CrlScope(s.Idp, s.PointNames is { } names ? CrlPointCodec.DecodeNames(names) : null, s.OnlyUser, s.OnlyCa, s.OnlyAttribute, (int?)s.Reasons, s.Indirect);
            result.Add(new CrlSeries(s.Id, s.CaId, scope, new CrlFacts(number, thisUpdate, next), delta?.Number));
        }
        return result;
    }

    internal sealed class ScopeRow
    {
        public long Id { get; init; }
        public long CaId { get; init; }
        public byte[] Idp { get; init; } = [];
        public byte[]? PointNames { get; init; }
        public bool OnlyUser { get; init; }
        public bool OnlyCa { get; init; }
        public bool OnlyAttribute { get; init; }
        public long? Reasons { get; init; }
        public bool Indirect { get; init; }
    }

    /// <summary>Certificates from which a whole load scans on a <see cref="PinnedReader"/>; tests lower it.</summary>
    internal static int PinnedFrom { get; set; } = 250_000;

    /// <summary>
    /// A read-only connection whose read transaction is on the very commit another connection's open transaction
    /// reads (sqlite3_snapshot_get and sqlite3_snapshot_open, WAL), for a load's long scans. Microsoft.Data.Sqlite opens
    /// its connections serialized, so every sqlite3_step and sqlite3_column_* call takes and gives back the
    /// connection's mutex: a fifth of the samples of a million-certificate load. This connection is opened without
    /// it (one thread uses it, then it is closed). Null where the store cannot give one (not in WAL mode, an immutable
    /// read of a read-only folder, the file not opened): the scans run on the load's own connection then, as before.
    /// </summary>
    internal sealed class PinnedReader : IDisposable
    {
        private PinnedReader(sqlite3 db) => Db = db;

        /// <summary>The connection, inside its read transaction.</summary>
        public sqlite3 Db { get; }

        /// <param name="reading">A connection inside a transaction that has read the store already.</param>
        /// <param name="path">The store's file.</param>
        public static PinnedReader? Open(sqlite3 reading, string path)
        {
            // No snapshot of a WAL that no transaction has written to yet (SQLite documents it: a store just opened,
            // checkpointed when last closed). The load's transaction then reads the main file alone, under WAL read
            // lock 0, which keeps any checkpoint from writing into that file until it ends; so a connection that
            // also finds no WAL frame inside its own read transaction reads the same, and one that finds any saw a
            // commit come in between and is not used.
            bool emptyWal = raw.sqlite3_snapshot_get(reading, "main", out var snapshot) != raw.SQLITE_OK;
            if (emptyWal && !EmptyWal(reading))
            {
                snapshot?.Dispose();
                return null;
            }
            using (snapshot)
            {
                sqlite3? db = null;
                try
                {
                    db = StoreCertificateDirectory.OpenReadOnly(path, immutable: false);
                    // A scan reads each page once: a page cache the size of the default (2 MB) would only stay behind in
                    // the process's heap after the connection closes.
                    raw.sqlite3_exec(db, "PRAGMA cache_size = -128;");
                    // One read first opens the file's WAL (a snapshot opens only there), then a deferred BEGIN reads
                    // nothing: the snapshot opens the read transaction, on that commit.
                    if (raw.sqlite3_exec(db, "SELECT 1 FROM sqlite_schema LIMIT 1;") == raw.SQLITE_OK && raw.sqlite3_exec(db, "BEGIN;") == raw.SQLITE_OK
                        && (emptyWal ? EmptyWal(db) : raw.sqlite3_snapshot_open(db, "main", snapshot) == raw.SQLITE_OK))
                        return new PinnedReader(db);
                }
                catch (DirectoryUnavailableException)
                {
                }
                db?.Dispose();
                return null;
            }
        }

        /// <summary>Whether <paramref name="db"/>, opening its read transaction now, finds a WAL mode store with no WAL frame.</summary>
        private static bool EmptyWal(sqlite3 db)
        {
            if (raw.sqlite3_exec(db, "SELECT 1 FROM sqlite_schema LIMIT 1;") != raw.SQLITE_OK) return false;
            bool wal = false;
            if (raw.sqlite3_prepare_v2(db, "PRAGMA journal_mode;", out var mode) == raw.SQLITE_OK)
            {
                using (mode) wal = raw.sqlite3_step(mode) == raw.SQLITE_ROW && raw.sqlite3_column_text(mode, 0).utf8_to_string() == "wal";
            }
            if (!wal) return false;
            int rc = raw.sqlite3_snapshot_get(db, "main", out var frames);
            frames?.Dispose();
            return rc != raw.SQLITE_OK;
        }

        public void Dispose()
        {
            raw.sqlite3_exec(Db, "ROLLBACK;");
            Db.Dispose();
        }
    }

    /// <summary>Certificate rows copied out of SQLite, the columns side by side, on their way to the worker.</summary>
    private sealed class RowBatch
    {
        public const int Size = 4096;
        public readonly byte[] Sha256 = new byte[Size * 32];
        public readonly long[] NotBefore = new long[Size];
        public readonly long[] NotAfter = new long[Size];
        public readonly long[] CaId = new long[Size];
        public readonly bool[] IsCa = new bool[Size];
        public readonly byte[]?[] Points = new byte[]?[Size];
        private readonly int[] _serialEnd = new int[Size];
        private byte[] _serials = new byte[Size * 20];

        public int Count { get; private set; }

        public RowBatch Reset()
        {
            Count = 0;
            return this;
        }

        public ReadOnlySpan<byte> SerialOf(int i) => _serials.AsSpan(i == 0 ? 0 : _serialEnd[i - 1], _serialEnd[i] - (i == 0 ? 0 : _serialEnd[i - 1]));

        /// <summary>Appends the current row (the columns only scoped CRLs or revocations need are read when asked for).</summary>
        public void Read(SqliteColumns.Row row, bool kind, bool points, bool readSerial)
        {
            int i = Count++;
            var sha256 = row.Blob(0);
            if (sha256.Length != 32) throw new InvalidDataException("A certificate row's sha256 is not 32 octets.");
            sha256.CopyTo(Sha256.AsSpan(i * 32));
            NotBefore[i] = row.Int64(2);
            NotAfter[i] = row.Int64(3);
            CaId[i] = row.Int64(4);
            IsCa[i] = kind && row.Int64(5) != 0;
            Points[i] = points && row.Blob(6) is { IsEmpty: false } p ? p.ToArray() : null;
            int start = i == 0 ? 0 : _serialEnd[i - 1];
            var serial = readSerial ? row.Blob(1) : default;
            if (start + serial.Length > _serials.Length) Array.Resize(ref _serials, Math.Max(_serials.Length * 2, start + serial.Length));
            serial.CopyTo(_serials.AsSpan(start));
            _serialEnd[i] = start + serial.Length;
        }
    }
}

/// <summary>A snapshot built from the one before and the store's change log (<see cref="SnapshotLoader.LoadChanged"/>).</summary>
/// <param name="Snapshot">The snapshot, as a whole load would give it.</param>
/// <param name="Changed">The SHA-256 of every certificate the log names since the snapshot before; null when a renewed CRL
/// changed what every certificate it covers says (compare the whole snapshots).</param>
public sealed record ChangedLoad(StatusSnapshot Snapshot, IReadOnlyList<byte[]>? Changed);
