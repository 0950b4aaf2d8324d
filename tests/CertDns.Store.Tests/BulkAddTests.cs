using System.Security.Cryptography;
using CertDns.Core;
using CertDns.Store;
using Dapper;

namespace CertDns.Store.Tests;

/// <summary>
/// <see cref="CertificateStore.Add"/> of a batch of <see cref="CertificateStore.BulkMinimum"/> certificates or more, which
/// drops the secondary indexes and the change-log trigger and builds them again in its transaction, against the row by
/// row path on real SQLite files: the same rows, the same schema after, duplicates ignored, all or nothing.
/// </summary>
public sealed class BulkAddTests : IDisposable
{
    private const int N = CertificateStore.BulkMinimum;
    /// <summary>PRAGMA temp_store's MEMORY, what the store's connections run with.</summary>
    private const long MemoryTempStore = 2;
    private readonly StoreFile _bulk = new();
    private readonly StoreFile _rows = new();

    public void Dispose()
    {
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        _bulk.Dispose();
        _rows.Dispose();
    }

    private static CaRecord Ca()
    {
        var der = SHA256.HashData("Bulk CA"u8);
        return new CaRecord(SHA256.HashData(der), "CN=Bulk CA", der, null, SHA256.HashData([.. der, 1]),
            DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddYears(1), true, der, null);
    }

    private static CertRecord Cert(long ca, int n)
    {
        var der = BitConverter.GetBytes(n);
        return new CertRecord(SHA256.HashData(der), SHA1.HashData(der), MD5.HashData(der), SHA256.HashData([.. der, (byte)(n % 7)]), ca,
            BitConverter.GetBytes(n * 3), n % 5 == 0 ? $"CN=c{n}" : null, DateTimeOffset.FromUnixTimeSeconds(1_700_000_000 + n),
            DateTimeOffset.FromUnixTimeSeconds(1_800_000_000 + n), n % 3 == 0 ? der : null);
    }

    /// <summary>The same certificates without a count known up front: the row by row path.</summary>
    private static IEnumerable<CertRecord> Streamed(IEnumerable<CertRecord> certs)
    {
        foreach (var c in certs) yield return c;
    }

    private static string[] Rows(CertStore store) => [.. store.Db.Query<string>(
        "SELECT hex(sha256) || hex(sha1) || hex(md5) || hex(spki_sha256) || ca_id || hex(serial) || IFNULL(subject, '-') || not_before || not_after || IFNULL(hex(der), '-') || is_ca || IFNULL(hex(crl_point_set), '-') FROM certificates ORDER BY sha256;")];

    private static string[] Schema(CertStore store) => [.. store.Db.Query<string>(
        "SELECT type || ' ' || name || ' ' || IFNULL(sql, '') FROM sqlite_master WHERE tbl_name = 'certificates' ORDER BY name;")];

