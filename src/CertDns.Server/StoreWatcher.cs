using CertDns.Core;
using CertDns.Store;

namespace CertDns.Server;

/// <summary>
/// Keeps a running server's snapshot in step with the store: polls the zone serial, which every write
/// advances, and when it moved builds a new snapshot off to the side and publishes it with one swap.
/// Ingests in other processes (cron) so reach the zone within one poll interval, without a restart.
/// With a least interval for time changes it also advances the serial when time alone changed answers (a
/// certificate expired or became valid, a CRL passed nextUpdate), at most that often, so secondaries transfer again.
/// Polls read the store read-only; only that serial advance writes. A failed poll of any kind is logged and the
/// last good snapshot stays served: the next tick tries again.
/// </summary>
public sealed class StoreWatcher : IReloadable, IDisposable
{
    private readonly string _storePath;
    private readonly SnapshotHolder _holder;
    private readonly TimeSpan _interval;
    private readonly TimeProvider _time;
    private readonly Action<string>? _log;
    private readonly Action<StatusSnapshot>? _published;
    private readonly TimeSpan? _timeChanges;
    private readonly CancellationTokenSource _stop = new();
    // A poll and a SIGHUP reload may meet: one at a time, so one snapshot is published per load.
    private readonly object _gate = new();
    // The served snapshots' SHA-1, MD5 and key lookups: the store's indexes, on connections that outlive each poll's.
    private readonly StoreCertificateDirectory _directory;
    private Task? _loop;
    private DateTimeOffset? _nextChange;
    private DateTimeOffset _lastAdvance = DateTimeOffset.MinValue;

    /// <summary>Prepares the watcher; <see cref="Start"/> loads the first snapshot.</summary>
    /// <param name="storePath">The store file.</param>
    /// <param name="holder">Where the served snapshot is published.</param>
    /// <param name="interval">How often the store's serial is checked.</param>
    /// <param name="time">The clock for polls and time-driven changes: the one the responder answers with.</param>
    /// <param name="log">One line per reload or failure.</param>
    /// <param name="published">Called with each snapshot published after the first (NOTIFY goes from here).</param>
    /// <param name="timeChanges">The least time between serial advances for time-driven changes; null never advances.</param>
    public StoreWatcher(string storePath, SnapshotHolder holder, TimeSpan interval, TimeProvider time, Action<string>? log = null,
        Action<StatusSnapshot>? published = null, TimeSpan? timeChanges = null)
    {
        ArgumentNullException.ThrowIfNull(storePath);
        ArgumentNullException.ThrowIfNull(holder);
        ArgumentNullException.ThrowIfNull(time);
        (_storePath, _holder, _interval, _time, _log, _published, _timeChanges) = (storePath, holder, interval, time, log, published, timeChanges);
        _directory = new StoreCertificateDirectory(storePath);
    }

    /// <summary>How a snapshot is read from an open store; a test can make it fail.</summary>
    internal Func<CertStore, ICertificateDirectory, StatusSnapshot> Load { get; init; } = (store, directory) => store.Snapshots.Load(directory);

    /// <summary>Loads the first snapshot and starts polling.</summary>
    public StatusSnapshot Start()
    {
        StatusSnapshot first;
        long started = System.Diagnostics.Stopwatch.GetTimestamp();
        using (var store = CertStore.Open(_storePath, readOnly: true)) first = Load(store, _directory);
        LastLoad = System.Diagnostics.Stopwatch.GetElapsedTime(started);
        LastLoadAt = _time.GetUtcNow();
        _holder.Publish(first);
        if (_timeChanges is not null) _nextChange = first.NextChange(_time.GetUtcNow());
        _loop = Task.Run(() => RunAsync(_stop.Token));
        return first;
    }

    private async Task RunAsync(CancellationToken token)
    {
        // The loader's scratch goes back to the OS from here, so the caller can open its sockets first.
        ReleasePrevious();
        using var timer = new PeriodicTimer(_interval, _time);
        while (await WaitAsync(timer, token).ConfigureAwait(false))
        {
            try
            {
                Poll();
            }
            catch (Exception e)
            {
                // Any fault (a locked or replaced file, a damaged row, a bug): keep serving the last good snapshot and
                // try again next tick. Ending the loop instead would freeze the zone with no sign of it.
                _log?.Invoke($"reload failed, still serving serial {_holder.Current.Serial}: {(e is Microsoft.Data.Sqlite.SqliteException or IOException or BadInputException ? "" : e.GetType().Name + ": ")}{e.Message}");
            }
        }
    }

