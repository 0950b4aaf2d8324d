using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using CertDns.Core;
using CertDns.Dns;
using CertDns.Ingest;
using CertDns.Pki;
using CertDns.Store;
using Microsoft.Extensions.Time.Testing;

namespace CertDns.Server.Tests;

/// <summary>
/// The watcher keeps the IXFR journal on a real store file: a step per publication (a write, a time-driven advance),
/// none for a reload that changes nothing, kept across a restart only when nothing was written while down.
/// </summary>
public sealed class StoreWatcherJournalTests : IDisposable
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(30);
    private static readonly ZoneOptions Zone = new();

    private readonly TempDir _dir = new();
    private readonly TestAuthority _ca = new("Journal Watcher CA");
    private readonly FakeTimeProvider _clock = new(DateTimeOffset.UtcNow);
    private readonly ConcurrentQueue<string> _log = new();

    private string StorePath => _dir.File("certdns.db");

    public StoreWatcherJournalTests()
    {
        var now = _clock.GetUtcNow();
        using var store = CertStore.Open(StorePath);
        new CaRegistry(store).Add("ca.pem", _ca.CertificateDer, [], null);
        new CrlIngestor(store, _clock).Ingest("crl.der", _ca.CreateCrl(1, now.AddMinutes(-5), now.AddDays(7), []));
    }

    public void Dispose()
    {
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        _dir.Dispose();
    }

    private byte[] AddCertificate(string name, DateTimeOffset notAfter)
    {
        var der = _ca.Issue(name, _clock.GetUtcNow().AddDays(-1), notAfter);
        using var store = CertStore.Open(StorePath);
        Assert.Equal(1, new CertificateRegistry(store).Add([(name, der)]).Added);
        return CertificateFile.Read(der, name)[0].Sha256;
    }

    private void Block(byte[] sha256)
    {
        using var store = CertStore.Open(StorePath);
        Assert.True(store.Listings.Block(sha256, "abuse", "operator", "test"));
    }

    private ZoneJournal Journal() => new(Zone, JournalOptions.Default, ZoneJournal.PathBeside(StorePath), _log.Enqueue);

    private StoreWatcher Watcher(SnapshotHolder holder, ZoneJournal journal, TimeSpan? timeChanges = null, ConcurrentQueue<StatusSnapshot>? published = null) =>
        new(StorePath, holder, TimeSpan.FromSeconds(1), _clock, _log.Enqueue, published is null ? null : published.Enqueue, timeChanges) { Journal = journal };

    [PeerFact(Peer.Dig)]
    public async Task TimeChange_CertificateExpires_JournalStepCarriesItsNamesOnly()
    {
        // A time-driven serial advance writes nothing but the serial: its difference must be journalled all the same.
        var sha256 = AddCertificate("short.client.example", _clock.GetUtcNow().AddMinutes(10));
        AddCertificate("long.client.example", _clock.GetUtcNow().AddDays(30));
        var holder = new SnapshotHolder(StatusSnapshot.Empty);
        var journal = Journal();
        var published = new ConcurrentQueue<StatusSnapshot>();
        using var watcher = Watcher(holder, journal, TimeSpan.FromSeconds(1), published);
        var first = watcher.Start();
        var until = DateTime.UtcNow + Deadline;
        while (published.IsEmpty)
        {
            Assert.True(DateTime.UtcNow < until, "the serial did not advance: " + string.Join(" | ", _log));
            _clock.Advance(TimeSpan.FromSeconds(30));
            await Task.Delay(10);
        }

        Assert.Equal((1, first.Serial, holder.Current.Serial), (journal.Steps, journal.OldestSerial, journal.Serial));
        var responder = new DnsResponder(Zone, holder, _clock) { Journal = journal };
        await using var server = await DnsServer.StartAsync(new IPEndPoint(IPAddress.Loopback, 0), responder, new DnsServerOptions { TransferClients = [IPAddress.Loopback] });
        var output = await Dig.RunRawAsync(server.LocalEndPoint.Port, "status.example", $"IXFR={first.Serial}", "+tcp", "+time=10");
        var records = output.Split('\n').Where(l => l.Length > 0 && !l.StartsWith(';')).Select(l => l.Split(['\t', ' '], StringSplitOptions.RemoveEmptyEntries)).ToList();
        var name = PublishedNames.Split(sha256) + ".";
        // SOA, SOA, the valid names (combined, wl) out, SOA, the expired one in, SOA.
        Assert.Equal(4 + 4 + 2, records.Count);
        Assert.All(records.Where(r => r[3] != "SOA"), r => Assert.StartsWith(name, r[0], StringComparison.Ordinal));
        Assert.Contains(records, r => r[3] == "A" && r[4] == "127.0.2.4");
    }

    [Fact]
    public void Reload_NothingChanged_AddsNoStep()
    {
        AddCertificate("same.client.example", _clock.GetUtcNow().AddDays(30));
        var holder = new SnapshotHolder(StatusSnapshot.Empty);
        var journal = Journal();
        using var watcher = Watcher(holder, journal);
        var first = watcher.Start();

        watcher.Reload();

        Assert.Equal((0, first.Serial, first.Serial), (journal.Steps, journal.Serial, holder.Current.Serial));
    }

    [Fact]
    public void Restart_NoWriteWhileDown_JournalKept_WriteWhileDown_Dropped()
    {
        var sha256 = AddCertificate("blocked.client.example", _clock.GetUtcNow().AddDays(30));
        uint first, second;
        using (var watcher = Watcher(new SnapshotHolder(StatusSnapshot.Empty), Journal()))
        {
            first = watcher.Start().Serial;
            Block(sha256);
            watcher.Reload();
        }
        var kept = Journal();
        using (var watcher = Watcher(new SnapshotHolder(StatusSnapshot.Empty), kept))
            second = watcher.Start().Serial;
        Assert.Equal((1, first, second), (kept.Steps, kept.OldestSerial, kept.Serial));

        // Written while no server ran: the journal cannot say what changed, so it starts again at the new serial.
        AddCertificate("added.client.example", _clock.GetUtcNow().AddDays(30));
        var dropped = Journal();
        using var restarted = Watcher(new SnapshotHolder(StatusSnapshot.Empty), dropped);
        var third = restarted.Start().Serial;

        Assert.NotEqual(second, third);
        Assert.Equal((0, third, third), (dropped.Steps, dropped.OldestSerial, dropped.Serial));
    }

    [Fact]
    public void Reload_BlockThenCrlRenewedThenAnotherCasFirstCrl_TwoFromTheChangeLog_ThirdWhole_AllJournalled()
    {
        var sha256 = AddCertificate("listed.client.example", _clock.GetUtcNow().AddDays(30));
        var holder = new SnapshotHolder(StatusSnapshot.Empty);
        var journal = Journal();
        using var watcher = Watcher(holder, journal);
        var first = watcher.Start();

        Block(sha256);
        var line = watcher.Reload();

        Assert.True(watcher.LastLoadIncremental, line);
        Assert.EndsWith("(1 changed, from the store's change log)", line, StringComparison.Ordinal);
        Assert.Equal(CertStatus.Blocked, holder.Current.Answer(DigestKind.Sha256, sha256, false, _clock.GetUtcNow(), TimeSpan.FromMinutes(5), out _));
        Assert.Equal((1, first.Serial), (journal.Steps, journal.OldestSerial));

        // A newer CRL of the series renews the CRL facts the snapshot carries (schema step 11).
        using (var store = CertStore.Open(StorePath))
            new CrlIngestor(store, _clock).Ingest("crl2.der", _ca.CreateCrl(2, _clock.GetUtcNow().AddMinutes(-1), _clock.GetUtcNow().AddDays(7), []));
        line = watcher.Reload();

        Assert.True(watcher.LastLoadIncremental, line);
        Assert.EndsWith("(a CRL renewed, from the store's change log)", line, StringComparison.Ordinal);
        Assert.Equal((2, holder.Current.Serial), (journal.Steps, journal.Serial));

        // Another CA and its first CRL may reach any certificate: the whole store is read and compared.
        var other = new TestAuthority("Other Journal CA");
        using (var store = CertStore.Open(StorePath))
        {
            new CaRegistry(store).Add("other.pem", other.CertificateDer, [], null);
            new CrlIngestor(store, _clock).Ingest("other.der", other.CreateCrl(1, _clock.GetUtcNow().AddMinutes(-1), _clock.GetUtcNow().AddDays(7), []));
        }
        watcher.Reload();

        Assert.False(watcher.LastLoadIncremental);
        Assert.Equal((3, holder.Current.Serial), (journal.Steps, journal.Serial));
    }

    [Fact]
    public void Restart_StoreLostTheJournalledCommit_SameSerialOtherData_JournalDropped()
    {
        // A power loss takes the store's last commit (synchronous = NORMAL, no fsync) but not the journal, and a write
        // after the restart lands on the very serial the journal ends at: the serial alone cannot tell the two apart.
        var blocked = AddCertificate("first.client.example", _clock.GetUtcNow().AddDays(30));
        var other = AddCertificate("second.client.example", _clock.GetUtcNow().AddDays(30));
        long far = DateTimeOffset.UtcNow.ToUnixTimeSeconds() + 100_000;
        using (var raw = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={StorePath};Pooling=False"))
        {
            raw.Open();
            using var cmd = raw.CreateCommand();
            // Serials ahead of the clock, so both writes below get far + 1 whatever the second.
            cmd.CommandText = $"UPDATE zone SET serial = {far}; PRAGMA wal_checkpoint(TRUNCATE);";
            cmd.ExecuteNonQuery();
        }
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        var lost = _dir.File("before-the-lost-commit.db");
        File.Copy(StorePath, lost);
        uint journalled;
        var holder = new SnapshotHolder(StatusSnapshot.Empty);
        var journal = Journal();
        using (var watcher = Watcher(holder, journal))
        {
            watcher.Start();
            Block(blocked);
            watcher.Reload();
            journalled = holder.Current.Serial;
        }
        Assert.Equal((1, (uint)far + 1), (journal.Steps, journalled));
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        // The power loss: the commit that was only in the WAL is gone.
        File.Delete(StorePath + "-wal");
        File.Delete(StorePath + "-shm");
        File.Copy(lost, StorePath, overwrite: true);
        Block(other);

        var restarted = Journal();
        using var again = Watcher(new SnapshotHolder(StatusSnapshot.Empty), restarted);
        var served = again.Start().Serial;

        Assert.Equal(journalled, served);
        // Kept, it would tell a secondary at serial far to block the first certificate, which this store never did.
        Assert.Equal((0, served), (restarted.Steps, restarted.OldestSerial));
    }

    [Fact]
    public void AdvanceSerial_ZoneChanged_JournalStartsAfresh_NoStepWithoutTheNewApex()
    {
        // A configuration reload changed the zone's name servers: the journal holds certificate records only, so a step
        // from before the change would send a secondary the certificates' changes without the new NS set.
        var sha256 = AddCertificate("before.client.example", _clock.GetUtcNow().AddDays(30));
        var holder = new SnapshotHolder(StatusSnapshot.Empty);
        var journal = Journal();
        using var watcher = Watcher(holder, journal);
        var first = watcher.Start();
        Block(sha256);
        watcher.Reload();
        Assert.Equal(1, journal.Steps);

        watcher.AdvanceSerial("the zone's name servers changed");

        Assert.True(holder.Current.Serial != first.Serial);
        Assert.Equal((0, holder.Current.Serial, holder.Current.Serial), (journal.Steps, journal.OldestSerial, journal.Serial));
    }

    [Fact]
    public async Task SignedZone_NoChangeForHalfTheValidity_SerialAdvancesInANewSignatureWindow()
    {
        // Regression: a signed zone that did not change kept its serial, so the secondaries kept its RRSIGs until they
        // expired (14 days) and turned bogus. Time-driven advances are off here: the renewal alone must move the serial.
        AddCertificate("steady.client.example", _clock.GetUtcNow().AddDays(90));
        var keys = CertDns.Dns.Dnssec.DnssecKeySet.Generate(Zone.Apex, CertDns.Dns.Dnssec.DnssecAlgorithm.EcdsaP256Sha256, split: false, _clock.GetUtcNow());
        var signer = new CertDns.Dns.Dnssec.TransferSigner(new CertDns.Dns.Zone(Zone), keys);
        var holder = new SnapshotHolder(StatusSnapshot.Empty);
        var journal = Journal();
        journal.Signer = signer;
        var published = new ConcurrentQueue<StatusSnapshot>();
        using var watcher = Watcher(holder, journal, timeChanges: null, published);
        var first = watcher.Start();
        // A secondary transfers the zone: the serial is signed in the window of now.
        var window = signer.WindowFor(first.Serial, _clock.GetUtcNow());
        var due = window.InceptionTime + signer.Validity / 2;
        Assert.Equal(due, signer.RenewalDue(first.Serial));

        // An hour short of it: the ticks from here on must not move the serial until the renewal is due.
        _clock.Advance(due - TimeSpan.FromHours(1) - _clock.GetUtcNow());

        var until = DateTime.UtcNow + Deadline;
        while (published.IsEmpty)
        {
            Assert.True(DateTime.UtcNow < until, "the serial did not advance for the renewal: " + string.Join(" | ", _log));
            _clock.Advance(TimeSpan.FromMinutes(10));
            await Task.Delay(10);
        }

        var moved = Assert.Single(published);
        Assert.True(StoreWatcher.Newer(moved.Serial, first.Serial));
        Assert.True(journal.PublishedAt >= due, $"the serial moved at {journal.PublishedAt:u}, before the renewal was due at {due:u}");
        var renewed = signer.WindowFor(moved.Serial, _clock.GetUtcNow());
        Assert.True(renewed.Inception > window.Inception, $"the new serial kept the old window ({renewed} against {window})");
        Assert.True(renewed.ExpirationTime - _clock.GetUtcNow() > signer.Validity / 2, "the new serial's signatures hold less than half the validity");
        Assert.Contains(_log, l => l.Contains("signatures renewed", StringComparison.Ordinal));
    }

    private CertDns.Dns.Dnssec.DnssecKeySet Keys() =>
        CertDns.Dns.Dnssec.DnssecKeySet.Generate(Zone.Apex, CertDns.Dns.Dnssec.DnssecAlgorithm.EcdsaP256Sha256, split: false, _clock.GetUtcNow());

    /// <summary>Starts a watcher on the store (signed by <paramref name="keys"/>, or unsigned), returns the serial it serves, stops it.</summary>
    private (uint Serial, CertDns.Dns.Dnssec.TransferSigner? Signer) ServeOnce(CertDns.Dns.Dnssec.DnssecKeySet? keys)
    {
        var journal = Journal();
        var signer = keys is null ? null : new CertDns.Dns.Dnssec.TransferSigner(new CertDns.Dns.Zone(Zone), keys);
        journal.Signer = signer;
        using var watcher = Watcher(new SnapshotHolder(StatusSnapshot.Empty), journal, timeChanges: null);
        return (watcher.Start().Serial, signer);
    }

    [Theory]
    [InlineData("unsigned, then signed")]
    [InlineData("signed, then other keys")]
    [InlineData("signed, then unsigned")]
    public void Restart_TransferFormChangedWhileDown_SerialAdvances(string change)
    {
        // Regression: zone.dnssec (a restart key) turned on kept the served serial, so secondaries holding it kept the
        // unsigned zone (bogus under a DS) until the next write; likewise other keys, or signing turned off.
        AddCertificate("steady.client.example", _clock.GetUtcNow().AddDays(90));
        var (before, after) = change switch
        {
            "unsigned, then signed" => (null, Keys()),
            "signed, then other keys" => (Keys(), Keys()),
            _ => (Keys(), (CertDns.Dns.Dnssec.DnssecKeySet?)null),
        };
        var first = ServeOnce(before).Serial;

        var next = ServeOnce(after).Serial;

        Assert.True(StoreWatcher.Newer(next, first), $"{change}: served {next} again after {first}: " + string.Join(" | ", _log));
        // The store holds the new serial too: a third start with the same form keeps it.
        Assert.Equal(next, ServeOnce(after).Serial);
    }

    [Fact]
    public async Task Restart_SignedSameKeys_KeepsTheSerial_RenewalDueInThePreviousWindow()
    {
        // Regression: after a restart the process did not know the window the served serial was signed in, so a zone
        // that did not change was never renewed and the secondaries' RRSIGs expired (bogus) after 14 days.
        AddCertificate("steady.client.example", _clock.GetUtcNow().AddDays(90));
        var keys = Keys();
        var (first, before) = ServeOnce(keys);
        var due = before!.RenewalDue(first);
        Assert.NotNull(due);
        _clock.Advance(TimeSpan.FromDays(2));

        var journal = Journal();
        var signer = new CertDns.Dns.Dnssec.TransferSigner(new CertDns.Dns.Zone(Zone), keys);
        journal.Signer = signer;
        var published = new ConcurrentQueue<StatusSnapshot>();
        using var watcher = Watcher(new SnapshotHolder(StatusSnapshot.Empty), journal, timeChanges: null, published);
        Assert.Equal(first, watcher.Start().Serial);
        Assert.Equal(due, signer.RenewalDue(first));

        _clock.Advance(due!.Value - TimeSpan.FromMinutes(10) - _clock.GetUtcNow());
        var until = DateTime.UtcNow + Deadline;
        while (published.IsEmpty)
        {
            Assert.True(DateTime.UtcNow < until, "the serial did not advance for the renewal after the restart: " + string.Join(" | ", _log));
            _clock.Advance(TimeSpan.FromMinutes(5));
            await Task.Delay(10);
        }
        Assert.True(StoreWatcher.Newer(Assert.Single(published).Serial, first));
        Assert.True(journal.PublishedAt >= due, $"moved at {journal.PublishedAt:u}, before the renewal was due at {due:u}");
    }
}
