using System.Data;
using CertDns.Core;
using Dapper;
using Microsoft.Data.Sqlite;

namespace CertDns.Store;

/// <summary>The registered certificates, found by any digest a query name carries (<see cref="CertStore.Certificates"/>).</summary>
public sealed class CertificateStore : StoreAggregate
{
    internal CertificateStore(CertStore store) : base(store) { }

    /// <summary>Registers certificates in one transaction; returns how many were new (re-adding is idempotent).</summary>
    public int Add(IEnumerable<CertRecord> certs)
    {
        // Five indexes on random keys (the digests, issuer+serial): a bulk insert touches pages all over each one, and
        // SQLite's default 2 MB page cache keeps evicting what the next row needs. A larger cache for this transaction
        // (filled only as far as used) halves the time at a million certificates; it goes back to the default after.
        _db.Execute("PRAGMA cache_size = -262144;");
        try
        {
            return Insert(certs);
        }
        finally
        {
            _db.Execute("PRAGMA cache_size = -2000;");
        }
    }

    private int Insert(IEnumerable<CertRecord> certs) => _store.Write(tx =>
    {
        using var cmd = _db.CreateCommand();
        cmd.Transaction = (SqliteTransaction)tx;
        cmd.CommandText =
            """
            INSERT OR IGNORE INTO certificates (sha256, sha1, md5, spki_sha256, ca_id, serial, subject, not_before, not_after, der, added_at, is_ca, crl_point_set)
            VALUES ($sha256, $sha1, $md5, $spki, $ca, $serial, $subject, $nb, $na, $der, $now, $isca, $points);
            """;
        var p = new[] { "$sha256", "$sha1", "$md5", "$spki", "$ca", "$serial", "$subject", "$nb", "$na", "$der", "$now", "$isca", "$points" }
            .Select(n => cmd.Parameters.Add(new SqliteParameter { ParameterName = n })).ToArray();
        cmd.Prepare();
        var now = CertStore.Now();
        int added = 0;
        foreach (var c in certs)
        {
            p[0].Value = c.Sha256; p[1].Value = c.Sha1; p[2].Value = c.Md5; p[3].Value = c.SpkiSha256;
            p[4].Value = c.CaId; p[5].Value = c.Serial; p[6].Value = (object?)c.Subject ?? DBNull.Value;
            p[7].Value = c.NotBefore.ToUnixTimeSeconds(); p[8].Value = c.NotAfter.ToUnixTimeSeconds();
            p[9].Value = (object?)c.Der ?? DBNull.Value; p[10].Value = now;
            p[11].Value = c.IsCa;
            p[12].Value = (object?)CrlPointCodec.Encode(c.CrlPoints) ?? DBNull.Value;
            added += cmd.ExecuteNonQuery();
        }
        return added;
    });

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
