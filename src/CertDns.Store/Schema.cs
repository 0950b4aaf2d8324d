using System.Data;
using CertDns.Core;
using Dapper;
using Microsoft.Data.Sqlite;

namespace CertDns.Store;

/// <summary>
/// The store's schema as an ordered list of migrations. <c>PRAGMA user_version</c> records how many have been
/// applied; opening a store applies the rest, each in its own transaction. Never edit a released step: add one.
/// </summary>
internal static class Schema
{
    public static readonly string[] Migrations =
    [
        // 1: the whole model of SPEC section 3. Times are Unix seconds; digests and serials are raw bytes.
        """
        CREATE TABLE zone (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            serial INTEGER NOT NULL,
            changed_at INTEGER NOT NULL);
        INSERT INTO zone (id, serial, changed_at) VALUES (1, CAST(strftime('%s','now') AS INTEGER), CAST(strftime('%s','now') AS INTEGER));

        CREATE TABLE cas (
            id INTEGER PRIMARY KEY,
            sha256 BLOB NOT NULL UNIQUE,
            subject TEXT NOT NULL,
            subject_der BLOB NOT NULL,
            key_id BLOB,
            spki_sha256 BLOB NOT NULL,
            not_before INTEGER NOT NULL,
            not_after INTEGER NOT NULL,
            can_sign_crl INTEGER NOT NULL,
            der BLOB NOT NULL,
            trusted INTEGER NOT NULL DEFAULT 1,
            distrusted_at INTEGER,
            distrust_reason TEXT,
            abuse_contact TEXT,
            added_at INTEGER NOT NULL);
        CREATE INDEX cas_subject ON cas (subject_der);

        CREATE TABLE ca_crl_urls (
            ca_id INTEGER NOT NULL REFERENCES cas (id),
            url TEXT NOT NULL,
            PRIMARY KEY (ca_id, url)) WITHOUT ROWID;

        CREATE TABLE certificates (
            id INTEGER PRIMARY KEY,
            sha256 BLOB NOT NULL UNIQUE,
            sha1 BLOB NOT NULL,
            md5 BLOB NOT NULL,
            spki_sha256 BLOB NOT NULL,
            ca_id INTEGER NOT NULL REFERENCES cas (id),
            serial BLOB NOT NULL,
            subject TEXT,
            not_before INTEGER NOT NULL,
            not_after INTEGER NOT NULL,
            der BLOB,
            added_at INTEGER NOT NULL);
        CREATE INDEX certificates_sha1 ON certificates (sha1);
        CREATE INDEX certificates_md5 ON certificates (md5);
        CREATE INDEX certificates_spki ON certificates (spki_sha256);
        CREATE INDEX certificates_issuer_serial ON certificates (ca_id, serial);

        CREATE TABLE crls (
            id INTEGER PRIMARY KEY,
            ca_id INTEGER NOT NULL REFERENCES cas (id),
            number TEXT,
            this_update INTEGER NOT NULL,
            next_update INTEGER,
            sha256 BLOB NOT NULL,
            source TEXT NOT NULL,
            delta_base TEXT,
            entry_count INTEGER NOT NULL,
            ingested_at INTEGER NOT NULL);
        CREATE INDEX crls_ca ON crls (ca_id, id);

        CREATE TABLE revocations (
            ca_id INTEGER NOT NULL REFERENCES cas (id),
            serial BLOB NOT NULL,
            revoked_at INTEGER NOT NULL,
            reason INTEGER NOT NULL,
            crl_id INTEGER NOT NULL REFERENCES crls (id),
            PRIMARY KEY (ca_id, serial)) WITHOUT ROWID;

        CREATE TABLE complaints (
            id INTEGER PRIMARY KEY,
            sha256 BLOB NOT NULL,
            reporter TEXT NOT NULL,
            evidence_sha256 BLOB NOT NULL UNIQUE,
            evidence BLOB,
            received_at INTEGER NOT NULL,
            withdrawn_at INTEGER);
        CREATE INDEX complaints_cert ON complaints (sha256);

        CREATE TABLE listings (
            sha256 BLOB PRIMARY KEY,
            reason TEXT NOT NULL,
            since INTEGER NOT NULL,
            source TEXT NOT NULL) WITHOUT ROWID;

        CREATE TABLE audit (
            id INTEGER PRIMARY KEY,
            at INTEGER NOT NULL,
            actor TEXT NOT NULL,
            action TEXT NOT NULL,
            subject TEXT NOT NULL,
            reason TEXT);
        """,

        // 2: the penalty side: per-zone policy settings, and what the operator needs to judge a complaint.
        """
        CREATE TABLE settings (
            key TEXT PRIMARY KEY,
            value TEXT NOT NULL) WITHOUT ROWID;
        ALTER TABLE complaints ADD COLUMN evidence_size INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE complaints ADD COLUMN summary TEXT;
        ALTER TABLE complaints ADD COLUMN withdrawn_reason TEXT;
        CREATE INDEX complaints_received ON complaints (received_at);
        -- The audit log is append-only: the database itself refuses to rewrite history.
        CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
        CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
        """,

        // 3: CRL scope (RFC 5280 5.2.5), delta CRLs (5.2.4) and indirect CRLs (5.3.3). A CRL series is one CRL
        // issuer and one issuingDistributionPoint: partitions replace only their own entries. Revocations keep
        // the certificate's issuer (ca_id) apart from the series that listed them (scope_id).
        """
        CREATE TABLE crl_scopes (
            id INTEGER PRIMARY KEY,
            ca_id INTEGER NOT NULL REFERENCES cas (id),
            idp BLOB NOT NULL,
            point_name BLOB,
            only_user INTEGER NOT NULL DEFAULT 0,
            only_ca INTEGER NOT NULL DEFAULT 0,
            only_attribute INTEGER NOT NULL DEFAULT 0,
            reasons INTEGER,
            indirect INTEGER NOT NULL DEFAULT 0,
            UNIQUE (ca_id, idp));
        INSERT INTO crl_scopes (ca_id, idp) SELECT DISTINCT ca_id, X'' FROM crls;

        ALTER TABLE crls ADD COLUMN scope_id INTEGER REFERENCES crl_scopes (id);
        ALTER TABLE crls ADD COLUMN is_delta INTEGER NOT NULL DEFAULT 0;
        UPDATE crls SET scope_id = (SELECT s.id FROM crl_scopes s WHERE s.ca_id = crls.ca_id);
        CREATE INDEX crls_scope ON crls (scope_id, is_delta, id);
        CREATE INDEX crls_sha256 ON crls (sha256);

        -- No foreign keys here: they would triple the cost of inserting a million entries, and only
        -- CertStore.ApplyCrl writes this table.
        CREATE TABLE revocations_v2 (
            scope_id INTEGER NOT NULL,
            delta INTEGER NOT NULL,
            ca_id INTEGER NOT NULL,
            serial BLOB NOT NULL,
            revoked_at INTEGER NOT NULL,
            reason INTEGER NOT NULL,
            crl_id INTEGER NOT NULL,
            PRIMARY KEY (scope_id, delta, ca_id, serial)) WITHOUT ROWID;
        INSERT INTO revocations_v2 (scope_id, delta, ca_id, serial, revoked_at, reason, crl_id)
            SELECT k.scope_id, 0, r.ca_id, r.serial, r.revoked_at, r.reason, r.crl_id FROM revocations r JOIN crls k ON k.id = r.crl_id;
        DROP TABLE revocations;
        ALTER TABLE revocations_v2 RENAME TO revocations;

        ALTER TABLE certificates ADD COLUMN is_ca INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE certificates ADD COLUMN crl_points BLOB;
        """,

        // 4: what `crl fetch` last saw at each URL, for conditional GET (RFC 9110 section 13).
        """
        CREATE TABLE crl_sources (
            url TEXT PRIMARY KEY,
            etag TEXT,
            last_modified TEXT,
            fetched_at INTEGER NOT NULL,
            outcome TEXT NOT NULL) WITHOUT ROWID;
        """,

        // 5: distribution points as plain values (CertDns.Core's CrlPointCodec form) instead of DER, so that coverage
        // and the store read no ASN.1. The rows a schema-4 store holds are converted by ConvertPointsToPlain.
        """
        ALTER TABLE certificates ADD COLUMN crl_point_set BLOB;
        ALTER TABLE crl_scopes ADD COLUMN point_names BLOB;
        """,

        // 6: the CA hierarchy. An intermediate names the CA whose key verified it (parent_id); an anchor has none
        // and says why it is trusted (anchor: self-signed, operator, migrated). CAs registered before this step
        // were trusted on their own word: they stay anchors, so no answer changes, and the audit log says so.
        """
        ALTER TABLE cas ADD COLUMN parent_id INTEGER REFERENCES cas (id);
        ALTER TABLE cas ADD COLUMN anchor TEXT;
        UPDATE cas SET anchor = 'migrated';
        INSERT INTO audit (at, actor, action, subject, reason)
            SELECT CAST(strftime('%s','now') AS INTEGER), 'certdns', 'ca anchor', subject,
                   'CA ' || id || ' was registered before CA checks: kept as a trust anchor (schema 6); re-check with `certdns ca add`'
            FROM cas ORDER BY id;
        CREATE INDEX cas_parent ON cas (parent_id);
        """,

        // 7: registered reporters (issue #16). A complaint by mail counts only under a reporter's DKIM key, and names
        // the certificate through the trace header its own MTA writes (authserv_id). One key, one selector and one
        // authserv-id belong to one reporter: three names for one key would be one reporter counted three times.
        // Complaints remember the spam's Message-ID (the same message counts once whoever sends it), the reporter's
        // weight when it complained, and how it arrived (operator: `certdns report`; mail: `certdns report --mail`).
        """
        CREATE TABLE reporters (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL UNIQUE,
            dkim_domain TEXT NOT NULL,
            dkim_selector TEXT NOT NULL,
            dkim_key BLOB NOT NULL UNIQUE,
            authserv_id TEXT NOT NULL UNIQUE,
            weight INTEGER NOT NULL CHECK (weight >= 1),
            added_at INTEGER NOT NULL,
            UNIQUE (dkim_domain, dkim_selector));
        ALTER TABLE complaints ADD COLUMN message_id TEXT;
        ALTER TABLE complaints ADD COLUMN weight INTEGER NOT NULL DEFAULT 1;
        ALTER TABLE complaints ADD COLUMN via TEXT NOT NULL DEFAULT 'operator';
        CREATE INDEX complaints_message_id ON complaints (message_id);
        """,

        // 8: the ARF report to the issuing CA's abuse contact, once per listing (issue #16). A row is queued in the
        // transaction that makes a complaint listing, so no listing goes unreported; it names the complaint whose
        // evidence goes with it. A relisting (after expiry or unblock) is reached by another complaint: another row.
        // claimed_at keeps two senders from handing the same report to the MTA; sent_at is set once it took it.
        """
        CREATE TABLE abuse_forwards (
            id INTEGER PRIMARY KEY,
            sha256 BLOB NOT NULL,
            listed_since INTEGER NOT NULL,
            complaint_id INTEGER NOT NULL REFERENCES complaints (id),
            reporters INTEGER NOT NULL,
            threshold INTEGER NOT NULL,
            queued_at INTEGER NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0,
            claimed_at INTEGER,
            last_error TEXT,
            done_at INTEGER,
            outcome TEXT,
            UNIQUE (sha256, complaint_id));
        CREATE INDEX abuse_forwards_pending ON abuse_forwards (done_at);
        """,

        // 9: the SHA-1, MD5 and key forms' indexes carry the SHA-256 they are looked up for (issue #17): a served
        // lookup is one index descent, not one and then a descent of the table by rowid (2.14 against 1.36 CPU s per
        // 100k SHA-1 answers at 1M, one loaded run). 32 more octets per certificate in each index.
        """
        CREATE INDEX certificates_sha1_sha256 ON certificates (sha1, sha256);
        CREATE INDEX certificates_md5_sha256 ON certificates (md5, sha256);
        CREATE INDEX certificates_spki_sha256 ON certificates (spki_sha256, sha256);
        DROP INDEX certificates_sha1;
        DROP INDEX certificates_md5;
        DROP INDEX certificates_spki;
        """,

        // 10: the change log (issue #14): every write transaction that changes what the zone publishes names, in that
        // same transaction, the certificates it added or whose listing it changed (their SHA-256), or X'' for a change
        // that reaches any number of them (a CA, a CRL, a scope, a revocation, a certificate row changed or removed). Triggers write it, so no writer can forget: rows are keyed 0 while
        // their transaction is open, and get the serial it sets when it advances the serial (zone_serial_advanced). The
        // server publishes from it the changed certificates alone when it reaches back to the serial served. Bounded:
        // over 100,000 names in one transaction become X''; rows older than 7 days (by serial, which is time-like) are
        // dropped, and changes_from says from which serial on the log is complete. Each serial gets a random commit
        // token (zone.commit_id): a journal that ends at a serial whose token the store does not hold was computed from
        // a commit the store lost (a power loss) or from another file, and is dropped. The triggers test before they
        // insert instead of INSERT OR IGNORE: an outer statement's conflict policy (an upsert, INSERT OR REPLACE)
        // overrides the one of a statement in a trigger, and an upsert's is ABORT.
        """
        ALTER TABLE zone ADD COLUMN changes_from INTEGER;
        ALTER TABLE zone ADD COLUMN commit_id BLOB;
        UPDATE zone SET changes_from = serial, commit_id = randomblob(8);
        CREATE TABLE zone_changes (
            serial INTEGER NOT NULL,
            sha256 BLOB NOT NULL,
            PRIMARY KEY (serial, sha256)) WITHOUT ROWID;
        CREATE TABLE zone_commits (
            serial INTEGER PRIMARY KEY,
            commit_id BLOB NOT NULL);
        INSERT INTO zone_commits (serial, commit_id) SELECT serial, commit_id FROM zone;

        CREATE TRIGGER zone_serial_advanced AFTER UPDATE OF serial ON zone WHEN NEW.serial <> OLD.serial BEGIN
            INSERT INTO zone_changes (serial, sha256)
                SELECT 0, X'' WHERE (SELECT COUNT(*) FROM zone_changes WHERE serial = 0) > 100000
                AND NOT EXISTS (SELECT 1 FROM zone_changes WHERE serial = 0 AND sha256 = X'');
            DELETE FROM zone_changes WHERE serial = 0 AND sha256 <> X''
                AND EXISTS (SELECT 1 FROM zone_changes WHERE serial = 0 AND sha256 = X'');
            INSERT INTO zone_changes (serial, sha256) SELECT NEW.serial, sha256 FROM zone_changes WHERE serial = 0;
            DELETE FROM zone_changes WHERE serial = 0;
            DELETE FROM zone_changes WHERE serial > 0 AND serial <= NEW.serial - 604800;
            DELETE FROM zone_commits WHERE serial <= NEW.serial - 604800;
            DELETE FROM zone_commits WHERE serial = NEW.serial;
            INSERT INTO zone_commits (serial, commit_id) VALUES (NEW.serial, randomblob(8));
            UPDATE zone SET commit_id = (SELECT commit_id FROM zone_commits WHERE serial = NEW.serial),
                changes_from = MAX(COALESCE(changes_from, 0), NEW.serial - 604800) WHERE id = 1;
        END;

        CREATE TRIGGER certificates_changed_insert AFTER INSERT ON certificates BEGIN
            INSERT INTO zone_changes (serial, sha256) SELECT 0, NEW.sha256 WHERE NOT EXISTS (SELECT 1 FROM zone_changes WHERE serial = 0 AND sha256 = NEW.sha256);
            INSERT INTO zone_changes (serial, sha256) SELECT 0, X'' WHERE EXISTS (SELECT 1 FROM cas WHERE sha256 = NEW.sha256)
                AND NOT EXISTS (SELECT 1 FROM zone_changes WHERE serial = 0 AND sha256 = X'');
        END;
        -- No writer changes or removes a certificate row: one that does (by hand) may change anything, CA chains included.
        CREATE TRIGGER certificates_changed_delete AFTER DELETE ON certificates BEGIN
            INSERT INTO zone_changes (serial, sha256) SELECT 0, X'' WHERE NOT EXISTS (SELECT 1 FROM zone_changes WHERE serial = 0 AND sha256 = X'');
        END;
        CREATE TRIGGER certificates_changed_update AFTER UPDATE OF sha256, sha1, md5, spki_sha256, ca_id, serial, subject,
            not_before, not_after, der, is_ca, crl_point_set ON certificates BEGIN
            INSERT INTO zone_changes (serial, sha256) SELECT 0, X'' WHERE NOT EXISTS (SELECT 1 FROM zone_changes WHERE serial = 0 AND sha256 = X'');
        END;

        CREATE TRIGGER listings_changed_insert AFTER INSERT ON listings BEGIN
            INSERT INTO zone_changes (serial, sha256) SELECT 0, NEW.sha256 WHERE NOT EXISTS (SELECT 1 FROM zone_changes WHERE serial = 0 AND sha256 = NEW.sha256);
        END;
        CREATE TRIGGER listings_changed_delete AFTER DELETE ON listings BEGIN
            INSERT INTO zone_changes (serial, sha256) SELECT 0, OLD.sha256 WHERE NOT EXISTS (SELECT 1 FROM zone_changes WHERE serial = 0 AND sha256 = OLD.sha256);
        END;
        CREATE TRIGGER listings_changed_update AFTER UPDATE ON listings BEGIN
            INSERT INTO zone_changes (serial, sha256) SELECT 0, OLD.sha256 WHERE NOT EXISTS (SELECT 1 FROM zone_changes WHERE serial = 0 AND sha256 = OLD.sha256);
            INSERT INTO zone_changes (serial, sha256) SELECT 0, NEW.sha256 WHERE NOT EXISTS (SELECT 1 FROM zone_changes WHERE serial = 0 AND sha256 = NEW.sha256);
        END;

        CREATE TRIGGER cas_changed_insert AFTER INSERT ON cas BEGIN INSERT INTO zone_changes (serial, sha256) SELECT 0, X'' WHERE NOT EXISTS (SELECT 1 FROM zone_changes WHERE serial = 0 AND sha256 = X''); END;
        CREATE TRIGGER cas_changed_delete AFTER DELETE ON cas BEGIN INSERT INTO zone_changes (serial, sha256) SELECT 0, X'' WHERE NOT EXISTS (SELECT 1 FROM zone_changes WHERE serial = 0 AND sha256 = X''); END;
        CREATE TRIGGER cas_changed_update AFTER UPDATE OF sha256, subject, subject_der, key_id, spki_sha256, not_before, not_after,
            can_sign_crl, der, trusted, distrusted_at, distrust_reason, parent_id, anchor ON cas BEGIN
            INSERT INTO zone_changes (serial, sha256) SELECT 0, X'' WHERE NOT EXISTS (SELECT 1 FROM zone_changes WHERE serial = 0 AND sha256 = X'');
        END;
        CREATE TRIGGER crl_scopes_changed_insert AFTER INSERT ON crl_scopes BEGIN INSERT INTO zone_changes (serial, sha256) SELECT 0, X'' WHERE NOT EXISTS (SELECT 1 FROM zone_changes WHERE serial = 0 AND sha256 = X''); END;
        CREATE TRIGGER crl_scopes_changed_delete AFTER DELETE ON crl_scopes BEGIN INSERT INTO zone_changes (serial, sha256) SELECT 0, X'' WHERE NOT EXISTS (SELECT 1 FROM zone_changes WHERE serial = 0 AND sha256 = X''); END;
        CREATE TRIGGER crl_scopes_changed_update AFTER UPDATE ON crl_scopes BEGIN INSERT INTO zone_changes (serial, sha256) SELECT 0, X'' WHERE NOT EXISTS (SELECT 1 FROM zone_changes WHERE serial = 0 AND sha256 = X''); END;
        CREATE TRIGGER crls_changed_insert AFTER INSERT ON crls BEGIN INSERT INTO zone_changes (serial, sha256) SELECT 0, X'' WHERE NOT EXISTS (SELECT 1 FROM zone_changes WHERE serial = 0 AND sha256 = X''); END;
        CREATE TRIGGER crls_changed_delete AFTER DELETE ON crls BEGIN INSERT INTO zone_changes (serial, sha256) SELECT 0, X'' WHERE NOT EXISTS (SELECT 1 FROM zone_changes WHERE serial = 0 AND sha256 = X''); END;
        CREATE TRIGGER crls_changed_update AFTER UPDATE OF ca_id, number, this_update, next_update, scope_id, is_delta, delta_base ON crls BEGIN
            INSERT INTO zone_changes (serial, sha256) SELECT 0, X'' WHERE NOT EXISTS (SELECT 1 FROM zone_changes WHERE serial = 0 AND sha256 = X'');
        END;
        -- A CRL's revocations come with its crls row (X'' already): the WHEN makes the other million rows one probe each.
        CREATE TRIGGER revocations_changed_insert AFTER INSERT ON revocations
            WHEN NOT EXISTS (SELECT 1 FROM zone_changes WHERE serial = 0 AND sha256 = X'') BEGIN
            INSERT INTO zone_changes (serial, sha256) SELECT 0, X'' WHERE NOT EXISTS (SELECT 1 FROM zone_changes WHERE serial = 0 AND sha256 = X'');
        END;
        CREATE TRIGGER revocations_changed_delete AFTER DELETE ON revocations
            WHEN NOT EXISTS (SELECT 1 FROM zone_changes WHERE serial = 0 AND sha256 = X'') BEGIN
            INSERT INTO zone_changes (serial, sha256) SELECT 0, X'' WHERE NOT EXISTS (SELECT 1 FROM zone_changes WHERE serial = 0 AND sha256 = X'');
        END;
        CREATE TRIGGER revocations_changed_update AFTER UPDATE OF scope_id, delta, ca_id, serial, revoked_at, reason ON revocations
            WHEN NOT EXISTS (SELECT 1 FROM zone_changes WHERE serial = 0 AND sha256 = X'') BEGIN
            INSERT INTO zone_changes (serial, sha256) SELECT 0, X'' WHERE NOT EXISTS (SELECT 1 FROM zone_changes WHERE serial = 0 AND sha256 = X'');
        END;
        """,
        // 11: a CRL that replaces the current one of its series (issue #17: under load at 10M, answers must reflect an
        // ingest within 5 s of its end, and a whole load takes longer). Its crls row records one mark naming the series,
        // 'crl <scope id>' as a blob (neither empty nor 32 octets: a reader of step 10 takes any other key for "everything"),
        // and each revocation row inserted, removed or changed names the certificates it may speak for: those with its
        // serial issued by any CA of its issuer's name (the name and key groups coverage matches entries by). A revocation
        // of a registered CA's own certificate reaches everything below it: X''. A CRL that starts a series, or a full CRL
        // in a scope that held none, still records X''.
        """
        DROP TRIGGER crls_changed_insert;
        CREATE TRIGGER crls_changed_insert AFTER INSERT ON crls BEGIN
            INSERT INTO zone_changes (serial, sha256) SELECT 0, CAST('crl ' || NEW.scope_id AS BLOB)
                WHERE NEW.scope_id IS NOT NULL AND EXISTS (SELECT 1 FROM crls WHERE scope_id = NEW.scope_id AND is_delta = 0 AND id < NEW.id)
                AND NOT EXISTS (SELECT 1 FROM zone_changes WHERE serial = 0 AND sha256 = CAST('crl ' || NEW.scope_id AS BLOB));
            INSERT INTO zone_changes (serial, sha256) SELECT 0, X''
                WHERE NOT (NEW.scope_id IS NOT NULL AND EXISTS (SELECT 1 FROM crls WHERE scope_id = NEW.scope_id AND is_delta = 0 AND id < NEW.id))
                AND NOT EXISTS (SELECT 1 FROM zone_changes WHERE serial = 0 AND sha256 = X'');
        END;
        DROP TRIGGER revocations_changed_insert;
        DROP TRIGGER revocations_changed_delete;
        DROP TRIGGER revocations_changed_update;
        CREATE TRIGGER revocations_changed_insert AFTER INSERT ON revocations
            WHEN NOT EXISTS (SELECT 1 FROM zone_changes WHERE serial = 0 AND sha256 = X'') BEGIN
            INSERT INTO zone_changes (serial, sha256) SELECT 0, X'' WHERE EXISTS (SELECT 1 FROM certificates c JOIN cas k ON k.sha256 = c.sha256
                WHERE c.serial = NEW.serial AND c.ca_id IN (SELECT b.id FROM cas a JOIN cas b ON b.subject_der = a.subject_der WHERE a.id = NEW.ca_id));
            INSERT INTO zone_changes (serial, sha256) SELECT 0, c.sha256 FROM certificates c
                WHERE c.serial = NEW.serial AND c.ca_id IN (SELECT b.id FROM cas a JOIN cas b ON b.subject_der = a.subject_der WHERE a.id = NEW.ca_id)
                AND NOT EXISTS (SELECT 1 FROM zone_changes z WHERE z.serial = 0 AND z.sha256 = c.sha256);
        END;
        CREATE TRIGGER revocations_changed_delete AFTER DELETE ON revocations
            WHEN NOT EXISTS (SELECT 1 FROM zone_changes WHERE serial = 0 AND sha256 = X'') BEGIN
            INSERT INTO zone_changes (serial, sha256) SELECT 0, X'' WHERE EXISTS (SELECT 1 FROM certificates c JOIN cas k ON k.sha256 = c.sha256
                WHERE c.serial = OLD.serial AND c.ca_id IN (SELECT b.id FROM cas a JOIN cas b ON b.subject_der = a.subject_der WHERE a.id = OLD.ca_id));
            INSERT INTO zone_changes (serial, sha256) SELECT 0, c.sha256 FROM certificates c
                WHERE c.serial = OLD.serial AND c.ca_id IN (SELECT b.id FROM cas a JOIN cas b ON b.subject_der = a.subject_der WHERE a.id = OLD.ca_id)
                AND NOT EXISTS (SELECT 1 FROM zone_changes z WHERE z.serial = 0 AND z.sha256 = c.sha256);
        END;
        CREATE TRIGGER revocations_changed_update AFTER UPDATE OF scope_id, delta, ca_id, serial, revoked_at, reason ON revocations
            WHEN NOT EXISTS (SELECT 1 FROM zone_changes WHERE serial = 0 AND sha256 = X'') BEGIN
            INSERT INTO zone_changes (serial, sha256) SELECT 0, X''
                WHERE NOT EXISTS (SELECT 1 FROM zone_changes WHERE serial = 0 AND sha256 = X'')
                AND (OLD.scope_id <> NEW.scope_id OR OLD.delta <> NEW.delta OR OLD.ca_id <> NEW.ca_id OR OLD.serial <> NEW.serial);
            INSERT INTO zone_changes (serial, sha256) SELECT 0, X'' WHERE EXISTS (SELECT 1 FROM certificates c JOIN cas k ON k.sha256 = c.sha256
                WHERE c.serial = NEW.serial AND c.ca_id IN (SELECT b.id FROM cas a JOIN cas b ON b.subject_der = a.subject_der WHERE a.id = NEW.ca_id))
                AND NOT EXISTS (SELECT 1 FROM zone_changes WHERE serial = 0 AND sha256 = X'');
            INSERT INTO zone_changes (serial, sha256) SELECT 0, c.sha256 FROM certificates c
                WHERE c.serial = NEW.serial AND c.ca_id IN (SELECT b.id FROM cas a JOIN cas b ON b.subject_der = a.subject_der WHERE a.id = NEW.ca_id)
                AND NOT EXISTS (SELECT 1 FROM zone_changes z WHERE z.serial = 0 AND z.sha256 = c.sha256);
        END;
        """,
    ];

