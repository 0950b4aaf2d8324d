using System.Data;
using CertDns.Core;
using Dapper;
using Microsoft.Data.Sqlite;

namespace CertDns.Store;

/// <summary>The registered CAs: their certificates, trust and configured CRL URLs (<see cref="CertStore.Cas"/>).</summary>
public sealed class CaStore : StoreAggregate
{
    internal CaStore(CertStore store) : base(store) { }

    /// <summary>Registers a CA; returns its id and whether it was new.</summary>
    public (long Id, bool Added) Add(CaRecord ca, IEnumerable<string> crlUrls) => Add([ca], crlUrls)[0];

    /// <summary>
    /// Registers CAs in one transaction, in order (a parent before its intermediates); returns each one's id and
    /// whether it was new. Re-adding a CA changes only its abuse contact and CRL URLs.
    /// </summary>
    public IReadOnlyList<(long Id, bool Added)> Add(IReadOnlyList<CaRecord> cas, IEnumerable<string> crlUrls)
    {
        var urls = crlUrls.ToList();
        return _store.Write(tx =>
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
                    new { ca.Sha256, ca.Subject, ca.SubjectDer, ca.KeyId, ca.SpkiSha256, nb = ca.NotBefore.ToUnixTimeSeconds(), na = ca.NotAfter.ToUnixTimeSeconds(), ca.CanSignCrl, ca.Der, ca.AbuseContact, now = CertStore.Now(), parent, anchor }, tx);
                // The intermediate's own certificate, under its parent (also on a re-add, for CAs registered before).
                var issuer = parent ?? (existing is not null ? _db.ExecuteScalar<long?>("SELECT parent_id FROM cas WHERE id = @id;", new { id }, tx) : null);
                if (issuer is { } under && ca.Certificate is { } c)
                {
                    _db.Execute(
                        """
                        INSERT OR IGNORE INTO certificates (sha256, sha1, md5, spki_sha256, ca_id, serial, subject, not_before, not_after, der, added_at, is_ca, crl_point_set)
                        VALUES (@Sha256, @Sha1, @Md5, @SpkiSha256, @under, @Serial, @Subject, @nb, @na, @Der, @now, @IsCa, @points);
                        """,
                        new { c.Sha256, c.Sha1, c.Md5, c.SpkiSha256, c.IsCa, under, c.Serial, c.Subject, nb = c.NotBefore.ToUnixTimeSeconds(), na = c.NotAfter.ToUnixTimeSeconds(), c.Der, now = CertStore.Now(), points = CrlPointCodec.Encode(c.CrlPoints) }, tx);
                }
                if (existing is not null && ca.AbuseContact is not null)
                    _db.Execute("UPDATE cas SET abuse_contact = @AbuseContact WHERE id = @id AND abuse_contact IS NOT @AbuseContact;", new { ca.AbuseContact, id }, tx);
                foreach (var url in urls)
                    _db.Execute("INSERT OR IGNORE INTO ca_crl_urls (ca_id, url) VALUES (@id, @url);", new { id, url }, tx);
                if (existing is null)
                    _store.Audit(tx, "ca add", ca.Subject, parent is { } p ? $"CA {id}: intermediate under CA {p}" : $"CA {id}: anchor ({anchor})");
                result.Add((id, existing is null));
            }
            return result;
        });
    }

    /// <summary>Every registered CA.</summary>
    public IReadOnlyList<CaRow> List() => _db.Query<CaRow>("SELECT * FROM cas ORDER BY id;").Listed();

    /// <summary>One CA by id, or null.</summary>
    public CaRow? Get(long id) => _db.QuerySingleOrDefault<CaRow>("SELECT * FROM cas WHERE id = @id;", new { id });

    /// <summary>CAs whose subject is exactly this DER name (several after a key rollover).</summary>
    public IReadOnlyList<CaRow> FindBySubject(byte[] subjectDer) =>
        _db.Query<CaRow>("SELECT * FROM cas WHERE subject_der = @subjectDer ORDER BY id;", new { subjectDer }).Listed();

    /// <summary>The configured CRL URLs of a CA.</summary>
    public IReadOnlyList<string> CrlUrls(long caId) =>
        _db.Query<string>("SELECT url FROM ca_crl_urls WHERE ca_id = @caId ORDER BY url;", new { caId }).Listed();

    /// <summary>Marks a CA trusted or distrusted, with the reason, in the audit log too. False when nothing changed.</summary>
    public bool SetTrust(long caId, bool trusted, string? reason) => _store.Write(tx =>
    {
        var ca = _db.QuerySingleOrDefault<CaRow>("SELECT * FROM cas WHERE id = @caId;", new { caId }, tx)
            ?? throw new BadInputException(caId.ToString(System.Globalization.CultureInfo.InvariantCulture), "no CA with that id");
        if (ca.Trusted == trusted) return false;
        _db.Execute("UPDATE cas SET trusted = @trusted, distrusted_at = @at, distrust_reason = @reason WHERE id = @caId;",
            new { trusted, at = trusted ? (long?)null : CertStore.Now(), reason = trusted ? null : reason, caId }, tx);
        _store.Audit(tx, trusted ? "ca trust" : "ca distrust", ca.Subject, reason);
        return true;
    });
}
