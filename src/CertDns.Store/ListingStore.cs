using System.Data;
using System.Globalization;
using CertDns.Core;
using Dapper;
using Microsoft.Data.Sqlite;

namespace CertDns.Store;

/// <summary>A complaint as stored (without the evidence bytes).</summary>
public sealed class ComplaintRow
{
    public long Id { get; init; }
    public byte[] Sha256 { get; init; } = [];
    public string Reporter { get; init; } = "";
    public byte[] EvidenceSha256 { get; init; } = [];
    public long EvidenceSize { get; init; }
    public string? Summary { get; init; }
    public long ReceivedAt { get; init; }
    public long? WithdrawnAt { get; init; }
    public string? WithdrawnReason { get; init; }
}

/// <summary>A complaint to record.</summary>
/// <param name="Sha256">The reported certificate.</param>
/// <param name="Reporter">Who reported it; distinct reporters are what count.</param>
/// <param name="EvidenceSha256">SHA-256 of the whole evidence message: the same evidence counts once.</param>
/// <param name="Evidence">The message as kept (capped in size).</param>
/// <param name="EvidenceSize">The whole message's size.</param>
/// <param name="Summary">From, Date and Subject of the evidence, for listings.</param>
/// <param name="MessageId">The evidence's Message-ID, or null: the same message counts once whoever reports it.</param>
/// <param name="Weight">How much the reporter counts (a registered reporter's weight; 1 for the operator's).</param>
/// <param name="Via">How it arrived: <see cref="ViaOperator"/> or <see cref="ViaMail"/>.</param>
public sealed record ComplaintRecord(byte[] Sha256, string Reporter, byte[] EvidenceSha256, byte[] Evidence, long EvidenceSize, string Summary,
    string? MessageId = null, int Weight = 1, string Via = ComplaintRecord.ViaOperator)
{
    /// <summary>The operator's own evidence (<c>certdns report</c>).</summary>
    public const string ViaOperator = "operator";

    /// <summary>A registered reporter's DKIM-signed report (<c>certdns report --mail</c>).</summary>
    public const string ViaMail = "mail";
}

/// <summary>
/// The complaint was counted before: the same evidence, or a message with the same Message-ID. The operator's
/// <c>report</c> refuses it as bad input; <c>report --mail</c> answers it as already counted (a replay is harmless).
/// </summary>
public sealed class DuplicateComplaintException(string input, string reason, long earlier) : Exception($"{input}: {reason}")
{
    /// <summary>The evidence digest or Message-ID seen before.</summary>
    public string Input { get; } = input;

    /// <summary>Why it counts once, without the input.</summary>
    public string Reason { get; } = reason;

    /// <summary>The complaint that counted it.</summary>
    public long Earlier { get; } = earlier;
}

/// <summary>The thresholds a recompute of complaint listings applies; ComplaintRegistry (CertDns.Ingest) decides them.</summary>
/// <param name="Threshold">Distinct reporters that list a certificate as blocked.</param>
/// <param name="Window">How long a complaint counts; null when complaints never expire.</param>
public sealed record ComplaintPolicy(int Threshold, TimeSpan? Window);

/// <summary>
/// How the complaint policy is read from the zone's settings (ComplaintRegistry's rule). Writes call it inside their
/// own transaction, so a concurrent settings change cannot slip between reading the policy and applying it.
/// </summary>
/// <param name="setting">A setting's value by key, or null when unset.</param>
public delegate ComplaintPolicy ComplaintPolicyReader(Func<string, string?> setting);

/// <summary>Where a certificate stands after a change to its complaints.</summary>
/// <param name="DistinctReporters">Reporters whose complaints count.</param>
/// <param name="Threshold">The weight that lists.</param>
/// <param name="Listed">Whether it is listed now.</param>
/// <param name="Since">Since when, when listed.</param>
/// <param name="Weight">The distinct reporters' summed weights (each counts its weight once); what reaches the threshold.</param>
public sealed record ComplaintStanding(int DistinctReporters, int Threshold, bool Listed, DateTimeOffset? Since, int Weight = 0);

/// <summary>
/// Local listings (operator blocks and complaint thresholds) and the complaints that lead to them
/// (<see cref="CertStore.Listings"/>). What counts (threshold, window) is the caller's policy: ComplaintRegistry's.
/// </summary>
public sealed class ListingStore : StoreAggregate
{
    internal ListingStore(CertStore store) : base(store) { }

