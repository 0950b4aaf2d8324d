using System.Data;
using System.Globalization;
using CertDns.Core;
using Dapper;
using Microsoft.Data.Sqlite;

namespace CertDns.Store;

/// <summary>
/// Accepted CRLs by series, and the revocations they list: the raw bulk insert that replaces a series' entries in one
/// transaction (<see cref="CertStore.Crls"/>).
/// </summary>
public sealed class CrlStore : StoreAggregate
{
    internal CrlStore(CertStore store) : base(store) { }

    /// <summary>The newest accepted CRL of a CA (any series), or null when none was ingested.</summary>
    public CrlRow? Latest(long caId) =>
        _db.QuerySingleOrDefault<CrlRow>("SELECT * FROM crls WHERE ca_id = @caId ORDER BY id DESC LIMIT 1;", new { caId });

    /// <summary>The newest full or delta CRL of one series (CRL issuer and issuingDistributionPoint), or null.</summary>
    public CrlRow? Latest(long caId, byte[] idp, bool delta) => _db.QuerySingleOrDefault<CrlRow>(
        """
        SELECT k.* FROM crls k JOIN crl_scopes s ON s.id = k.scope_id
        WHERE s.ca_id = @caId AND s.idp = @idp AND k.is_delta = @delta ORDER BY k.id DESC LIMIT 1;
        """, new { caId, idp, delta });

    /// <summary>The newest full CRL of one series (by its scope id), or null.</summary>
    public CrlRow? LatestFull(long scopeId) =>
        _db.QuerySingleOrDefault<CrlRow>("SELECT * FROM crls WHERE scope_id = @scopeId AND is_delta = 0 ORDER BY id DESC LIMIT 1;", new { scopeId });

    /// <summary>Per series of a CA, the nextUpdate of its newest full CRL (null when that CRL sets none).</summary>
    public IReadOnlyList<long?> SeriesNextUpdates(long caId) => _db.Query<long?>(
        """
        SELECT (SELECT k.next_update FROM crls k WHERE k.scope_id = s.id AND k.is_delta = 0 ORDER BY k.id DESC LIMIT 1)
        FROM crl_scopes s WHERE s.ca_id = @caId
        AND EXISTS (SELECT 1 FROM crls k WHERE k.scope_id = s.id AND k.is_delta = 0);
        """, new { caId }).Listed();

    /// <summary>The newest CRL stored from a source (file or URL), or null.</summary>
    public CrlRow? LatestFrom(string source) =>
        _db.QuerySingleOrDefault<CrlRow>("SELECT * FROM crls WHERE source = @source ORDER BY id DESC LIMIT 1;", new { source });

    /// <summary>An accepted CRL with exactly these file bytes (by SHA-256), or null: re-ingesting it is a no-op.</summary>
    public CrlRow? FindBySha256(byte[] sha256) =>
        _db.QuerySingleOrDefault<CrlRow>("SELECT * FROM crls WHERE sha256 = @sha256 ORDER BY id DESC LIMIT 1;", new { sha256 });

