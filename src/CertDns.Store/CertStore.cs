using System.Data;
using CertDns.Core;
using Dapper;
using Microsoft.Data.Sqlite;

namespace CertDns.Store;

/// <summary>
/// The single source of truth: one SQLite file in WAL mode, migrated on open. Every write runs in one
/// transaction that advances the zone serial when it changed what is published (<see cref="Write{T}(Func{IDbTransaction, T})"/>, the one write path the aggregates share),
/// so a reader sees either all of a change or none of it. The store itself holds opening and migration, the serial
/// and the audit log; each aggregate has a type of its own: <see cref="Cas"/>, <see cref="Certificates"/>,
/// <see cref="Crls"/>, <see cref="Listings"/> (with complaints), <see cref="Sources"/> and <see cref="Snapshots"/>.
/// </summary>
public sealed class CertStore : IDisposable
{
    private readonly SqliteConnection _db;
    private StoreCertificateDirectory? _directory;

    private CertStore(SqliteConnection db, string path)
    {
        _db = db;
        Path = path;
        Cas = new CaStore(this);
        Certificates = new CertificateStore(this);
        Crls = new CrlStore(this);
        Listings = new ListingStore(this);
        Reporters = new ReporterStore(this);
        Forwards = new ForwardStore(this);
        Sources = new CrlSourceStore(this);
        Snapshots = new SnapshotLoader(this);
        Changes = new ChangeLog(this);
    }

    /// <summary>Registered CAs, their trust and CRL URLs.</summary>
    public CaStore Cas { get; }

    /// <summary>Registered certificates.</summary>
    public CertificateStore Certificates { get; }

    /// <summary>Accepted CRLs and their revocations.</summary>
    public CrlStore Crls { get; }

    /// <summary>Local listings, complaints and the zone's settings.</summary>
    public ListingStore Listings { get; }

    /// <summary>Registered reporters: whose signed complaints by mail count.</summary>
    public ReporterStore Reporters { get; }

    /// <summary>ARF reports queued for the issuing CAs' abuse contacts, one per complaint listing.</summary>
    public ForwardStore Forwards { get; }

    /// <summary>Fetch bookkeeping of CRL URLs.</summary>
    public CrlSourceStore Sources { get; }

    /// <summary>Loading the served view.</summary>
    public SnapshotLoader Snapshots { get; }

    /// <summary>Which certificates each serial changed, and each serial's commit token.</summary>
    public ChangeLog Changes { get; }

    internal SqliteConnection Db => _db;

    /// <summary>The store's own certificate directory for snapshots (connections of its own, closed with the store).</summary>
    internal ICertificateDirectory Directory => _directory ??= new StoreCertificateDirectory(Path);

    /// <summary>The database file.</summary>
    public string Path { get; }

    /// <summary>Opens (creating if needed) the store at <paramref name="path"/> and applies pending migrations.</summary>
    /// <param name="path">The store file.</param>
    /// <param name="readOnly">
    /// Never create or write the file: the reading verbs and the server. It works with read access only to the file and
    /// its folder (see <see cref="Immutable"/>); a store that needs a migration is then refused, as it cannot be migrated.
    /// </param>
    /// <exception cref="BadInputException">The file is not a CertDns store or is from a newer version.</exception>
    public static CertStore Open(string path, bool readOnly = false)
    {
        var full = System.IO.Path.GetFullPath(path);
        if (readOnly && !File.Exists(full)) throw new BadInputException(path, "no such store");
        try
        {
            return OpenAs(path, full, readOnly, immutable: false);
        }
        catch (SqliteException e) when (readOnly && e.SqliteErrorCode is 8 /* SQLITE_READONLY */ or 14 /* SQLITE_CANTOPEN */ && !File.Exists(full + "-wal"))
        {
            // SQLite reads a WAL-mode file read-only only with its -shm, which it must create when absent: in a folder this
            // process cannot write, it cannot. Without a -wal no writer has data outside the file, so the file alone is
            // the store: read it as immutable (no -shm, no locks). A writer that starts meanwhile creates the -wal, and
            // ChangedSinceOpen tells the server its read may be torn, to read again (the next open uses the WAL).
            if (!FileAloneIsTheStore(full))
                throw new BadInputException(path, "a write to the store was interrupted and left its rollback journal beside it: run any writing certdns command on the store once (it rolls that write back), then read it");
            return OpenAs(path, full, readOnly, immutable: true);
        }
    }

