using System.Data;
using CertDns.Core;
using Dapper;
using Microsoft.Data.Sqlite;
using SQLitePCL;

namespace CertDns.Store;

/// <summary>The registered certificates, found by any digest a query name carries (<see cref="CertStore.Certificates"/>).</summary>
public sealed class CertificateStore : StoreAggregate
{
    internal CertificateStore(CertStore store) : base(store) { }

    /// <summary>
    /// A batch of at least this many certificates, and at least as many as are registered, is a bulk add
    /// (<see cref="Add"/>): below it the indexes and the change log take the rows one by one.
    /// </summary>
    public const int BulkMinimum = 100_000;

    /// <summary>
    /// Registers certificates in one transaction; returns how many were new (re-adding is idempotent). A bulk add
    /// (<see cref="BulkMinimum"/>; its size known without enumerating it, as of a collection) goes fastest given in SHA-256 order, which a
    /// list or array is put in here.
    /// </summary>
    public int Add(IEnumerable<CertRecord> certs)
    {
        // Five indexes on random keys (the digests, issuer+serial): a bulk insert touches pages all over each one, and
        // SQLite's default 2 MB page cache keeps evicting what the next row needs. A larger cache for this transaction
        // (filled only as far as used) halves the time at a million certificates; it goes back to what it was after.
        // It also bounds the sorter that rebuilds the indexes after a bulk add.
        // That sorter works on both cores (PRAGMA threads) and merges the runs it spills from temporary files only when
        // temporary storage is files: under the connection's temp_store = MEMORY (kept for the CRL ingestion's temp
        // table) SQLite gives it no worker threads at all, and at 10M certificates one index took 41.8 s against 22.5 s
        // (2.5 against 3.1 s at 1M). SQLite refuses the change inside a transaction, so it is made here, around it.
        long cacheSize = _db.ExecuteScalar<long>("PRAGMA cache_size;"), tempStore = _db.ExecuteScalar<long>("PRAGMA temp_store;");
        // A bulk add into a store with no certificates, that no other connection has open, runs under a rollback
        // journal: in WAL mode every page of the new table and indexes is written twice, to the WAL and again by the
        // checkpoint at the commit (the whole store file each, 4.3 GB at 10M certificates); a rollback journal keeps
        // only the pages the store had before (a few), and the rows go into the file once.
        bool rollbackJournal = false;
        try
        {
            rollbackJournal = Sized(certs) >= BulkMinimum && _db.ExecuteScalar<long>("SELECT EXISTS (SELECT 1 FROM certificates);") == 0 && LeaveWal();
            _db.Execute("PRAGMA cache_size = -262144; PRAGMA temp_store = FILE;");
            return Insert(certs);
        }
        finally
        {
            _db.Execute($"PRAGMA cache_size = {cacheSize}; PRAGMA temp_store = {tempStore};");
            if (rollbackJournal) ReturnToWal();
        }
    }

    /// <summary>The batch's size when known without enumerating it (a collection's), or -1.</summary>
    private static int Sized(IEnumerable<CertRecord> certs) =>
        certs is IReadOnlyCollection<CertRecord> collection ? collection.Count : certs.TryGetNonEnumeratedCount(out var count) ? count : -1;

    /// <summary>
    /// Leaves WAL mode for a rollback journal, synchronous FULL (a rollback journal's safe setting): only when no other
    /// connection has the file open (SQLite needs it to itself for that and says SQLITE_BUSY at once otherwise; through
    /// SQLite's own API, since Microsoft.Data.Sqlite's command would retry a busy statement for its whole timeout).
    /// Another process that opens the store meanwhile waits for the add (its readers see the store as it was until the
    /// add takes its exclusive lock, then wait up to the store's 10 s, as for any writer).
    /// </summary>
    private bool LeaveWal()
    {
        var db = _db.Handle!;
        long timeout = _db.ExecuteScalar<long>("PRAGMA busy_timeout;");
        raw.sqlite3_busy_timeout(db, 0);
        try
        {
            if (JournalMode(db, "DELETE") != "delete") return false;
        }
        finally
        {
            raw.sqlite3_busy_timeout(db, (int)timeout);
        }
        _db.Execute("PRAGMA synchronous = FULL;");
        return true;
    }

    /// <summary>
    /// Back to WAL and synchronous NORMAL after the add, committed or not. When that fails (another process took a
    /// lock meanwhile and held it past the busy timeout) the store stays in rollback-journal mode, which is as safe,
    /// until the next open of the store sets WAL again (CertStore.Open does on every writing open).
    /// </summary>
    private void ReturnToWal()
    {
        JournalMode(_db.Handle!, "WAL");
        _db.Execute("PRAGMA synchronous = NORMAL;");
    }

