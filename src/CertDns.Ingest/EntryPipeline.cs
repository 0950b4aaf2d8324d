using System.Collections.Concurrent;
using System.Runtime.ExceptionServices;

namespace CertDns.Ingest;

/// <summary>
/// Runs an enumeration on another core, ahead of its consumer: a million-entry CRL is walked and checked there while
/// this thread inserts into SQLite. A few fixed buffers go back and forth, so memory does not grow with the CRL.
/// </summary>
internal static class EntryPipeline
{
    private const int BufferLength = 2048;
    private const int Buffers = 4;

    /// <summary>
    /// The items of <paramref name="source"/> in order, produced on a pool thread. An exception the source throws is
    /// rethrown here, after the items before it; a consumer that stops early stops the producer too.
    /// </summary>
    public static IEnumerable<T> Ahead<T>(IEnumerable<T> source)
    {
        using var full = new BlockingCollection<(T[] Items, int Count)>(Buffers);
        using var empty = new BlockingCollection<T[]>(Buffers);
        for (int i = 0; i < Buffers; i++) empty.Add(new T[BufferLength]);
        using var stop = new CancellationTokenSource();
        Exception? failure = null;
        var producer = Task.Run(() =>
        {
            try
            {
                var buffer = empty.Take(stop.Token);
                int count = 0;
                foreach (var item in source)
                {
                    buffer[count++] = item;
                    if (count < BufferLength) continue;
                    full.Add((buffer, count), stop.Token);
                    buffer = empty.Take(stop.Token);
                    count = 0;
                }
                if (count > 0) full.Add((buffer, count), stop.Token);
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested)
            {
            }
            catch (Exception e)
            {
                failure = e;
            }
            finally
            {
                full.CompleteAdding();
            }
        });
        try
        {
            foreach (var (items, count) in full.GetConsumingEnumerable())
            {
                for (int i = 0; i < count; i++) yield return items[i];
                Array.Clear(items, 0, count);
                empty.Add(items);
            }
            producer.Wait();
            if (failure is not null) ExceptionDispatchInfo.Throw(failure);
        }
        finally
        {
            stop.Cancel();
            producer.Wait();
        }
    }
}
