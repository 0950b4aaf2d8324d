using System.Security.Cryptography;
using CertDns.Core;
using CertDns.Dns;
using CertDns.Store;

namespace CertDns.Store.Tests;

/// <summary>
/// A served snapshot keeps only SHA-256 in memory; SHA-1, MD5, key digests and TXT details come from the store's
/// indexes through <see cref="StoreCertificateDirectory"/>. These tests run that path on a real SQLite file.
/// </summary>
[Collection(nameof(StoreDirectoryTests))]
[CollectionDefinition(nameof(StoreDirectoryTests), DisableParallelization = true)]
public sealed class StoreDirectoryTests : IDisposable
{
    private static readonly DateTimeOffset Now = DateTimeOffset.UtcNow;
    private static readonly byte[] SharedKey = SHA256.HashData("a key two certificates carry"u8);
    private readonly StoreFile _file = new();

    public void Dispose() => _file.Dispose();

    private static CertRecord Cert(long ca, int n, byte[]? spki = null)
    {
        var der = BitConverter.GetBytes(n);
        return new CertRecord(SHA256.HashData(der), SHA1.HashData(der), MD5.HashData(der), spki ?? SHA256.HashData([.. der, 9]), ca, [0x10, (byte)n], null,
            Now.AddDays(-10), Now.AddDays(100), null);
    }

    /// <summary>A CA with a current CRL revoking <c>compromised</c> for keyCompromise; <c>renewed</c> carries the same key.</summary>
    private (CertRecord Valid, CertRecord Compromised, CertRecord Renewed) Seed(CertStore store)
    {
        var der = SHA256.HashData("Directory CA"u8);
        var (ca, _) = store.Cas.Add(new CaRecord(SHA256.HashData(der), "CN=Directory CA", der, null, SHA256.HashData([.. der, 1]),
            Now.AddDays(-1), Now.AddYears(1), true, der, null), []);
        var valid = Cert(ca, 1);
        var compromised = Cert(ca, 2, SharedKey);
        var renewed = Cert(ca, 3, SharedKey);
        store.Certificates.Add([valid, compromised, renewed]);
        store.Crls.Apply(new CrlRecord(ca, "7", Now.AddMinutes(-1), Now.AddDays(1), new byte[32], "test.crl", null),
            [new RevocationRecord(compromised.Serial, Now.AddDays(-2), RevocationReason.KeyCompromise)]);
        return (valid, compromised, renewed);
    }

    private static CertStatus Answer(StatusSnapshot snapshot, DigestKind kind, byte[] digest, bool isKey = false) =>
        snapshot.Answer(kind, digest, isKey, Now, TimeSpan.FromMinutes(5), out _);

    [Fact]
    public void LoadSnapshot_OtherDigestForms_AnsweredThroughTheStoresIndexes()
    {
        using var store = _file.Open();
        var (valid, compromised, renewed) = Seed(store);
        using var directory = new StoreCertificateDirectory(_file.Path);

        var snapshot = store.Snapshots.Load(directory);

        Assert.Equal(CertStatus.Valid, Answer(snapshot, DigestKind.Sha1, valid.Sha1));
        Assert.Equal(CertStatus.Valid, Answer(snapshot, DigestKind.Md5, valid.Md5));
        Assert.Equal(CertStatus.Revoked, Answer(snapshot, DigestKind.Sha1, compromised.Sha1));
        Assert.Equal(CertStatus.Revoked, Answer(snapshot, DigestKind.Md5, compromised.Md5));
        // A key carried by a certificate revoked for keyCompromise is compromised in its renewal too.
        Assert.Equal(CertStatus.Revoked, Answer(snapshot, DigestKind.Sha256, SharedKey, isKey: true));
        Assert.Equal(CertStatus.Revoked, Answer(snapshot, DigestKind.Sha256Prefix, SharedKey[..28], isKey: true));
        Assert.Equal(CertStatus.Valid, Answer(snapshot, DigestKind.Sha256, valid.SpkiSha256, isKey: true));
        Assert.Equal(2, snapshot.Find(DigestKind.Sha256, SharedKey, true).Count);
        Assert.Equal(CertStatus.Unknown, Answer(snapshot, DigestKind.Sha1, SHA1.HashData("unregistered"u8)));
        Assert.Equal(CertStatus.Unknown, Answer(snapshot, DigestKind.Md5, MD5.HashData("unregistered"u8)));
        Assert.Equal(CertStatus.Unknown, Answer(snapshot, DigestKind.Sha256, SHA256.HashData("unregistered"u8), isKey: true));
        // A SHA-1 is not a key digest, and a certificate's SHA-256 is not its key's.
        Assert.Equal(CertStatus.Unknown, Answer(snapshot, DigestKind.Sha256, renewed.Sha256, isKey: true));

        // Details (for TXT and lookups) come from the store too: the serial, and every digest as stored.
        var facts = snapshot.Find(DigestKind.Md5, renewed.Md5, false).Single();
        Assert.Equal([renewed.Sha256, renewed.Sha1, renewed.Md5, renewed.SpkiSha256, renewed.Serial], [facts.Sha256, facts.Sha1, facts.Md5, facts.SpkiSha256, facts.Serial]);
        Assert.Contains("serial 1002", snapshot.Evaluate(DigestKind.Sha1, compromised.Sha1, false, Now)!.Text, StringComparison.Ordinal);
    }