    private static async Task<bool> WaitAsync(PeriodicTimer timer, CancellationToken token)
    {
        try
        {
            return await timer.WaitForNextTickAsync(token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (token.IsCancellationRequested)
        {
            return false;
        }
    }

    /// <inheritdoc/>
    public string Name => "store";

    /// <summary>
    /// Reloads the store now, whatever its serial says (SIGHUP: the file may have been restored from a backup under
    /// the same serial). On failure it throws and the last good snapshot stays served.
    /// </summary>
    public string Reload()
    {
        // The caller (the reload hooks) logs the outcome: the line is returned, not logged twice.
        lock (_gate) return Poll(force: true, log: false) ?? "";
    }

    private void Poll()
    {
        lock (_gate) Poll(force: false, log: true);
    }

    private string? Poll(bool force, bool log)
    {
        StatusSnapshot next;
        string line;
        var now = _time.GetUtcNow();
        using (var store = CertStore.Open(_storePath, readOnly: true))
        {
            if (!force && store.Serial == _holder.Current.Serial)
            {
                if (TimeChanged(now) is { } moved) _published?.Invoke(moved);
                return null;
            }
            long started = System.Diagnostics.Stopwatch.GetTimestamp();
            // The file may be another one now (restored from a backup): the lookups must read what the snapshot read.
            _directory.Reopen();
            next = Load(store, _directory);
            _holder.Publish(next);
            LastLoad = System.Diagnostics.Stopwatch.GetElapsedTime(started);
            LastLoadAt = now;
            line = $"reloaded: serial {next.Serial}, {next.Count} certificates in {LastLoad.TotalSeconds:F2} s";
            if (log) _log?.Invoke(line);
        }
        ReleasePrevious();
        if (_timeChanges is not null) _nextChange = next.NextChange(now);
        _published?.Invoke(next);
        return line;
    }

    /// <summary>How long the last snapshot took to load.</summary>
    public TimeSpan LastLoad { get; private set; }

    /// <summary>When the last snapshot was loaded (null before <see cref="Start"/>).</summary>
    public DateTimeOffset? LastLoadAt { get; private set; }

    /// <summary>
    /// When time alone has changed answers since the serial last moved (and the least interval has passed), advances
    /// the serial in the store and publishes the same data under it: nothing to reload, and the store's next write
    /// still gets a higher serial. Null when nothing is due or another write got in first (the next tick reloads it).
    /// </summary>
    private StatusSnapshot? TimeChanged(DateTimeOffset now)
    {
        if (_timeChanges is not { } least || _nextChange is not { } due || now < due || now - _lastAdvance < least) return null;
        var current = _holder.Current;
        uint? serial;
        // The one write the server makes, on its own short-lived connection.
        using (var store = CertStore.Open(_storePath)) serial = store.AdvanceSerial(current.Serial);
        if (serial is null) return null;
        var moved = current.WithSerial(serial.Value);
        _holder.Publish(moved);
        _lastAdvance = now;
        _nextChange = moved.NextChange(now);
        _log?.Invoke($"serial {serial}: answers changed with time (a certificate's validity or a CRL's nextUpdate passed)");
        return moved;
    }

    /// <summary>
    /// The answer path allocates nothing, so no collection would ever come to free the snapshot just replaced (or the
    /// loader's scratch): the process would hold two copies until the next reload. Collect and return the memory now.
    /// </summary>
    private static void ReleasePrevious() => GC.Collect(GC.MaxGeneration, GCCollectionMode.Aggressive, blocking: true, compacting: true);

    /// <summary>Stops polling.</summary>
    public void Dispose()
    {
        _stop.Cancel();
        try { _loop?.Wait(TimeSpan.FromSeconds(5)); } catch (AggregateException) { }
        _stop.Dispose();
        _directory.Dispose();
    }
}