    /// <summary>
    /// Whether the store file holds the whole store and nothing else, so that it may be read alone as immutable: no -wal
    /// (a writer's data outside the file) and no -journal (a write interrupted under a rollback journal, a bulk add into
    /// an empty store, spec 3.3: its pages are in the file, and only a writer's open rolls them back).
    /// </summary>
    internal static bool FileAloneIsTheStore(string path) => !File.Exists(path + "-wal") && !File.Exists(path + "-journal");

    private static CertStore OpenAs(string path, string full, bool readOnly, bool immutable)
    {
        var stamp = immutable ? Stamp(full) : default;
        var builder = new SqliteConnectionStringBuilder
        {
            DataSource = immutable ? new Uri(full).AbsoluteUri + "?immutable=1" : full,
            Mode = readOnly ? SqliteOpenMode.ReadOnly : SqliteOpenMode.ReadWriteCreate,
            Pooling = false,
            DefaultTimeout = 30,
        };
        SqliteConnection db = new StoreConnection(builder.ToString());
        try
        {
            db.Open();
            // Concurrent cron jobs and the server share the file: wait for a writer rather than fail.
            db.Execute("PRAGMA busy_timeout = 10000; PRAGMA foreign_keys = ON; PRAGMA temp_store = MEMORY;");
            var version = db.ExecuteScalar<long>("PRAGMA user_version;");
            if (readOnly && version == 0) throw new BadInputException(path, "not a CertDns store (no schema)");
            if (!readOnly || version < Schema.Migrations.Length)
            {
                // A reading command on a store from an older certdns still needs today's schema: migrate it
                // (the file is reopened writable for that; a reading command never creates one).
                if (readOnly)
                {
                    if (version > Schema.Migrations.Length)
                        throw new BadInputException(path, $"store schema version {version} is newer than this certdns knows ({Schema.Migrations.Length})");
                    db.Dispose();
                    db = new StoreConnection(new SqliteConnectionStringBuilder(builder.ToString()) { DataSource = full, Mode = SqliteOpenMode.ReadWrite }.ToString());
                    try
                    {
                        db.Open();
                        db.Execute("PRAGMA busy_timeout = 10000; PRAGMA foreign_keys = ON; PRAGMA temp_store = MEMORY;");
                        db.ExecuteScalar<string>("PRAGMA journal_mode = WAL;");
                    }
                    catch (SqliteException e) when (e.SqliteErrorCode is 8 /* SQLITE_READONLY */ or 14 /* SQLITE_CANTOPEN */)
                    {
                        throw new BadInputException(path, $"store schema version {version} needs migrating to {Schema.Migrations.Length}, but the store is read-only here: run any writing certdns command once with write access to it and its folder");
                    }
                }
                db.ExecuteScalar<string>("PRAGMA journal_mode = WAL;");
                db.Execute("PRAGMA synchronous = NORMAL;");
                Migrate(db, path);
            }
        }
        catch (SqliteException e) when (e.SqliteErrorCode is 26 /* SQLITE_NOTADB */ or 11 /* SQLITE_CORRUPT */ || (e.SqliteErrorCode == 14 && !(readOnly && !immutable)))
        {
            db.Dispose();
            throw new BadInputException(path, e.SqliteErrorCode == 14 ? "cannot open the store file" : "not a SQLite database");
        }
        catch
        {
            db.Dispose();
            throw;
        }
        return new CertStore(db, full) { Immutable = immutable, _stamp = stamp };
    }

