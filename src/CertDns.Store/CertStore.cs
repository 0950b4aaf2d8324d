using System.Data;
using CertDns.Core;
using Dapper;
using Microsoft.Data.Sqlite;
using SQLitePCL;

namespace CertDns.Store;

/// <summary>
/// The single source of truth: one SQLite file in WAL mode, migrated on open. Every write runs in one
/// transaction that also advances the zone serial, so a reader sees either all of a change or none of it.
/// </summary>
public sealed class CertStore : IDisposable
{
    private readonly SqliteConnection _db;

    static CertStore()
    {
        DefaultTypeMap.MatchNamesWithUnderscores = true;
    }

    private CertStore(SqliteConnection db, string path)
    {
        _db = db;
        Path = path;
    }

    /// <summary>The database file.</summary>
    public string Path { get; }

    /// <summary>Opens (creating if needed) the store at <paramref name="path"/> and applies pending migrations.</summary>
    /// <exception cref="BadInputException">The file is not a CertDns store or is from a newer version.</exception>
    public static CertStore Open(string path, bool readOnly = false)
    {
        var full = System.IO.Path.GetFullPath(path);
        if (readOnly && !File.Exists(full)) throw new BadInputException(path, "no such store");
        var builder = new SqliteConnectionStringBuilder
        {
            DataSource = full,
            Mode = readOnly ? SqliteOpenMode.ReadOnly : SqliteOpenMode.ReadWriteCreate,
            Pooling = false,
            DefaultTimeout = 30,
        };
        var db = new SqliteConnection(builder.ToString());
        try
        {
            db.Open();
            // Concurrent cron jobs and the server share the file: wait for a writer rather than fail.
            db.Execute("PRAGMA busy_timeout = 10000; PRAGMA foreign_keys = ON; PRAGMA temp_store = MEMORY;");
            if (!readOnly)
            {
                db.ExecuteScalar<string>("PRAGMA journal_mode = WAL;");
                db.Execute("PRAGMA synchronous = NORMAL;");
                Migrate(db, path);
            }
            else
            {
                var version = db.ExecuteScalar<long>("PRAGMA user_version;");
                if (version == 0) throw new BadInputException(path, "not a CertDns store (no schema)");
            }
        }
        catch (SqliteException e) when (e.SqliteErrorCode is 26 /* SQLITE_NOTADB */ or 14 /* SQLITE_CANTOPEN */ or 11 /* SQLITE_CORRUPT */)
        {
            db.Dispose();
            throw new BadInputException(path, e.SqliteErrorCode == 14 ? "cannot open the store file" : "not a SQLite database");
        }
        catch
        {
            db.Dispose();
            throw;
        }
        return new CertStore(db, full);
    }

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
            db.Execute($"PRAGMA user_version = {step + 1};", transaction: tx);
            tx.Commit();
        }
    }

    /// <summary>The schema version of the open store.</summary>
    public long SchemaVersion => _db.ExecuteScalar<long>("PRAGMA user_version;");

    /// <summary>The zone's SOA serial; it advances with every change to published data.</summary>
    public uint Serial => (uint)_db.ExecuteScalar<long>("SELECT serial FROM zone WHERE id = 1;");

    /// <summary>Runs <paramref name="work"/> in one immediate transaction that also advances the zone serial.</summary>
    public T Write<T>(Func<IDbTransaction, T> work)
    {
        using var tx = _db.BeginTransaction();
        var result = work(tx);
        // RFC 1982 serials: keep them time-like (Unix seconds) but strictly increasing even within a second.
        _db.Execute("UPDATE zone SET serial = MAX(serial + 1, CAST(strftime('%s','now') AS INTEGER)), changed_at = CAST(strftime('%s','now') AS INTEGER) WHERE id = 1;", transaction: tx);
        tx.Commit();
        return result;
    }

    /// <summary>Appends a line to the audit log inside <paramref name="tx"/>.</summary>
    public void Audit(IDbTransaction tx, string action, string subject, string? reason, string? actor = null) =>
        _db.Execute("INSERT INTO audit (at, actor, action, subject, reason) VALUES (@at, @actor, @action, @subject, @reason);",
            new { at = Now(), actor = actor ?? Environment.UserName, action, subject, reason }, tx);

    /// <summary>The audit log, oldest first.</summary>
    public IReadOnlyList<AuditRow> AuditLog() => _db.Query<AuditRow>("SELECT * FROM audit ORDER BY id;").AsList();

    // ---- CAs

    /// <summary>Registers a CA; returns its id and whether it was new.</summary>
    public (long Id, bool Added) AddCa(CaRecord ca, IEnumerable<string> crlUrls) => Write(tx =>
    {
        var existing = _db.ExecuteScalar<long?>("SELECT id FROM cas WHERE sha256 = @Sha256;", new { ca.Sha256 }, tx);
        var id = existing ?? _db.ExecuteScalar<long>(
            """
            INSERT INTO cas (sha256, subject, subject_der, key_id, spki_sha256, not_before, not_after, can_sign_crl, der, abuse_contact, added_at)
            VALUES (@Sha256, @Subject, @SubjectDer, @KeyId, @SpkiSha256, @nb, @na, @CanSignCrl, @Der, @AbuseContact, @now)
            RETURNING id;
            """,
            new { ca.Sha256, ca.Subject, ca.SubjectDer, ca.KeyId, ca.SpkiSha256, nb = ca.NotBefore.ToUnixTimeSeconds(), na = ca.NotAfter.ToUnixTimeSeconds(), ca.CanSignCrl, ca.Der, ca.AbuseContact, now = Now() }, tx);
        if (existing is not null && ca.AbuseContact is not null)
            _db.Execute("UPDATE cas SET abuse_contact = @AbuseContact WHERE id = @id;", new { ca.AbuseContact, id }, tx);
        foreach (var url in crlUrls)
            _db.Execute("INSERT OR IGNORE INTO ca_crl_urls (ca_id, url) VALUES (@id, @url);", new { id, url }, tx);
        if (existing is null) Audit(tx, "ca add", ca.Subject, null);
        return (id, existing is null);
    });

    /// <summary>Every registered CA.</summary>
    public IReadOnlyList<CaRow> ListCas() => _db.Query<CaRow>("SELECT * FROM cas ORDER BY id;").AsList();

    /// <summary>One CA by id, or null.</summary>
    public CaRow? GetCa(long id) => _db.QuerySingleOrDefault<CaRow>("SELECT * FROM cas WHERE id = @id;", new { id });

    /// <summary>CAs whose subject is exactly this DER name (several after a key rollover).</summary>
    public IReadOnlyList<CaRow> FindCasBySubject(byte[] subjectDer) =>
        _db.Query<CaRow>("SELECT * FROM cas WHERE subject_der = @subjectDer ORDER BY id;", new { subjectDer }).AsList();

    /// <summary>The configured CRL URLs of a CA.</summary>
    public IReadOnlyList<string> CrlUrls(long caId) =>
        _db.Query<string>("SELECT url FROM ca_crl_urls WHERE ca_id = @caId ORDER BY url;", new { caId }).AsList();

    /// <summary>Marks a CA trusted or distrusted, with the reason, in the audit log too. False when nothing changed.</summary>
    public bool SetTrust(long caId, bool trusted, string? reason) => Write(tx =>
    {
        var ca = _db.QuerySingleOrDefault<CaRow>("SELECT * FROM cas WHERE id = @caId;", new { caId }, tx)
            ?? throw new BadInputException(caId.ToString(System.Globalization.CultureInfo.InvariantCulture), "no CA with that id");
        if (ca.Trusted == trusted) return false;
        _db.Execute("UPDATE cas SET trusted = @trusted, distrusted_at = @at, distrust_reason = @reason WHERE id = @caId;",
            new { trusted, at = trusted ? (long?)null : Now(), reason = trusted ? null : reason, caId }, tx);
        Audit(tx, trusted ? "ca trust" : "ca distrust", ca.Subject, reason);
        return true;
    });

    // ---- certificates

    /// <summary>Registers certificates in one transaction; returns how many were new (re-adding is idempotent).</summary>
    public int AddCertificates(IEnumerable<CertRecord> certs) => Write(tx =>
    {
        using var cmd = _db.CreateCommand();
        cmd.Transaction = (SqliteTransaction)tx;
        cmd.CommandText =
            """
            INSERT OR IGNORE INTO certificates (sha256, sha1, md5, spki_sha256, ca_id, serial, subject, not_before, not_after, der, added_at)
            VALUES ($sha256, $sha1, $md5, $spki, $ca, $serial, $subject, $nb, $na, $der, $now);
            """;
        var p = new[] { "$sha256", "$sha1", "$md5", "$spki", "$ca", "$serial", "$subject", "$nb", "$na", "$der", "$now" }
            .Select(n => cmd.Parameters.Add(new SqliteParameter { ParameterName = n })).ToArray();
        cmd.Prepare();
        var now = Now();
        int added = 0;
        foreach (var c in certs)
        {
            p[0].Value = c.Sha256; p[1].Value = c.Sha1; p[2].Value = c.Md5; p[3].Value = c.SpkiSha256;
            p[4].Value = c.CaId; p[5].Value = c.Serial; p[6].Value = (object?)c.Subject ?? DBNull.Value;
            p[7].Value = c.NotBefore.ToUnixTimeSeconds(); p[8].Value = c.NotAfter.ToUnixTimeSeconds();
            p[9].Value = (object?)c.Der ?? DBNull.Value; p[10].Value = now;
            added += cmd.ExecuteNonQuery();
        }
        return added;
    });

    /// <summary>A registered certificate by SHA-256, or null.</summary>
    public CertRow? FindCertificate(byte[] sha256) =>
        _db.QuerySingleOrDefault<CertRow>("SELECT id, sha256, ca_id, serial, subject, not_before, not_after FROM certificates WHERE sha256 = @sha256;", new { sha256 });

    /// <summary>How many certificates are registered.</summary>
    public long CertificateCount() => _db.ExecuteScalar<long>("SELECT COUNT(*) FROM certificates;");

    // ---- CRLs

    /// <summary>The newest accepted CRL of a CA, or null when none was ingested.</summary>
    public CrlRow? LatestCrl(long caId) =>
        _db.QuerySingleOrDefault<CrlRow>("SELECT * FROM crls WHERE ca_id = @caId ORDER BY id DESC LIMIT 1;", new { caId });

    /// <summary>
    /// Records a full CRL and replaces its issuer's revocations with its entries, all in one transaction:
    /// readers see the old set or the new one, never a mix.
    /// </summary>
    public RevocationChange ReplaceRevocations(CrlRecord crl, IEnumerable<RevocationRecord> entries) => Write(tx =>
    {
        var sqlTx = (SqliteTransaction)tx;
        _db.Execute("CREATE TEMP TABLE IF NOT EXISTS incoming (serial BLOB PRIMARY KEY, revoked_at INTEGER NOT NULL, reason INTEGER NOT NULL) WITHOUT ROWID; DELETE FROM temp.incoming;", transaction: tx);
        int count = 0;
        using (var cmd = _db.CreateCommand())
        {
            cmd.Transaction = sqlTx;
            cmd.CommandText = "INSERT OR REPLACE INTO temp.incoming (serial, revoked_at, reason) VALUES ($s, $t, $r);";
            var s = cmd.Parameters.Add(new SqliteParameter { ParameterName = "$s" });
            var t = cmd.Parameters.Add(new SqliteParameter { ParameterName = "$t" });
            var r = cmd.Parameters.Add(new SqliteParameter { ParameterName = "$r" });
            cmd.Prepare();
            foreach (var e in entries)
            {
                s.Value = e.Serial.ToArray();
                t.Value = e.RevokedAt.ToUnixTimeSeconds();
                r.Value = (int)e.Reason;
                cmd.ExecuteNonQuery();
                count++;
            }
        }
        var crlId = _db.ExecuteScalar<long>(
            """
            INSERT INTO crls (ca_id, number, this_update, next_update, sha256, source, delta_base, entry_count, ingested_at)
            VALUES (@CaId, @Number, @tu, @nu, @Sha256, @Source, @DeltaBase, @count, @now) RETURNING id;
            """,
            new { crl.CaId, crl.Number, tu = crl.ThisUpdate.ToUnixTimeSeconds(), nu = crl.NextUpdate?.ToUnixTimeSeconds(), crl.Sha256, crl.Source, crl.DeltaBase, count, now = Now() }, tx);
        var added = _db.ExecuteScalar<int>("SELECT COUNT(*) FROM temp.incoming i WHERE NOT EXISTS (SELECT 1 FROM revocations r WHERE r.ca_id = @ca AND r.serial = i.serial);", new { ca = crl.CaId }, tx);
        var removed = _db.ExecuteScalar<int>("SELECT COUNT(*) FROM revocations r WHERE r.ca_id = @ca AND NOT EXISTS (SELECT 1 FROM temp.incoming i WHERE i.serial = r.serial);", new { ca = crl.CaId }, tx);
        _db.Execute("DELETE FROM revocations WHERE ca_id = @ca;", new { ca = crl.CaId }, tx);
        var total = _db.Execute("INSERT INTO revocations (ca_id, serial, revoked_at, reason, crl_id) SELECT @ca, serial, revoked_at, reason, @crlId FROM temp.incoming;", new { ca = crl.CaId, crlId }, tx);
        _db.Execute("DELETE FROM temp.incoming;", transaction: tx);
        return new RevocationChange(crlId, added, removed, total);
    });

    /// <summary>How many revocations a CA's current CRL holds.</summary>
    public long RevocationCount(long caId) => _db.ExecuteScalar<long>("SELECT COUNT(*) FROM revocations WHERE ca_id = @caId;", new { caId });

    /// <summary>The revocation of a serial by a CA, or null.</summary>
    public (RevocationReason Reason, DateTimeOffset RevokedAt)? FindRevocation(long caId, byte[] serial)
    {
        var row = _db.QuerySingleOrDefault<(long Reason, long RevokedAt)?>("SELECT reason, revoked_at FROM revocations WHERE ca_id = @caId AND serial = @serial;", new { caId, serial });
        return row is { } r ? ((RevocationReason)r.Reason, DateTimeOffset.FromUnixTimeSeconds(r.RevokedAt)) : null;
    }

    // ---- local listings

    /// <summary>Lists a certificate by local policy (operator block); false when it was already listed.</summary>
    public bool Block(byte[] sha256, string reason, string source, string subject) => Write(tx =>
    {
        var added = _db.Execute("INSERT OR IGNORE INTO listings (sha256, reason, since, source) VALUES (@sha256, @reason, @now, @source);",
            new { sha256, reason, now = Now(), source }, tx) > 0;
        if (added) Audit(tx, "block", subject, reason);
        return added;
    });

    /// <summary>Lifts a local listing; false when it was not listed.</summary>
    public bool Unblock(byte[] sha256, string reason, string subject) => Write(tx =>
    {
        var removed = _db.Execute("DELETE FROM listings WHERE sha256 = @sha256;", new { sha256 }, tx) > 0;
        if (removed) Audit(tx, "unblock", subject, reason);
        return removed;
    });

    /// <summary>Every local listing.</summary>
    public IReadOnlyList<ListingRow> Listings() => _db.Query<ListingRow>("SELECT * FROM listings ORDER BY since;").AsList();

    // ---- the served view

    /// <summary>
    /// Reads everything the zone publishes into an immutable snapshot, inside one read transaction so that it
    /// is consistent with the serial it carries.
    /// </summary>
    public StatusSnapshot LoadSnapshot()
    {
        using var tx = _db.BeginTransaction(deferred: true);
        var serial = (uint)_db.ExecuteScalar<long>("SELECT serial FROM zone WHERE id = 1;", transaction: tx);
        var count = _db.ExecuteScalar<long>("SELECT COUNT(*) FROM certificates;", transaction: tx);
        var builder = new StatusSnapshotBuilder((int)count);
        var cas = new Dictionary<long, int>();
        foreach (var ca in _db.Query<CaRow>("SELECT * FROM cas;", transaction: tx))
        {
            var crl = _db.QuerySingleOrDefault<CrlRow>("SELECT * FROM crls WHERE ca_id = @Id ORDER BY id DESC LIMIT 1;", new { ca.Id }, tx);
            cas[ca.Id] = builder.AddCa(new CaFacts(ca.Id, ca.Subject, ca.Trusted, Time(ca.DistrustedAt), ca.DistrustReason,
                crl is null ? null : new CrlFacts(crl.Number, DateTimeOffset.FromUnixTimeSeconds(crl.ThisUpdate), Time(crl.NextUpdate))));
        }
        // CRL numbers repeat across every entry of a CRL: one string each, not one per revoked certificate.
        var crlNumbers = new Dictionary<long, string?>();
        foreach (var (id, number) in _db.Query<(long, string?)>("SELECT id, number FROM crls;", transaction: tx)) crlNumbers[id] = number;

        // Revocations first, into a map by issuer and serial: matching them during the certificate scan costs a hash
        // per certificate instead of an index descent and a row fetch per revocation.
        var handle = _db.Handle!;
        var revoked = new Dictionary<SerialKey, RevocationFacts>();
        Check(handle, raw.sqlite3_prepare_v2(handle, "SELECT ca_id, serial, reason, revoked_at, crl_id FROM revocations;", out var statement));
        using (statement)
        {
            int rc;
            while ((rc = raw.sqlite3_step(statement)) == raw.SQLITE_ROW)
            {
                revoked[SerialKey.Of(raw.sqlite3_column_int64(statement, 0), raw.sqlite3_column_blob(statement, 1))] = new RevocationFacts(
                    (RevocationReason)raw.sqlite3_column_int(statement, 2), DateTimeOffset.FromUnixTimeSeconds(raw.sqlite3_column_int64(statement, 3)),
                    crlNumbers.GetValueOrDefault(raw.sqlite3_column_int64(statement, 4)));
            }
            Check(handle, rc == raw.SQLITE_DONE ? raw.SQLITE_OK : rc);
        }

        // A plain scan in table order reads the file front to back; the snapshot sorts in memory. (Reading in SHA-256
        // index order, or joining per row, costs a random B-tree descent per certificate.) The statement runs on
        // SQLite's own API inside the open transaction: its column spans are copied straight into the snapshot's
        // arrays, where SqliteDataReader.GetBytes is several times slower and GetValue allocates per blob.
        Check(handle, raw.sqlite3_prepare_v2(handle,
            "SELECT sha256, sha1, md5, spki_sha256, serial, not_before, not_after, ca_id FROM certificates;", out statement));
        using (statement)
        {
            int rc;
            while ((rc = raw.sqlite3_step(statement)) == raw.SQLITE_ROW)
            {
                long caId = raw.sqlite3_column_int64(statement, 7);
                var serialBytes = raw.sqlite3_column_blob(statement, 4);
                var revocation = revoked.Count == 0 ? null : revoked.GetValueOrDefault(SerialKey.Of(caId, serialBytes));
                builder.Add(raw.sqlite3_column_blob(statement, 0), raw.sqlite3_column_blob(statement, 1), raw.sqlite3_column_blob(statement, 2),
                    raw.sqlite3_column_blob(statement, 3), serialBytes, raw.sqlite3_column_int64(statement, 5),
                    raw.sqlite3_column_int64(statement, 6), cas[caId], revocation, null);
            }
            Check(handle, rc == raw.SQLITE_DONE ? raw.SQLITE_OK : rc);
        }
        foreach (var (sha256, reason, since) in _db.Query<(byte[], string, long)>("SELECT sha256, reason, since FROM listings;", transaction: tx))
            builder.Block(sha256, new BlockFacts(reason, DateTimeOffset.FromUnixTimeSeconds(since)));
        tx.Commit();
        return builder.Build(serial);
    }

    /// <summary>
    /// An issuer and serial as a value key. RFC 5280 serials are at most 20 octets and are kept exactly; a longer
    /// (non-conforming) one is keyed by its SHA-256, which no CA can make collide with another of its serials.
    /// </summary>
    private readonly record struct SerialKey(long Ca, int Length, ulong A, ulong B, ulong C)
    {
        public static SerialKey Of(long ca, ReadOnlySpan<byte> serial)
        {
            Span<byte> packed = stackalloc byte[32];
            packed.Clear();
            if (serial.Length <= 24) serial.CopyTo(packed);
            else System.Security.Cryptography.SHA256.HashData(serial, packed);
            return new SerialKey(ca, serial.Length, BitConverter.ToUInt64(packed), BitConverter.ToUInt64(packed[8..]), BitConverter.ToUInt64(packed[16..]));
        }
    }

    private static void Check(sqlite3 handle, int rc)
    {
        if (rc != raw.SQLITE_OK) throw new SqliteException(raw.sqlite3_errmsg(handle).utf8_to_string(), rc);
    }

    private static DateTimeOffset? Time(long? unix) => unix is { } u ? DateTimeOffset.FromUnixTimeSeconds(u) : null;

    private static long Now() => DateTimeOffset.UtcNow.ToUnixTimeSeconds();

    /// <summary>Closes the file.</summary>
    public void Dispose() => _db.Dispose();
}