    [Fact]
    public void Answer_CertificateAddedAfterTheSnapshot_UnknownUntilTheNextSnapshot()
    {
        using var store = _file.Open();
        var (valid, _, _) = Seed(store);
        using var directory = new StoreCertificateDirectory(_file.Path);
        var snapshot = store.Snapshots.Load(directory);
        var late = Cert(valid.CaId, 4);
        store.Certificates.Add([late]);

        // The store already names it, but this snapshot's answers are those of its serial.
        Assert.Equal(CertStatus.Unknown, Answer(snapshot, DigestKind.Sha1, late.Sha1));
        Assert.Equal(CertStatus.Valid, Answer(store.Snapshots.Load(directory), DigestKind.Sha1, late.Sha1));
    }

    [Fact]
    public void Certificates_OnePassOverTheStore_EachWithItsOwnDetails()
    {
        using var store = _file.Open();
        var (valid, compromised, renewed) = Seed(store);
        var many = Enumerable.Range(10, 500).Select(n => Cert(valid.CaId, n)).ToList();
        store.Certificates.Add(many);
        using var directory = new StoreCertificateDirectory(_file.Path);
        var snapshot = store.Snapshots.Load(directory);
        // Added after the snapshot: the pass meets it last, and the snapshot must not list it.
        store.Certificates.Add([Cert(valid.CaId, 9_999)]);

        var listed = snapshot.Certificates.ToList();

        var expected = new[] { valid, compromised, renewed }.Concat(many).ToList();
        Assert.Equal(expected.Count, listed.Count);
        for (int i = 0; i < expected.Count; i++)
        {
            Assert.Equal(expected[i].Sha256, listed[i].Sha256);
            Assert.Equal([expected[i].Sha1, expected[i].Md5, expected[i].SpkiSha256, expected[i].Serial], [listed[i].Sha1, listed[i].Md5, listed[i].SpkiSha256, listed[i].Serial]);
            Assert.Equal((expected[i].NotBefore.ToUnixTimeSeconds(), expected[i].NotAfter.ToUnixTimeSeconds()), (listed[i].NotBefore.ToUnixTimeSeconds(), listed[i].NotAfter.ToUnixTimeSeconds()));
        }
        Assert.Equal(RevocationReason.KeyCompromise, listed[1].Revocation?.Reason);
    }

    [Fact]
    public void Reopen_StoreFileReplaced_LookupsReadTheNewFile()
    {
        CertRecord valid;
        using (var store = _file.Open()) (valid, _, _) = Seed(store);
        using var directory = new StoreCertificateDirectory(_file.Path);
        var sha256s = new byte[32 * 4];
        Assert.Equal(1, directory.Find(DigestKind.Sha1, valid.Sha1, false, sha256s));

        // A restore from backup: another file moved over the path; the open connections still read the old one.
        var other = new StoreFile();
        using (var store = other.Open())
        {
            Seed(store);
            store.Certificates.Add([Cert(1, 77)]);
        }
        foreach (var f in new[] { "-wal", "-shm" }) File.Delete(_file.Path + f);
        File.Move(other.Path, _file.Path, overwrite: true);
        var late = Cert(1, 77);
        Assert.Equal(0, directory.Find(DigestKind.Sha1, late.Sha1, false, sha256s));

        directory.Reopen();

        Assert.Equal(1, directory.Find(DigestKind.Sha1, late.Sha1, false, sha256s));
        Assert.Equal(late.Sha256, sha256s[..32]);
        other.Dispose();
    }

