using CertDns.Core;
using CertDns.Ingest;
using CertDns.Store;
using Dapper;

namespace CertDns.Store.Tests;

public sealed class StoreTests : IDisposable
{
    private readonly StoreFile _file = new();

    public void Dispose() => _file.Dispose();

    [Fact]
    public void Open_NewFile_MigratesToLatestSchemaInWalMode()
    {
        using var store = _file.Open();

        Assert.Equal(CertStore.LatestSchemaVersion, store.SchemaVersion);
        Assert.Equal(11, store.SchemaVersion);
        Assert.True(store.Serial > 1_700_000_000, "serials start time-like");
        using var raw = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={_file.Path};Pooling=False");
        raw.Open();
        using var cmd = raw.CreateCommand();
        cmd.CommandText = "PRAGMA journal_mode;";
        Assert.Equal("wal", cmd.ExecuteScalar());
    }

    [Fact]
    public void Open_StoreAtVersion1_MigratedKeepingItsData()
    {
        using (var raw = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={_file.Path};Pooling=False"))
        {
            raw.Open();
            using var cmd = raw.CreateCommand();
            cmd.CommandText = Schema.Migrations[0] + """
                PRAGMA user_version = 1;
                INSERT INTO complaints (sha256, reporter, evidence_sha256, received_at) VALUES (x'01', 'alice', x'02', 1700000000);
                """;
            cmd.ExecuteNonQuery();
        }

        using var store = _file.Open();

        Assert.Equal(CertStore.LatestSchemaVersion, store.SchemaVersion);
        var kept = Assert.Single(new ComplaintRegistry(store).Complaints(all: true));
        Assert.Equal("alice", kept.Reporter);
        Assert.Equal(0, kept.EvidenceSize);
        Assert.Equal(ComplaintRegistry.DefaultPolicy, new ComplaintRegistry(store).Policy());
    }

    [Fact]
    public void Open_Schema6WithComplaintsAndListing_MigratedKeepingThem_NoReportQueuedForOldListings()
    {
        using (var raw = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={_file.Path};Pooling=False"))
        {
            raw.Open();
            using var cmd = raw.CreateCommand();
            cmd.CommandText = string.Join("\n", Schema.Migrations.Take(6)) + """
                PRAGMA user_version = 6;
                INSERT INTO complaints (sha256, reporter, evidence_sha256, evidence, evidence_size, summary, received_at)
                    VALUES (x'01', 'local:alice', x'02', x'03', 1, 'From: a', 1700000000),
                           (x'01', 'local:bob', x'04', x'05', 1, 'From: b', 1700000100),
                           (x'01', 'local:carol', x'06', x'07', 1, 'From: c', 1700000200);
                INSERT INTO listings (sha256, reason, since, source) VALUES (x'01', '3 abuse complaints', 1700000200, 'complaints');
                """;
            cmd.ExecuteNonQuery();
        }

        using var store = _file.Open();

        Assert.Equal(CertStore.LatestSchemaVersion, store.SchemaVersion);
        // Complaints from before step 7 stay the operator's own, weight 1, with no Message-ID; they still list.
        Assert.Equal(3, new ComplaintRegistry(store).Complaints(all: true).Count);
        Assert.Equal(3L, store.Db.ExecuteScalar<long>("SELECT COUNT(*) FROM complaints WHERE via = 'operator' AND weight = 1 AND message_id IS NULL;"));
        Assert.Equal("3 abuse complaints", Assert.Single(store.Listings.List()).Reason);
        Assert.Empty(store.Reporters.List());
        // Step 8 queues reports of listings made from then on: CAs are not mailed about listings of the past.
        Assert.Empty(store.Forwards.All());
        // And the migrated complaints go on counting: withdrawing one lifts the listing.
        var first = new ComplaintRegistry(store).Complaints(all: true).Single(c => c.Reporter == "local:alice");
        Assert.False(new ComplaintRegistry(store).Withdraw(first.Id, "test", "x").Listed);
    }

    [Fact]
    public void Write_EveryChange_AdvancesSerial()
    {
        using var store = _file.Open();
        var first = store.Serial;

        var ca = new CertDns.Pki.TestAuthority("Serial CA");
        new CaRegistry(store).Add("ca", ca.CertificateDer, [], null);
        var second = store.Serial;
        store.Cas.SetTrust(1, false, "test");

        Assert.True(second > first);
        Assert.True(store.Serial > second);
        Assert.Equal(["ca add", "ca distrust"], store.AuditLog().Select(a => a.Action));
    }

    [Fact]
    public void AdvanceSerial_OnlyFromTheSerialItWasGiven()
    {
        using var store = _file.Open();
        var first = store.Serial;

        var moved = store.AdvanceSerial(first);
        // Another write came in between: the caller's data is old, so nothing moves.
        var late = store.AdvanceSerial(first);

        Assert.NotNull(moved);
        Assert.True(moved > first);
        Assert.Equal(moved, store.Serial);
        Assert.Null(late);
        Assert.Equal(moved, store.Serial);
    }

    [Fact]
    public void Open_FileThatIsNotADatabase_RefusedAsBadInput()
    {
        File.WriteAllText(_file.Path, "this is not sqlite, just text that is long enough to have a header........................................");

        var e = Assert.Throws<BadInputException>(() => CertStore.Open(_file.Path));
        Assert.Contains("not a SQLite database", e.Reason);
    }

    [Fact]
    public void Open_ForeignSqliteDatabase_Refused()
    {
        using (var raw = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={_file.Path};Pooling=False"))
        {
            raw.Open();
            using var cmd = raw.CreateCommand();
            cmd.CommandText = "CREATE TABLE t (x);";
            cmd.ExecuteNonQuery();
        }

        Assert.Contains("not a CertDns store", Assert.Throws<BadInputException>(() => CertStore.Open(_file.Path)).Reason);
    }

    [Fact]
    public void ApplyCrl_FailureMidway_LeavesPreviousSetIntact()
    {
        var ca = new CertDns.Pki.TestAuthority("Atomic CA");
        using var store = _file.Open();
        new CaRegistry(store).Add("ca", ca.CertificateDer, [], null);
        var now = DateTimeOffset.UtcNow;
        store.Crls.Apply(new CrlRecord(1, "1", now, now.AddDays(1), [1], "one", null),
            [new RevocationRecord(new byte[] { 1 }, now, RevocationReason.KeyCompromise)]);
        var serial = store.Serial;

        IEnumerable<RevocationRecord> Failing()
        {
            yield return new RevocationRecord(new byte[] { 2 }, now, RevocationReason.Superseded);
            throw new IOException("disk went away");
        }
        Assert.Throws<IOException>(() => store.Crls.Apply(new CrlRecord(1, "2", now, now.AddDays(1), [2], "two", null), Failing()));

        Assert.Equal(1, store.Crls.RevocationCount(1));
        Assert.NotNull(store.Crls.FindRevocation(1, [1]));
        Assert.Equal("1", store.Crls.Latest(1)!.Number);
        Assert.Equal(serial, store.Serial);
    }
}