    /// <summary>
    /// Lists a certificate by local policy (operator block); a listing by complaints becomes the operator's.
    /// False when the operator had already blocked it.
    /// </summary>
    public bool Block(byte[] sha256, string reason, string source, string subject) => _store.Write(tx =>
    {
        var changed = _db.Execute(
            """
            INSERT INTO listings (sha256, reason, since, source) VALUES (@sha256, @reason, @now, @source)
            ON CONFLICT (sha256) DO UPDATE SET reason = excluded.reason, source = excluded.source WHERE listings.source <> excluded.source;
            """,
            new { sha256, reason, now = CertStore.Now(), source }, tx) > 0;
        if (changed) _store.Audit(tx, "block", subject, reason);
        return changed;
    });

    /// <summary>
    /// Lifts a local listing, whatever listed it; the complaints that counted toward it are withdrawn with the
    /// operator's reason, so they do not re-list the certificate (new complaints still can). False when not listed.
    /// </summary>
    public bool Unblock(byte[] sha256, string reason, string subject) => _store.Write(tx =>
    {
        var removed = _db.Execute("DELETE FROM listings WHERE sha256 = @sha256;", new { sha256 }, tx) > 0;
        if (removed)
        {
            WithdrawAll(tx, sha256, "unblocked: " + reason, DateTimeOffset.UtcNow);
            _store.Audit(tx, "unblock", subject, reason);
        }
        return removed;
    });

    /// <summary>Every local listing.</summary>
    public IReadOnlyList<ListingRow> List() => _db.Query<ListingRow>("SELECT * FROM listings ORDER BY since;").Listed();

    /// <summary>A setting, or null when unset.</summary>
    public string? GetSetting(string key) => _db.ExecuteScalar<string?>("SELECT value FROM settings WHERE key = @key;", new { key });

    // What the zone shows of listings (reason, since, source: the TXT and the blocked code), read exactly, so that a
    // complaint that lists nobody commits without advancing the serial and one that does is never missed.
    private string? ListingShown(IDbTransaction tx, byte[] sha256) => _db.ExecuteScalar<string?>(
        "SELECT reason || char(31) || since || char(31) || source FROM listings WHERE sha256 = @sha256;", new { sha256 }, tx);

    private string? AllListingsShown(IDbTransaction tx) => _db.ExecuteScalar<string?>(
        "SELECT group_concat(hex(sha256) || char(31) || reason || char(31) || since || char(31) || source, char(30)) FROM (SELECT * FROM listings ORDER BY sha256);",
        transaction: tx);

    private ComplaintPolicy PolicyIn(IDbTransaction tx, ComplaintPolicyReader policy) =>
        policy(key => _db.ExecuteScalar<string?>("SELECT value FROM settings WHERE key = @key;", new { key }, tx));

    /// <summary>Changes a setting, audited; listings are recomputed under the new policy in the same transaction.</summary>
    public void SetSetting(string key, string value, ComplaintPolicyReader policy, DateTimeOffset now) => _store.Write(tx =>
    {
        var old = _db.ExecuteScalar<string?>("SELECT value FROM settings WHERE key = @key;", new { key }, tx);
        _db.Execute("INSERT INTO settings (key, value) VALUES (@key, @value) ON CONFLICT (key) DO UPDATE SET value = excluded.value;", new { key, value }, tx);
        _store.Audit(tx, "settings set", key, $"{old ?? "(default)"} -> {value}");
        RecomputeAllListings(tx, PolicyIn(tx, policy), now);
        return 0;
    }, AllListingsShown);