    [Fact]
    public void Find_HeldReadTransaction_CertificateAddedSinceFoundOnceReadsAreReleased()
    {
        using var store = _file.Open();
        var (valid, _, _) = Seed(store);
        using var directory = new StoreCertificateDirectory(_file.Path);
        var sha256s = new byte[32 * 4];
        Assert.Equal(1, directory.Find(DigestKind.Sha1, valid.Sha1, false, sha256s));
        var late = Cert(valid.CaId, 5);
        store.Certificates.Add([late]);

        // What the server does after publishing a snapshot that holds it (and a load does before returning).
        directory.ReleaseReads();

        Assert.Equal(1, directory.Find(DigestKind.Sha1, late.Sha1, false, sha256s));
        Assert.Equal(late.Sha256, sha256s[..32]);
    }

    [Fact]
    public void Find_ThenIdle_ReadTransactionEndedSoACheckpointCompletes()
    {
        using var store = _file.Open();
        var (valid, _, _) = Seed(store);
        using var directory = new StoreCertificateDirectory(_file.Path);
        Assert.Equal(1, directory.Find(DigestKind.Sha1, valid.Sha1, false, new byte[32 * 4]));
        store.Certificates.Add([Cert(valid.CaId, 6)]);

        // A TRUNCATE checkpoint reports busy while a reader still reads an older snapshot of the WAL.
        var deadline = DateTime.UtcNow.AddSeconds(10);
        bool truncated;
        while (!(truncated = Checkpoint(_file.Path)) && DateTime.UtcNow < deadline) Thread.Sleep(10);

        Assert.True(truncated, "the directory's idle read transaction held back a TRUNCATE checkpoint for 10 s");
    }

    [Theory]
    [InlineData("sha1 = ?1")]
    [InlineData("md5 = ?1")]
    [InlineData("spki_sha256 = ?1")]
    [InlineData("spki_sha256 BETWEEN ?1 AND ?2")]
    public void DirectoryLookup_OneIndexDescent_TheIndexCoversTheSha256(string where)
    {
        using (var store = _file.Open()) Seed(store);
        using var db = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={_file.Path}");
        db.Open();
        using var command = db.CreateCommand();
        command.CommandText = $"EXPLAIN QUERY PLAN SELECT sha256 FROM certificates WHERE {where};";
        command.Parameters.AddWithValue("?1", new byte[20]);
        command.Parameters.AddWithValue("?2", new byte[20]);
        using var reader = command.ExecuteReader();
        var plan = new List<string>();
        while (reader.Read()) plan.Add(reader.GetString(3));

        Assert.Contains(plan, step => step.Contains("COVERING INDEX", StringComparison.Ordinal));
    }

    /// <summary>PRAGMA wal_checkpoint(TRUNCATE) on a connection of its own: whether it completed (not busy).</summary>
    private static bool Checkpoint(string path)
    {
        using var db = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={path}");
        db.Open();
        using var command = db.CreateCommand();
        command.CommandText = "PRAGMA busy_timeout = 0; PRAGMA wal_checkpoint(TRUNCATE);";
        using var reader = command.ExecuteReader();
        do
        {
            if (reader.FieldCount == 3 && reader.Read()) return reader.GetInt64(0) == 0;
        }
        while (reader.NextResult());
        return false;
    }

    [Fact]
    public void Respond_StoreGoneForADirectoryForm_ServFailWhileSha256StillAnswers()
    {
        StatusSnapshot snapshot;
        CertRecord valid;
        var directory = new StoreCertificateDirectory(_file.Path);
        using (directory)
        {
            using (var store = _file.Open())
            {
                (valid, _, _) = Seed(store);
                snapshot = store.Snapshots.Load(directory);
            }
            foreach (var f in new[] { "", "-wal", "-shm" }) File.Delete(_file.Path + f);
            var responder = new DnsResponder(new ZoneOptions(), new SnapshotHolder(snapshot), TimeProvider.System);
            var response = new byte[DnsResponder.MaxMessageSize];

            int length = responder.Respond(WireQuery.Build($"{Hex.Lower(valid.Sha1)}.status.example", WireQuery.A), response, 512, tcp: false);
            Assert.Equal(2, WireQuery.Rcode(response.AsSpan(0, length)));

            var sha = Hex.Lower(valid.Sha256);
            length = responder.Respond(WireQuery.Build($"{sha[..32]}.{sha[32..]}.status.example", WireQuery.A), response, 512, tcp: false);
            Assert.Equal(0, WireQuery.Rcode(response.AsSpan(0, length)));
            Assert.Equal(1, WireQuery.Count(response.AsSpan(0, length), 1));
        }
    }

