using System.Security.Cryptography;
using CertDns.Core;
using CertDns.Store;

namespace CertDns.Store.Tests;

/// <summary>
/// CI flake (SameTxt answered with no record): TXT answers read details from the store at query time while other
/// processes write and the server publishes. Several threads ask TXT for every certificate of the served snapshot,
/// the newest first, while a writer (a fresh connection each time, as the CLI) adds certificates and the watcher's
/// steps (Load, publish, ReleaseReads; every other time Reopen first, as a poll does) follow each write. With
/// ReleaseReads made a no-op it fails within a second: a held read transaction misses the certificate just published.
/// </summary>
[Collection(nameof(StoreDirectoryTests))]
public sealed class StoreDirectoryRaceTests : IDisposable
{
    private static readonly DateTimeOffset Now = DateTimeOffset.UtcNow;
    private readonly StoreFile _file = new();

    public void Dispose() => _file.Dispose();

    private static CertRecord Cert(long ca, int n)
    {
        var der = BitConverter.GetBytes(n);
        return new CertRecord(SHA256.HashData(der), SHA1.HashData(der), MD5.HashData(der), SHA256.HashData([.. der, 9]), ca, [0x10, (byte)n], null,
            Now.AddDays(-10), Now.AddDays(100), null);
    }

    [Fact]
    public async Task Evaluate_WritesAndPublicationsMeanwhile_EveryServedCertificateDescribed()
    {
        long ca;
        using (var store = _file.Open())
        {
            var der = SHA256.HashData("Race CA"u8);
            (ca, _) = store.Cas.Add(new CaRecord(SHA256.HashData(der), "CN=Race CA", der, null, SHA256.HashData([.. der, 1]),
                Now.AddDays(-1), Now.AddYears(1), true, der, null), []);
            store.Certificates.Add([Cert(ca, 0)]);
            store.Crls.Apply(new CrlRecord(ca, "1", Now.AddMinutes(-1), Now.AddDays(1), new byte[32], "test.crl", null), []);
        }
        using var directory = new StoreCertificateDirectory(_file.Path);
        StatusSnapshot current;
        using (var store = CertStore.Open(_file.Path, readOnly: true)) current = store.Snapshots.Load(directory);
        directory.ReleaseReads();
        int newest = 0, writes = 0;
        long asked = 0;
        var failures = new System.Collections.Concurrent.ConcurrentQueue<string>();
        using var stop = new CancellationTokenSource();
        var askers = Enumerable.Range(0, 4).Select(t => Task.Run(() =>
        {
            while (!stop.IsCancellationRequested)
            {
                var snapshot = Volatile.Read(ref current);
                int top = Volatile.Read(ref newest);
                for (int n = top; n >= Math.Max(0, top - 3); n--)
                {
                    var cert = Cert(ca, n);
                    Interlocked.Increment(ref asked);
                    try
                    {
                        var kind = (n + t) % 2 == 0 ? DigestKind.Sha256 : DigestKind.Sha1;
                        var verdict = snapshot.Evaluate(kind, kind == DigestKind.Sha256 ? cert.Sha256 : cert.Sha1, false, DateTimeOffset.UtcNow);
                        if (verdict is null && snapshot.Count > n) failures.Enqueue($"cert {n} ({kind}) not found in a snapshot of {snapshot.Count}");
                    }
                    catch (DirectoryUnavailableException e)
                    {
                        failures.Enqueue($"cert {n}: {e.Message}");
                    }
                }
            }
        })).ToArray();

        var until = DateTime.UtcNow.AddSeconds(3);
        for (int n = 1; DateTime.UtcNow < until && failures.IsEmpty; n++)
        {
            using (var writer = _file.Open()) writer.Certificates.Add([Cert(ca, n)]);
            using (var store = CertStore.Open(_file.Path, readOnly: true))
            {
                // A poll reopens the connections before it loads; the first load (and a load by itself) relies on ReleaseReads alone.
                if (n % 2 == 0) directory.Reopen();
                var next = store.Snapshots.Load(directory);
                Volatile.Write(ref current, next);
                directory.ReleaseReads();
            }
            Volatile.Write(ref newest, n);
            writes = n;
        }
        stop.Cancel();
        await Task.WhenAll(askers);
        Assert.True(failures.IsEmpty, $"{failures.Count} failed lookups of {asked} over {writes} publications:\n" + string.Join('\n', failures.Take(10)));
        // The window was exercised: publications happened while lookups ran.
        Assert.True(writes >= 5 && asked > writes, $"only {writes} publications, {asked} lookups");
    }
}
