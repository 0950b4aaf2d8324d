using CertDns.Core;
using SQLitePCL;

namespace CertDns.Store;

/// <summary>
/// The store's own indexes on sha1, md5, spki_sha256 and sha256 as the <see cref="ICertificateDirectory"/> of a served
/// snapshot: memory holds one digest per certificate, and these forms and TXT details cost an index descent (pages the
/// OS keeps cached) when asked. A lookup borrows a read-only connection with prepared statements from a small pool (one per concurrent
/// caller, opened on demand), on SQLite's own API so it allocates nothing. Reads never block the writer (WAL).
/// A borrowed connection keeps one read transaction across lookups for at most <see cref="HoldMilliseconds"/>: each
/// lookup in its own transaction cost two fcntl locks and an fstat (a fifth of the SHA-1 form's CPU, issue #17). A
/// transaction older than that is ended when the connection is next borrowed, an idle one by a timer, and every one
/// by <see cref="ReleaseReads"/> (the server calls it after publishing a snapshot, so lookups read at least what the
/// snapshot read): none holds back a checkpoint for longer than about twice that.
/// </summary>
public sealed class StoreCertificateDirectory : ICertificateDirectory, IDisposable
{
    private readonly string _path;
    private readonly Stack<Reader> _idle = new();
    private readonly List<Reader> _all = [];
    private int _generation;
    private int _epoch;
    private bool _disposed;
    private readonly Timer _idleEnder;

    /// <summary>How long a connection's read transaction serves lookups before it is ended.</summary>
    public const int HoldMilliseconds = 50;

    /// <summary>Reads the store at <paramref name="path"/>; connections are opened when first needed.</summary>
    public StoreCertificateDirectory(string path)
    {
        _path = System.IO.Path.GetFullPath(path);
        _idleEnder = new Timer(_ => EndIdleReads(), null, HoldMilliseconds, HoldMilliseconds);
    }

    /// <inheritdoc/>
    public int Find(DigestKind kind, ReadOnlySpan<byte> digest, bool isKey, Span<byte> sha256s)
    {
        if (!ICertificateDirectory.Serves(kind, digest.Length, isKey)) return 0;
        var reader = Rent();
        var statement = kind switch
        {
            DigestKind.Sha1 => reader.BySha1,
            DigestKind.Md5 => reader.ByMd5,
            DigestKind.Sha256 => reader.ByKey,
            _ => reader.ByKeyPrefix,
        };
        try
        {
            if (kind == DigestKind.Sha256Prefix)
            {
                // The 56-hex key form: every key digest that starts with these 28 octets, as an index range.
                Span<byte> low = stackalloc byte[32], high = stackalloc byte[32];
                digest.CopyTo(low);
                digest.CopyTo(high);
                low[28..].Clear();
                high[28..].Fill(0xFF);
                Check(reader, raw.sqlite3_bind_blob(statement, 1, low));
                Check(reader, raw.sqlite3_bind_blob(statement, 2, high));
            }
            else
            {
                Check(reader, raw.sqlite3_bind_blob(statement, 1, digest));
            }
            int count = 0, rc;
            while ((rc = raw.sqlite3_step(statement)) == raw.SQLITE_ROW)
            {
                var sha256 = raw.sqlite3_column_blob(statement, 0);
                if (sha256.Length != 32) continue;
                if ((count + 1) * 32 <= sha256s.Length) sha256.CopyTo(sha256s[(count * 32)..]);
                count++;
            }
            Check(reader, rc == raw.SQLITE_DONE ? raw.SQLITE_OK : rc);
            return count;
        }
        finally
        {
            raw.sqlite3_reset(statement);
            Return(reader);
        }
    }

    /// <inheritdoc/>
    public CertificateDetails? Details(ReadOnlySpan<byte> sha256)
    {
        var reader = Rent();
        var statement = reader.Details;
        try
        {
            Check(reader, raw.sqlite3_bind_blob(statement, 1, sha256));
            int rc = raw.sqlite3_step(statement);
            if (rc == raw.SQLITE_DONE) return null;
            Check(reader, rc == raw.SQLITE_ROW ? raw.SQLITE_OK : rc);
            return new CertificateDetails(raw.sqlite3_column_blob(statement, 0).ToArray(), raw.sqlite3_column_blob(statement, 1).ToArray(),
                raw.sqlite3_column_blob(statement, 2).ToArray(), raw.sqlite3_column_blob(statement, 3).ToArray(),
                DateTimeOffset.FromUnixTimeSeconds(raw.sqlite3_column_int64(statement, 4)), DateTimeOffset.FromUnixTimeSeconds(raw.sqlite3_column_int64(statement, 5)));
        }
        finally
        {
            raw.sqlite3_reset(statement);
            Return(reader);
        }
    }