    [Fact]
    public void FormIndex_BuiltWhenFirstAsked_AKeyOfSeveralCertificatesStillPickedByTheKeyRule()
    {
        using var store = _file.Open();
        var (valid, compromised, renewed) = Seed(store);
        // A second key whose valid certificate comes first in the store and its keyCompromise one after.
        var otherKey = SHA256.HashData("a key whose first certificate is fine"u8);
        var der = SHA256.HashData("Key rule CA"u8);
        var (ca, _) = store.Cas.Add(new CaRecord(SHA256.HashData(der), "CN=Key rule CA", der, null, SHA256.HashData([.. der, 1]),
            Now.AddDays(-1), Now.AddYears(1), true, der, null), []);
        CertRecord first = Cert(ca, 21, otherKey), second = Cert(ca, 22, otherKey);
        store.Certificates.Add([first, second]);
        store.Crls.Apply(new CrlRecord(ca, "3", Now.AddMinutes(-1), Now.AddDays(1), new byte[32], "key.crl", null),
            [new RevocationRecord(second.Serial, Now.AddDays(-2), RevocationReason.KeyCompromise)]);
        using var directory = new StoreCertificateDirectory(_file.Path);
        var snapshot = store.Snapshots.Load(directory);
        Assert.False(snapshot.HasFormIndex(DigestKind.Sha1, false));

        // The first SHA-1 lookup is the store's and starts the SHA-1 index alone; a form nobody asked costs nothing.
        Assert.Equal(CertStatus.Valid, Answer(snapshot, DigestKind.Sha1, valid.Sha1));
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (!snapshot.HasFormIndex(DigestKind.Sha1, false) && DateTime.UtcNow < deadline) Thread.Yield();
        Assert.True(snapshot.HasFormIndex(DigestKind.Sha1, false));
        Assert.False(snapshot.HasFormIndex(DigestKind.Md5, false));
        Assert.False(snapshot.HasFormIndex(DigestKind.Sha256, true));

        Assert.True(snapshot.IndexForm(DigestKind.Md5, false));
        Assert.True(snapshot.IndexForm(DigestKind.Sha256, true));
        Assert.Equal(CertStatus.Valid, Answer(snapshot, DigestKind.Sha1, renewed.Sha1));
        Assert.Equal(CertStatus.Revoked, Answer(snapshot, DigestKind.Md5, compromised.Md5));
        // Two certificates carry the key: memory does not choose between them, the key rule does (keyCompromise wins).
        for (int i = 0; i < 20; i++)
        {
            Assert.Equal(CertStatus.Revoked, Answer(snapshot, DigestKind.Sha256, SharedKey, isKey: true));
            Assert.Equal(CertStatus.Revoked, Answer(snapshot, DigestKind.Sha256Prefix, SharedKey[..28], isKey: true));
            Assert.Equal(CertStatus.Revoked, Answer(snapshot, DigestKind.Sha256, otherKey, isKey: true));
        }
        Assert.Equal(CertStatus.Valid, Answer(snapshot, DigestKind.Sha1, first.Sha1));
        Assert.Equal(CertStatus.Unknown, Answer(snapshot, DigestKind.Sha1, SHA1.HashData("unregistered"u8)));
        Assert.Equal(CertStatus.Unknown, Answer(snapshot, DigestKind.Sha256, renewed.Sha256, isKey: true));
        // A snapshot under another serial shares the indexes built.
        Assert.True(snapshot.WithSerial(snapshot.Serial + 1).HasFormIndex(DigestKind.Md5, false));
    }

