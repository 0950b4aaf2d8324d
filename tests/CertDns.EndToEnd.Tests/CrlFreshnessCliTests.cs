using CertDns.Core;
using CertDns.Ingest;
using CertDns.Pki;
using CertDns.Store;

namespace CertDns.EndToEnd.Tests;

/// <summary>`status` and `ca list` judge a CA's CRL freshness as the snapshot does: per series, the first to go stale.</summary>
public sealed class CrlFreshnessCliTests : IDisposable
{
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void StatusAndCaList_StalePartitionWrittenBeforeACurrentOne_SayStale()
    {
        var db = _dir.File("certdns.db");
        var now = DateTimeOffset.UtcNow;
        var staleSince = now.AddDays(-1);
        using (var store = CertStore.Open(db))
        {
            var caId = new CaRegistry(store).Add("ca", new TestAuthority("Partitioned CA").CertificateDer, [], null)[0].Ca.Id;
            // Two partitions (distribution points p and q): p's CRL is past nextUpdate, q's, ingested later, is current.
            // Certificates naming p answer stale, so the CA is not "current".
            store.Crls.Apply(new CrlRecord(caId, "1", now.AddDays(-8), staleSince, [1], "p.crl", null,
                new CrlScope([0x30, 1, 1], [[0x86, 1, (byte)'p']], false, false, false, null, false)), []);
            store.Crls.Apply(new CrlRecord(caId, "2", now.AddMinutes(-5), now.AddDays(7), [2], "q.crl", null,
                new CrlScope([0x30, 1, 2], [[0x86, 1, (byte)'q']], false, false, false, null, false)), []);
        }

        var status = CertDnsProcess.Run(_dir.Path, "--db", db, "status");
        var list = CertDnsProcess.Run(_dir.Path, "--db", db, "ca", "list");

        // A trusted CA's CRL is stale: status says so in its exit code too (issue #13, for monitoring).
        Assert.Equal(2, status.ExitCode);
        Assert.Contains($"stale since {TimeText.Utc(DateTimeOffset.FromUnixTimeSeconds(staleSince.ToUnixTimeSeconds()))}", status.Stdout);
        Assert.DoesNotContain("current", status.Stdout);
        Assert.Equal(0, list.ExitCode);
        Assert.Contains("(stale)", list.Stdout);
    }
}
