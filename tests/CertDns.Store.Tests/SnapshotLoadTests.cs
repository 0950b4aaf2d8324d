using System.Security.Cryptography;
using CertDns.Core;
using CertDns.Store;

namespace CertDns.Store.Tests;

/// <summary>SnapshotLoader.Load against a real SQLite file: revocations scoped by issuer, listings, every column.</summary>
public sealed class SnapshotLoadTests : IDisposable
{
    private readonly StoreFile _file = new();

    public void Dispose() => _file.Dispose();

    private static CaRecord Ca(string name)
    {
        var der = SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(name));
        return new CaRecord(SHA256.HashData(der), "CN=" + name, der, null, SHA256.HashData([.. der, 1]),
            DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddYears(1), true, der, null);
    }

    private static CertRecord Cert(long ca, int n, byte[] serial)
    {
        var der = BitConverter.GetBytes(n);
        return new CertRecord(SHA256.HashData(der), SHA1.HashData(der), MD5.HashData(der), SHA256.HashData([.. der, 9]), ca, serial, null,
            DateTimeOffset.UtcNow.AddDays(-10), DateTimeOffset.UtcNow.AddDays(100), null);
    }

    private static long CountCertificates(SQLitePCL.sqlite3 db)
    {
        Assert.Equal(SQLitePCL.raw.SQLITE_OK, SQLitePCL.raw.sqlite3_prepare_v2(db, "SELECT COUNT(*) FROM certificates;", out var statement));
        using (statement)
        {
            Assert.Equal(SQLitePCL.raw.SQLITE_ROW, SQLitePCL.raw.sqlite3_step(statement));
            return SQLitePCL.raw.sqlite3_column_int64(statement, 0);
        }
    }

    [Fact]
    public void PinnedReader_ReadsTheCommitTheLoadsTransactionReads_NotOneMadeSince()
    {
        // The load's long scans run on a connection of their own: it must read what the load's transaction reads, or a
        // snapshot could pair one commit's certificates with another's CAs and CRLs.
        using var store = _file.Open();
        var (ca, _) = store.Cas.Add(Ca("First"), []);
        store.Certificates.Add([Cert(ca, 1, [0x01])]);
        using var other = _file.Open();
        using var tx = store.Db.BeginTransaction(deferred: true);
        using (var command = store.Db.CreateCommand())
        {
            command.CommandText = "SELECT COUNT(*) FROM certificates;";
            Assert.Equal(1L, command.ExecuteScalar());
        }
        other.Certificates.Add([Cert(ca, 2, [0x02])]);

        using var pinned = SnapshotLoader.PinnedReader.Open(store.Db.Handle!, store.Path);
        Assert.NotNull(pinned);
        Assert.Equal(1, CountCertificates(pinned.Db));
        // A connection opened just now without the pin reads the later commit.
        using var fresh = StoreCertificateDirectory.OpenReadOnly(store.Path, immutable: false);
        Assert.Equal(2, CountCertificates(fresh));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void PinnedReader_StoreWithAnEmptyWal_UsedOnlyWhileNoCommitCameInBetween(bool commitInBetween)
    {
        // A store just opened, checkpointed when it was last closed, has a WAL no transaction has written to: SQLite
        // takes no snapshot of it. A second connection is then used only if it finds no WAL frame either.
        long ca;
        using (var setup = _file.Open())
        {
            ca = setup.Cas.Add(Ca("First"), []).Item1;
            setup.Certificates.Add([Cert(ca, 1, [0x01])]);
        }
        using var store = _file.Open();
        using var other = _file.Open();
        using var tx = store.Db.BeginTransaction(deferred: true);
        using (var command = store.Db.CreateCommand())
        {
            command.CommandText = "SELECT COUNT(*) FROM certificates;";
            Assert.Equal(1L, command.ExecuteScalar());
        }
        Assert.NotEqual(SQLitePCL.raw.SQLITE_OK, SQLitePCL.raw.sqlite3_snapshot_get(store.Db.Handle!, "main", out var none));
        none?.Dispose();
        if (commitInBetween) other.Certificates.Add([Cert(ca, 2, [0x02])]);

        using var pinned = SnapshotLoader.PinnedReader.Open(store.Db.Handle!, store.Path);
        if (commitInBetween) Assert.Null(pinned);
        else Assert.Equal(1, CountCertificates(Assert.IsType<SnapshotLoader.PinnedReader>(pinned).Db));
    }

    [Fact]
    public void Load_ScansOnAPinnedConnection_SameSnapshotAsOnTheLoadsOwn()
    {
        using var store = _file.Open();
        var (first, _) = store.Cas.Add(Ca("First"), []);
        var (second, _) = store.Cas.Add(Ca("Second"), []);
        var certs = Enumerable.Range(0, 300).Select(n => Cert(n % 3 == 0 ? second : first, n, [(byte)(n % 200), (byte)(n / 200 + 1)])).ToList();
        store.Certificates.Add(certs);
        var now = DateTimeOffset.UtcNow;
        store.Crls.Apply(new CrlRecord(first, "42", now.AddMinutes(-1), now.AddDays(1), new byte[32], "test.crl", null),
            [.. certs.Where((c, n) => n % 5 == 1).Select(c => new RevocationRecord(c.Serial, now.AddDays(-2), n(c) % 2 == 0 ? RevocationReason.KeyCompromise : RevocationReason.CertificateHold))]);
        store.Listings.Block(certs[7].Sha256, "3 abuse complaints", "test", "blocked");
        int n(CertRecord c) => certs.IndexOf(c);

        var before = SnapshotLoader.PinnedFrom;
        StatusSnapshot own, pinned;
        try
        {
            SnapshotLoader.PinnedFrom = int.MaxValue;
            own = store.Snapshots.Load();
            SnapshotLoader.PinnedFrom = 0;
            pinned = store.Snapshots.Load();
        }
        finally
        {
            SnapshotLoader.PinnedFrom = before;
        }

        Assert.Equal(own.Serial, pinned.Serial);
        Assert.Equal(own.Count, pinned.Count);
        var statuses = new HashSet<CertStatus>();
        foreach (var c in certs)
        {
            var a = own.Answer(DigestKind.Sha256, c.Sha256, false, now, TimeSpan.FromMinutes(5), out var ownTtl);
            var b = pinned.Answer(DigestKind.Sha256, c.Sha256, false, now, TimeSpan.FromMinutes(5), out var pinnedTtl);
            Assert.Equal(a, b);
            Assert.Equal(ownTtl, pinnedTtl);
            statuses.Add(a);
        }
        // The store holds valid, revoked, held, blocked and stale certificates: the comparison covers each.
        Assert.Equal(5, statuses.Count);
    }

    [Fact]
    public void LoadSnapshot_RevocationsAndListings_MatchByIssuerAndSerialOnly()
    {
        using var store = _file.Open();
        var (first, _) = store.Cas.Add(Ca("First"), []);
        var (second, _) = store.Cas.Add(Ca("Second"), []);
        byte[] shared = [0x01, 0x02], longSerial = [.. Enumerable.Range(1, 30).Select(i => (byte)i)];
        var revokedHere = Cert(first, 1, shared);
        var sameSerialOtherCa = Cert(second, 2, shared);
        var longRevoked = Cert(first, 3, longSerial);
        var untouched = Cert(first, 4, [0x7F]);
        var blocked = Cert(second, 5, [0x05]);
        store.Certificates.Add([revokedHere, sameSerialOtherCa, longRevoked, untouched, blocked]);
        var now = DateTimeOffset.UtcNow;
        store.Crls.Apply(new CrlRecord(first, "42", now.AddMinutes(-1), now.AddDays(1), new byte[32], "test.crl", null),
        [
            new RevocationRecord(shared, now.AddDays(-2), RevocationReason.KeyCompromise),
            new RevocationRecord(longSerial, now.AddDays(-3), RevocationReason.CertificateHold),
            new RevocationRecord(new byte[] { 0x01, 0x02, 0x00 }, now.AddDays(-3), RevocationReason.Superseded),
        ]);
        store.Listings.Block(blocked.Sha256, "3 abuse complaints", "test", "blocked");

        var snapshot = store.Snapshots.Load();
        CertStatus Status(CertRecord c) => snapshot.Answer(DigestKind.Sha256, c.Sha256, false, now, TimeSpan.FromMinutes(5), out _);

        Assert.Equal(5, snapshot.Count);
        Assert.Equal(store.Serial, snapshot.Serial);
        Assert.Equal(CertStatus.Revoked, Status(revokedHere));
        // The same serial from another issuer is another certificate: its CA has no CRL, so stale, never revoked.
        Assert.Equal(CertStatus.Stale, Status(sameSerialOtherCa));
        Assert.Equal(CertStatus.Hold, Status(longRevoked));
        Assert.Equal(CertStatus.Valid, Status(untouched));
        Assert.Equal(CertStatus.Blocked, Status(blocked));
        var facts = snapshot.Find(DigestKind.Sha1, revokedHere.Sha1, false).Single();
        Assert.Equal(new RevocationFacts(RevocationReason.KeyCompromise, DateTimeOffset.FromUnixTimeSeconds(now.AddDays(-2).ToUnixTimeSeconds()), "42"), facts.Revocation);
        Assert.Equal(revokedHere.Md5, facts.Md5);
        Assert.Equal(revokedHere.SpkiSha256, facts.SpkiSha256);
        Assert.Equal(shared, facts.Serial);
        Assert.Equal("CN=First", facts.Ca.Name);
        Assert.StartsWith("blocked: 3 abuse complaints since", snapshot.Evaluate(DigestKind.Sha256, blocked.Sha256, false, now)!.Text);
    }

    [Fact]
    public void LoadSnapshot_ManyBatchesOfRows_EveryCertificateMatchedToItsOwnEntry()
    {
        // Rows reach the worker in batches of 4,096: serials of every length (past 24 octets they are keyed by hash)
        // must stay with their own row across batches, as must each row's issuer.
        using var store = _file.Open();
        var (first, _) = store.Cas.Add(Ca("First"), []);
        var (second, _) = store.Cas.Add(Ca("Second"), []);
        byte[] SerialOf(int n) => [(byte)(0x10 + n % 7), .. BitConverter.GetBytes(n).AsSpan(0, 4), .. Enumerable.Repeat((byte)n, n % 27)];
        var certs = Enumerable.Range(0, 10_000).Select(n => Cert(n % 3 == 0 ? second : first, n, SerialOf(n))).ToList();
        store.Certificates.Add(certs);
        var now = DateTimeOffset.UtcNow;
        bool Revoked(int n) => n % 5 == 0;
        store.Crls.Apply(new CrlRecord(first, "9", now.AddMinutes(-1), now.AddDays(1), new byte[32], "first.crl", null),
            [.. Enumerable.Range(0, 10_000).Where(n => Revoked(n) && n % 3 != 0).Select(n => new RevocationRecord(SerialOf(n), now.AddDays(-1), RevocationReason.KeyCompromise))]);
        store.Crls.Apply(new CrlRecord(second, "4", now.AddMinutes(-1), now.AddDays(1), new byte[32], "second.crl", null),
            [.. Enumerable.Range(0, 10_000).Where(n => Revoked(n) && n % 3 == 0).Select(n => new RevocationRecord(SerialOf(n), now.AddDays(-1), RevocationReason.CertificateHold))]);

        var snapshot = store.Snapshots.Load();

        Assert.Equal(10_000, snapshot.Count);
        for (int n = 0; n < 10_000; n++)
        {
            var expected = !Revoked(n) ? CertStatus.Valid : n % 3 == 0 ? CertStatus.Hold : CertStatus.Revoked;
            Assert.Equal(expected, snapshot.Answer(DigestKind.Sha256, certs[n].Sha256, false, now, TimeSpan.FromMinutes(5), out _));
        }
    }
}