    /// <summary>
    /// Two registered certificates whose SHA-1 (or MD5) is the same, a collision such digests allow, one valid and one
    /// revoked for a reason that is not keyCompromise: the name answers revoked, the worse of the two (spec 2.2), not the
    /// key rule's "a valid renewal wins" (that rule is for keys, which renewals share by design), so a collision cannot
    /// hide a revocation. Through the store and from memory alike.
    /// </summary>
    [Theory]
    [InlineData(false, false)]
    [InlineData(false, true)]
    [InlineData(true, false)]
    [InlineData(true, true)]
    public void Answer_TwoCertificatesOneSha1OrMd5_TheWorseStatus(bool fromMemory, bool revokedFirst)
    {
        using var store = _file.Open();
        var der = SHA256.HashData("Collision CA"u8);
        var (ca, _) = store.Cas.Add(new CaRecord(SHA256.HashData(der), "CN=Collision CA", der, null, SHA256.HashData([.. der, 1]),
            Now.AddDays(-1), Now.AddYears(1), true, der, null), []);
        // The store's index lists equal digests in SHA-256 order: the revoked one first, or the valid one.
        CertRecord one = Cert(ca, 31), two = Cert(ca, 32);
        bool oneFirst = one.Sha256.AsSpan().SequenceCompareTo(two.Sha256) < 0;
        var (bad, good) = oneFirst == revokedFirst ? (one, two) : (two, one);
        bad = bad with { Sha1 = good.Sha1, Md5 = good.Md5 };
        store.Certificates.Add([good, bad]);
        store.Crls.Apply(new CrlRecord(ca, "1", Now.AddMinutes(-1), Now.AddDays(1), new byte[32], "collision.crl", null),
            [new RevocationRecord(bad.Serial, Now.AddDays(-2), RevocationReason.Superseded)]);
        using var directory = new StoreCertificateDirectory(_file.Path);
        var snapshot = store.Snapshots.Load(directory);
        if (fromMemory)
        {
            Assert.True(snapshot.IndexForm(DigestKind.Sha1, false));
            Assert.True(snapshot.IndexForm(DigestKind.Md5, false));
        }

        Assert.Equal(CertStatus.Valid, Answer(snapshot, DigestKind.Sha256, good.Sha256));
        Assert.Equal(CertStatus.Revoked, Answer(snapshot, DigestKind.Sha256, bad.Sha256));
        Assert.Equal(CertStatus.Revoked, Answer(snapshot, DigestKind.Sha1, good.Sha1));
        Assert.Equal(CertStatus.Revoked, Answer(snapshot, DigestKind.Md5, good.Md5));
        // An operator naming one of them by that digest is told to use the SHA-256 (the CLI refuses it).
        Assert.True(store.Certificates.Ambiguous(DigestKind.Sha1, good.Sha1));
        Assert.True(store.Certificates.Ambiguous(DigestKind.Md5, good.Md5));
        Assert.False(store.Certificates.Ambiguous(DigestKind.Sha256, good.Sha256));
    }