    /// <inheritdoc/>
    public IEnumerable<(byte[] Sha256, CertificateDetails Details)> InOrder()
    {
        // A connection of its own, not one of the pool: the pass may be long, and lookups must not wait for it.
        using var reader = new Reader(_path);
        var statement = reader.InOrder;
        int rc;
        while ((rc = raw.sqlite3_step(statement)) == raw.SQLITE_ROW)
        {
            yield return (raw.sqlite3_column_blob(statement, 0).ToArray(), new CertificateDetails(raw.sqlite3_column_blob(statement, 1).ToArray(),
                raw.sqlite3_column_blob(statement, 2).ToArray(), raw.sqlite3_column_blob(statement, 3).ToArray(), raw.sqlite3_column_blob(statement, 4).ToArray(),
                DateTimeOffset.FromUnixTimeSeconds(raw.sqlite3_column_int64(statement, 5)), DateTimeOffset.FromUnixTimeSeconds(raw.sqlite3_column_int64(statement, 6))));
        }
        Check(reader, rc == raw.SQLITE_DONE ? raw.SQLITE_OK : rc);
    }

    /// <inheritdoc/>
    public void Digests(DigestKind kind, bool isKey, DigestRow row)
    {
        ArgumentNullException.ThrowIfNull(row);
        // A connection of its own, as InOrder: one scan of the table in its own order, which is the snapshot's record
        // order, so the snapshot places each row without a hash lookup. The form's covering index would be a little
        // faster to read (1.3 against 1.5 s at 10M) but gives the rows in digest order: a lookup each, 6 s at 10M.
        using var reader = new Reader(_path);
        var statement = isKey ? reader.AllKeys : kind == DigestKind.Md5 ? reader.AllMd5 : reader.AllSha1;
        // Ten million rows at 10M: stepped and read through direct calls, not SQLitePCL's SafeHandle count per call
        // (a sixth of a form's build).
        var columns = SqliteColumns.Of(statement);
        int rc;
        while ((rc = columns.Step()) == raw.SQLITE_ROW)
            row(columns.Blob(0), columns.Blob(1));
        Check(reader, rc == raw.SQLITE_DONE ? raw.SQLITE_OK : rc);
    }

    /// <summary>Closes every thread's connection.</summary>
    public void Dispose()
    {
        lock (_idle)
        {
            if (_disposed) return;
            _disposed = true;
            _idleEnder.Dispose();
            foreach (var reader in _all) reader.Dispose();
            _idle.Clear();
        }
    }