    private (long Length, DateTime Written, DateTime Changed) _stamp;

    private static (long Length, DateTime Written, DateTime Changed) Stamp(string full)
    {
        var info = new FileInfo(full);
        // Length and modification time catch a checkpoint writing into the file; the birth time, a new file renamed over it.
        return info.Exists ? (info.Length, info.LastWriteTimeUtc, info.CreationTimeUtc) : default;
    }

    /// <summary>
    /// Whether the file is read as immutable: read-only access to a WAL store with no -wal (the folder is not writable,
    /// so no -shm can be made). See <see cref="ChangedSinceOpen"/>.
    /// </summary>
    public bool Immutable { get; private init; }

    /// <summary>
    /// For an <see cref="Immutable"/> read: whether a writer may have touched the file since it was opened (a -wal
    /// appeared, or its size or times changed), so what was read may be torn and must be read again. Always false otherwise.
    /// </summary>
    public bool ChangedSinceOpen() => Immutable && (File.Exists(Path + "-wal") || Stamp(Path) != _stamp);

    /// <summary>
    /// Reads the DER that stores of schema 4 and earlier kept, for their migration; the store reads no ASN.1 itself. A
    /// process that may open such a store sets it once at start (the certdns command sets CertDns.Pki's); without it such
    /// a store is refused, unchanged.
    /// </summary>
    public static IStoredDerDecoder? StoredDerDecoder { get; set; }

    private static void Migrate(SqliteConnection db, string path)
    {
        var version = db.ExecuteScalar<long>("PRAGMA user_version;");
        if (version > Schema.Migrations.Length)
            throw new BadInputException(path, $"store schema version {version} is newer than this certdns knows ({Schema.Migrations.Length})");
        if (version == 0 && db.ExecuteScalar<long>("SELECT COUNT(*) FROM sqlite_master WHERE type = 'table';") > 0)
            throw new BadInputException(path, "not a CertDns store (it has other tables)");
        for (var step = (int)version; step < Schema.Migrations.Length; step++)
        {
            using var tx = db.BeginTransaction();
            db.Execute(Schema.Migrations[step], transaction: tx);
            if (Schema.Conversions.TryGetValue(step + 1, out var convert)) convert(db, tx, StoredDerDecoder, path);
            db.Execute($"PRAGMA user_version = {step + 1};", transaction: tx);
            tx.Commit();
        }
    }

    /// <summary>The schema version this build migrates stores to.</summary>
    public static int LatestSchemaVersion => Schema.Migrations.Length;

    /// <summary>The schema version of the open store.</summary>
    public long SchemaVersion => ReadSchemaVersion();

    // A method, not the getter: Dapper.AOT's generator does not intercept calls in property getters.
    private long ReadSchemaVersion() => _db.ExecuteScalar<long>("PRAGMA user_version;");

    /// <summary>The zone's SOA serial; it advances with every change to published data.</summary>
    public uint Serial => ReadSerial(null);

    internal uint ReadSerial(IDbTransaction? tx) => (uint)_db.ExecuteScalar<long>("SELECT serial FROM zone WHERE id = 1;", transaction: tx);

    /// <summary>RFC 1982 serials: kept time-like (Unix seconds) but strictly increasing even within a second.</summary>
    internal const string AdvanceSerialSql =
        "UPDATE zone SET serial = MAX(serial + 1, CAST(strftime('%s','now') AS INTEGER)), changed_at = CAST(strftime('%s','now') AS INTEGER) WHERE id = 1;";

    /// <summary>
    /// Runs <paramref name="work"/> in one immediate transaction that also advances the zone serial, when the work
    /// changed a row: a no-op (re-adding what is registered, trusting a trusted CA, re-blocking) writes nothing and
    /// keeps the serial, so secondaries are not sent a full transfer of the same data.
    /// </summary>
    public T Write<T>(Func<IDbTransaction, T> work) => Write(work, published: null);

