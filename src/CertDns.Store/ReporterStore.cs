using CertDns.Core;
using Dapper;

namespace CertDns.Store;

/// <summary>A registered reporter: whose DKIM signature makes a mailed complaint count.</summary>
public sealed class ReporterRow
{
    public long Id { get; init; }
    public string Name { get; init; } = "";
    public string DkimDomain { get; init; } = "";
    public string DkimSelector { get; init; } = "";
    /// <summary>The DKIM public key as DER SubjectPublicKeyInfo.</summary>
    public byte[] DkimKey { get; init; } = [];
    /// <summary>The authserv-id its receiving MTA writes in <c>X-CertDns-Client-Cert</c>.</summary>
    public string AuthservId { get; init; } = "";
    public int Weight { get; init; }
    public long AddedAt { get; init; }
}

/// <summary>A reporter to register (<see cref="ReporterRow"/> without the store's columns).</summary>
public sealed record ReporterRecord(string Name, string DkimDomain, string DkimSelector, byte[] DkimKey, string AuthservId, int Weight);

/// <summary>
/// Registered reporters (<see cref="CertStore.Reporters"/>): the abuse desks whose DKIM-signed reports count. A key,
/// a (domain, selector) and an authserv-id each belong to one reporter, so no one is counted twice under two names.
/// </summary>
public sealed class ReporterStore : StoreAggregate
{
    internal ReporterStore(CertStore store) : base(store) { }

    /// <summary>Registers a reporter, audited.</summary>
    /// <exception cref="BadInputException">The name, key, selector or authserv-id already belongs to a reporter.</exception>
    public ReporterRow Add(ReporterRecord reporter) => _store.Write(tx =>
    {
        string? Holder(string where, ReporterRecord args) => _db.ExecuteScalar<string?>($"SELECT name FROM reporters WHERE {where};", args, tx);
        if (Holder("name = @Name", reporter) is not null)
            throw new BadInputException(reporter.Name, "a reporter of that name is registered (certdns reporters remove NAME first)");
        if (Holder("dkim_key = @DkimKey", reporter) is { } keyOwner)
            throw new BadInputException(reporter.Name, $"that DKIM key belongs to reporter {keyOwner}: a key belongs to one reporter");
        if (Holder("dkim_domain = @DkimDomain COLLATE NOCASE AND dkim_selector = @DkimSelector COLLATE NOCASE", reporter) is { } selectorOwner)
            throw new BadInputException(reporter.Name, $"selector {reporter.DkimSelector}._domainkey.{reporter.DkimDomain} belongs to reporter {selectorOwner}");
        if (Holder("authserv_id = @AuthservId COLLATE NOCASE", reporter) is { } hostOwner)
            throw new BadInputException(reporter.Name, $"authserv-id {reporter.AuthservId} belongs to reporter {hostOwner}");
        var row = _db.QuerySingle<ReporterRow>(
            """
            INSERT INTO reporters (name, dkim_domain, dkim_selector, dkim_key, authserv_id, weight, added_at)
            VALUES (@Name, @DkimDomain, @DkimSelector, @DkimKey, @AuthservId, @Weight, @now) RETURNING *;
            """,
            new { reporter.Name, reporter.DkimDomain, reporter.DkimSelector, reporter.DkimKey, reporter.AuthservId, reporter.Weight, now = CertStore.Now() }, tx);
        _store.Audit(tx, "reporter add", reporter.Name,
            $"dkim {reporter.DkimSelector}._domainkey.{reporter.DkimDomain}, authserv-id {reporter.AuthservId}, weight {reporter.Weight}");
        return row;
    }, NothingPublished);

    /// <summary>Removes a reporter, audited; the complaints it made stay as they are. False when there is none of that name.</summary>
    public bool Remove(string name, string? reason) => _store.Write(tx =>
    {
        var removed = _db.Execute("DELETE FROM reporters WHERE name = @name;", new { name }, tx) > 0;
        if (removed) _store.Audit(tx, "reporter remove", name, reason);
        return removed;
    }, NothingPublished);

    // Reporters are not in the zone: registering one must not advance the serial and send secondaries a transfer.
    private static string? NothingPublished(System.Data.IDbTransaction tx) => null;

    /// <summary>Every reporter, by name.</summary>
    public IReadOnlyList<ReporterRow> List() => _db.Query<ReporterRow>("SELECT * FROM reporters ORDER BY name;").Listed();

    /// <summary>The reporter that signs as <paramref name="selector"/>._domainkey.<paramref name="domain"/>, or null.</summary>
    public ReporterRow? BySelector(string domain, string selector) => _db.QuerySingleOrDefault<ReporterRow>(
        "SELECT * FROM reporters WHERE dkim_domain = @domain COLLATE NOCASE AND dkim_selector = @selector COLLATE NOCASE;", new { domain, selector });
}
