using System.Data;
using Dapper;

namespace CertDns.Store;

/// <summary>An ARF report to the issuing CA's abuse contact, queued when a complaint listing was made.</summary>
public sealed class ForwardRow
{
    public long Id { get; init; }
    public byte[] Sha256 { get; init; } = [];
    /// <summary>The listing it reports (a relisting is another row).</summary>
    public long ListedSince { get; init; }
    /// <summary>The complaint that reached the threshold: its evidence goes with the report.</summary>
    public long ComplaintId { get; init; }
    public int Reporters { get; init; }
    public int Threshold { get; init; }
    public long QueuedAt { get; init; }
    public int Attempts { get; init; }
    public long? ClaimedAt { get; init; }
    public string? LastError { get; init; }
    /// <summary>When it was handed to the MTA, or given up (the listing was lifted first, the CA has no contact).</summary>
    public long? DoneAt { get; init; }
    public string? Outcome { get; init; }
}

/// <summary>
/// The queue of ARF reports to CAs (<see cref="CertStore.Forwards"/>): one row per complaint listing, queued in the
/// listing's own transaction, taken off when the MTA accepted it. Nothing here changes what the zone shows.
/// </summary>
public sealed class ForwardStore : StoreAggregate
{
    /// <summary>A claim older than this is taken to be a sender that died (the MTA's own timeout is far shorter).</summary>
    public static readonly TimeSpan ClaimLifetime = TimeSpan.FromMinutes(10);

    internal ForwardStore(CertStore store) : base(store) { }

    // Forwards never change the zone: the serial stays whatever the queue does.
    private static string? Unpublished(IDbTransaction tx) => "";

    /// <summary>
    /// Queues the report of a listing made in <paramref name="tx"/>: the evidence is that of the newest counting
    /// complaint at the moment the threshold was reached. A listing reached by a complaint whose evidence the CA was sent before is not queued again.
    /// </summary>
    internal void Queue(IDbTransaction tx, byte[] sha256, long listedSince, long reachedAt, long windowStart, int reporters, int threshold, DateTimeOffset now)
    {
        var complaint = _db.ExecuteScalar<long?>(
            "SELECT MAX(id) FROM complaints WHERE sha256 = @sha256 AND withdrawn_at IS NULL AND received_at >= @windowStart AND received_at <= @reachedAt;",
            new { sha256, windowStart, reachedAt }, tx);
        if (complaint is not { } id) return;
        _db.Execute(
            """
            INSERT INTO abuse_forwards (sha256, listed_since, complaint_id, reporters, threshold, queued_at)
            VALUES (@sha256, @listedSince, @id, @reporters, @threshold, @now) ON CONFLICT (sha256, complaint_id) DO NOTHING;
            """,
            new { sha256, listedSince, id, reporters, threshold, now = now.ToUnixTimeSeconds() }, tx);
    }

    /// <summary>Reports not yet handed over and not claimed by a live sender, oldest first.</summary>
    public IReadOnlyList<ForwardRow> Pending(DateTimeOffset now) => _db.Query<ForwardRow>(
        "SELECT * FROM abuse_forwards WHERE done_at IS NULL AND (claimed_at IS NULL OR claimed_at < @stale) ORDER BY id;",
        new { stale = (now - ClaimLifetime).ToUnixTimeSeconds() }).Listed();

    /// <summary>Every queued report, newest first.</summary>
    public IReadOnlyList<ForwardRow> All() => _db.Query<ForwardRow>("SELECT * FROM abuse_forwards ORDER BY id DESC;").Listed();

    /// <summary>Takes a report for sending; false when another sender has it (or it is done), so no CA gets it twice from us.</summary>
    public bool Claim(long id, DateTimeOffset now) => _store.Write(tx => _db.Execute(
        "UPDATE abuse_forwards SET claimed_at = @now, attempts = attempts + 1 WHERE id = @id AND done_at IS NULL AND (claimed_at IS NULL OR claimed_at < @stale);",
        new { id, now = now.ToUnixTimeSeconds(), stale = (now - ClaimLifetime).ToUnixTimeSeconds() }, tx) == 1, Unpublished);

    /// <summary>Whether the listing a report is about still stands (the operator may have lifted it, or the window expired it).</summary>
    public bool StillListed(ForwardRow forward) => _db.ExecuteScalar<long?>(
        "SELECT 1 FROM listings WHERE sha256 = @Sha256 AND since = @ListedSince;", forward) is not null;

    /// <summary>The report is off the queue: handed to the MTA, or given up with the reason; audited.</summary>
    public void Done(long id, string outcome, string subject, DateTimeOffset now) => _store.Write(tx =>
    {
        _db.Execute("UPDATE abuse_forwards SET done_at = @now, outcome = @outcome, claimed_at = NULL WHERE id = @id;",
            new { id, outcome, now = now.ToUnixTimeSeconds() }, tx);
        _store.Audit(tx, "complaint forward", subject, $"#{id}: {outcome}", "certdns");
        return 0;
    }, Unpublished);

    /// <summary>Sending failed: the report stays queued, unclaimed, for the next sender.</summary>
    public void Failed(long id, string error) => _store.Write(tx => _db.Execute(
        "UPDATE abuse_forwards SET claimed_at = NULL, last_error = @error WHERE id = @id;", new { id, error }, tx), Unpublished);
}
