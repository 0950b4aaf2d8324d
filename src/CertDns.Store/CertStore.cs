using System.Data;
using System.Formats.Asn1;
using System.Globalization;
using CertDns.Core;
using Dapper;
using Microsoft.Data.Sqlite;
using SQLitePCL;

namespace CertDns.Store;

/// <summary>
/// The single source of truth: one SQLite file in WAL mode, migrated on open. Every write runs in one
/// transaction that also advances the zone serial, so a reader sees either all of a change or none of it.
/// </summary>
public sealed partial class CertStore : IDisposable
{
    private readonly SqliteConnection _db;
    private StoreCertificateDirectory? _directory;

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
            var version = db.ExecuteScalar<long>("PRAGMA user_version;");
            if (readOnly && version == 0) throw new BadInputException(path, "not a CertDns store (no schema)");
            if (!readOnly || version < Schema.Migrations.Length)
            {
                // A reading command on a store from an older certdns still needs today's schema: migrate it
                // (the file is reopened writable for that; a reading command never creates one).
                if (readOnly)
                {
                    db.Dispose();
                    db = new SqliteConnection(new SqliteConnectionStringBuilder(builder.ToString()) { Mode = SqliteOpenMode.ReadWrite }.ToString());
                    db.Open();
                    db.Execute("PRAGMA busy_timeout = 10000; PRAGMA foreign_keys = ON; PRAGMA temp_store = MEMORY;");
                }
                db.ExecuteScalar<string>("PRAGMA journal_mode = WAL;");
                db.Execute("PRAGMA synchronous = NORMAL;");
                Migrate(db, path);
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

    /// <summary>The schema version this build migrates stores to.</summary>
    public static int LatestSchemaVersion => Schema.Migrations.Length;

    /// <summary>The schema version of the open store.</summary>
    public long SchemaVersion => _db.ExecuteScalar<long>("PRAGMA user_version;");

    /// <summary>The zone's SOA serial; it advances with every change to published data.</summary>
    public uint Serial => ReadSerial(null);

    private uint ReadSerial(IDbTransaction? tx) => (uint)_db.ExecuteScalar<long>("SELECT serial FROM zone WHERE id = 1;", transaction: tx);

    /// <summary>RFC 1982 serials: kept time-like (Unix seconds) but strictly increasing even within a second.</summary>
    internal const string AdvanceSerialSql =
        "UPDATE zone SET serial = MAX(serial + 1, CAST(strftime('%s','now') AS INTEGER)), changed_at = CAST(strftime('%s','now') AS INTEGER) WHERE id = 1;";

    /// <summary>Runs <paramref name="work"/> in one immediate transaction that also advances the zone serial.</summary>
    public T Write<T>(Func<IDbTransaction, T> work)
    {
        using var tx = _db.BeginTransaction();
        var result = work(tx);
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

    /// <summary>Appends a line to the audit log inside <paramref name="tx"/>.</summary>
    public void Audit(IDbTransaction tx, string action, string subject, string? reason, string? actor = null) =>
        _db.Execute("INSERT INTO audit (at, actor, action, subject, reason) VALUES (@at, @actor, @action, @subject, @reason);",
            new { at = Now(), actor = actor ?? Environment.UserName, action, subject, reason }, tx);

    /// <summary>The audit log, oldest first.</summary>
    public IReadOnlyList<AuditRow> AuditLog() => _db.Query<AuditRow>("SELECT * FROM audit ORDER BY id;").AsList();

    // ---- CAs

    /// <summary>Registers a CA; returns its id and whether it was new.</summary>
    public (long Id, bool Added) AddCa(CaRecord ca, IEnumerable<string> crlUrls) => AddCas([ca], crlUrls)[0];

    /// <summary>
    /// Registers CAs in one transaction, in order (a parent before its intermediates); returns each one's id and
    /// whether it was new. Re-adding a CA changes only its abuse contact and CRL URLs.
    /// </summary>
    public IReadOnlyList<(long Id, bool Added)> AddCas(IReadOnlyList<CaRecord> cas, IEnumerable<string> crlUrls)
    {
        var urls = crlUrls.ToList();
        return Write(tx =>
        {
            var result = new List<(long, bool)>();
            foreach (var ca in cas)
            {
                var existing = _db.ExecuteScalar<long?>("SELECT id FROM cas WHERE sha256 = @Sha256;", new { ca.Sha256 }, tx);
                long? parent = ca.ParentSha256 is null ? null
                    : _db.ExecuteScalar<long?>("SELECT id FROM cas WHERE sha256 = @ParentSha256;", new { ca.ParentSha256 }, tx)
                      ?? throw new InvalidOperationException($"parent of CA \"{ca.Subject}\" is not registered");
                string? anchor = parent is null ? ca.Anchor : null;
                var id = existing ?? _db.ExecuteScalar<long>(
                    """
                    INSERT INTO cas (sha256, subject, subject_der, key_id, spki_sha256, not_before, not_after, can_sign_crl, der, abuse_contact, added_at, parent_id, anchor)
                    VALUES (@Sha256, @Subject, @SubjectDer, @KeyId, @SpkiSha256, @nb, @na, @CanSignCrl, @Der, @AbuseContact, @now, @parent, @anchor)
                    RETURNING id;
                    """,
                    new { ca.Sha256, ca.Subject, ca.SubjectDer, ca.KeyId, ca.SpkiSha256, nb = ca.NotBefore.ToUnixTimeSeconds(), na = ca.NotAfter.ToUnixTimeSeconds(), ca.CanSignCrl, ca.Der, ca.AbuseContact, now = Now(), parent, anchor }, tx);
                if (existing is not null && ca.AbuseContact is not null)
                    _db.Execute("UPDATE cas SET abuse_contact = @AbuseContact WHERE id = @id;", new { ca.AbuseContact, id }, tx);
                foreach (var url in urls)
                    _db.Execute("INSERT OR IGNORE INTO ca_crl_urls (ca_id, url) VALUES (@id, @url);", new { id, url }, tx);
                if (existing is null)
                    Audit(tx, "ca add", ca.Subject, parent is { } p ? $"CA {id}: intermediate under CA {p}" : $"CA {id}: anchor ({anchor})");
                result.Add((id, existing is null));
            }
            return result;
        });
    }

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
    public int AddCertificates(IEnumerable<CertRecord> certs)
    {
        // Five indexes on random keys (the digests, issuer+serial): a bulk insert touches pages all over each one, and
        // SQLite's default 2 MB page cache keeps evicting what the next row needs. A larger cache for this transaction
        // (filled only as far as used) halves the time at a million certificates; it goes back to the default after.
        _db.Execute("PRAGMA cache_size = -262144;");
        try
        {
            return InsertCertificates(certs);
        }
        finally
        {
            _db.Execute("PRAGMA cache_size = -2000;");
        }
    }

    private int InsertCertificates(IEnumerable<CertRecord> certs) => Write(tx =>
    {
        using var cmd = _db.CreateCommand();
        cmd.Transaction = (SqliteTransaction)tx;
        cmd.CommandText =
            """
            INSERT OR IGNORE INTO certificates (sha256, sha1, md5, spki_sha256, ca_id, serial, subject, not_before, not_after, der, added_at, is_ca, crl_points)
            VALUES ($sha256, $sha1, $md5, $spki, $ca, $serial, $subject, $nb, $na, $der, $now, $isca, $points);
            """;
        var p = new[] { "$sha256", "$sha1", "$md5", "$spki", "$ca", "$serial", "$subject", "$nb", "$na", "$der", "$now", "$isca", "$points" }
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
            p[11].Value = c.IsCa;
            p[12].Value = c.CrlPointNames is { Count: > 0 } names ? names.SelectMany(n => n).ToArray() : DBNull.Value;
            added += cmd.ExecuteNonQuery();
        }
        return added;
    });

    /// <summary>A registered certificate by SHA-256, or null.</summary>
    public CertRow? FindCertificate(byte[] sha256) =>
        _db.QuerySingleOrDefault<CertRow>("SELECT id, sha256, ca_id, serial, subject, not_before, not_after FROM certificates WHERE sha256 = @sha256;", new { sha256 });

    /// <summary>A registered certificate by any digest a query name can carry, or null.</summary>
    public CertRow? FindCertificate(DigestKind kind, byte[] digest)
    {
        const string columns = "SELECT id, sha256, ca_id, serial, subject, not_before, not_after FROM certificates";
        return kind switch
        {
            DigestKind.Sha256 => FindCertificate(digest),
            DigestKind.Sha1 => _db.QueryFirstOrDefault<CertRow>($"{columns} WHERE sha1 = @digest;", new { digest }),
            DigestKind.Md5 => _db.QueryFirstOrDefault<CertRow>($"{columns} WHERE md5 = @digest;", new { digest }),
            // The 28-octet prefix as an index range: [prefix, prefix || ff ff ff ff].
            _ => _db.QueryFirstOrDefault<CertRow>($"{columns} WHERE sha256 >= @digest AND sha256 <= @upper ORDER BY sha256;",
                new { digest, upper = digest.Concat(new byte[] { 0xff, 0xff, 0xff, 0xff }).ToArray() }),
        };
    }

    /// <summary>How many certificates are registered.</summary>
    public long CertificateCount() => _db.ExecuteScalar<long>("SELECT COUNT(*) FROM certificates;");

    // ---- CRLs

    /// <summary>The newest accepted CRL of a CA (any series), or null when none was ingested.</summary>
    public CrlRow? LatestCrl(long caId) =>
        _db.QuerySingleOrDefault<CrlRow>("SELECT * FROM crls WHERE ca_id = @caId ORDER BY id DESC LIMIT 1;", new { caId });

    /// <summary>The newest full or delta CRL of one series (CRL issuer and issuingDistributionPoint), or null.</summary>
    public CrlRow? LatestCrl(long caId, byte[] idp, bool delta) => _db.QuerySingleOrDefault<CrlRow>(
        """
        SELECT k.* FROM crls k JOIN crl_scopes s ON s.id = k.scope_id
        WHERE s.ca_id = @caId AND s.idp = @idp AND k.is_delta = @delta ORDER BY k.id DESC LIMIT 1;
        """, new { caId, idp, delta });

    /// <summary>An accepted CRL with exactly these file bytes (by SHA-256), or null: re-ingesting it is a no-op.</summary>
    public CrlRow? FindCrlBySha256(byte[] sha256) =>
        _db.QuerySingleOrDefault<CrlRow>("SELECT * FROM crls WHERE sha256 = @sha256 ORDER BY id DESC LIMIT 1;", new { sha256 });

    /// <summary>
    /// Records a CRL and, in the same transaction, replaces its series' entries: the base set for a full CRL
    /// (a new base also retires the series' delta), the delta overlay for a delta CRL. Readers see the old set
    /// or the new one, never a mix; a process killed midway leaves the previous set (SQLite rolls back).
    /// </summary>
    public RevocationChange ApplyCrl(CrlRecord crl, IEnumerable<RevocationRecord> entries) => Write(tx =>
    {
        var scope = crl.Scope ?? CrlScope.Complete;
        var scopeId = _db.ExecuteScalar<long?>("SELECT id FROM crl_scopes WHERE ca_id = @CaId AND idp = @Idp;", new { crl.CaId, scope.Idp }, tx)
            ?? _db.ExecuteScalar<long>(
                """
                INSERT INTO crl_scopes (ca_id, idp, point_name, only_user, only_ca, only_attribute, reasons, indirect)
                VALUES (@CaId, @Idp, @PointName, @OnlyUser, @OnlyCa, @OnlyAttribute, @Reasons, @Indirect) RETURNING id;
                """, new { crl.CaId, scope.Idp, scope.PointName, scope.OnlyUser, scope.OnlyCa, scope.OnlyAttribute, scope.Reasons, scope.Indirect }, tx);
        var crlId = _db.ExecuteScalar<long>(
            """
            INSERT INTO crls (ca_id, number, this_update, next_update, sha256, source, delta_base, entry_count, ingested_at, scope_id, is_delta)
            VALUES (@CaId, @Number, @tu, @nu, @Sha256, @Source, @DeltaBase, 0, @now, @scopeId, @IsDelta) RETURNING id;
            """,
            new { crl.CaId, crl.Number, tu = crl.ThisUpdate.ToUnixTimeSeconds(), nu = crl.NextUpdate?.ToUnixTimeSeconds(), crl.Sha256, crl.Source, crl.DeltaBase, now = Now(), scopeId, crl.IsDelta }, tx);
        int delta = crl.IsDelta ? 1 : 0;
        // A new base retires the delta built on the old one; deltas are cumulative, so a newer one replaces the last (RFC 5280 5.2.4).
        if (!crl.IsDelta) _db.Execute("DELETE FROM revocations WHERE scope_id = @scopeId AND delta = 1;", new { scopeId }, tx);
        bool empty = _db.ExecuteScalar<long?>("SELECT 1 FROM revocations WHERE scope_id = @scopeId AND delta = @delta LIMIT 1;", new { scopeId, delta }, tx) is null;
        var db = _db.Handle!;
        RevocationChange change;
        if (empty)
        {
            // First CRL of the series: straight into the table, in CRL order (usually sorted by serial).
            int count = BulkInsert(db, "INSERT OR REPLACE INTO revocations (scope_id, delta, ca_id, serial, revoked_at, reason, crl_id) VALUES ",
                $"({scopeId}, {delta}, {{0}}, {{1}}, {{2}}, {{3}}, {crlId})", crl.CaId, entries);
            change = new RevocationChange(crlId, count, 0, count);
        }
        else
        {
            // Replace by difference: a CRL that grew by a few entries rewrites a few rows, not the whole set.
            _db.Execute("CREATE TEMP TABLE IF NOT EXISTS incoming (ca_id INTEGER NOT NULL, serial BLOB NOT NULL, revoked_at INTEGER NOT NULL, reason INTEGER NOT NULL, PRIMARY KEY (ca_id, serial)) WITHOUT ROWID; DELETE FROM temp.incoming;", transaction: tx);
            int count = BulkInsert(db, "INSERT OR REPLACE INTO temp.incoming (ca_id, serial, revoked_at, reason) VALUES ", "({0}, {1}, {2}, {3})", crl.CaId, entries);
            var args = new { scopeId, delta, crlId };
            var before = _db.ExecuteScalar<int>("SELECT COUNT(*) FROM revocations WHERE scope_id = @scopeId AND delta = @delta;", args, tx);
            var removed = _db.Execute(
                """
                DELETE FROM revocations WHERE scope_id = @scopeId AND delta = @delta
                AND NOT EXISTS (SELECT 1 FROM temp.incoming i WHERE i.ca_id = revocations.ca_id AND i.serial = revocations.serial);
                """, args, tx);
            _db.Execute(
                """
                INSERT OR REPLACE INTO revocations (scope_id, delta, ca_id, serial, revoked_at, reason, crl_id)
                SELECT @scopeId, @delta, i.ca_id, i.serial, i.revoked_at, i.reason, @crlId FROM temp.incoming i
                WHERE NOT EXISTS (SELECT 1 FROM revocations r WHERE r.scope_id = @scopeId AND r.delta = @delta AND r.ca_id = i.ca_id
                                  AND r.serial = i.serial AND r.revoked_at = i.revoked_at AND r.reason = i.reason);
                """, args, tx);
            _db.Execute("UPDATE revocations SET crl_id = @crlId WHERE scope_id = @scopeId AND delta = @delta AND crl_id <> @crlId;", args, tx);
            _db.Execute("DELETE FROM temp.incoming;", transaction: tx);
            change = new RevocationChange(crlId, count - (before - removed), removed, count);
        }
        _db.Execute("UPDATE crls SET entry_count = @Total WHERE id = @crlId;", new { change.Total, crlId }, tx);
        return change;
    });

    /// <summary>
    /// Inserts entries through prepared statements over the raw handle, binding spans (no per-row objects),
    /// <see cref="Batch"/> rows per statement: per-statement overhead, not the B-tree, dominates a million rows.
    /// <paramref name="row"/> is one VALUES tuple with <c>{0}</c>..<c>{3}</c> for issuer, serial, time and reason.
    /// </summary>
    private static int BulkInsert(SQLitePCL.sqlite3 db, string sqlPrefix, string row, long crlCaId, IEnumerable<RevocationRecord> entries)
    {
        string Sql(int rows) => sqlPrefix + string.Join(",", Enumerable.Range(0, rows).Select(i => string.Format(CultureInfo.InvariantCulture, row, $"?{4 * i + 1}", $"?{4 * i + 2}", $"?{4 * i + 3}", $"?{4 * i + 4}"))) + ";";
        Check(db, SQLitePCL.raw.sqlite3_prepare_v2(db, Sql(Batch), out var many));
        Check(db, SQLitePCL.raw.sqlite3_prepare_v2(db, Sql(1), out var one));
        using (many)
        using (one)
        {
            var buffer = new RevocationRecord[Batch];
            int count = 0, pending = 0;
            foreach (var e in entries)
            {
                buffer[pending++] = e;
                count++;
                if (pending < Batch) continue;
                for (int i = 0; i < Batch; i++) Bind(many, 4 * i, buffer[i], crlCaId);
                Step(db, many);
                pending = 0;
            }
            for (int i = 0; i < pending; i++)
            {
                Bind(one, 0, buffer[i], crlCaId);
                Step(db, one);
            }
            return count;
        }
    }

    private static void Bind(SQLitePCL.sqlite3_stmt stmt, int offset, in RevocationRecord e, long crlCaId)
    {
        SQLitePCL.raw.sqlite3_bind_int64(stmt, offset + 1, e.IssuerCaId == 0 ? crlCaId : e.IssuerCaId);
        SQLitePCL.raw.sqlite3_bind_blob(stmt, offset + 2, e.Serial.Span);
        SQLitePCL.raw.sqlite3_bind_int64(stmt, offset + 3, e.RevokedAt.ToUnixTimeSeconds());
        SQLitePCL.raw.sqlite3_bind_int(stmt, offset + 4, (int)e.Reason);
    }

    private const int Batch = 64;

    private static void Step(SQLitePCL.sqlite3 db, SQLitePCL.sqlite3_stmt stmt)
    {
        int rc = SQLitePCL.raw.sqlite3_step(stmt);
        if (rc != SQLitePCL.raw.SQLITE_DONE) Check(db, rc);
        SQLitePCL.raw.sqlite3_reset(stmt);
    }

    private static void Check(SQLitePCL.sqlite3 db, int rc)
    {
        if (rc is not (SQLitePCL.raw.SQLITE_OK or SQLitePCL.raw.SQLITE_ROW or SQLitePCL.raw.SQLITE_DONE))
            throw new SqliteException(SQLitePCL.raw.sqlite3_errmsg(db).utf8_to_string(), rc);
    }

    /// <summary>How many revocations list a CA as the certificates' issuer, in every current series (base and delta rows).</summary>
    public long RevocationCount(long caId) => _db.ExecuteScalar<long>("SELECT COUNT(*) FROM revocations WHERE ca_id = @caId;", new { caId });

    /// <summary>The base-CRL revocation of a serial issued by a CA, in any series, or null.</summary>
    public (RevocationReason Reason, DateTimeOffset RevokedAt)? FindRevocation(long caId, byte[] serial)
    {
        var row = _db.QueryFirstOrDefault<(long Reason, long RevokedAt)?>("SELECT reason, revoked_at FROM revocations WHERE ca_id = @caId AND serial = @serial AND delta = 0;", new { caId, serial });
        return row is { } r ? ((RevocationReason)r.Reason, DateTimeOffset.FromUnixTimeSeconds(r.RevokedAt)) : null;
    }

    // ---- local listings

    /// <summary>
    /// Lists a certificate by local policy (operator block); a listing by complaints becomes the operator's.
    /// False when the operator had already blocked it.
    /// </summary>
    public bool Block(byte[] sha256, string reason, string source, string subject) => Write(tx =>
    {
        var changed = _db.Execute(
            """
            INSERT INTO listings (sha256, reason, since, source) VALUES (@sha256, @reason, @now, @source)
            ON CONFLICT (sha256) DO UPDATE SET reason = excluded.reason, source = excluded.source WHERE listings.source <> excluded.source;
            """,
            new { sha256, reason, now = Now(), source }, tx) > 0;
        if (changed) Audit(tx, "block", subject, reason);
        return changed;
    });

    /// <summary>
    /// Lifts a local listing, whatever listed it; the complaints that counted toward it are withdrawn with the
    /// operator's reason, so they do not re-list the certificate (new complaints still can). False when not listed.
    /// </summary>
    public bool Unblock(byte[] sha256, string reason, string subject) => Write(tx =>
    {
        var removed = _db.Execute("DELETE FROM listings WHERE sha256 = @sha256;", new { sha256 }, tx) > 0;
        if (removed)
        {
            WithdrawAll(tx, sha256, "unblocked: " + reason, DateTimeOffset.UtcNow);
            Audit(tx, "unblock", subject, reason);
        }
        return removed;
    });

    /// <summary>Every local listing.</summary>
    public IReadOnlyList<ListingRow> Listings() => _db.Query<ListingRow>("SELECT * FROM listings ORDER BY since;").AsList();

    // ---- the served view

    /// <summary>
    /// Reads everything the zone publishes into an immutable snapshot, inside one read transaction so that it
    /// is consistent with the serial it carries. Per certificate it works out which current CRLs cover it
    /// (RFC 5280 6.3.3: issuer, distribution point, certificate kind, reasons) and what they list for it.
    /// One scan of each table through SQLite's own API: no query per certificate, no object per row.
    /// </summary>
    /// <param name="directory">Where the snapshot finds the certificates' SHA-1, MD5 and key digests; by default this
    /// store's indexes through connections of its own that close with this store (a server that keeps snapshots longer
    /// passes a <see cref="StoreCertificateDirectory"/> it owns).</param>
    public StatusSnapshot LoadSnapshot(ICertificateDirectory? directory = null)
    {
        using var tx = _db.BeginTransaction(deferred: true);
        var serial = ReadSerial(tx);
        var count = _db.ExecuteScalar<long>("SELECT COUNT(*) FROM certificates;", transaction: tx);
        var builder = new StatusSnapshotBuilder((int)count);
        var caRows = _db.Query<CaRow>("SELECT * FROM cas;", transaction: tx).ToDictionary(c => c.Id);
        var cas = caRows.Values.ToDictionary(c => c.Id, c => new CaFacts(c.Id, c.Subject, c.Trusted, Time(c.DistrustedAt), c.DistrustReason));
        // CAs that share a subject (key rollover, a separate CRL-signing key) issue and revoke as one name (RFC 5280 5.1.2.3).
        var groups = caRows.Values.GroupBy(c => Convert.ToHexString(c.SubjectDer)).ToList();
        var sameName = groups.SelectMany(g => g.Select(c => (c.Id, Ids: g.Select(x => x.Id).ToArray()))).ToDictionary(x => x.Id, x => x.Ids);
        var groupOf = groups.SelectMany(g => g.Select(c => (c.Id, Group: g.Min(x => x.Id)))).ToDictionary(x => x.Id, x => x.Group);
        var series = LoadSeries(tx);
        var seriesIndex = series.Select((s, i) => (s.Id, i)).ToDictionary(x => x.Id, x => x.i);

        // Revocations first, into a map by issuer name and serial: matching them during the certificate scan costs
        // a hash per certificate instead of an index descent and a row fetch per revocation. A serial listed by
        // several series (a partition, a delta, an indirect CRL) chains to its other entries.
        var handle = _db.Handle!;
        var first = new Dictionary<SerialKey, int>();
        var entries = new List<(int Series, bool Delta, RevocationReason Reason, long At, int Next)>();
        Check(handle, raw.sqlite3_prepare_v2(handle, "SELECT scope_id, delta, ca_id, serial, reason, revoked_at FROM revocations;", out var statement));
        using (statement)
        {
            int rc;
            var row = SqliteColumns.Of(statement);
            while ((rc = raw.sqlite3_step(statement)) == raw.SQLITE_ROW)
            {
                if (!seriesIndex.TryGetValue(row.Int64(0), out var s)) continue;
                if (!groupOf.TryGetValue(row.Int64(2), out var group)) continue;
                var key = SerialKey.Of(group, row.Blob(3));
                entries.Add((s, row.Int64(1) != 0, (RevocationReason)row.Int64(4),
                    row.Int64(5), first.TryGetValue(key, out var next) ? next : -1));
                first[key] = entries.Count - 1;
            }
            Check(handle, rc == raw.SQLITE_DONE ? raw.SQLITE_OK : rc);
        }

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
        var gaps = new Dictionary<(long, string), string>();
        var matchers = series.Select(s => new PointMatcher(s.PointName, caRows[s.CaId].SubjectDer, s.Indirect)).ToArray();
        long lastCa = -1, lastGroup = 0;
        long[] issuers = [];
        // Columns only a scoped CRL (issuingDistributionPoint) looks at are read only when one is stored.
        bool readKind = series.Any(s => s.OnlyUser || s.OnlyCa), readPoints = series.Any(s => s.PointName is not null || s.Indirect);

        // A plain scan in table order reads the file front to back; the snapshot sorts in memory. The statement runs on
        // SQLite's own API inside the open transaction. Reading rows and working each out are about equal halves, so
        // this thread steps SQLite and copies the columns into batches while another core works them out in order.
        Check(handle, raw.sqlite3_prepare_v2(handle,
            "SELECT sha256, serial, not_before, not_after, ca_id, is_ca, crl_points FROM certificates;", out statement));
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
                        for (int i = 0; i < batch.Count; i++) AddRow(batch, i);
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
                while ((rc = raw.sqlite3_step(statement)) == raw.SQLITE_ROW)
                {
                    batch.Read(row, readKind, readPoints, readSerial: first.Count > 0);
                    if (batch.Count < RowBatch.Size) continue;
                    full.Add(batch, stop.Token);
                    batch = empty.Take(stop.Token).Reset();
                }
                Check(handle, rc == raw.SQLITE_DONE ? raw.SQLITE_OK : rc);
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
        foreach (var (sha256, reason, since) in _db.Query<(byte[], string, long)>("SELECT sha256, reason, since FROM listings;", transaction: tx))
            builder.Block(sha256, new BlockFacts(reason, DateTimeOffset.FromUnixTimeSeconds(since)));
        tx.Commit();
        return builder.Build(serial, directory ?? (_directory ??= new StoreCertificateDirectory(Path)));

        // Works out one certificate row: which current CRLs cover it, what they list for it, and adds it to the snapshot.
        void AddRow(RowBatch b, int i)
        {
            long caId = b.CaId[i];
            if (caId != lastCa) (lastCa, issuers, lastGroup) = (caId, sameName[caId], groupOf[caId]);
            bool isCa = b.IsCa[i];
            var points = b.Points[i];
            int chain = first.Count == 0 ? -1 : first.GetValueOrDefault(SerialKey.Of(lastGroup, b.SerialOf(i)), -1);

            RevocationFacts? revocation = null;
            int reasons = 0;
            CrlFacts? covering = null;
            string? gap = null;
            for (int k = 0; k < series.Count; k++)
            {
                var s = series[k];
                bool direct = Array.IndexOf(issuers, s.CaId) >= 0;
                if (!direct && !s.Indirect) continue;
                string? outOfScope = OutOfScope(s, direct, isCa, points, matchers[k]);
                // An entry counts when the CRL covers the certificate; an indirect CRL's entries always count: a trusted CRL issuer said so.
                if ((outOfScope is null || !direct) && chain >= 0 && Listed(k, chain) is { } found
                    && (revocation is null || Precedence(found.Reason) > Precedence(revocation.Reason)))
                    revocation = found;
                if (outOfScope is not null)
                {
                    gap ??= Gap(s.CaId, outOfScope);
                    continue;
                }
                reasons |= s.Reasons ?? CrlScope.AllReasons;
                // With several covering CRLs (reason partitions, a delta) the earliest nextUpdate decides freshness.
                if (covering is null || (s.Facts.NextUpdate is { } n && (covering.NextUpdate is not { } m || n < m))) covering = s.Facts;
            }
            if (covering is not null && (reasons & CrlScope.AllReasons) != CrlScope.AllReasons)
            {
                gap = "only some revocation reasons (onlySomeReasons)";
                covering = null;
            }
            builder.Add(b.Sha256.AsSpan(i * 32, 32), b.NotBefore[i], b.NotAfter[i], Variant(caId, covering, covering is null ? gap : null), revocation, null);
        }

        // One string per (CRL issuer, reason): the same reference each time, which Variant's fast path relies on.
        string Gap(long caId, string outOfScope)
        {
            if (!gaps.TryGetValue((caId, outOfScope), out var text)) gaps[(caId, outOfScope)] = text = $"the CRL of \"{caRows[caId].Subject}\" covers {outOfScope}";
            return text;
        }

        // What series i lists for the certificate whose serial chain starts at `at`.
        RevocationFacts? Listed(int i, int at)
        {
            var s = series[i];
            (RevocationReason Reason, long At)? baseEntry = null, deltaEntry = null;
            for (int e = at; e >= 0; e = entries[e].Next)
            {
                if (entries[e].Series != i) continue;
                if (entries[e].Delta) deltaEntry = (entries[e].Reason, entries[e].At);
                else baseEntry = (entries[e].Reason, entries[e].At);
            }
            // A delta entry overrides its base; removeFromCRL in the delta lifts the base's hold (RFC 5280 5.3.1).
            if (s.DeltaNumber is not null && deltaEntry is { } d)
                return d.Reason == RevocationReason.RemoveFromCrl ? null : new(d.Reason, DateTimeOffset.FromUnixTimeSeconds(d.At), s.DeltaNumber);
            return baseEntry is { } b ? new(b.Reason, DateTimeOffset.FromUnixTimeSeconds(b.At), s.Facts.Number) : null;
        }
    }

    private static int Precedence(RevocationReason reason) => reason == RevocationReason.CertificateHold ? 1 : 2;

    /// <summary>
    /// Why a series does not cover a certificate, or null when it does (RFC 5280 6.3.3 (b)): a series of the
    /// certificate's issuer (<paramref name="direct"/>) or another issuer's indirect CRL.
    /// </summary>
    private static string? OutOfScope(Series s, bool direct, bool isCa, byte[]? points, PointMatcher matcher)
    {
        // Another issuer's indirect CRL covers the certificate only through a point naming it as cRLIssuer.
        if (!direct && !matcher.CoversOther(points)) return "an indirect CRL of another issuer";
        if (s.OnlyAttribute) return "only attribute certificates";
        if (s.OnlyUser && isCa) return "only end-entity certificates";
        if (s.OnlyCa && !isCa) return "only CA certificates";
        // A CRL naming a distribution point is a partition: a certificate naming none needs a complete CRL (PKITS 4.14.9).
        if (direct && !matcher.CoversOwn(points))
            return points is null ? "one distribution point, and the certificate names none" : "another distribution point";
        return null;
    }

    /// <summary>
    /// RFC 5280 6.3.3 (b): which certificates a CRL's distribution point covers. A point of the certificate without
    /// cRLIssuer is served by its issuer's CRLs; one with a cRLIssuer only by that issuer's indirect CRLs. When the
    /// CRL names a point (issuingDistributionPoint), one of its names must match one of the point's. Both sides are
    /// stored with relative names already made whole (CertDns.Pki's Names.WholePointName); names compare as DER.
    /// Consecutive certificates mostly carry the same points, so the last answers are kept.
    /// </summary>
    private sealed class PointMatcher(byte[]? crlPoint, byte[] crlIssuer, bool indirect)
    {
        private static readonly Asn1Tag Context0 = new(TagClass.ContextSpecific, 0, isConstructed: true);
        private static readonly Asn1Tag Reasons = new(TagClass.ContextSpecific, 1);
        private static readonly Asn1Tag Context2 = new(TagClass.ContextSpecific, 2, isConstructed: true);
        private static readonly Asn1Tag Context4 = new(TagClass.ContextSpecific, 4, isConstructed: true);
        private readonly List<byte[]>? _crlNames = crlPoint is null ? null : PointNames(crlPoint);
        private (byte[]? Points, bool Covers) _lastOwn, _lastOther;

        /// <summary>Whether this CRL covers a certificate of its own issuer.</summary>
        /// <param name="points">The certificate's points (DER values back to back), or null for none.</param>
        public bool CoversOwn(byte[]? points)
        {
            // A complete CRL of the issuer covers all its certificates: at the least as RFC 5280's fallback to "any
            // CRL issued by the certificate issuer" with the issuer's name as the point.
            if (_crlNames is null) return true;
            return Remembered(ref _lastOwn, points, own: true);
        }

        /// <summary>Whether this (indirect) CRL covers a certificate of another issuer: one of its points names this CRL's issuer as cRLIssuer.</summary>
        public bool CoversOther(byte[]? points) => indirect && Remembered(ref _lastOther, points, own: false);

        private bool Remembered(ref (byte[]? Points, bool Covers) last, byte[]? points, bool own)
        {
            if (points is null) return false;
            if (last.Points is not null && points.AsSpan().SequenceEqual(last.Points)) return last.Covers;
            bool covers = false;
            int offset = 0;
            while (offset < points.Length && !covers)
            {
                AsnDecoder.ReadEncodedValue(points.AsSpan(offset), AsnEncodingRules.DER, out _, out _, out int consumed);
                var point = points[offset..(offset + consumed)];
                // A whole DistributionPoint (a SEQUENCE) carries a cRLIssuer; a bare DistributionPointName does not.
                bool withIssuer = point[0] == 0x30;
                covers = withIssuer ? indirect && ServedHere(point) : own && NamesMatch(point);
                offset += consumed;
            }
            last = (points, covers);
            return covers;
        }

        /// <summary>A DistributionPointName of the certificate against the CRL's point.</summary>
        private bool NamesMatch(byte[] point) =>
            _crlNames is null || point.AsSpan().SequenceEqual(crlPoint) || PointNames(point).Any(n => _crlNames.Any(c => c.AsSpan().SequenceEqual(n)));

        /// <summary>A whole DistributionPoint whose cRLIssuer names this CRL's issuer, and whose name (if any) matches the CRL's point.</summary>
        private bool ServedHere(byte[] distributionPoint)
        {
            try
            {
                var point = new AsnReader(distributionPoint, AsnEncodingRules.DER).ReadSequence();
                byte[]? name = null;
                bool issuerMatches = false;
                if (point.HasData && point.PeekTag().HasSameClassAndValue(Context0)) name = point.ReadSequence(Context0).ReadEncodedValue().ToArray();
                if (point.HasData && point.PeekTag().HasSameClassAndValue(Reasons)) point.ReadEncodedValue();
                if (point.HasData && point.PeekTag().HasSameClassAndValue(Context2))
                {
                    var issuers = point.ReadSequence(Context2);
                    while (issuers.HasData && !issuerMatches)
                    {
                        if (issuers.PeekTag().HasSameClassAndValue(Context4)) issuerMatches = issuers.ReadSequence(Context4).ReadEncodedValue().Span.SequenceEqual(crlIssuer);
                        else issuers.ReadEncodedValue();
                    }
                }
                // A point naming no point of its own is served by the cRLIssuer's CRL that names none either.
                return issuerMatches && (_crlNames is null || (name is not null && NamesMatch(name)));
            }
            catch (AsnContentException)
            {
                return false;
            }
        }

        /// <summary>The GeneralNames of a full DistributionPointName, each as DER; none for a relative or unreadable one.</summary>
        private static List<byte[]> PointNames(byte[] pointName)
        {
            var names = new List<byte[]>();
            try
            {
                var reader = new AsnReader(pointName, AsnEncodingRules.DER);
                if (!reader.PeekTag().HasSameClassAndValue(Context0)) return names;
                var general = reader.ReadSequence(Context0);
                while (general.HasData) names.Add(general.ReadEncodedValue().ToArray());
            }
            catch (AsnContentException)
            {
                // An unreadable name matches nothing: the certificate then answers stale, never valid.
            }
            return names;
        }
    }

    private sealed record Series(long Id, long CaId, byte[]? PointName, bool OnlyUser, bool OnlyCa, bool OnlyAttribute, int? Reasons, bool Indirect, CrlFacts Facts, string? DeltaNumber);

    /// <summary>Every CRL series with its current full CRL, and its delta when one applies to that base (RFC 5280 5.2.4).</summary>
    private List<Series> LoadSeries(IDbTransaction tx)
    {
        var result = new List<Series>();
        foreach (var s in _db.Query<ScopeRow>("SELECT * FROM crl_scopes;", transaction: tx))
        {
            var full = _db.QuerySingleOrDefault<CrlRow>("SELECT * FROM crls WHERE scope_id = @Id AND is_delta = 0 ORDER BY id DESC LIMIT 1;", new { s.Id }, tx);
            if (full is null) continue;
            var delta = _db.QuerySingleOrDefault<CrlRow>("SELECT * FROM crls WHERE scope_id = @Id AND is_delta = 1 AND id > @full ORDER BY id DESC LIMIT 1;", new { s.Id, full = full.Id }, tx);
            var next = Time(full.NextUpdate);
            if (delta is not null && delta.NextUpdate is { } dn && (next is null || dn < next.Value.ToUnixTimeSeconds())) next = Time(dn);
            var number = delta is null ? full.Number : $"{full.Number} delta {delta.Number}";
            var thisUpdate = DateTimeOffset.FromUnixTimeSeconds(delta?.ThisUpdate ?? full.ThisUpdate);
            result.Add(new Series(s.Id, s.CaId, s.PointName, s.OnlyUser, s.OnlyCa, s.OnlyAttribute, (int?)s.Reasons, s.Indirect,
                new CrlFacts(number, thisUpdate, next), delta?.Number));
        }
        return result;
    }

    private sealed class ScopeRow
    {
        public long Id { get; init; }
        public long CaId { get; init; }
        public byte[]? PointName { get; init; }
        public bool OnlyUser { get; init; }
        public bool OnlyCa { get; init; }
        public bool OnlyAttribute { get; init; }
        public long? Reasons { get; init; }
        public bool Indirect { get; init; }
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

    private static DateTimeOffset? Time(long? unix) => unix is { } u ? DateTimeOffset.FromUnixTimeSeconds(u) : null;

    private static long Now() => DateTimeOffset.UtcNow.ToUnixTimeSeconds();

    /// <summary>Closes the file.</summary>
    public void Dispose()
    {
        _directory?.Dispose();
        _db.Dispose();
    }
}
