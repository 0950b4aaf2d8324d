using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;
using CertDns.Core;
using CertDns.Ingest;
using CertDns.Store;

namespace CertDns.Bench;

/// <summary>
/// One data set for every server: N synthetic certificates of one real test CA, written through the store's bulk
/// API; every tenth revoked by a real signed CRL ingested the production way; a second CRL that revokes 10,000 more
/// for the reload test; the same names and codes as an rbldnsd dnset and an RFC 1035 zone file.
/// </summary>
internal sealed class DataSet
{
    public const string Apex = "status.example";
    public const int ReloadRevocations = 10_000;

    private DataSet(string dir, long count)
    {
        Dir = dir;
        Count = count;
    }

    public string Dir { get; }
    public long Count { get; }
    public string Store => Path.Combine(Dir, "certdns.db");
    public string Queries => Path.Combine(Dir, "queries.txt");
    /// <summary>The same certificates asked by SHA-1 (Sendmail's form), which CertDns answers through the store's index.</summary>
    public string Sha1Queries => Path.Combine(Dir, "queries-sha1.txt");
    /// <summary>The same certificates asked by MD5 (Postfix's default digest) and by their key's SHA-256 split (`.key`).</summary>
    public string Md5Queries => Path.Combine(Dir, "queries-md5.txt");
    public string KeyQueries => Path.Combine(Dir, "queries-key.txt");
    public string Dnset => Path.Combine(Dir, "rbldnsd.dnset");
    public string ZoneFile => Path.Combine(Dir, "status.example.zone");
    public string ReloadCrl => Path.Combine(Dir, "reload.crl");

    /// <summary>A registered, valid certificate: what "first answer" waits for.</summary>
    public static string ProbeName => Name(1);

    /// <summary>
    /// Certificate i stands in for a DER certificate: its 8 octets (little-endian), from which every digest derives, the
    /// key's and the serial's from those octets followed by 0xFF and 0xFE.
    /// </summary>
    public static string Name(long i) => $"{PublishedNames.Split(Digests.Sha256(i))}.{Apex}";

    public static string Sha1Name(long i) => $"{Convert.ToHexStringLower(Digests.Sha1(i))}.{Apex}";

    public static string Md5Name(long i) => $"{Convert.ToHexStringLower(Digests.Md5(i))}.{Apex}";

    /// <summary>Certificate i's key, as the store holds it.</summary>
    public static string KeyName(long i) => $"{PublishedNames.Split(Digests.Sha256(i, Digests.Key))}.key.{Apex}";

    public static bool Revoked(long i) => i % 10 == 0;

    /// <summary>The certificates the reload CRL adds.</summary>
    public static IEnumerable<long> ReloadRevoked(long count) => Enumerable.Range(0, ReloadRevocations).Select(k => 10L * k + 5).Where(i => i < count);

    public static DataSet Prepare(string root, long count, Action<string> log)
    {
        var dir = Path.Combine(root, $"data-{count}");
        var set = new DataSet(dir, count);
        if (File.Exists(Path.Combine(dir, "complete")))
        {
            // Data sets cached before the SHA-1 queries existed get them now.
            if (!File.Exists(set.Sha1Queries)) WriteQueries(set.Sha1Queries, count, Sha1Name);
            if (!File.Exists(set.Md5Queries)) WriteQueries(set.Md5Queries, count, Md5Name);
            if (!File.Exists(set.KeyQueries)) WriteQueries(set.KeyQueries, count, KeyName);
            // A store cached by an older certdns gets today's schema here, once, not in every server's start time.
            CertStore.Open(set.Store).Dispose();
            return set;
        }
        if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true);
        Directory.CreateDirectory(dir);
        var watch = Stopwatch.StartNew();
        var now = DateTimeOffset.UtcNow;
        using var ca = new BenchCa("CN=Bench CA", now);
        // The CRLs and the peers' files on one thread at the lowest priority while the store is built: they need
        // nothing from the store, and the store's add leaves a core idle for much of its time (its inserts run on one
        // thread, its commit waits on the disk), which this thread takes without slowing the add's own threads.
        var crl1 = new TaskCompletionSource<byte[]>(TaskCreationOptions.RunContinuationsAsynchronously);
        // LongRunning: a thread of its own, whose nice value ends with it.
        var files = Task.Factory.StartNew(() =>
        {
            try
            {
                LowestPriority();
                crl1.SetResult(ca.Crl(1, now.AddMinutes(-5), now.AddDays(7), Entries(Enumerable.Range(0, checked((int)count)).Select(i => (long)i).Where(Revoked), now), (int)(count / 10)));
            }
            catch (Exception e)
            {
                crl1.TrySetException(e);
                throw;
            }
            log($"  CRL 1 signed at {watch.Elapsed.TotalSeconds:F1} s");
            File.WriteAllBytes(set.ReloadCrl, ca.Crl(2, now.AddMinutes(-4), now.AddDays(7),
                Entries(Enumerable.Range(0, checked((int)count)).Select(i => (long)i).Where(i => Revoked(i)).Concat(ReloadRevoked(count)), now), (int)(count / 10) + ReloadRevocations));
            log($"  reload CRL written at {watch.Elapsed.TotalSeconds:F1} s");
            WritePeers(set, count);
            log($"  peer files written at {watch.Elapsed.TotalSeconds:F1} s");
            WriteQueries(set.Queries, count, Name);
            WriteQueries(set.Sha1Queries, count, Sha1Name);
            WriteQueries(set.Md5Queries, count, Md5Name);
            WriteQueries(set.KeyQueries, count, KeyName);
        }, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
        using (var store = CertStore.Open(set.Store))
        {
            var caId = new CaRegistry(store).Add("bench-ca", ca.Certificate.RawData, [], null)[0].Ca.Id;
            // One transaction, one prepared statement: the project's bulk API, given the certificates in SHA-256 order
            // (what it asks of a batch it does not hold as a list) without holding 10M records at once.
            store.Certificates.Add(new Produced(Sha256Order(count), i => new CertRecord(Digests.Sha256(i), Digests.Sha1(i), Digests.Md5(i),
                Digests.Sha256(i, Digests.Key), caId, Serial(i), null, now.AddDays(-30), now.AddDays(365), null)));
            log($"  {count:N0} certificates stored in {watch.Elapsed.TotalSeconds:F1} s");
            new CrlIngestor(store).Ingest("bench-1.crl", crl1.Task.GetAwaiter().GetResult());
            log($"  CRL 1 ({count / 10:N0} entries) ingested at {watch.Elapsed.TotalSeconds:F1} s");
        }
        files.GetAwaiter().GetResult();
        File.WriteAllText(Path.Combine(dir, "complete"), "");
        log($"  data set ready in {watch.Elapsed.TotalSeconds:F1} s");
        return set;
    }

