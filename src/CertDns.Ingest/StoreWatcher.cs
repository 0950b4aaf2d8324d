using CertDns.Core;
using CertDns.Store;

namespace CertDns.Ingest;

/// <summary>
/// Keeps a running server's snapshot in step with the store: polls the zone serial, which every write
/// advances, and when it moved builds a new snapshot off to the side and publishes it with one swap.
/// Ingests in other processes (cron) so reach the zone within one poll interval, without a restart.
/// </summary>
public sealed class StoreWatcher(string storePath, SnapshotHolder holder, TimeSpan interval, Action<string>? log = null, Action<StatusSnapshot>? published = null) : IDisposable
{
    private readonly CancellationTokenSource _stop = new();
    // The served snapshots' SHA-1, MD5 and key lookups: the store's indexes, on connections that outlive each poll's.
    private readonly StoreCertificateDirectory _directory = new(storePath);
    private Task? _loop;

    /// <summary>Loads the first snapshot and starts polling.</summary>
    public StatusSnapshot Start()
    {
        StatusSnapshot first;
        using (var store = CertStore.Open(storePath)) first = store.LoadSnapshot(_directory);
        holder.Publish(first);
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
                if (store.Serial == holder.Current.Serial) continue;
                long started = System.Diagnostics.Stopwatch.GetTimestamp();
                var next = store.LoadSnapshot(_directory);
                holder.Publish(next);
                ReleasePrevious();
                log?.Invoke($"reloaded: serial {next.Serial}, {next.Count} certificates in {System.Diagnostics.Stopwatch.GetElapsedTime(started).TotalSeconds:F2} s");
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