    private Reader Rent()
    {
        Reader? reader;
        int epoch;
        lock (_idle)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            epoch = _epoch;
            _idle.TryPop(out reader);
        }
        if (reader is null)
        {
            int generation;
            lock (_idle) generation = _generation;
            reader = new Reader(_path) { Generation = generation };
            lock (_idle)
            {
                if (_disposed)
                {
                    reader.Dispose();
                    throw new ObjectDisposedException(nameof(StoreCertificateDirectory));
                }
                _all.Add(reader);
            }
        }
        reader.Hold(epoch);
        return reader;
    }

    /// <summary>
    /// Ends every connection's read transaction: lookups from now on read the store as it is now, not as it was when
    /// a transaction began. The server calls it after publishing a snapshot.
    /// </summary>
    public void ReleaseReads()
    {
        lock (_idle)
        {
            _epoch++;
            foreach (var reader in _idle) reader.EndRead();
        }
    }

    /// <summary>The timer's pass: ends the read transactions of connections nobody has borrowed for a while.</summary>
    private void EndIdleReads()
    {
        lock (_idle)
        {
            if (_disposed) return;
            foreach (var reader in _idle)
            {
                if (reader.HeldFor >= HoldMilliseconds) reader.EndRead();
            }
        }
    }

    private void Return(Reader reader)
    {
        lock (_idle)
        {
            if (_disposed) return;
            if (reader.Generation == _generation)
            {
                _idle.Push(reader);
                return;
            }
            _all.Remove(reader);
        }
        reader.Dispose();
    }

    /// <summary>
    /// Closes the connections and opens new ones on next use: a store file replaced under the same path (a restore
    /// from backup) is then read, not the old one the open connections still hold. The server calls it on each reload.
    /// </summary>
    public void Reopen()
    {
        List<Reader> idle;
        lock (_idle)
        {
            _generation++;
            idle = [.. _idle];
            _idle.Clear();
            foreach (var reader in idle) _all.Remove(reader);
        }
        foreach (var reader in idle) reader.Dispose();
    }

    private static void Check(Reader reader, int rc)
    {
        if (rc != raw.SQLITE_OK) throw new DirectoryUnavailableException($"{reader.Path}: {raw.sqlite3_errstr(rc).utf8_to_string()}");
    }

    /// <summary>A read-only connection without SQLite's per-call mutex: for one thread at a time.</summary>
    /// <exception cref="DirectoryUnavailableException">The file cannot be opened.</exception>
    internal static sqlite3 OpenReadOnly(string path, bool immutable)
    {
        int rc = raw.sqlite3_open_v2(immutable ? new Uri(System.IO.Path.GetFullPath(path)).AbsoluteUri + "?immutable=1" : path, out var db,
            raw.SQLITE_OPEN_READONLY | raw.SQLITE_OPEN_NOMUTEX | (immutable ? raw.SQLITE_OPEN_URI : 0), null);
        if (rc != raw.SQLITE_OK)
        {
            db.Dispose();
            throw new DirectoryUnavailableException($"{path}: {raw.sqlite3_errstr(rc).utf8_to_string()}");
        }
        return db;
    }

    /// <summary>One thread's connection and statements.</summary>
    private sealed class Reader : IDisposable
    {
        private readonly sqlite3 _db;

        public Reader(string path)
        {
            Path = path;
            _db = OpenReadOnly(path, immutable: false);
            // As CertStore.Open: a WAL store in a folder this process cannot write has no -shm to read it with; when the
            // file alone is the store, it is read as immutable. The server reopens these on every reload.
            if (raw.sqlite3_exec(_db, "SELECT 1 FROM certificates LIMIT 0;") is raw.SQLITE_READONLY or raw.SQLITE_CANTOPEN && CertStore.FileAloneIsTheStore(path))
            {
                _db.Dispose();
                _db = OpenReadOnly(path, immutable: true);
            }
            raw.sqlite3_busy_timeout(_db, 2000);
            BySha1 = Prepare("SELECT sha256 FROM certificates WHERE sha1 = ?1;");
            ByMd5 = Prepare("SELECT sha256 FROM certificates WHERE md5 = ?1;");
            ByKey = Prepare("SELECT sha256 FROM certificates WHERE spki_sha256 = ?1;");
            ByKeyPrefix = Prepare("SELECT sha256 FROM certificates WHERE spki_sha256 BETWEEN ?1 AND ?2;");
            InOrder = Prepare("SELECT sha256, sha1, md5, spki_sha256, serial, not_before, not_after FROM certificates;");
            Details = Prepare("SELECT sha1, md5, spki_sha256, serial, not_before, not_after FROM certificates WHERE sha256 = ?1;");
            AllSha1 = Prepare("SELECT sha256, sha1 FROM certificates ORDER BY id;");
            AllMd5 = Prepare("SELECT sha256, md5 FROM certificates ORDER BY id;");
            AllKeys = Prepare("SELECT sha256, spki_sha256 FROM certificates ORDER BY id;");
            _begin = Prepare("BEGIN;");
            _commit = Prepare("COMMIT;");
        }

        public string Path { get; }

        private readonly sqlite3_stmt _begin;
        private readonly sqlite3_stmt _commit;
        private bool _reading;
        private long _began;
        private int _epoch;

        /// <summary>Milliseconds since the open read transaction began; 0 when none is open.</summary>
        public long HeldFor => _reading ? Environment.TickCount64 - _began : 0;

        /// <summary>
        /// Makes sure a read transaction is open for this borrower: the one already open when it began in this epoch
        /// less than <see cref="HoldMilliseconds"/> ago, else a new one (BEGIN takes no lock: the next step does).
        /// </summary>
        public void Hold(int epoch)
        {
            if (_reading && (epoch != _epoch || HeldFor >= HoldMilliseconds)) EndRead();
            if (_reading) return;
            // Prepared, so that a transaction begun on the answer path allocates nothing.
            int rc = raw.sqlite3_step(_begin);
            raw.sqlite3_reset(_begin);
            if (rc != raw.SQLITE_DONE) return;
            (_reading, _began, _epoch) = (true, Environment.TickCount64, epoch);
        }

        /// <summary>Ends the read transaction, if one is open.</summary>
        public void EndRead()
        {
            if (!_reading) return;
            _reading = false;
            int rc = raw.sqlite3_step(_commit);
            raw.sqlite3_reset(_commit);
            // A read transaction whose COMMIT failed (a statement still stepping) is rolled back: none stays open.
            if (rc != raw.SQLITE_DONE && raw.sqlite3_get_autocommit(_db) == 0) raw.sqlite3_exec(_db, "ROLLBACK;");
        }

        /// <summary>The pool's generation when it was opened; older ones are closed when returned.</summary>
        public int Generation { get; init; }

        public sqlite3_stmt BySha1 { get; }

        public sqlite3_stmt ByMd5 { get; }

        public sqlite3_stmt ByKey { get; }

        public sqlite3_stmt ByKeyPrefix { get; }

        public sqlite3_stmt Details { get; }

        /// <summary>Every certificate's SHA-256 and SHA-1, MD5 or key digest, in table order (the snapshot's record order).</summary>
        public sqlite3_stmt AllSha1 { get; }

        public sqlite3_stmt AllMd5 { get; }

        public sqlite3_stmt AllKeys { get; }

        /// <summary>Every certificate in table order, the order <see cref="SnapshotLoader.Load"/> reads them.</summary>
        public sqlite3_stmt InOrder { get; }

        public void Dispose()
        {
            foreach (var statement in new[] { BySha1, ByMd5, ByKey, ByKeyPrefix, Details, InOrder, AllSha1, AllMd5, AllKeys, _begin, _commit }) statement?.Dispose();
            _db.Dispose();
        }

        private sqlite3_stmt Prepare(string sql)
        {
            int rc = raw.sqlite3_prepare_v2(_db, sql, out var statement);
            if (rc == raw.SQLITE_OK) return statement;
            var message = raw.sqlite3_errmsg(_db).utf8_to_string();
            Dispose();
            throw new DirectoryUnavailableException($"{Path}: {message}");
        }
    }
}