    /// <summary>Nice 19 for the calling thread (Linux keeps a nice value per thread; "0" is the calling one).</summary>
    private static void LowestPriority()
    {
        if (OperatingSystem.IsLinux()) _ = setpriority(0 /* PRIO_PROCESS */, 0, 19);
    }

    [System.Runtime.InteropServices.DllImport("libc", SetLastError = true)]
    private static extern int setpriority(int which, int who, int prio);

    /// <summary>
    /// The records of <paramref name="order"/>, made (five digests each) on other threads while the store inserts the
    /// ones before: a collection, so the store sees its size up front.
    /// </summary>
    private sealed class Produced(int[] order, Func<int, CertRecord> make) : IReadOnlyCollection<CertRecord>
    {
        private const int Chunk = 16_384;

        public int Count => order.Length;

        public IEnumerator<CertRecord> GetEnumerator()
        {
            using var ready = new System.Collections.Concurrent.BlockingCollection<CertRecord[]>(boundedCapacity: 8);
            using var stop = new CancellationTokenSource();
            var producer = Task.Run(() =>
            {
                try
                {
                    for (int from = 0; from < order.Length; from += Chunk)
                    {
                        var chunk = new CertRecord[Math.Min(Chunk, order.Length - from)];
                        int start = from;
                        Parallel.For(0, chunk.Length, k => chunk[k] = make(order[start + k]));
                        ready.Add(chunk, stop.Token);
                    }
                }
                finally
                {
                    ready.CompleteAdding();
                }
            });
            try
            {
                foreach (var chunk in ready.GetConsumingEnumerable())
                    foreach (var record in chunk) yield return record;
                producer.GetAwaiter().GetResult();
            }
            finally
            {
                // The store stopped early (it failed): the producer must not wait on a full queue for ever.
                stop.Cancel();
                try { producer.Wait(); } catch (AggregateException) { }
            }
        }

        System.Collections.IEnumerator System.Collections.IEnumerable.GetEnumerator() => GetEnumerator();
    }

    /// <summary>0 to count - 1 by the first 8 octets of each one's SHA-256 (16 octets a certificate while sorting).</summary>
    private static int[] Sha256Order(long count)
    {
        var keys = new ulong[count];
        var order = new int[count];
        Parallel.For(0, checked((int)count), i =>
        {
            Span<byte> hash = stackalloc byte[32];
            Digests.Sha256(i, null, hash);
            keys[i] = System.Buffers.Binary.BinaryPrimitives.ReadUInt64BigEndian(hash);
            order[i] = i;
        });
        Array.Sort(keys, order);
        return order;
    }

    private static IEnumerable<(byte[], DateTimeOffset, byte?)> Entries(IEnumerable<long> certs, DateTimeOffset now)
    {
        var at = DateTimeOffset.FromUnixTimeSeconds(now.AddDays(-1).ToUnixTimeSeconds());
        return certs.Select(i => (Serial(i), at, (byte?)RevocationReason.KeyCompromise));
    }