    /// <summary>
    /// Records a complaint and lists the certificate when its distinct reporters reach the threshold, in one
    /// transaction: parallel reporters are serialised by SQLite's write lock and none is lost.
    /// </summary>
    /// <exception cref="DuplicateComplaintException">The same evidence, or a message with its Message-ID, was reported before.</exception>
    public (long Id, ComplaintStanding Standing) AddComplaint(ComplaintRecord complaint, string subject, ComplaintPolicyReader policy, DateTimeOffset now) => _store.Write(tx =>
    {
        var earlier = _db.ExecuteScalar<long?>("SELECT id FROM complaints WHERE evidence_sha256 = @EvidenceSha256;", new { complaint.EvidenceSha256 }, tx);
        if (earlier is { } same)
            throw new DuplicateComplaintException(Hex.Lower(complaint.EvidenceSha256), $"this evidence was already reported (complaint {same})", same);
        // Issue #16: one spam message counts once whoever reports it; withdrawn complaints included, so an unblock holds.
        if (complaint.MessageId is { } messageId &&
            _db.ExecuteScalar<long?>("SELECT id FROM complaints WHERE message_id = @messageId ORDER BY id LIMIT 1;", new { messageId }, tx) is { } sameMessage)
            throw new DuplicateComplaintException(messageId, $"a message with this Message-ID was already reported (complaint {sameMessage})", sameMessage);
        var id = _db.ExecuteScalar<long>(
            """
            INSERT INTO complaints (sha256, reporter, evidence_sha256, evidence, evidence_size, summary, received_at, message_id, weight, via)
            VALUES (@Sha256, @Reporter, @EvidenceSha256, @Evidence, @EvidenceSize, @Summary, @now, @MessageId, @Weight, @Via) RETURNING id;
            """,
            new
            {
                complaint.Sha256, complaint.Reporter, complaint.EvidenceSha256, complaint.Evidence, complaint.EvidenceSize, complaint.Summary,
                now = now.ToUnixTimeSeconds(), complaint.MessageId, complaint.Weight, complaint.Via,
            }, tx);
        var how = complaint.Via == ComplaintRecord.ViaMail ? $"signed report by mail, weight {complaint.Weight}" : "operator's own evidence";
        _store.Audit(tx, "complaint", subject, $"#{id} by {complaint.Reporter} ({how}): {complaint.Summary}", complaint.Reporter);
        return (id, Recompute(tx, complaint.Sha256, subject, PolicyIn(tx, policy), now));
    }, tx => ListingShown(tx, complaint.Sha256));

    /// <summary>Withdraws a complaint (it no longer counts), audited; the listing follows.</summary>
    public ComplaintStanding WithdrawComplaint(long id, string reason, string subject, ComplaintPolicyReader policy, DateTimeOffset now) => _store.Write(tx =>
    {
        var row = _db.QuerySingleOrDefault<ComplaintRow>("SELECT * FROM complaints WHERE id = @id;", new { id }, tx)
            ?? throw new BadInputException(id.ToString(CultureInfo.InvariantCulture), "no complaint with that id");
        if (row.WithdrawnAt is not null)
            throw new BadInputException(id.ToString(CultureInfo.InvariantCulture), "complaint was already withdrawn");
        _db.Execute("UPDATE complaints SET withdrawn_at = @now, withdrawn_reason = @reason WHERE id = @id;", new { now = now.ToUnixTimeSeconds(), reason, id }, tx);
        _store.Audit(tx, "complaint withdraw", subject, $"#{id}: {reason}");
        return Recompute(tx, row.Sha256, subject, PolicyIn(tx, policy), now);
    }, AllListingsShown);

    /// <summary>
    /// Applies the complaint window: lifts listings whose complaints have expired (and lists any that now
    /// qualify). Returns how many listings changed; the serial advances only when one did.
    /// </summary>
    public int ExpireComplaints(ComplaintPolicyReader policy, DateTimeOffset now)
    {
        using var tx = _db.BeginTransaction();
        var changed = RecomputeAllListings(tx, PolicyIn(tx, policy), now);
        if (changed == 0) return 0;
        _db.Execute(CertStore.AdvanceSerialSql, transaction: tx);
        tx.Commit();
        return changed;
    }

    /// <summary>Complaints, newest first; only those still counting unless <paramref name="all"/>.</summary>
    public IReadOnlyList<ComplaintRow> Complaints(bool all, ComplaintPolicy policy, DateTimeOffset now)
    {
        var since = WindowStart(policy, now);
        return _db.Query<ComplaintRow>(
            all ? "SELECT * FROM complaints ORDER BY id DESC;"
                : "SELECT * FROM complaints WHERE withdrawn_at IS NULL AND received_at >= @since ORDER BY id DESC;",
            new { since }).Listed();
    }

    /// <summary>One complaint and its stored evidence, or null.</summary>
    public (ComplaintRow Row, byte[] Evidence)? Complaint(long id)
    {
        var row = _db.QuerySingleOrDefault<ComplaintRow>("SELECT * FROM complaints WHERE id = @id;", new { id });
        if (row is null) return null;
        return (row, _db.ExecuteScalar<byte[]>("SELECT evidence FROM complaints WHERE id = @id;", new { id }) ?? []);
    }

    /// <summary>Withdraws every counting complaint against a certificate (the operator reviewed them).</summary>
    private void WithdrawAll(IDbTransaction tx, byte[] sha256, string reason, DateTimeOffset now) =>
        _db.Execute("UPDATE complaints SET withdrawn_at = @now, withdrawn_reason = @reason WHERE sha256 = @sha256 AND withdrawn_at IS NULL;",
            new { now = now.ToUnixTimeSeconds(), reason, sha256 }, tx);