    /// <summary>Code that completes a step (by its number) in the step's transaction, after its SQL.</summary>
    public static readonly IReadOnlyDictionary<int, Action<SqliteConnection, IDbTransaction, IStoredDerDecoder?, string>> Conversions =
        new Dictionary<int, Action<SqliteConnection, IDbTransaction, IStoredDerDecoder?, string>> { [5] = ConvertPointsToPlain };

    /// <summary>
    /// Step 5: re-derives each stored DER distribution point through CertDns.Pki's decoder, then drops the DER columns.
    /// A store with such rows and no decoder is refused (nothing changes): the store itself never reads ASN.1.
    /// </summary>
    private static void ConvertPointsToPlain(SqliteConnection db, IDbTransaction tx, IStoredDerDecoder? decoder, string path)
    {
        bool any = db.ExecuteScalar<long?>("SELECT 1 FROM certificates WHERE crl_points IS NOT NULL UNION ALL SELECT 1 FROM crl_scopes WHERE point_name IS NOT NULL LIMIT 1;", transaction: tx) is not null;
        if (any && decoder is null)
            throw new BadInputException(path, "this store keeps distribution points as DER (schema 4); open it with the certdns command to migrate it");
        if (any)
        {
            var converted = new Dictionary<string, byte[]?>();
            foreach (var (id, der) in SqlRows.Read(db, tx, "SELECT id, crl_points FROM certificates WHERE crl_points IS NOT NULL;", r => (r.GetInt64(0), r.Blob(1))).ToList())
            {
                var key = Convert.ToHexString(der);
                if (!converted.TryGetValue(key, out var plain)) converted[key] = plain = CrlPointCodec.Encode(decoder!.CertificatePoints(der));
                db.Execute("UPDATE certificates SET crl_point_set = @plain WHERE id = @id;", new { plain, id }, tx);
            }
            foreach (var (id, der) in SqlRows.Read(db, tx, "SELECT id, point_name FROM crl_scopes WHERE point_name IS NOT NULL;", r => (r.GetInt64(0), r.Blob(1))).ToList())
                db.Execute("UPDATE crl_scopes SET point_names = @plain WHERE id = @id;", new { plain = CrlPointCodec.EncodeNames(decoder!.PointNames(der)), id }, tx);
        }
        db.Execute("ALTER TABLE certificates DROP COLUMN crl_points; ALTER TABLE crl_scopes DROP COLUMN point_name;", transaction: tx);
    }
}
