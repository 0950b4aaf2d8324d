using Dapper;

namespace CertDns.Store;

/// <summary>What the last fetch of a CRL URL returned: the validators for the next conditional GET.</summary>
public sealed class CrlSourceRow
{
    public string Url { get; init; } = "";
    public string? Etag { get; init; }
    public string? LastModified { get; init; }
    public long FetchedAt { get; init; }
    public string Outcome { get; init; } = "";
}

public sealed partial class CertStore
{
    /// <summary>The last fetch of a URL, or null when never fetched.</summary>
    public CrlSourceRow? CrlSource(string url) =>
        _db.QuerySingleOrDefault<CrlSourceRow>("SELECT * FROM crl_sources WHERE url = @url;", new { url });

    /// <summary>
    /// Records a fetch. Validators are kept only with a CRL that was stored or already current, so a refused
    /// download is fetched in full again next time. Fetch bookkeeping is not zone data: the serial stays.
    /// </summary>
    public void RecordCrlSource(string url, string? etag, string? lastModified, string outcome, DateTimeOffset now) =>
        _db.Execute(
            """
            INSERT INTO crl_sources (url, etag, last_modified, fetched_at, outcome) VALUES (@url, @etag, @lastModified, @now, @outcome)
            ON CONFLICT (url) DO UPDATE SET etag = excluded.etag, last_modified = excluded.last_modified, fetched_at = excluded.fetched_at, outcome = excluded.outcome;
            """,
            new { url, etag, lastModified, now = now.ToUnixTimeSeconds(), outcome });
}

public sealed partial class CertStore
{
    /// <summary>The newest CRL stored from a source (file or URL), or null.</summary>
    public CrlRow? LatestCrlFrom(string source) =>
        _db.QuerySingleOrDefault<CrlRow>("SELECT * FROM crls WHERE source = @source ORDER BY id DESC LIMIT 1;", new { source });

    /// <summary>
    /// DER of the CA certificates, and of one registered certificate per distinct set of CRL distribution
    /// points: enough to list every distribution point without reading a million certificates.
    /// </summary>
    public IReadOnlyList<byte[]> DistributionPointCarriers() => _db.Query<byte[]>(
        """
        SELECT der FROM cas
        UNION ALL
        SELECT der FROM certificates WHERE der IS NOT NULL AND id IN (SELECT MIN(id) FROM certificates WHERE crl_point_set IS NOT NULL GROUP BY crl_point_set);
        """).AsList();
}