    [Fact]
    public void Add_BulkBatch_SameRowsAndSchemaAsRowByRowAndTheChangeLogSaysWhole()
    {
        using var bulk = _bulk.Open();
        using var rows = _rows.Open();
        var (caBulk, _) = bulk.Cas.Add(Ca(), []);
        var (caRows, _) = rows.Cas.Add(Ca(), []);
        Assert.Equal(caBulk, caRows);
        // Out of SHA-256 order, with duplicates inside the batch.
        var certs = Enumerable.Range(0, N + 10).Select(i => Cert(caBulk, i % N)).Reverse().ToList();
        uint before = bulk.Serial;
        var commit = bulk.Changes.CommitOf(before);

        Assert.Equal(N, bulk.Certificates.Add(certs));
        Assert.Equal(N, rows.Certificates.Add(Streamed(certs)));

        Assert.Equal(Rows(rows), Rows(bulk));
        Assert.Equal(Schema(rows), Schema(bulk));
        Assert.Equal("ok", bulk.Db.ExecuteScalar<string>("PRAGMA integrity_check;"));
        // The sorter's temporary files were for this add alone: the connection keeps temporary storage in memory.
        Assert.Equal(MemoryTempStore, bulk.Db.ExecuteScalar<long>("PRAGMA temp_store;"));
        // Into a store with no certificates and no other connection: under a rollback journal, so the WAL holds none
        // of the add's pages (in WAL mode it would hold every one, checkpointed or not), and back in WAL mode after.
        Assert.Equal(0, WalLength(_bulk));
        Assert.True(WalLength(_rows) > 0);
        AssertWal(bulk);
        // Every index is there and used: the SHA-1, MD5 and key forms find the certificate.
        var probe = Cert(caBulk, 4242);
        Assert.Equal(probe.Sha256, bulk.Certificates.Find(DigestKind.Sha1, probe.Sha1)!.Sha256);
        Assert.Equal(probe.Sha256, bulk.Certificates.Find(DigestKind.Md5, probe.Md5)!.Sha256);
        Assert.Contains("certificates_sha1_sha256", string.Join('\n', bulk.Db.Query("EXPLAIN QUERY PLAN SELECT sha256 FROM certificates WHERE sha1 = X'00';").Select(r => (string)r.detail)));
        var changes = bulk.Changes.Since(before, commit)!;
        Assert.True(bulk.Serial > before);
        Assert.True(changes.Whole);
        Assert.Equal(1, bulk.Db.ExecuteScalar<long>("SELECT COUNT(*) FROM zone_changes WHERE serial = @s;", new { s = (long)bulk.Serial }));

        // After it, one certificate is named by itself again: the trigger is back.
        uint after = bulk.Serial;
        var extra = Cert(caBulk, N + 1);
        Assert.Equal(1, bulk.Certificates.Add([extra]));
        var next = bulk.Changes.Since(after, bulk.Changes.CommitOf(after))!;
        Assert.False(next.Whole);
        Assert.Equal([Convert.ToHexString(extra.Sha256)], next.Certificates.Select(Convert.ToHexString));
    }

    [Fact]
    public void Add_BulkBatchAllRegistered_AddsNothingAndKeepsTheSerialAndSchema()
    {
        using var store = _bulk.Open();
        var (ca, _) = store.Cas.Add(Ca(), []);
        var certs = Enumerable.Range(0, N).Select(i => Cert(ca, i)).ToArray();
        Assert.Equal(N, store.Certificates.Add(certs));
        uint serial = store.Serial;
        var schema = Schema(store);
        long changes = store.Db.ExecuteScalar<long>("SELECT COUNT(*) FROM zone_changes;");

        Assert.Equal(0, store.Certificates.Add(certs));

        Assert.Equal(serial, store.Serial);
        Assert.Equal(schema, Schema(store));
        Assert.Equal(changes, store.Db.ExecuteScalar<long>("SELECT COUNT(*) FROM zone_changes;"));
        Assert.Equal(N, store.Certificates.Count());
    }

    [Fact]
    public void Add_BulkBatchWithOneBadRow_StoresNothingAndKeepsTheIndexes()
    {
        using var store = _bulk.Open();
        var (ca, _) = store.Cas.Add(Ca(), []);
        var schema = Schema(store);
        uint serial = store.Serial;
        // One certificate names a CA that does not exist: the foreign key refuses it, among rows already inserted.
        var certs = Enumerable.Range(0, N).Select(i => Cert(ca, i)).Append(Cert(ca + 1000, N)).ToList();

        Assert.ThrowsAny<Microsoft.Data.Sqlite.SqliteException>(() => store.Certificates.Add(certs));

        Assert.Equal(0, store.Certificates.Count());
        Assert.Equal(serial, store.Serial);
        Assert.Equal(schema, Schema(store));
        Assert.Equal(MemoryTempStore, store.Db.ExecuteScalar<long>("PRAGMA temp_store;"));
        AssertWal(store);
        Assert.Equal("ok", store.Db.ExecuteScalar<string>("PRAGMA integrity_check;"));
    }

