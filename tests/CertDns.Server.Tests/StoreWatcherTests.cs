using System.Collections.Concurrent;
using CertDns.Core;
using CertDns.Dns;
using CertDns.Ingest;
using CertDns.Pki;
using CertDns.Store;
using Microsoft.Extensions.Time.Testing;

namespace CertDns.Server.Tests;

/// <summary>
/// The watcher on a real store file and a fake clock: reloads after writes, keeps polling through any failure, and
/// advances the serial when time alone changes an answer (no real time waited for).
/// </summary>
public sealed class StoreWatcherTests : IDisposable
{
    private static readonly TimeSpan Interval = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(30);

    private readonly TempDir _dir = new();
    private readonly TestAuthority _ca = new("Watcher Test CA");
    private readonly FakeTimeProvider _clock = new(DateTimeOffset.UtcNow);
    private readonly ConcurrentQueue<string> _log = new();

    private string StorePath => _dir.File("certdns.db");

    public StoreWatcherTests()
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
        var result = new CertificateRegistry(store).Add([(name, der)]);
        Assert.Equal(1, result.Added);
        return CertificateFile.Read(der, name)[0].Sha256;
    }

    private static uint StoreSerial(string path)
    {
        using var store = CertStore.Open(path, readOnly: true);
        return store.Serial;
    }

    /// <summary>Moves the fake clock a poll interval at a time until <paramref name="done"/> holds, within a real deadline.</summary>
    private async Task PollUntil(Func<bool> done, string what, TimeSpan? step = null)
    {
        var until = DateTime.UtcNow + Deadline;
        while (!done())
        {
            if (DateTime.UtcNow > until) throw new TimeoutException($"{what}; log: {string.Join(" | ", _log)}");
            _clock.Advance(step ?? Interval);
            await Task.Delay(10);
        }
    }

    [Fact]
    public async Task Poll_LoadThrowsUnexpectedExceptionType_LogsAndKeepsPolling()
    {
        AddCertificate("first.client.example", _clock.GetUtcNow().AddDays(30));
        var holder = new SnapshotHolder(StatusSnapshot.Empty);
        int loads = 0;
        // What was served when the failure was logged: the next poll may already have loaded the store by the time
        // the test reads the log (it did under load), so the holder is read by the logging thread itself.
        uint? servingAtFault = null;
        void Log(string line)
        {
            if (line.Contains("injected fault", StringComparison.Ordinal)) servingAtFault ??= holder.Current.Serial;
            _log.Enqueue(line);
        }
        using var watcher = new StoreWatcher(StorePath, holder, Interval, _clock, Log)
        {
            // The first reload after the write fails with a type no store error has: a bug, not a locked file.
            Load = (store, directory) => Interlocked.Increment(ref loads) == 2
                ? throw new InvalidOperationException("injected fault")
                : store.Snapshots.Load(directory),
        };
        var first = watcher.Start();

        AddCertificate("second.client.example", _clock.GetUtcNow().AddDays(30));
        uint written = StoreSerial(StorePath);
        Assert.NotEqual(first.Serial, written);

        await PollUntil(() => _log.Any(l => l.Contains("injected fault", StringComparison.Ordinal)), "the failed reload was not logged");
        Assert.Equal(first.Serial, servingAtFault);
        await PollUntil(() => holder.Current.Serial == written, "polling stopped after the failure");
        Assert.Equal(2, holder.Current.Count);
        Assert.Contains(_log, l => l.StartsWith("reload failed, still serving serial " + first.Serial, StringComparison.Ordinal));
    }

    [Fact]
    public void Reload_AfterAWrite_PublishesAtOnce_WithoutWaitingForAPoll()
    {
        var holder = new SnapshotHolder(StatusSnapshot.Empty);
        using var watcher = new StoreWatcher(StorePath, holder, TimeSpan.FromHours(1), _clock, _log.Enqueue);
        var first = watcher.Start();
        AddCertificate("hup.client.example", _clock.GetUtcNow().AddDays(30));

        var line = watcher.Reload();

        Assert.NotEqual(first.Serial, holder.Current.Serial);
        Assert.Equal(StoreSerial(StorePath), holder.Current.Serial);
        Assert.StartsWith($"reloaded: serial {holder.Current.Serial}, 1 certificates", line, StringComparison.Ordinal);
    }

    [Fact]
    public void Reload_StoreUnreadable_ThrowsAndKeepsTheSnapshot()
    {
        AddCertificate("kept.client.example", _clock.GetUtcNow().AddDays(30));
        var holder = new SnapshotHolder(StatusSnapshot.Empty);
        using var watcher = new StoreWatcher(StorePath, holder, TimeSpan.FromHours(1), _clock, _log.Enqueue)
        {
            Load = (store, directory) => holder.Current.Count == 0 ? store.Snapshots.Load(directory) : throw new IOException("injected: unreadable"),
        };
        var first = watcher.Start();

        Assert.Throws<IOException>(() => watcher.Reload());

        Assert.Same(first, holder.Current);
    }

    [Fact]
    public async Task TimeChange_CertificateExpiresWithNoWrite_SerialAdvancesAndAnswerFollows()
    {
        // Only time changes this answer: the store is not written, yet secondaries must learn of it.
        var sha256 = AddCertificate("short.client.example", _clock.GetUtcNow().AddMinutes(10));
        var holder = new SnapshotHolder(StatusSnapshot.Empty);
        var published = new ConcurrentQueue<StatusSnapshot>();
        using var watcher = new StoreWatcher(StorePath, holder, Interval, _clock, _log.Enqueue, published.Enqueue, timeChanges: TimeSpan.FromSeconds(1));
        var first = watcher.Start();
        var responder = new DnsResponder(new ZoneOptions(), holder, _clock);
        var name = PublishedNames.Split(sha256) + ".status.example";
        Assert.Equal(StatusCodes.Address(CertStatus.Valid).ToArray(), AnswerA(responder, name));

        await PollUntil(() => !published.IsEmpty, "the serial did not advance when the certificate expired", TimeSpan.FromSeconds(30));

        var moved = Assert.Single(published);
        Assert.True(moved.Serial > first.Serial);
        Assert.Same(moved, holder.Current);
        Assert.Equal(StatusCodes.Address(CertStatus.Expired).ToArray(), AnswerA(responder, name));
        // Nothing was written but the serial: the store holds the one the server moved to, so the next write goes past it.
        Assert.Equal(moved.Serial, StoreSerial(StorePath));
        Assert.Contains(_log, l => l.Contains("answers changed with time", StringComparison.Ordinal));
    }

    [Fact]
    public void AdvanceSerial_ZoneIdentityChanged_NewerSerialInTheStoreServedAndNotified()
    {
        var holder = new SnapshotHolder(StatusSnapshot.Empty);
        var published = new ConcurrentQueue<StatusSnapshot>();
        using var watcher = new StoreWatcher(StorePath, holder, TimeSpan.FromHours(1), _clock, _log.Enqueue, published.Enqueue);
        var first = watcher.Start();

        var line = watcher.AdvanceSerial("the zone's name servers changed");

        var moved = Assert.Single(published);
        Assert.True(StoreWatcher.Newer(moved.Serial, first.Serial));
        Assert.Same(moved, holder.Current);
        Assert.Equal(first.Count, moved.Count);
        // The store and the served-serial file hold it too: the next write and a restart stay above it.
        Assert.Equal(moved.Serial, StoreSerial(StorePath));
        Assert.Equal(moved.Serial.ToString(System.Globalization.CultureInfo.InvariantCulture), File.ReadAllText(StoreWatcher.ServedSerialPath(StorePath)).Trim());
        Assert.Equal($"serial {moved.Serial}: the zone's name servers changed", line);

        // A SIGHUP's store reload right after keeps the advanced serial: nothing went back.
        watcher.Reload();
        Assert.Equal(moved.Serial, holder.Current.Serial);
    }

    [Fact]
    public void AdvanceSerial_AnotherWriteCameFirst_ItsDataServedUnderANewerSerial()
    {
        var holder = new SnapshotHolder(StatusSnapshot.Empty);
        using var watcher = new StoreWatcher(StorePath, holder, TimeSpan.FromHours(1), _clock, _log.Enqueue);
        var first = watcher.Start();
        AddCertificate("raced.client.example", _clock.GetUtcNow().AddDays(30));

        watcher.AdvanceSerial("the zone's SOA contact changed");

        Assert.True(StoreWatcher.Newer(holder.Current.Serial, first.Serial));
        Assert.Equal(1, holder.Current.Count);
        Assert.Equal(StoreSerial(StorePath), holder.Current.Serial);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void AdvanceSerial_WithWhatChangedBeside_ItGoesIntoServiceOnce_AfterTheStoreWrite_BeforeTheNewSerial(bool raced)
    {
        var holder = new SnapshotHolder(StatusSnapshot.Empty);
        using var watcher = new StoreWatcher(StorePath, holder, TimeSpan.FromHours(1), _clock, _log.Enqueue);
        var first = watcher.Start();
        if (raced) AddCertificate("raced.client.example", _clock.GetUtcNow().AddDays(30));
        var seen = new List<(uint Store, uint Served)>();

        // The DNSSEC keys' case: the store's write may wait on an ingest; the keys must not be served before it ends.
        watcher.AdvanceSerial("DNSKEY: a rollover phase came", () => seen.Add((StoreSerial(StorePath), holder.Current.Serial)));

        var (store, served) = Assert.Single(seen);
        Assert.True(StoreWatcher.Newer(store, first.Serial), $"run before the store's serial moved ({store})");
        Assert.Equal(first.Serial, served);
        Assert.Equal(store, holder.Current.Serial);
    }

    [Fact]
    public async Task Interval_ChangedWhileRunning_TheNextPollsUseIt()
    {
        var holder = new SnapshotHolder(StatusSnapshot.Empty);
        using var watcher = new StoreWatcher(StorePath, holder, TimeSpan.FromHours(1), _clock, _log.Enqueue);
        var first = watcher.Start();
        // One hour's wait is under way; the reload shortens it from the next tick on.
        watcher.Interval = Interval;
        _clock.Advance(TimeSpan.FromHours(1));
        AddCertificate("polled.client.example", _clock.GetUtcNow().AddDays(30));

        await PollUntil(() => holder.Current.Count == 1, "the new poll interval was not taken");

        Assert.NotEqual(first.Serial, holder.Current.Serial);
    }

    /// <summary>A clock that runs an action as the first timer is created, before the timer reads its period.</summary>
    private sealed class InterveningTime(TimeProvider inner) : TimeProvider
    {
        public Action? BeforeFirstTimer { get; set; }

        public override DateTimeOffset GetUtcNow() => inner.GetUtcNow();

        public override long GetTimestamp() => inner.GetTimestamp();

        public override long TimestampFrequency => inner.TimestampFrequency;

        public override TimeZoneInfo LocalTimeZone => inner.LocalTimeZone;

        public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
        {
            var action = BeforeFirstTimer;
            BeforeFirstTimer = null;
            action?.Invoke();
            return inner.CreateTimer(callback, state, dueTime, period);
        }
    }

    [Fact]
    public async Task Interval_ChangedAsThePollTimerIsCreated_TheFirstWaitUsesIt()
    {
        // A reload that changes the interval between the poll loop reading it and creating its timer (seen once in CI
        // under load): the loop used to wait out the old interval (an hour here) before it looked again.
        var holder = new SnapshotHolder(StatusSnapshot.Empty);
        var time = new InterveningTime(_clock);
        using var watcher = new StoreWatcher(StorePath, holder, TimeSpan.FromHours(1), time, _log.Enqueue);
        time.BeforeFirstTimer = () => watcher.Interval = Interval;
        var first = watcher.Start();
        AddCertificate("polled.client.example", _clock.GetUtcNow().AddDays(30));

        await PollUntil(() => holder.Current.Count == 1, "the interval changed as the timer was created was not taken");

        Assert.NotEqual(first.Serial, holder.Current.Serial);
    }

    /// <summary>The A record's address in the responder's answer to <paramref name="name"/>.</summary>
    private static byte[] AnswerA(DnsResponder responder, string name)
    {
        var query = new List<byte> { 0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0 };
        foreach (var label in name.Split('.'))
        {
            query.Add((byte)label.Length);
            query.AddRange(System.Text.Encoding.ASCII.GetBytes(label));
        }
        query.AddRange([0, 0, 1, 0, 1]);
        var response = new byte[512];
        int length = responder.Respond(query.ToArray(), response, response.Length, tcp: false);
        Assert.Equal(1, (response[6] << 8) | response[7]);
        // The answer's RDATA is the response's last four octets (no OPT was asked for).
        return response[(length - 4)..length];
    }
}