    /// <summary>16 octets, top bit clear and first octet non-zero, so the DER INTEGER is these octets exactly.</summary>
    private static byte[] Serial(long i)
    {
        Span<byte> hash = stackalloc byte[32];
        Digests.Sha256(i, Digests.SerialOf, hash);
        var serial = hash[..16].ToArray();
        serial[0] = (byte)((serial[0] & 0x7F) | 0x01);
        return serial;
    }

    /// <summary>
    /// The digests of certificate i, by BouncyCastle's managed digests, one set per thread: .NET's one-shot HashData
    /// goes to OpenSSL for each call, and at six digests a certificate that was 1.1 us each against 0.5 to 0.7 (8 octets
    /// in): the producer, on both cores, could not keep up with the store's inserts (6.3 s to make 1M records, 4.2 s to
    /// insert them). The same digests, so the same data set.
    /// </summary>
    private static class Digests
    {
        public const byte Key = 0xFF, SerialOf = 0xFE;

        [ThreadStatic] private static Org.BouncyCastle.Crypto.Digests.Sha256Digest? s_sha256;
        [ThreadStatic] private static Org.BouncyCastle.Crypto.Digests.Sha1Digest? s_sha1;
        [ThreadStatic] private static Org.BouncyCastle.Crypto.Digests.MD5Digest? s_md5;

        public static byte[] Sha256(long i, byte? suffix = null)
        {
            var hash = new byte[32];
            Sha256(i, suffix, hash);
            return hash;
        }

        public static void Sha256(long i, byte? suffix, Span<byte> hash) => Run(s_sha256 ??= new(), i, suffix, hash);

        public static byte[] Sha1(long i)
        {
            var hash = new byte[20];
            Run(s_sha1 ??= new(), i, null, hash);
            return hash;
        }

        public static byte[] Md5(long i)
        {
            var hash = new byte[16];
            Run(s_md5 ??= new(), i, null, hash);
            return hash;
        }

        private static void Run(Org.BouncyCastle.Crypto.IDigest digest, long i, byte? suffix, Span<byte> hash)
        {
            Span<byte> der = stackalloc byte[9];
            System.Buffers.Binary.BinaryPrimitives.WriteInt64LittleEndian(der, i);
            int length = 8;
            if (suffix is { } octet) der[length++] = octet;
            digest.BlockUpdate(der[..length]);
            digest.DoFinal(hash);
        }
    }

    private static void WritePeers(DataSet set, long count)
    {
        using var dnset = new StreamWriter(set.Dnset, false, Encoding.ASCII, 1 << 20);
        using var zone = new StreamWriter(set.ZoneFile, false, Encoding.ASCII, 1 << 20);
        dnset.WriteLine("$SOA 3600 ns.status.example. hostmaster.status.example. 1 3600 600 604800 60");
        dnset.WriteLine("$NS 3600 ns.status.example.");
        dnset.WriteLine("$TTL 300");
        zone.WriteLine("$ORIGIN status.example.");
        zone.WriteLine("$TTL 300");
        zone.WriteLine("@ 3600 IN SOA ns.status.example. hostmaster.status.example. 1 3600 600 604800 60");
        zone.WriteLine("@ 3600 IN NS ns.status.example.");
        zone.WriteLine("ns 3600 IN A 127.0.0.1");
        // On the calling thread alone: it is the data set's low-priority thread (Prepare), which a parallel loop
        // would leave for the thread pool's, at the priority of the store's work.
        for (long i = 0; i < count; i++)
        {
            var name = Name(i);
            var relative = name.AsSpan(0, name.Length - (Apex.Length + 1));
            var code = Revoked(i) ? "127.0.0.2" : "127.0.1.2";
            dnset.Write(relative);
            dnset.Write(" :");
            dnset.Write(code);
            dnset.Write(":\n");
            zone.Write(relative);
            zone.Write(" IN A ");
            zone.Write(code);
            zone.Write('\n');
        }
    }

    /// <summary>One third valid, one third revoked, one third never registered, interleaved at random indices; dnsperf loops over the file.</summary>
    private static void WriteQueries(string path, long count, Func<long, string> name)
    {
        var random = new Random(4);
        int lines = (int)Math.Min(300_000, 3 * count);
        using var queries = new StreamWriter(path, false, Encoding.ASCII, 1 << 20);
        for (int k = 0; k < lines; k++)
        {
            long i = (k % 3) switch
            {
                0 => 10 * random.NextInt64(count / 10) + 1 + random.Next(9),
                1 => 10 * random.NextInt64(count / 10),
                _ => count + random.NextInt64(count),
            };
            if (i >= count && k % 3 != 2) i = 1;
            queries.Write(name(i));
            queries.WriteLine(" A");
        }
    }
}