    /// <summary>Sets the journal mode; returns the mode in force afterwards, or null when SQLite refused (busy).</summary>
    private static string? JournalMode(sqlite3 db, string mode)
    {
        if (raw.sqlite3_prepare_v2(db, $"PRAGMA journal_mode = {mode};", out var statement) != raw.SQLITE_OK) return null;
        using (statement)
            return raw.sqlite3_step(statement) == raw.SQLITE_ROW ? raw.sqlite3_column_text(statement, 0).utf8_to_string() : null;
    }

    private int Insert(IEnumerable<CertRecord> certs) => _store.Write(tx =>
    {
        int count = Sized(certs);
        bool bulk = count >= BulkMinimum
            && count >= _db.ExecuteScalar<long>("SELECT COUNT(*) FROM certificates;", transaction: tx);
        if (!bulk) return InsertRowsDirect(certs);

        // A bulk add inserts into the table and its UNIQUE sha256 index alone (in sha256 order, that index is appended
        // to, not searched at random), then builds the other indexes again by sorting: at 10M certificates, random
        // inserts into four indexes of 10M are most of the time. The change log gets one X'' (every name may have
        // changed, what the step 10 trigger turns over 100,000 names into anyway) in place of a row per certificate.
        // SQLite's DDL is transactional: a failure or a crash leaves the indexes and the trigger as they were.
        // Tuple rows are read by hand (SqlRows): Dapper.AOT generates no reader for them (the NativeAOT program).
        var saved = SqlRows.Read(_db, tx,
            "SELECT name, type, sql FROM sqlite_master WHERE tbl_name = 'certificates' AND sql IS NOT NULL AND (type = 'index' OR name = 'certificates_changed_insert');",
            r => (Name: r.GetString(0), Type: r.GetString(1), Sql: r.GetString(2))).Listed();
        foreach (var (name, type, _) in saved) _db.Execute($"DROP {type.ToUpperInvariant()} \"{name}\";", transaction: tx);
        int added = InsertRowsDirect(Ordered(certs));
        if (added > 0)
            _db.Execute("INSERT INTO zone_changes (serial, sha256) SELECT 0, X'' WHERE NOT EXISTS (SELECT 1 FROM zone_changes WHERE serial = 0 AND sha256 = X'');", transaction: tx);
        // The sorter on both cores.
        _db.Execute("PRAGMA threads = 2;", transaction: tx);
        foreach (var (_, _, sql) in saved) _db.Execute(sql, transaction: tx);
        _db.Execute("PRAGMA threads = 0;", transaction: tx);
        return added;
    });

    /// <summary>A list or array in SHA-256 order (its own order otherwise): the UNIQUE index is then appended to.</summary>
    private static IEnumerable<CertRecord> Ordered(IEnumerable<CertRecord> certs)
    {
        if (certs is not (List<CertRecord> or CertRecord[])) return certs;
        var list = (IReadOnlyList<CertRecord>)certs;
        var order = new int[list.Count];
        for (int i = 0; i < order.Length; i++) order[i] = i;
        Array.Sort(order, (a, b) => list[a].Sha256.AsSpan().SequenceCompareTo(list[b].Sha256));
        return order.Select(i => list[i]);
    }

    /// <summary>
    /// Each certificate's INSERT OR IGNORE (NULL for an absent subject, DER or CRL points), bound and stepped through
    /// SQLite's own API in the connection's open transaction, for a bulk add and row by row alike: Microsoft.Data.Sqlite's
    /// command makes a reader and binds through its value binder per row, several microseconds a row at ten million.
    /// </summary>
    private int InsertRowsDirect(IEnumerable<CertRecord> certs)
    {
        var db = _db.Handle!;
        SqliteColumns.Check(db, raw.sqlite3_prepare_v2(db, InsertSql, out var statement));
        using (statement)
        {
            long now = CertStore.Now();
            int added = 0;
            foreach (var c in certs)
            {
                raw.sqlite3_bind_blob(statement, 1, c.Sha256);
                raw.sqlite3_bind_blob(statement, 2, c.Sha1);
                raw.sqlite3_bind_blob(statement, 3, c.Md5);
                raw.sqlite3_bind_blob(statement, 4, c.SpkiSha256);
                raw.sqlite3_bind_int64(statement, 5, c.CaId);
                raw.sqlite3_bind_blob(statement, 6, c.Serial);
                if (c.Subject is { } subject) raw.sqlite3_bind_text(statement, 7, subject); else raw.sqlite3_bind_null(statement, 7);
                raw.sqlite3_bind_int64(statement, 8, c.NotBefore.ToUnixTimeSeconds());
                raw.sqlite3_bind_int64(statement, 9, c.NotAfter.ToUnixTimeSeconds());
                if (c.Der is { } der) raw.sqlite3_bind_blob(statement, 10, der); else raw.sqlite3_bind_null(statement, 10);
                raw.sqlite3_bind_int64(statement, 11, now);
                raw.sqlite3_bind_int64(statement, 12, c.IsCa ? 1 : 0);
                if (CrlPointCodec.Encode(c.CrlPoints) is { } points) raw.sqlite3_bind_blob(statement, 13, points); else raw.sqlite3_bind_null(statement, 13);
                int rc = raw.sqlite3_step(statement);
                if (rc != raw.SQLITE_DONE) SqliteColumns.Check(db, rc == raw.SQLITE_ROW ? raw.SQLITE_MISUSE : rc);
                added += raw.sqlite3_changes(db);
                raw.sqlite3_reset(statement);
            }
            return added;
        }
    }

