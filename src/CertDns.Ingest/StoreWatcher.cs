using CertDns.Core;
using CertDns.Store;

namespace CertDns.Ingest;

/// <summary>
/// Keeps a running server's snapshot in step with the store: polls the zone serial, which every write
/// advances, and when it moved builds a new snapshot off to the side and publishes it with one swap.
/// Ingests in other processes (cron) so reach the zone within one poll interval, without a restart.
/// With <paramref name="timeChanges"/> it also advances the serial when time alone changed answers (a certificate
/// expired or became valid, a CRL passed nextUpdate), at most that often, so secondaries transfer again.
/// </summary>
/// <param name="storePath">The store file.</param>
/// <param name="holder">Where the served snapshot is published.</param>
/// <param name="interval">How often the store's serial is checked.</param>
/// <param name="log">One line per reload or failure.</param>
/// <param name="published">Called with each snapshot published after the first (NOTIFY goes from here).</param>
/// <param name="timeChanges">The least time between serial advances for time-driven changes; null never advances.</param>
public sealed class StoreWatcher(string storePath, SnapshotHolder holder, TimeSpan interval, Action<string>? log = null,
    Action<StatusSnapshot>? published = null, TimeSpan? timeChanges = null) : IDisposable
{
    private readonly CancellationTokenSource _stop = new();
    // The served snapshots' SHA-1, MD5 and key lookups: the store's indexes, on connections that outlive each poll's.
    private readonly StoreCertificateDirectory _directory = new(storePath);
    private Task? _loop;
    private DateTimeOffset? _nextChange;
    private DateTimeOffset _lastAdvance = DateTimeOffset.MinValue;

    /// <summary>Loads the first snapshot and starts polling.</summary>
    public StatusSnapshot Start()
    {
        StatusSnapshot first;
        using (var store = CertStore.Open(storePath)) first = store.LoadSnapshot(_directory);
        holder.Publish(first);
        if (timeChanges is not null) _nextChange = first.NextChange(DateTimeOffset.UtcNow);
        _loop = Task.Run(() => RunAsync(_stop.Token));
        return first;
    }

    private async Task RunAsync(CancellationToken token)
    {
        // The loader's scratch goes back to the OS from here, so the caller can open its sockets first.
        ReleasePrevious();
        using var timer = new PeriodicTimer(interval);
        while (await timer.WaitForNextTickAsync(token).ConfigureAwait(false))
        {
            try
            {
                using var store = CertStore.Open(storePath);
                var now = DateTimeOffset.UtcNow;
                if (store.Serial == holder.Current.Serial)
                {
                    if (TimeChanged(store, now) is { } moved) published?.Invoke(moved);
                    continue;
                }
                long started = System.Diagnostics.Stopwatch.GetTimestamp();
                // The file may be another one now (restored from a backup): the lookups must read what the snapshot read.
                _directory.Reopen();
                var next = store.LoadSnapshot(_directory);
                holder.Publish(next);
                ReleasePrevious();
                log?.Invoke($"reloaded: serial {next.Serial}, {next.Count} certificates in {System.Diagnostics.Stopwatch.GetElapsedTime(started).TotalSeconds:F2} s");
                if (timeChanges is not null) _nextChange = next.NextChange(now);
                published?.Invoke(next);
            }
            catch (Exception e) when (e is Microsoft.Data.Sqlite.SqliteException or IOException or BadInputException)
            {
                // Keep serving the last good snapshot; a locked or briefly missing file is retried next tick.
                log?.Invoke($"reload failed, still serving serial {holder.Current.Serial}: {e.Message}");
            }
        }
    }

    /// <summary>
    /// When time alone has changed answers since the serial last moved (and the least interval has passed), advances
    /// the serial in the store and publishes the same data under it: nothing to reload, and the store's next write
    /// still gets a higher serial. Null when nothing is due or another write got in first (the next tick reloads it).
    /// </summary>
    private StatusSnapshot? TimeChanged(CertStore store, DateTimeOffset now)
    {
        if (timeChanges is not { } least || _nextChange is not { } due || now < due || now - _lastAdvance < least) return null;
        var current = holder.Current;
        if (store.AdvanceSerial(current.Serial) is not { } serial) return null;
        var moved = current.WithSerial(serial);
        holder.Publish(moved);
        _lastAdvance = now;
        _nextChange = moved.NextChange(now);
        log?.Invoke($"serial {serial}: answers changed with time (a certificate's validity or a CRL's nextUpdate passed)");
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