    [Fact]
    public void Add_BulkIntoEmptyStoreAnotherConnectionHasOpen_StaysInWalAndTheOtherReadsTheStoreAsItWas()
    {
        using var store = _bulk.Open();
        var (ca, _) = store.Cas.Add(Ca(), []);
        using var reader = _bulk.Open();
        Assert.Equal(0, reader.Certificates.Count());
        var certs = Enumerable.Range(0, N).Select(i => Cert(ca, i)).ToArray();

        // The other connection holds a read transaction (deferred: no write lock) across the add: WAL lets it, a rollback
        // journal would not.
        using (var read = reader.Db.BeginTransaction(deferred: true))
        {
            Assert.Equal(0, reader.Db.ExecuteScalar<long>("SELECT COUNT(*) FROM certificates;", transaction: read));
            Assert.Equal(N, store.Certificates.Add(certs));
            Assert.Equal(0, reader.Db.ExecuteScalar<long>("SELECT COUNT(*) FROM certificates;", transaction: read));
        }

        Assert.Equal(N, reader.Certificates.Count());
        Assert.True(WalLength(_bulk) > 0);
        AssertWal(store);
        AssertWal(reader);
    }

    [Fact]
    public void Open_ReadOnlyAfterAWriteInterruptedUnderItsRollbackJournal_RefusedUntilAWriterRollsItBack()
    {
        long ca;
        using (var store = _bulk.Open()) ca = store.Cas.Add(Ca(), []).Id;
        using var crashed = new StoreFile();
        // What a crash part way through a bulk add into this empty store leaves on disk: the file with the add's pages
        // spilled into it (a small page cache) and the rollback journal of its pages before, copied while the
        // transaction is open.
        using (var db = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={_bulk.Path};Pooling=False"))
        {
            db.Open();
            Assert.Equal("delete", db.ExecuteScalar<string>("PRAGMA journal_mode = DELETE;"));
            db.Execute("PRAGMA cache_size = 10;");
            using var tx = db.BeginTransaction();
            db.Execute("""
                WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n LIMIT 20000)
                INSERT INTO certificates (sha256, sha1, md5, spki_sha256, ca_id, serial, not_before, not_after, added_at, is_ca)
                SELECT randomblob(32), randomblob(20), randomblob(16), randomblob(32), @ca, randomblob(16), 0, 2000000000, 0, 0 FROM n;
                """, new { ca }, tx);
            Assert.True(new FileInfo(_bulk.Path + "-journal").Length > 0);
            File.Copy(_bulk.Path, crashed.Path);
            File.Copy(_bulk.Path + "-journal", crashed.Path + "-journal");
            tx.Rollback();
        }

        // A reader cannot roll the write back: it must not read the file alone (as immutable), which holds the pages
        // of a transaction that never committed.
        var refused = Assert.Throws<BadInputException>(() => CertStore.Open(crashed.Path, readOnly: true));
        Assert.Contains("rollback journal", refused.Message);

        using (var writer = CertStore.Open(crashed.Path))
        {
            Assert.Equal(0, writer.Certificates.Count());
            Assert.Equal("ok", writer.Db.ExecuteScalar<string>("PRAGMA integrity_check;"));
            AssertWal(writer);
        }
        Assert.False(File.Exists(crashed.Path + "-journal"));
        using var reader = CertStore.Open(crashed.Path, readOnly: true);
        Assert.Equal(0, reader.Certificates.Count());
    }

    private static long WalLength(StoreFile file) => new FileInfo(file.Path + "-wal") is { Exists: true } wal ? wal.Length : 0;

    /// <summary>WAL and synchronous NORMAL, as CertStore.Open leaves a connection.</summary>
    private static void AssertWal(CertStore store)
    {
        Assert.Equal("wal", store.Db.ExecuteScalar<string>("PRAGMA journal_mode;"));
        Assert.Equal(1, store.Db.ExecuteScalar<long>("PRAGMA synchronous;"));
    }
}
