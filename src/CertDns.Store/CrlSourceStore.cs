using Dapper;
using Microsoft.Data.Sqlite;

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

/// <summary>Fetch bookkeeping of CRL URLs, for conditional GET (<see cref="CertStore.Sources"/>). Not zone data: the serial stays.</summary>
public sealed class CrlSourceStore : StoreAggregate
{
    internal CrlSourceStore(CertStore store) : base(store) { }

    /// <summary>The last fetch of a URL, or null when never fetched.</summary>
    public CrlSourceRow? Get(string url) =>
        _db.QuerySingleOrDefault<CrlSourceRow>("SELECT * FROM crl_sources WHERE url = @url;", new { url });

    /// <summary>
    /// Records a fetch. Validators are kept only with a CRL that was stored or already current, so a refused
    /// download is fetched in full again next time.
    /// </summary>
    public void Record(string url, string? etag, string? lastModified, string outcome, DateTimeOffset now) =>
        _db.Execute(
            """
            INSERT INTO crl_sources (url, etag, last_modified, fetched_at, outcome) VALUES (@url, @etag, @lastModified, @now, @outcome)
            ON CONFLICT (url) DO UPDATE SET etag = excluded.etag, last_modified = excluded.last_modified, fetched_at = excluded.fetched_at, outcome = excluded.outcome;
            """,
            new { url, etag, lastModified, now = now.ToUnixTimeSeconds(), outcome });
}