    /// <summary>
    /// Every other form of a certificate answers exactly as its split SHA-256 does (rcode, answer RRs, TTL, TXT), for
    /// each status a served certificate can have and for one never registered (issue #17).
    /// </summary>
    [Theory]
    [InlineData("sha1")]
    [InlineData("md5")]
    [InlineData("key")]
    [InlineData("key56")]
    public void Respond_OtherForm_SameAnswerAsTheSplitForm(string form)
    {
        using var store = _file.Open();
        var der = SHA256.HashData("Forms CA"u8);
        var (ca, _) = store.Cas.Add(new CaRecord(SHA256.HashData(der), "CN=Forms CA", der, null, SHA256.HashData([.. der, 1]),
            Now.AddDays(-1), Now.AddYears(1), true, der, null), []);
        CertRecord valid = Cert(ca, 11), revoked = Cert(ca, 12), held = Cert(ca, 13), blocked = Cert(ca, 14);
        var unregistered = Cert(ca, 15);
        store.Certificates.Add([valid, revoked, held, blocked]);
        store.Crls.Apply(new CrlRecord(ca, "9", Now.AddMinutes(-1), Now.AddDays(1), new byte[32], "forms.crl", null),
            [new RevocationRecord(revoked.Serial, Now.AddDays(-2), RevocationReason.KeyCompromise),
             new RevocationRecord(held.Serial, Now.AddDays(-2), RevocationReason.CertificateHold)]);
        store.Listings.Block(blocked.Sha256, "spam run", "operator", "test");
        using var directory = new StoreCertificateDirectory(_file.Path);
        var snapshot = store.Snapshots.Load(directory);
        var responder = new DnsResponder(new ZoneOptions(), new SnapshotHolder(snapshot), TimeProvider.System);

        static string Split(byte[] sha256) => $"{Hex.Lower(sha256)[..32]}.{Hex.Lower(sha256)[32..]}";
        string Other(CertRecord c) => form switch
        {
            "sha1" => Hex.Lower(c.Sha1),
            "md5" => Hex.Lower(c.Md5),
            "key" => $"{Split(c.SpkiSha256)}.key",
            _ => $"{Hex.Lower(c.SpkiSha256)[..56]}.key",
        };
        var seen = new HashSet<int>();
        // First as the store answers (the form's index is only started by these queries), then from memory.
        foreach (var inMemory in new[] { false, true })
        {
            if (inMemory)
            {
                var (kind, isKey) = form switch { "sha1" => (DigestKind.Sha1, false), "md5" => (DigestKind.Md5, false), _ => (DigestKind.Sha256, true) };
                Assert.True(snapshot.IndexForm(kind, isKey));
                Assert.True(snapshot.HasFormIndex(kind, isKey));
            }
            foreach (var (cert, expected) in new[] { (valid, "127.0.1.2"), (revoked, "127.0.0.2"), (held, "127.0.0.4"), (blocked, "127.0.0.3"), (unregistered, null) })
            {
                foreach (var type in new[] { WireQuery.A, (ushort)16 })
                {
                    var split = Ask(responder, Split(cert.Sha256), type);
                    var other = Ask(responder, Other(cert), type);
                    Assert.Equal(Convert.ToHexString(split.Tail), Convert.ToHexString(other.Tail));
                    if (expected is null)
                    {
                        // Not listed in both: a denial with the SOA, NXDOMAIN or NODATA as the form's length allows (section 1.4).
                        Assert.Equal(0, WireQuery.Count(other.Header, 1));
                        Assert.Equal(1, WireQuery.Count(other.Header, 2));
                        Assert.Contains(WireQuery.Rcode(other.Header), new[] { 0, 3 });
                        continue;
                    }
                    Assert.Equal(Convert.ToHexString(split.Header), Convert.ToHexString(other.Header));
                    seen.Add(WireQuery.Count(other.Header, 1));
                    if (type == WireQuery.A && expected is not null)
                        Assert.EndsWith(Convert.ToHexString([.. expected.Split('.').Select(byte.Parse)]), Convert.ToHexString(other.Tail), StringComparison.Ordinal);
                }
            }
        }
        // Every registered one was answered (one A or one TXT each).
        Assert.Equal([1], seen);
    }

    /// <summary>
    /// A response's header and its answer section: answers name the question by a pointer and carry no names in their
    /// data (A, TXT), so they compare octet by octet; the SOA of a denial compresses against the question and does not.
    /// </summary>
    private static (byte[] Header, byte[] Tail) Ask(DnsResponder responder, string name, ushort type)
    {
        var query = WireQuery.Build($"{name}.status.example", type);
        var response = new byte[DnsResponder.MaxMessageSize];
        int length = responder.Respond(query, response, 4096, tcp: false);
        Assert.True(length > 12);
        int end = 12 + WireQuery.EncodeName($"{name}.status.example").Length + 4;
        for (int i = 0; i < WireQuery.Count(response.AsSpan(0, length), 1); i++)
        {
            Assert.Equal(0xC0, response[end] & 0xC0);
            end += 12 + (response[end + 10] << 8 | response[end + 11]);
        }
        return (response[..12], response[(12 + WireQuery.EncodeName($"{name}.status.example").Length + 4)..end]);
    }

    [Fact]
    public void Respond_DirectoryForms_AllocateNothing()
    {
        using var store = _file.Open();
        var (valid, compromised, _) = Seed(store);
        using var directory = new StoreCertificateDirectory(_file.Path);
        var responder = new DnsResponder(new ZoneOptions(), new SnapshotHolder(store.Snapshots.Load(directory)), TimeProvider.System);
        var sha = Hex.Lower(SharedKey);
        string[] names =
        [
            Hex.Lower(valid.Sha1), Hex.Lower(compromised.Md5), $"{sha[..32]}.{sha[32..]}.key", $"{sha[..56]}.key",
            Hex.Lower(SHA1.HashData("unregistered"u8)),
        ];
        var queries = names.Select(n => WireQuery.Build($"{n}.status.example", WireQuery.A)).ToArray();
        var response = new byte[DnsResponder.MaxMessageSize];
        int answered = 0;
        for (int i = 0; i < 1_000; i++) answered += responder.Respond(queries[i % queries.Length], response, 512, tcp: false) > 0 ? 1 : 0;

        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 10_000; i++) answered += responder.Respond(queries[i % queries.Length], response, 512, tcp: false) > 0 ? 1 : 0;
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.Equal(11_000, answered);
        Assert.Equal(0, allocated);
    }
}