    /// <summary>
    /// <see cref="Write{T}(Func{IDbTransaction, T})"/> for work that may change only what the zone does not show (a
    /// complaint below the threshold): <paramref name="published"/> reads, inside the transaction, the exact state of
    /// what the work could publish; the serial advances only when it differs afterwards (rows still commit).
    /// </summary>
    public T Write<T>(Func<IDbTransaction, T> work, Func<IDbTransaction, string?>? published)
    {
        using var tx = _db.BeginTransaction();
        var shownBefore = published?.Invoke(tx);
        int before = SQLitePCL.raw.sqlite3_total_changes(_db.Handle);
        var result = work(tx);
        // total_changes counts every row inserted, updated or deleted on this connection (temp tables too, which a
        // changing write also touches): unchanged means the work left the store as it was.
        if (SQLitePCL.raw.sqlite3_total_changes(_db.Handle) == before)
        {
            tx.Rollback();
            return result;
        }
        if (published is null || !string.Equals(shownBefore, published(tx), StringComparison.Ordinal))
            _db.Execute(AdvanceSerialSql, transaction: tx);
        tx.Commit();
        return result;
    }

    /// <summary>
    /// Advances the zone serial with no change to the stored data, when it is still <paramref name="expected"/>: for a
    /// server whose answers time alone has changed (a certificate expired, a CRL passed nextUpdate), so secondaries
    /// transfer again. Returns the new serial, or null when another write came first (its reload carries the change).
    /// </summary>
    public uint? AdvanceSerial(uint expected)
    {
        using var tx = _db.BeginTransaction();
        if (ReadSerial(tx) != expected) return null;
        _db.Execute(AdvanceSerialSql, transaction: tx);
        var serial = ReadSerial(tx);
        tx.Commit();
        return serial;
    }

    /// <summary>
    /// Moves the zone serial past <paramref name="floor"/> (a serial already served from an earlier copy of this store,
    /// before a backup was restored), when it is still <paramref name="expected"/>: time-like as ever, but above the
    /// floor, so secondaries follow the restored data instead of keeping the newer serial they hold. Returns the new
    /// serial, or null when another write came first.
    /// </summary>
    public uint? RaiseSerial(uint expected, uint floor)
    {
        using var tx = _db.BeginTransaction();
        if (ReadSerial(tx) != expected) return null;
        _db.Execute("UPDATE zone SET serial = MAX(serial + 1, @above, CAST(strftime('%s','now') AS INTEGER)), changed_at = CAST(strftime('%s','now') AS INTEGER) WHERE id = 1;",
            new { above = (long)floor + 1 }, tx);
        var serial = ReadSerial(tx);
        tx.Commit();
        return serial;
    }

    /// <summary>Appends a line to the audit log inside <paramref name="tx"/>.</summary>
    public void Audit(IDbTransaction tx, string action, string subject, string? reason, string? actor = null) =>
        _db.Execute("INSERT INTO audit (at, actor, action, subject, reason) VALUES (@at, @actor, @action, @subject, @reason);",
            new { at = Now(), actor = actor ?? Environment.UserName, action, subject, reason }, tx);

    /// <summary>The audit log, oldest first.</summary>
    public IReadOnlyList<AuditRow> AuditLog() => _db.Query<AuditRow>("SELECT * FROM audit ORDER BY id;").Listed();

    internal static DateTimeOffset? Time(long? unix) => unix is { } u ? DateTimeOffset.FromUnixTimeSeconds(u) : null;

    internal static long Now() => DateTimeOffset.UtcNow.ToUnixTimeSeconds();

    /// <summary>Closes the file.</summary>
    public void Dispose()
    {
        _directory?.Dispose();
        _db.Dispose();
    }
}