    private static long WindowStart(ComplaintPolicy policy, DateTimeOffset now) =>
        policy.Window is { } window ? (now - window).ToUnixTimeSeconds() : long.MinValue;

    private int RecomputeAllListings(IDbTransaction tx, ComplaintPolicy policy, DateTimeOffset now)
    {
        var before = SqlRows.Read(_db, tx, "SELECT sha256, reason FROM listings WHERE source = 'complaints';", r => (Sha256: r.Blob(0), Reason: r.GetString(1)))
            .ToDictionary(l => Hex.Lower(l.Sha256), l => l.Reason);
        var certs = _db.Query<byte[]>("SELECT DISTINCT sha256 FROM complaints WHERE withdrawn_at IS NULL;", transaction: tx).Listed();
        foreach (var sha in before.Keys.Select(Convert.FromHexString).Concat(certs).DistinctBy(s => Hex.Lower(s)))
            Recompute(tx, sha, Hex.Lower(sha), policy, now);
        var after = SqlRows.Read(_db, tx, "SELECT sha256, reason FROM listings WHERE source = 'complaints';", r => (Sha256: r.Blob(0), Reason: r.GetString(1)))
            .ToDictionary(l => Hex.Lower(l.Sha256), l => l.Reason);
        return before.Keys.Union(after.Keys).Count(k => before.GetValueOrDefault(k) != after.GetValueOrDefault(k));
    }

    /// <summary>Lists or lifts a certificate's complaint listing from its counting complaints; operator listings stay.</summary>
    private ComplaintStanding Recompute(IDbTransaction tx, byte[] sha256, string subject, ComplaintPolicy policy, DateTimeOffset now)
    {
        var since = WindowStart(policy, now);
        // Each reporter counts once, from its first complaint still inside the window, with the largest weight it
        // complained with (issue #16: a registered reporter's weight; the operator's reports weigh 1).
        var firsts = SqlRows.Read(_db, tx,
            "SELECT MIN(received_at), MAX(weight) FROM complaints WHERE sha256 = @sha256 AND withdrawn_at IS NULL AND received_at >= @since GROUP BY reporter ORDER BY 1, 2 DESC;",
            r => (At: r.GetInt64(0), Weight: r.GetInt64(1)), ("@sha256", sha256), ("@since", since)).ToList();
        var weight = (int)Math.Min(int.MaxValue, firsts.Sum(f => f.Weight));
        var listing = _db.QuerySingleOrDefault<ListingRow>("SELECT * FROM listings WHERE sha256 = @sha256;", new { sha256 }, tx);
        if (listing is not null && listing.Source != "complaints")
            return new ComplaintStanding(firsts.Count, policy.Threshold, true, DateTimeOffset.FromUnixTimeSeconds(listing.Since), weight);

        if (weight >= policy.Threshold)
        {
            var reason = $"{firsts.Count} abuse complaints";
            // Listed since the complaint that reached the threshold.
            long reached = 0, sum = 0;
            foreach (var first in firsts)
            {
                sum += first.Weight;
                if (sum >= policy.Threshold) { reached = first.At; break; }
            }
            var listedSince = listing?.Since ?? reached;
            if (listing is null)
            {
                _db.Execute("INSERT INTO listings (sha256, reason, since, source) VALUES (@sha256, @reason, @listedSince, 'complaints');", new { sha256, reason, listedSince }, tx);
                _store.Audit(tx, "block", subject, $"complaint threshold reached: {reason}, weight {weight} (threshold {policy.Threshold})", "certdns");
                // Issue #16: the CA hears of each listing once; queued here, in the listing's transaction, so none is lost.
                _store.Forwards.Queue(tx, sha256, listedSince, reached, since, firsts.Count, policy.Threshold, now);
            }
            else if (listing.Reason != reason)
            {
                _db.Execute("UPDATE listings SET reason = @reason WHERE sha256 = @sha256;", new { sha256, reason }, tx);
            }
            return new ComplaintStanding(firsts.Count, policy.Threshold, true, DateTimeOffset.FromUnixTimeSeconds(listedSince), weight);
        }
        if (listing is not null)
        {
            _db.Execute("DELETE FROM listings WHERE sha256 = @sha256;", new { sha256 }, tx);
            _store.Audit(tx, "unblock", subject, $"below the complaint threshold: weight {weight} of {policy.Threshold}", "certdns");
        }
        return new ComplaintStanding(firsts.Count, policy.Threshold, false, null, weight);
    }
}
