using System.Security.Cryptography;
using CertDns.Core;
using CertDns.Dns;
using CertDns.Ingest;
using CertDns.Pki;
using CertDns.Store;

namespace CertDns.Server.Tests;

/// <summary>
/// Publication from the store's change log against the whole comparison, on a real store file over random writes
/// (blocks, unblocks, certificates added, some already revoked by the CRL, some sharing a key, some expiring between
/// publications): the snapshot built from the change log answers every certificate and key as a whole load does, and
/// the journal step computed from the changed certificates alone holds exactly the records of the whole comparison.
/// </summary>
public sealed class ChangeLogPublicationTests : IDisposable
{
    private static readonly ZoneOptions Zone = new() { Forms = NameForms.All };
    private static readonly TimeSpan MaxTtl = TimeSpan.FromSeconds(Zone.MaxTtl);

    private readonly TempDir _dir = new();
    private readonly TestAuthority _ca = new("Change Log CA");
    private readonly DateTimeOffset _start = DateTimeOffset.FromUnixTimeSeconds(DateTimeOffset.UtcNow.ToUnixTimeSeconds());
    private readonly List<byte[]> _revokedSerials = [];

    private string StorePath => _dir.File("certdns.db");

    public ChangeLogPublicationTests()
    {
        using var store = CertStore.Open(StorePath);
        new CaRegistry(store).Add("ca.pem", _ca.CertificateDer, [], null);
        for (int i = 0; i < 6; i++) _revokedSerials.Add([0x40, (byte)i, 0x11]);
        new CrlIngestor(store).Ingest("crl.der", _ca.CreateCrl(1, _start.AddMinutes(-5), _start.AddDays(7),
            _revokedSerials.Select((s, i) => (s, _start.AddDays(-1), i % 2 == 0 ? RevocationReason.KeyCompromise : RevocationReason.CertificateHold))));
    }