    /// <summary>
    /// Records a CRL and, in the same transaction, replaces its series' entries: the base set for a full CRL
    /// (a new base also retires the series' delta), the delta overlay for a delta CRL. Readers see the old set
    /// or the new one, never a mix; a process killed midway leaves the previous set (SQLite rolls back).
    /// </summary>
    public RevocationChange Apply(CrlRecord crl, IEnumerable<RevocationRecord> entries) => _store.Write(tx =>
    {
        var scope = crl.Scope ?? CrlScope.Complete;
        var scopeId = _db.ExecuteScalar<long?>("SELECT id FROM crl_scopes WHERE ca_id = @CaId AND idp = @Idp;", new { crl.CaId, scope.Idp }, tx)
            ?? _db.ExecuteScalar<long>(
                """
                INSERT INTO crl_scopes (ca_id, idp, point_names, only_user, only_ca, only_attribute, reasons, indirect)
                VALUES (@CaId, @Idp, @PointNames, @OnlyUser, @OnlyCa, @OnlyAttribute, @Reasons, @Indirect) RETURNING id;
                """, new { crl.CaId, scope.Idp, PointNames = CrlPointCodec.EncodeNames(scope.PointNames), scope.OnlyUser, scope.OnlyCa, scope.OnlyAttribute, scope.Reasons, scope.Indirect }, tx);
        var crlId = _db.ExecuteScalar<long>(
            """
            INSERT INTO crls (ca_id, number, this_update, next_update, sha256, source, delta_base, entry_count, ingested_at, scope_id, is_delta)
            VALUES (@CaId, @Number, @tu, @nu, @Sha256, @Source, @DeltaBase, 0, @now, @scopeId, @IsDelta) RETURNING id;
            """,
            new { crl.CaId, crl.Number, tu = crl.ThisUpdate.ToUnixTimeSeconds(), nu = crl.NextUpdate?.ToUnixTimeSeconds(), crl.Sha256, crl.Source, crl.DeltaBase, now = CertStore.Now(), scopeId, crl.IsDelta }, tx);
        int delta = crl.IsDelta ? 1 : 0;
        // A new base retires the delta built on the old one; deltas are cumulative, so a newer one replaces the last (RFC 5280 5.2.4).
        if (!crl.IsDelta) _db.Execute("DELETE FROM revocations WHERE scope_id = @scopeId AND delta = 1;", new { scopeId }, tx);
        bool empty = _db.ExecuteScalar<long?>("SELECT 1 FROM revocations WHERE scope_id = @scopeId AND delta = @delta LIMIT 1;", new { scopeId, delta }, tx) is null;
        var db = _db.Handle!;
        RevocationChange change;
        using var entry = entries.GetEnumerator();
        if (empty && !entry.MoveNext())
        {
            // Nothing listed before, nothing listed now.
            change = new RevocationChange(crlId, 0, 0, 0);
        }
        else if (empty)
        {
            // First CRL of the series, or the first with entries: straight into the table, in the order given (CrlIngestor's
            // is the key order). The change log gets X'' (everything changed) for this transaction (the crls row inserted
            // above logged it for a new series; a renewal logged its series, schema step 11, and the mark is added here:
            // any number of entries follow), which makes the revocations' own change-log triggers no-ops: with triggers off
            // on this connection for the insert, a million rows skip a million trigger runs. Back on before anything else.
            _db.Execute("INSERT INTO zone_changes (serial, sha256) SELECT 0, X'' WHERE NOT EXISTS (SELECT 1 FROM zone_changes WHERE serial = 0 AND sha256 = X'');", transaction: tx);
            Triggers(db, on: false);
            // Rows in key order fill one leaf after another: a small page cache serves them as well as the default 2 MB,
            // which is memory the ingest's 1.5x-the-file target needs (issue #17).
            var cacheSize = _db.ExecuteScalar<long>("PRAGMA cache_size;", transaction: tx);
            _db.Execute("PRAGMA cache_size = -256;", transaction: tx);
            int count;
            try
            {
                count = BulkInsert(db, "INSERT OR REPLACE INTO revocations (scope_id, delta, ca_id, serial, revoked_at, reason, crl_id) VALUES ",
                    $"({scopeId}, {delta}, {{0}}, {{1}}, {{2}}, {{3}}, {crlId})", crl.CaId, Rest(entry));
            }
            finally
            {
                Triggers(db, on: true);
                _db.Execute($"PRAGMA cache_size = {cacheSize};", transaction: tx);
            }
            change = new RevocationChange(crlId, count, 0, count);
        }
        else
        {
            // Replace by difference: a CRL that grew by a few entries rewrites a few rows, not the whole set.
            _db.Execute("CREATE TEMP TABLE IF NOT EXISTS incoming (ca_id INTEGER NOT NULL, serial BLOB NOT NULL, revoked_at INTEGER NOT NULL, reason INTEGER NOT NULL, PRIMARY KEY (ca_id, serial)) WITHOUT ROWID; DELETE FROM temp.incoming;", transaction: tx);
            int count = BulkInsert(db, "INSERT OR REPLACE INTO temp.incoming (ca_id, serial, revoked_at, reason) VALUES ", "({0}, {1}, {2}, {3})", crl.CaId, Remaining(entry));
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

    /// <summary>The current entry of an enumerator moved once already, then the rest.</summary>
    private static IEnumerable<RevocationRecord> Rest(IEnumerator<RevocationRecord> entry)
    {
        do yield return entry.Current;
        while (entry.MoveNext());
    }

    /// <summary>The entries of an enumerator not moved yet.</summary>
    private static IEnumerable<RevocationRecord> Remaining(IEnumerator<RevocationRecord> entry)
    {
        while (entry.MoveNext()) yield return entry.Current;
    }

    /// <summary>
    /// Inserts entries through prepared statements over the raw handle, binding spans (no per-row objects),
    /// <see cref="Batch"/> rows per statement: per-statement overhead, not the B-tree, dominates a million rows.
    /// <paramref name="row"/> is one VALUES tuple with <c>{0}</c>..<c>{3}</c> for issuer, serial, time and reason.
    /// </summary>
    private static int BulkInsert(SQLitePCL.sqlite3 db, string sqlPrefix, string row, long crlCaId, IEnumerable<RevocationRecord> entries)
    {
        string Sql(int rows) => sqlPrefix + string.Join(",", Enumerable.Range(0, rows).Select(i => string.Format(CultureInfo.InvariantCulture, row, $"?{4 * i + 1}", $"?{4 * i + 2}", $"?{4 * i + 3}", $"?{4 * i + 4}"))) + ";";
        SqliteColumns.Check(db, SQLitePCL.raw.sqlite3_prepare_v2(db, Sql(Batch), out var many));
        SqliteColumns.Check(db, SQLitePCL.raw.sqlite3_prepare_v2(db, Sql(1), out var one));
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

    /// <summary>
    /// Turns triggers on or off for this connection (SQLITE_DBCONFIG_ENABLE_TRIGGER; SQLite re-prepares statements on
    /// the change, so none compiled the other way runs).
    /// </summary>
    private static void Triggers(SQLitePCL.sqlite3 db, bool on)
    {
        SqliteColumns.Check(db, SQLitePCL.raw.sqlite3_db_config(db, SQLitePCL.raw.SQLITE_DBCONFIG_ENABLE_TRIGGER, on ? 1 : 0, out int now));
        if (now != (on ? 1 : 0)) throw new InvalidOperationException($"SQLite did not turn triggers {(on ? "on" : "off")}");
    }

    private const int Batch = 64;

    private static void Step(SQLitePCL.sqlite3 db, SQLitePCL.sqlite3_stmt stmt)
    {
        int rc = SQLitePCL.raw.sqlite3_step(stmt);
        if (rc != SQLitePCL.raw.SQLITE_DONE) SqliteColumns.Check(db, rc);
        SQLitePCL.raw.sqlite3_reset(stmt);
    }


    /// <summary>How many revocations list a CA as the certificates' issuer, in every current series (base and delta rows).</summary>
    public long RevocationCount(long caId) => _db.ExecuteScalar<long>("SELECT COUNT(*) FROM revocations WHERE ca_id = @caId;", new { caId });

    /// <summary>The base-CRL revocation of a serial issued by a CA, in any series, or null.</summary>
    public (RevocationReason Reason, DateTimeOffset RevokedAt)? FindRevocation(long caId, byte[] serial)
    {
        var row = SqlRows.First(_db, null, "SELECT reason, revoked_at FROM revocations WHERE ca_id = @caId AND serial = @serial AND delta = 0;",
            r => (Reason: r.GetInt64(0), RevokedAt: r.GetInt64(1)), ("@caId", caId), ("@serial", serial));
        return row is { } r ? ((RevocationReason)r.Reason, DateTimeOffset.FromUnixTimeSeconds(r.RevokedAt)) : null;
    }
}