    private const string InsertSql =
        """
        INSERT OR IGNORE INTO certificates (sha256, sha1, md5, spki_sha256, ca_id, serial, subject, not_before, not_after, der, added_at, is_ca, crl_point_set)
        VALUES ($sha256, $sha1, $md5, $spki, $ca, $serial, $subject, $nb, $na, $der, $now, $isca, $points);
        """;

    /// <summary>A registered certificate by SHA-256, or null.</summary>
    public CertRow? Find(byte[] sha256) =>
        _db.QuerySingleOrDefault<CertRow>("SELECT id, sha256, ca_id, serial, subject, not_before, not_after FROM certificates WHERE sha256 = @sha256;", new { sha256 });

    /// <summary>SHA-256 of a registered certificate's SubjectPublicKeyInfo, or null when not registered.</summary>
    public byte[]? SpkiSha256(byte[] sha256) =>
        _db.ExecuteScalar<byte[]?>("SELECT spki_sha256 FROM certificates WHERE sha256 = @sha256;", new { sha256 });

    /// <summary>A registered certificate by any digest a query name can carry, or null.</summary>
    public CertRow? Find(DigestKind kind, byte[] digest)
    {
        const string columns = "SELECT id, sha256, ca_id, serial, subject, not_before, not_after FROM certificates";
        return kind switch
        {
            DigestKind.Sha256 => Find(digest),
            DigestKind.Sha1 => _db.QueryFirstOrDefault<CertRow>($"{columns} WHERE sha1 = @digest;", new { digest }),
            DigestKind.Md5 => _db.QueryFirstOrDefault<CertRow>($"{columns} WHERE md5 = @digest;", new { digest }),
            // The 28-octet prefix as an index range: [prefix, prefix || ff ff ff ff].
            _ => _db.QueryFirstOrDefault<CertRow>($"{columns} WHERE sha256 >= @digest AND sha256 <= @upper ORDER BY sha256;",
                new { digest, upper = digest.Concat(new byte[] { 0xff, 0xff, 0xff, 0xff }).ToArray() }),
        };
    }

    /// <summary>
    /// Whether more than one registered certificate has this SHA-1 or MD5 (a collision those digests allow): an operator
    /// naming a certificate by such a digest must then name it by its SHA-256 instead.
    /// </summary>
    public bool Ambiguous(DigestKind kind, byte[] digest) => kind switch
    {
        DigestKind.Sha1 => _db.ExecuteScalar<long>("SELECT COUNT(*) FROM (SELECT 1 FROM certificates WHERE sha1 = @digest LIMIT 2);", new { digest }) > 1,
        DigestKind.Md5 => _db.ExecuteScalar<long>("SELECT COUNT(*) FROM (SELECT 1 FROM certificates WHERE md5 = @digest LIMIT 2);", new { digest }) > 1,
        _ => false,
    };

    /// <summary>How many certificates are registered.</summary>
    public long Count() => _db.ExecuteScalar<long>("SELECT COUNT(*) FROM certificates;");

    /// <summary>
    /// The distribution point sets (<see cref="CrlPointCodec"/> form; empty for none) of the registered certificates with
    /// this serial whose CA has the subject <paramref name="subjectDer"/>: what an indirect CRL's entry naming that issuer
    /// may apply to. One index descent per call.
    /// </summary>
    public IReadOnlyList<byte[]> PointSets(byte[] subjectDer, byte[] serial) => _db.Query<byte[]>(
        "SELECT IFNULL(c.crl_point_set, X'') FROM cas a JOIN certificates c ON c.ca_id = a.id AND c.serial = @serial WHERE a.subject_der = @subjectDer;",
        new { subjectDer, serial }).Listed();

    /// <summary>
    /// DER of the CA certificates, and of one registered certificate per distinct set of CRL distribution
    /// points: enough to list every distribution point without reading a million certificates.
    /// </summary>
    public IReadOnlyList<byte[]> DistributionPointCarriers() => _db.Query<byte[]>(
        """
        SELECT der FROM cas
        UNION ALL
        SELECT der FROM certificates WHERE der IS NOT NULL AND id IN (SELECT MIN(id) FROM certificates WHERE crl_point_set IS NOT NULL GROUP BY crl_point_set);
        """).Listed();
}