    public void Dispose()
    {
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        _dir.Dispose();
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public void LoadChanged_RandomWrites_SameAnswersAndSameJournalStepAsTheWholeComparison(int seed)
    {
        var random = new Random(seed);
        var keys = Enumerable.Range(0, 3).Select(_ => TestKeyPair.Create()).ToArray();
        var registered = new List<byte[]>();
        var revokedLeft = new Queue<byte[]>(_revokedSerials);
        int issued = 0;
        void Add(CertStore store)
        {
            int n = issued++;
            // Some expire or become valid between two publications (time-driven differences), some are revoked already.
            var notBefore = random.Next(4) == 0 ? _start.AddMinutes(random.Next(1, 60)) : _start.AddDays(-1);
            var notAfter = random.Next(4) == 0 ? _start.AddMinutes(random.Next(1, 90)) : _start.AddDays(30);
            // One serial per certificate: a revoked serial is taken once.
            byte[]? serial = random.Next(4) == 0 && revokedLeft.Count > 0 ? revokedLeft.Dequeue() : null;
            var der = _ca.Issue($"c{seed}-{n}.example", notBefore, notAfter, serial, random.Next(3) == 0 ? keys[random.Next(keys.Length)] : null);
            Assert.Equal(1, new CertificateRegistry(store).Add([($"c{n}", der)]).Added);
            registered.Add(CertificateFile.Read(der, "c")[0].Sha256);
        }

        int compared = Publications(random, 8, Add, 14, (store, step, _) =>
        {
            // The first write of each publication adds a certificate, so the serial always moves (as the watcher needs).
            for (int w = random.Next(1, 4); w > 0; w--)
            {
                var pick = registered[random.Next(registered.Count)];
                switch (w == 1 ? 0 : random.Next(3))
                {
                    case 0: Add(store); break;
                    case 1: store.Listings.Block(pick, $"abuse {step}", "operator", "test"); break;
                    default: store.Listings.Unblock(pick, "test", "test"); break;
                }
            }
        });
        Assert.True(compared > 14 * 8);
    }

    [Theory]
    [InlineData(4)]
    [InlineData(5)]
    [InlineData(6)]
    public void LoadChanged_CrlsReplacedAmongRandomWrites_SameAnswersAndSameJournalStepAsTheWholeComparison(int seed)
    {
        var random = new Random(seed);
        var serials = new List<byte[]>();
        var registered = new List<byte[]>();
        // The CRL as last ingested: serial (hex) to reason, all revoked a day before the start.
        var listed = _revokedSerials.Select((s, i) => (Serial: s, Reason: i % 2 == 0 ? RevocationReason.KeyCompromise : RevocationReason.CertificateHold))
            .ToDictionary(e => Convert.ToHexString(e.Serial), e => (e.Serial, e.Reason));
        int issued = 0, number = 1;
        void Add(CertStore store)
        {
            int n = issued++;
            var notAfter = random.Next(5) == 0 ? _start.AddMinutes(random.Next(1, 90)) : _start.AddDays(30);
            var serial = random.Next(4) == 0 ? _revokedSerials[random.Next(_revokedSerials.Count)] : new byte[] { 0x50, (byte)(n >> 8), (byte)n, (byte)seed };
            if (serials.Exists(s => s.AsSpan().SequenceEqual(serial))) serial = [0x60, (byte)(n >> 8), (byte)n, (byte)seed];
            var der = _ca.Issue($"r{seed}-{n}.example", _start.AddDays(-1), notAfter, serial);
            Assert.Equal(1, new CertificateRegistry(store).Add([($"c{n}", der)]).Added);
            serials.Add(serial);
            registered.Add(CertificateFile.Read(der, "c")[0].Sha256);
        }
        // A newer CRL of the series: entries added (registered serials and unknown ones), lifted, changed in reason; its
        // nextUpdate sometimes falls between two publications (the covered certificates go stale then).
        void Renew(CertStore store, DateTimeOffset at)
        {
            for (int k = random.Next(1, 4); k > 0; k--)
            {
                byte[] serial = random.Next(3) == 0 ? [0x70, (byte)random.Next(256)] : serials[random.Next(serials.Count)];
                var hex = Convert.ToHexString(serial);
                switch (random.Next(3))
                {
                    case 0: listed.Remove(hex); break;
                    case 1: listed[hex] = (serial, RevocationReason.CertificateHold); break;
                    default: listed[hex] = (serial, RevocationReason.KeyCompromise); break;
                }
            }
            var next = random.Next(3) == 0 ? at.AddMinutes(random.Next(1, 30)) : at.AddDays(7);
            new CrlIngestor(store).Ingest($"crl{++number}.der", _ca.CreateCrl(number, _start.AddMinutes(-4).AddSeconds(number), next,
                listed.Values.Select(e => (e.Serial, _start.AddDays(-1), e.Reason))));
        }

        int compared = Publications(random, 10, Add, 12, (store, step, nowAt) =>
        {
            // Each publication renews the CRL once, among other writes.
            bool renewed = false;
            for (int w = random.Next(1, 4); w > 0; w--)
            {
                switch (w == 1 && !renewed ? 0 : random.Next(3))
                {
                    case 0:
                        Renew(store, nowAt.AddMinutes(-1));
                        renewed = true;
                        break;
                    case 1: store.Listings.Block(registered[random.Next(registered.Count)], $"abuse {step}", "operator", "test"); break;
                    default: Add(store); break;
                }
            }
        });
        Assert.True(compared > 12 * 10);
    }

    [Fact]
    public void LoadChanged_FirstCrlOfAnotherCa_NullSoTheWholeStoreIsLoaded()
    {
        using var store = CertStore.Open(StorePath);
        var other = new TestAuthority("Other CA");
        new CaRegistry(store).Add("other.pem", other.CertificateDer, [], null);
        var before = store.Snapshots.Load();
        var commit = store.Changes.CommitOf(before.Serial);
        new CrlIngestor(store).Ingest("other.der", other.CreateCrl(1, _start.AddMinutes(-1), _start.AddDays(7), []));

        Assert.True(store.Changes.Since(before.Serial, commit)!.Whole);
        Assert.Null(store.Snapshots.LoadChanged(before, before.Serial, commit));
    }

    /// <summary>
    /// A newer CRL of the series is patched in from the log ("alone"), except where a patch of the CRL facts cannot tell
    /// it apart from others: with an indirect CRL stored, with an intermediate below the CA (its own certificate's status
    /// folds into everything it issued), with a delta CRL in the series. The log names the series either way; the
    /// snapshot is then loaded whole.
    /// </summary>
    [Theory]
    [InlineData("alone")]
    [InlineData("indirect")]
    [InlineData("intermediate")]
    [InlineData("delta")]
    public void LoadChanged_CrlRenewed_PatchedUnlessItReachesBeyondTheCrlFacts(string kind)
    {
        using var store = CertStore.Open(StorePath);
        var caId = store.Cas.List().Single().Id;
        switch (kind)
        {
            case "indirect":
                var other = new TestAuthority("Indirect CA");
                new CaRegistry(store).Add("other.pem", other.CertificateDer, [], null);
                new CrlIngestor(store).Ingest("indirect.der", other.CreateScopedCrl(1, _start.AddMinutes(-1), _start.AddDays(7), [], indirect: true));
                break;
            case "intermediate":
                new CaRegistry(store).Add("sub.pem", _ca.IssueCa("Sub CA").CertificateDer, [], null);
                break;
            case "delta":
                store.Crls.Apply(new CrlRecord(caId, "5", _start.AddMinutes(-2), _start.AddDays(1), new byte[32], "delta.crl", "1"),
                    [new RevocationRecord(_revokedSerials[0], _start.AddDays(-1), RevocationReason.RemoveFromCrl)]);
                break;
        }
        var before = store.Snapshots.Load();
        var commit = store.Changes.CommitOf(before.Serial);
        new CrlIngestor(store).Ingest("crl2.der", _ca.CreateCrl(2, _start.AddMinutes(-1), _start.AddDays(7), []));

        var changes = store.Changes.Since(before.Serial, commit)!;
        Assert.False(changes.Whole);
        Assert.Single(changes.Crls);
        var changed = store.Snapshots.LoadChanged(before, before.Serial, commit);
        if (kind == "alone") Assert.NotNull(changed);
        else Assert.Null(changed);
    }

    /// <summary>
    /// The watcher's publications over a real store: <paramref name="initial"/> certificates added and loaded, then
    /// <paramref name="steps"/> times the writes of <paramref name="write"/> (given the step and the moment of the
    /// publication), each time a whole load and a load from the change log, which must exist and answer alike at the
    /// moments around the publication, with the same journal step whichever snapshot and names it is computed from.
    /// Returns how many certificates were compared.
    /// </summary>
    private int Publications(Random random, int initial, Action<CertStore> add, int steps, Action<CertStore, int, DateTimeOffset> write)
    {
        // As the watcher does: one directory for the served snapshots, outliving each store connection.
        using var directory = new StoreCertificateDirectory(StorePath);
        StatusSnapshot previous;
        uint loadedFrom;
        ulong? commit;
        using (var store = CertStore.Open(StorePath))
        {
            for (int i = 0; i < initial; i++) add(store);
            previous = store.Snapshots.Load(directory);
            loadedFrom = previous.Serial;
            commit = store.Changes.CommitOf(loadedFrom);
        }
        var previousAt = _start;
        int compared = 0;
        for (int step = 0; step < steps; step++)
        {
            using var store = CertStore.Open(StorePath);
            var nowAt = previousAt.AddMinutes(random.Next(1, 25));
            write(store, step, nowAt);
            directory.Reopen();
            var whole = store.Snapshots.Load(directory);
            var changed = store.Snapshots.LoadChanged(previous, loadedFrom, commit, directory);
            Assert.NotNull(changed);
            var patched = changed!.Snapshot;

            compared += SameAnswers(whole, patched, previousAt, nowAt, nowAt.AddMinutes(40), nowAt.AddHours(2), nowAt.AddDays(8));
            Assert.Equal(whole.NextChange(nowAt), patched.NextChange(nowAt));
            var expected = Step(previous, previousAt, whole, nowAt, changed: null);
            Assert.Equal(expected, Step(previous, previousAt, patched, nowAt, changed.Changed));
            Assert.Equal(expected, Step(previous, previousAt, whole, nowAt, changed.Changed));
            Assert.Equal(expected, Step(previous, previousAt, patched, nowAt, changed: null));

            (previous, previousAt, loadedFrom, commit) = (patched, nowAt, patched.Serial, store.Changes.CommitOf(patched.Serial));
        }
        return compared;
    }

    /// <summary>
    /// Asserts that <paramref name="patched"/> answers every certificate of <paramref name="whole"/> as it does, by every
    /// form (SHA-256, SHA-1, MD5, key) at each of <paramref name="moments"/>; returns how many certificates it compared.
    /// </summary>
    private static int SameAnswers(StatusSnapshot whole, StatusSnapshot patched, params DateTimeOffset[] moments)
    {
        Assert.Equal(whole.Serial, patched.Serial);
        Assert.Equal(whole.Count, patched.Count);
        int compared = 0;
        foreach (var cert in whole.Certificates)
        {
            foreach (var at in moments)
            {
                foreach (var (kind, digest, key) in new[] { (DigestKind.Sha256, cert.Sha256, false), (DigestKind.Sha1, cert.Sha1, false), (DigestKind.Md5, cert.Md5, false), (DigestKind.Sha256, cert.SpkiSha256, true) })
                    Assert.Equal(whole.Evaluate(kind, digest, key, at, MaxTtl), patched.Evaluate(kind, digest, key, at, MaxTtl));
            }
            compared++;
        }
        return compared;
    }

    /// <summary>The condensed IXFR records from <paramref name="before"/> to <paramref name="now"/>, as text in a fixed order.</summary>
    private static string[] Step(StatusSnapshot before, DateTimeOffset beforeAt, StatusSnapshot now, DateTimeOffset nowAt, IReadOnlyCollection<byte[]>? changed)
    {
        var journal = new ZoneJournal(Zone, new JournalOptions(1L << 30, TimeSpan.FromDays(7)));
        journal.Reset(before.Serial, beforeAt);
        Assert.True(journal.Record(before, beforeAt, now, nowAt, changed) >= 0);
        var records = journal.Differences(before.Serial, now.Serial, new Zone(Zone))!;
        // Deleted records come between the first SOA pair and the third SOA, added ones after it.
        int middle = records.FindIndex(2, r => r.Type == RecordType.Soa);
        string Text(ZoneRecord r) => $"{r.Owner} {r.Type} {r.Ttl} {Convert.ToHexString(r.Rdata.Span)}";
        return [.. records.Take(middle).Skip(2).Select(r => "- " + Text(r)).Order(StringComparer.Ordinal),
            .. records.Skip(middle + 1).SkipLast(1).Select(r => "+ " + Text(r)).Order(StringComparer.Ordinal)];
    }
}
