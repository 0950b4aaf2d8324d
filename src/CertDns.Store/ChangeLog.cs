using Dapper;

namespace CertDns.Store;

/// <summary>
/// What the store's writes changed, serial by serial (schema step 10): the change log its triggers write in each write's
/// own transaction, and the commit token of each serial. The server reads it to publish the changed certificates alone
/// instead of comparing two whole snapshots, and to tell a journal computed from a commit the store no longer holds.
/// </summary>
public sealed class ChangeLog : StoreAggregate
{
    internal ChangeLog(CertStore store) : base(store) { }

    /// <summary>
    /// What changed after store serial <paramref name="serial"/> up to the current one, or null when the log does not reach
    /// back that far (pruned, a store from before the log, or a serial this store never had: another file put in place).
    /// </summary>
    /// <param name="serial">A serial of this store the caller read before.</param>
    /// <param name="commit">The commit token the caller read with it (<see cref="CommitOf"/>); the log is used only when the
    /// store still holds that very commit.</param>
    public StoreChanges? Since(uint serial, ulong? commit)
    {
        using var tx = _db.BeginTransaction(deferred: true);
        var changes = Since(serial, commit, tx);
        tx.Commit();
        return changes;
    }

    /// <summary><see cref="Since(uint, ulong?)"/> inside the caller's read transaction.</summary>
    internal StoreChanges? Since(uint serial, ulong? commit, System.Data.IDbTransaction tx)
    {
        var from = _db.ExecuteScalar<long?>("SELECT changes_from FROM zone WHERE id = 1;", transaction: tx);
        var current = _store.ReadSerial(tx);
        if (from is null || serial < from || serial > current || commit is null || ReadCommit(serial, tx) != commit) return null;
        // Rows keyed 0 committed with no serial advance (the write published nothing new): named all the same.
        var keys = _db.Query<byte[]>("SELECT sha256 FROM zone_changes WHERE serial = 0 OR (serial > @serial AND serial <= @current);",
            new { serial = (long)serial, current = (long)current }, tx).Listed();
        var certificates = new List<byte[]>(keys.Count);
        var crls = new SortedSet<long>();
        bool whole = false;
        foreach (var key in keys)
        {
            if (key.Length == 32) certificates.Add(key);
            else if (CrlMark(key) is { } scope) crls.Add(scope);
            // X'' or a key this version does not know (a newer writer's): anything may have changed.
            else whole = true;
        }
        return whole ? new StoreChanges(current, true, [], []) : new StoreChanges(current, false, certificates, [.. crls]);
    }

    /// <summary>The series a mark <c>'crl &lt;scope id&gt;'</c> (schema step 11) names, or null for any other key.</summary>
    private static long? CrlMark(byte[] key)
    {
        if (key.Length < 5 || key.Length > 24 || !key.AsSpan(0, 4).SequenceEqual("crl "u8)) return null;
        return long.TryParse(key.AsSpan(4), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var id) && id > 0 ? id : null;
    }

    /// <summary>The random token the store's serial <paramref name="serial"/> was committed with, or null when it holds none.</summary>
    public ulong? CommitOf(uint serial) => ReadCommit(serial, null);

    private ulong? ReadCommit(uint serial, System.Data.IDbTransaction? tx) =>
        _db.ExecuteScalar<byte[]?>("SELECT commit_id FROM zone_commits WHERE serial = @serial;", new { serial = (long)serial }, tx) is { Length: 8 } id
            ? System.Buffers.Binary.BinaryPrimitives.ReadUInt64BigEndian(id) : null;
}

/// <summary>What the store's writes changed between two serials.</summary>
/// <param name="Serial">The store serial the changes reach to.</param>
/// <param name="Whole">A change that may reach any number of certificates (a CA, a CRL): compare everything.</param>
/// <param name="Certificates">The SHA-256 of every certificate whose stored facts may have changed (when not <paramref name="Whole"/>).</param>
/// <param name="Crls">The CRL series (scope ids) whose current CRL was replaced by a newer one of the series (when not
/// <paramref name="Whole"/>): its number and times changed for every certificate it covers; the certificates whose entries
/// changed are among <paramref name="Certificates"/>.</param>
public sealed record StoreChanges(uint Serial, bool Whole, IReadOnlyList<byte[]> Certificates, IReadOnlyList<long> Crls);
