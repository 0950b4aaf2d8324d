using System.Security.Cryptography;
using CertDns.Core;
using CertDns.Store;
using Dapper;

namespace CertDns.Store.Tests;

/// <summary>
/// The change log of schema step 10 against a real SQLite file: each write that changes what is published names, in its
/// own transaction, the certificates it changed (or X'' for a CA or CRL change), under the serial it set.
/// </summary>
public sealed class ChangeLogTests : IDisposable
{
    private readonly StoreFile _file = new();

    public void Dispose() => _file.Dispose();

    private static CaRecord Ca(string name)
    {
        var der = SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(name));
        return new CaRecord(SHA256.HashData(der), "CN=" + name, der, null, SHA256.HashData([.. der, 1]),
            DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddYears(1), true, der, null);
    }

    private static CertRecord Cert(long ca, int n)
    {
        var der = BitConverter.GetBytes(n);
        return new CertRecord(SHA256.HashData(der), SHA1.HashData(der), MD5.HashData(der), SHA256.HashData([.. der, 9]), ca, [(byte)n, 1], null,
            DateTimeOffset.UtcNow.AddDays(-10), DateTimeOffset.UtcNow.AddDays(100), null);
    }

    private static string[] Hex(StoreChanges changes) => [.. changes.Certificates.Select(Convert.ToHexString).Order()];

    [Fact]
    public void Since_CertificatesAddedAndBlocked_NamesExactlyThoseUnderTheSerialTheWriteSet()
    {
        using var store = _file.Open();
        var (ca, _) = store.Cas.Add(Ca("First"), []);
        var a = Cert(ca, 1);
        var b = Cert(ca, 2);
        var c = Cert(ca, 3);
        store.Certificates.Add([a, b]);
        uint s0 = store.Serial;
        var commit0 = store.Changes.CommitOf(s0);
        Assert.NotNull(commit0);

        store.Certificates.Add([c]);
        uint s1 = store.Serial;
        store.Listings.Block(a.Sha256, "spam", "test", "a");
        uint s2 = store.Serial;

        Assert.True(s1 > s0 && s2 > s1);
        var all = store.Changes.Since(s0, commit0)!;
        Assert.False(all.Whole);
        Assert.Equal(s2, all.Serial);
        Assert.Equal(new[] { a.Sha256, c.Sha256 }.Select(Convert.ToHexString).Order(), Hex(all));
        var last = store.Changes.Since(s1, store.Changes.CommitOf(s1))!;
        Assert.Equal([Convert.ToHexString(a.Sha256)], Hex(last));
        // Nothing after the current serial.
        Assert.Empty(store.Changes.Since(s2, store.Changes.CommitOf(s2))!.Certificates);
    }

    [Fact]
    public void Since_WriteThatChangesNothing_AddsNothingAndKeepsTheSerial()
    {
        using var store = _file.Open();
        var (ca, _) = store.Cas.Add(Ca("First"), []);
        var a = Cert(ca, 1);
        store.Certificates.Add([a]);
        store.Listings.Block(a.Sha256, "spam", "test", "a");
        uint s0 = store.Serial;
        long rows = store.Db.ExecuteScalar<long>("SELECT COUNT(*) FROM zone_changes;");

        store.Certificates.Add([a]);
        store.Listings.Block(a.Sha256, "spam", "test", "a");

        Assert.Equal(s0, store.Serial);
        Assert.Equal(rows, store.Db.ExecuteScalar<long>("SELECT COUNT(*) FROM zone_changes;"));
        Assert.Empty(store.Changes.Since(s0, store.Changes.CommitOf(s0))!.Certificates);
    }

    [Fact]
    public void Since_BlockUpsertOverAnotherSourcesListing_NamesTheCertificateAndCommits()
    {
        // The upsert's conflict policy (ABORT) overrides an INSERT OR IGNORE in a trigger: the triggers must not rely on one.
        using var store = _file.Open();
        var (ca, _) = store.Cas.Add(Ca("First"), []);
        var a = Cert(ca, 1);
        store.Certificates.Add([a]);
        store.Listings.Block(a.Sha256, "3 complaints", "complaints", "a");
        uint s0 = store.Serial;

        Assert.True(store.Listings.Block(a.Sha256, "operator", "operator", "a"));

        Assert.NotEqual(s0, store.Serial);
        Assert.Equal([Convert.ToHexString(a.Sha256)], Hex(store.Changes.Since(s0, store.Changes.CommitOf(s0))!));
    }

    [Fact]
    public void Since_RolledBackWrite_LeavesNoRow()
    {
        using var store = _file.Open();
        var (ca, _) = store.Cas.Add(Ca("First"), []);
        uint s0 = store.Serial;
        var a = Cert(ca, 1);

        Assert.Throws<InvalidOperationException>(() => store.Write<int>(tx =>
        {
            store.Db.Execute("INSERT INTO listings (sha256, reason, since, source) VALUES (@sha256, 'x', 1, 'test');", new { a.Sha256 }, tx);
            throw new InvalidOperationException("fails after its row");
        }));

        Assert.Equal(s0, store.Serial);
        Assert.Equal(0L, store.Db.ExecuteScalar<long>("SELECT COUNT(*) FROM zone_changes WHERE serial = 0 OR serial > @s0;", new { s0 = (long)s0 }));
    }

    [Fact]
    public void Since_CrlIngestTrustChangeAndCaAdd_AreWholeChanges()
    {
        using var store = _file.Open();
        var (ca, _) = store.Cas.Add(Ca("First"), []);
        store.Certificates.Add([Cert(ca, 1), Cert(ca, 2)]);
        var now = DateTimeOffset.UtcNow;

        uint s0 = store.Serial;
        store.Crls.Apply(new CrlRecord(ca, "1", now.AddMinutes(-1), now.AddDays(1), new byte[32], "test.crl", null),
            [new RevocationRecord(new byte[] { 1, 1 }, now.AddDays(-1), RevocationReason.KeyCompromise)]);
        Assert.True(store.Changes.Since(s0, store.Changes.CommitOf(s0))!.Whole);
        // One X'' row, not one per revocation.
        Assert.Equal(1L, store.Db.ExecuteScalar<long>("SELECT COUNT(*) FROM zone_changes WHERE serial = @s;", new { s = (long)store.Serial }));

        uint s1 = store.Serial;
        Assert.True(store.Cas.SetTrust(ca, false, "test"));
        Assert.True(store.Changes.Since(s1, store.Changes.CommitOf(s1))!.Whole);

        uint s2 = store.Serial;
        store.Cas.Add(Ca("Second"), []);
        Assert.True(store.Changes.Since(s2, store.Changes.CommitOf(s2))!.Whole);
    }

    [Fact]
    public void Since_FirstCrlOfASeriesStoredWithTriggersOff_WholeChangeAndLaterWritesLoggedAgain()
    {
        using var store = _file.Open();
        var (ca, _) = store.Cas.Add(Ca("First"), []);
        var now = DateTimeOffset.UtcNow;
        uint s0 = store.Serial;

        store.Crls.Apply(new CrlRecord(ca, "1", now.AddMinutes(-1), now.AddDays(1), new byte[32], "test.crl", null),
            Enumerable.Range(0, 1_000).Select(i => new RevocationRecord(BitConverter.GetBytes(i + 1).Reverse().ToArray(), now.AddDays(-1), RevocationReason.KeyCompromise)));
        Assert.True(store.Changes.Since(s0, store.Changes.CommitOf(s0))!.Whole);
        Assert.Equal(1_000, store.Crls.RevocationCount(ca));

        // The triggers are back on for the connection: a certificate added next is named, as is a removed revocation.
        uint s1 = store.Serial;
        var a = Cert(ca, 1);
        store.Certificates.Add([a]);
        Assert.Equal([Convert.ToHexString(a.Sha256)], Hex(store.Changes.Since(s1, store.Changes.CommitOf(s1))!));
        // A revocation removed by hand (no serial advance) names the certificate with its serial (schema step 11).
        var b = Cert(ca, 2) with { Serial = [0, 0, 0, 1] };
        store.Certificates.Add([b]);
        uint s2 = store.Serial;
        store.Db.Execute("DELETE FROM revocations WHERE serial = @serial;", new { serial = new byte[] { 0, 0, 0, 1 } });
        Assert.Equal(0L, store.Db.ExecuteScalar<long>("SELECT COUNT(*) FROM zone_changes WHERE serial = 0 AND sha256 = X'';"));
        Assert.Equal([Convert.ToHexString(b.Sha256)], Hex(store.Changes.Since(s2, store.Changes.CommitOf(s2))!));
        Assert.Equal(s2, store.Serial);
    }

    [Fact]
    public void Since_CrlReplacingTheCurrentOne_NamesItsSeriesAndTheCertificatesWhoseEntriesChanged()
    {
        using var store = _file.Open();
        var (ca, _) = store.Cas.Add(Ca("First"), []);
        var (other, _) = store.Cas.Add(Ca("Second"), []);
        var now = DateTimeOffset.UtcNow;
        var kept = Cert(ca, 1) with { Serial = [1, 1] };
        var lifted = Cert(ca, 2) with { Serial = [2, 2] };
        var listed = Cert(ca, 3) with { Serial = [3, 3] };
        var changedReason = Cert(ca, 4) with { Serial = [4, 4] };
        var sameSerialOtherCa = Cert(other, 5) with { Serial = [3, 3] };
        store.Certificates.Add([kept, lifted, listed, changedReason, sameSerialOtherCa]);
        RevocationRecord Entry(byte[] serial, RevocationReason reason) => new(serial, now.AddDays(-1), reason);
        store.Crls.Apply(new CrlRecord(ca, "1", now.AddMinutes(-2), now.AddDays(1), new byte[32], "one.crl", null),
            [Entry([1, 1], RevocationReason.KeyCompromise), Entry([2, 2], RevocationReason.KeyCompromise), Entry([4, 4], RevocationReason.CertificateHold)]);

        uint s0 = store.Serial;
        store.Crls.Apply(new CrlRecord(ca, "2", now.AddMinutes(-1), now.AddDays(1), Enumerable.Repeat((byte)1, 32).ToArray(), "two.crl", null),
            [Entry([1, 1], RevocationReason.KeyCompromise), Entry([3, 3], RevocationReason.KeyCompromise), Entry([4, 4], RevocationReason.KeyCompromise)]);

        var changes = store.Changes.Since(s0, store.Changes.CommitOf(s0))!;
        Assert.False(changes.Whole);
        Assert.Equal([store.Db.ExecuteScalar<long>("SELECT id FROM crl_scopes WHERE ca_id = @ca;", new { ca })], changes.Crls);
        Assert.Equal(new[] { lifted, listed, changedReason }.Select(c => Convert.ToHexString(c.Sha256)).Order(), Hex(changes));
    }

    [Fact]
    public void Since_FirstCrlRefusedMidway_TriggersBackOnAndNothingStored()
    {
        using var store = _file.Open();
        var (ca, _) = store.Cas.Add(Ca("First"), []);
        var now = DateTimeOffset.UtcNow;
        uint s0 = store.Serial;
        IEnumerable<RevocationRecord> Refused()
        {
            for (int i = 0; i < 500; i++) yield return new RevocationRecord(new byte[] { 1, (byte)i, 2 }, now.AddDays(-1), RevocationReason.KeyCompromise);
            throw new BadInputException("test.crl", "bad entry 501");
        }

        Assert.Throws<BadInputException>(() => store.Crls.Apply(new CrlRecord(ca, "1", now.AddMinutes(-1), now.AddDays(1), new byte[32], "test.crl", null), Refused()));

        Assert.Equal(s0, store.Serial);
        Assert.Equal(0, store.Crls.RevocationCount(ca));
        var a = Cert(ca, 1);
        store.Certificates.Add([a]);
        Assert.Equal([Convert.ToHexString(a.Sha256)], Hex(store.Changes.Since(s0, store.Changes.CommitOf(s0))!));
    }

    [Fact]
    public void Since_ManyCertificatesInOneWrite_BecomeOneWholeRow()
    {
        using var store = _file.Open();
        var (ca, _) = store.Cas.Add(Ca("First"), []);
        uint s0 = store.Serial;

        store.Certificates.Add(Enumerable.Range(0, 100_001).Select(n => Cert(ca, n)));

        Assert.True(store.Changes.Since(s0, store.Changes.CommitOf(s0))!.Whole);
        Assert.Equal(1L, store.Db.ExecuteScalar<long>("SELECT COUNT(*) FROM zone_changes WHERE serial = @s;", new { s = (long)store.Serial }));
    }

    [Fact]
    public void Since_SerialBeforeTheLogOrUnknownCommit_IsNull()
    {
        using var store = _file.Open();
        var (ca, _) = store.Cas.Add(Ca("First"), []);
        uint s0 = store.Serial;
        var commit = store.Changes.CommitOf(s0)!.Value;
        store.Certificates.Add([Cert(ca, 1)]);
        uint from = (uint)store.Db.ExecuteScalar<long>("SELECT changes_from FROM zone;");

        Assert.Null(store.Changes.Since(from - 1, store.Changes.CommitOf(from - 1)));
        // The same serial with another commit token: another history (a lost commit, another file).
        Assert.Null(store.Changes.Since(s0, commit ^ 1));
        Assert.Null(store.Changes.Since(s0, null));
        Assert.NotNull(store.Changes.Since(s0, commit));
    }

    [Fact]
    public void Advance_RowsOlderThanSevenDaysBySerial_PrunedAndChangesFromRaised()
    {
        using var store = _file.Open();
        var (ca, _) = store.Cas.Add(Ca("First"), []);
        store.Certificates.Add([Cert(ca, 1)]);
        uint old = store.Serial;
        // Serials are time-like: one raised eight days ahead stands for a write eight days later.
        var raised = store.RaiseSerial(old, old + 8 * 86400)!.Value;

        Assert.Equal(0L, store.Db.ExecuteScalar<long>("SELECT COUNT(*) FROM zone_changes WHERE serial <= @old;", new { old = (long)old }));
        Assert.Null(store.Changes.Since(old, store.Changes.CommitOf(old)));
        Assert.Equal((long)raised - 604800, store.Db.ExecuteScalar<long>("SELECT changes_from FROM zone;"));
    }

    [Fact]
    public void Open_Schema9Store_MigratedWithTheLogStartingAtItsSerial()
    {
        using (var raw = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={_file.Path};Pooling=False"))
        {
            raw.Open();
            using var cmd = raw.CreateCommand();
            cmd.CommandText = string.Join("\n", Schema.Migrations.Take(9)) + "PRAGMA user_version = 9;";
            cmd.ExecuteNonQuery();
        }

        using var store = _file.Open();

        uint serial = store.Serial;
        Assert.Equal((long)serial, store.Db.ExecuteScalar<long>("SELECT changes_from FROM zone;"));
        Assert.NotNull(store.Changes.CommitOf(serial));
        Assert.Empty(store.Changes.Since(serial, store.Changes.CommitOf(serial))!.Certificates);
    }
}
