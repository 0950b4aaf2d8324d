using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace CertDns.Bench;

/// <summary>
/// Issue #17's ingestion rows: <c>certs add</c> of a folder of real signed certificates, <c>crl ingest</c> of a real
/// signed P-256 CRL against <c>openssl crl -noout -CAfile</c> on the same file (time and peak RSS above the idle
/// baseline), and the serving data set's build time. Every command is the published program, run as a user runs
/// it; each measurement is the median of <see cref="Runs"/> interleaved runs (the machine is shared).
/// </summary>
internal static class IngestBench
{
    private const int Runs = 3;

    /// <summary>What the issue asks: certificates a second, CRL time as a ratio of openssl's, RSS above baseline per file octet, 10M build seconds.</summary>
    private const double CertsTarget = 20_000, CrlTimeTarget = 1.0, CrlRssTarget = 1.5, BuildTarget = 180;

    public static void Run(Options options, Action<string> log)
    {
        var dir = Path.Combine(options.Work, $"ingest-{options.IngestCerts}-{options.CrlEntries}");
        var data = Prepare(dir, options.IngestCerts, options.CrlEntries, log);
        // Writing the certificates and the CRL is no measurement: it can run outside the bench lock.
        if (options.PrepareOnly) return;
        var binaries = new List<(string Name, string Path)> { ("certdns", options.CertDns) };
        if (options.CompareWith is { } other) binaries.Add(("compared", other));

        var rows = new List<string>();
        // Interleaved, as the CRL runs are: on a shared machine the load moves between runs.
        var addWalls = binaries.ToDictionary(b => b.Name, _ => new List<double>());
        // --ingest-certs 0: the CRL rows alone.
        for (int run = 0; run < (options.IngestCerts > 0 ? Runs : 0); run++)
        {
            foreach (var (name, bin) in binaries)
            {
                var db = Path.Combine(dir, $"certs-{name}.db");
                DeleteStore(db);
                Certdns(bin, db, "ca", "add", data.CaPem);
                var (wall, _, output) = Measure(bin, ["--db", db, "certs", "add", data.CertDir]);
                if (!output.Contains($"{options.IngestCerts} added", StringComparison.Ordinal))
                    throw new InvalidOperationException($"certs add did not add {options.IngestCerts}: {output.Trim()}");
                addWalls[name].Add(wall);
                log($"  {name} certs add {options.IngestCerts:N0}: {wall:F2} s");
            }
        }
        foreach (var (name, _) in options.IngestCerts > 0 ? binaries : [])
        {
            double median = Median(addWalls[name]), rate = options.IngestCerts / median;
            rows.Add($"| {name}: certs add {options.IngestCerts:N0} certificates (folder of DER files) | {median:F2} s = {rate:N0}/s | - | {rate / CertsTarget:F2}x of 20,000/s | {Met(rate >= CertsTarget)} |");
        }

        var size = new FileInfo(data.Crl).Length;
        var opensslWalls = new List<double>();
        long opensslRss = 0;
        var certdnsWalls = binaries.ToDictionary(b => b.Name, _ => new List<double>());
        var certdnsRss = binaries.ToDictionary(b => b.Name, _ => 0L);
        var baselineRss = binaries.ToDictionary(b => b.Name, _ => 0L);
        File.ReadAllBytes(data.Crl); // the page cache, warm for both alike
        for (int run = 0; run < Runs; run++)
        {
            var (ow, orss, oout) = Measure("openssl", ["crl", "-inform", "DER", "-in", data.Crl, "-noout", "-CAfile", data.CaPem]);
            if (!oout.Contains("verify OK", StringComparison.Ordinal)) throw new InvalidOperationException($"openssl did not verify the CRL: {oout.Trim()}");
            opensslWalls.Add(ow);
            opensslRss = Math.Max(opensslRss, orss);
            foreach (var (name, bin) in binaries)
            {
                var db = Path.Combine(dir, $"crl-{name}.db");
                DeleteStore(db);
                Certdns(bin, db, "ca", "add", data.CaPem);
                var (_, brss, _) = Measure(bin, ["--db", db, "ca", "list"]);
                var (cw, crss, cout) = Measure(bin, ["--db", db, "crl", "ingest", data.Crl]);
                if (!cout.Contains($"{options.CrlEntries} entries", StringComparison.Ordinal))
                    throw new InvalidOperationException($"certdns did not store {options.CrlEntries} entries: {cout.Trim()}");
                certdnsWalls[name].Add(cw);
                certdnsRss[name] = Math.Max(certdnsRss[name], crss);
                baselineRss[name] = Math.Max(baselineRss[name], brss);
                log($"  run {run + 1}: openssl {ow:F2} s {orss / 1024} MB, {name} {cw:F2} s {crss / 1024} MB (baseline {brss / 1024} MB)");
            }
        }
        double openssl = Median(opensslWalls);
        foreach (var (name, _) in binaries)
        {
            double wall = Median(certdnsWalls[name]);
            double above = (certdnsRss[name] - baselineRss[name]) * 1024.0 / size;
            rows.Add($"| {name}: crl ingest, {options.CrlEntries:N0}-entry P-256 CRL ({size / 1e6:F1} MB), fresh store | {wall:F2} s | openssl crl -noout -CAfile: {openssl:F2} s | {wall / openssl:F2}x | {Met(wall / openssl <= CrlTimeTarget)} |");
            rows.Add($"| {name}: crl ingest peak RSS above idle baseline ({baselineRss[name] / 1024} MB) | {certdnsRss[name] / 1024} MB, {(certdnsRss[name] - baselineRss[name]) / 1024} MB above | openssl: {opensslRss / 1024} MB | {above:F2}x the file | {Met(above <= CrlRssTarget)} |");
        }

        if (options.BuildN > 0)
        {
            // The serving data set (DataSet.Prepare, this harness's library build) in a fresh folder; a linear
            // extrapolation to 10M when a smaller size is built (B-tree inserts grow faster than that: a floor).
            var root = Path.Combine(dir, "build");
            if (Directory.Exists(root)) Directory.Delete(root, recursive: true);
            var watch = Stopwatch.StartNew();
            DataSet.Prepare(root, options.BuildN, log);
            double seconds = watch.Elapsed.TotalSeconds;
            Directory.Delete(root, recursive: true);
            double at10M = seconds * 10_000_000 / options.BuildN;
            var how = options.BuildN == 10_000_000 ? "measured" : $"extrapolated linearly from {options.BuildN:N0}, a lower bound";
            rows.Add($"| data set built ({options.BuildN:N0} certificates, CRL, peer files, queries) | {seconds:F1} s | - | 10M: {at10M:F0} s ({how}) | {Met(at10M < BuildTarget)} |");
        }

        Console.WriteLine();
        Console.WriteLine($"Ingestion, medians of {Runs} interleaved runs; load average {File.ReadAllText("/proc/loadavg").Trim()}");
        Console.WriteLine();
        Console.WriteLine("| measurement | certdns | peer | ratio | target |");
        Console.WriteLine("|---|---|---|---|---|");
        foreach (var row in rows) Console.WriteLine(row);
    }

    private static string Met(bool met) => met ? "met" : "not met";

    private sealed record Data(string CaPem, string CertDir, string Crl);

    /// <summary>A P-256 CA, <paramref name="certs"/> end-entity certificates it signed (DER files, 1,000 a folder), and a signed CRL of <paramref name="entries"/> entries.</summary>
    private static Data Prepare(string dir, int certs, int entries, Action<string> log)
    {
        var data = new Data(Path.Combine(dir, "ca.pem"), Path.Combine(dir, "certs"), Path.Combine(dir, "crl.der"));
        if (File.Exists(Path.Combine(dir, "complete"))) return data;
        if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true);
        Directory.CreateDirectory(dir);
        var watch = Stopwatch.StartNew();
        var now = DateTimeOffset.UtcNow;
        using var benchCa = new BenchCa("CN=Ingest Bench CA, O=CertDns Bench", now);
        var (ca, caKey) = (benchCa.Certificate, benchCa.Key);
        File.WriteAllText(data.CaPem, ca.ExportCertificatePem() + "\n");

        // Keys of the end entities: a few shared, since only the CA's signature is checked.
        var leafKeys = Enumerable.Range(0, 16).Select(_ => ECDsa.Create(ECCurve.NamedCurves.nistP256)).ToArray();
        var authorityKeyId = X509AuthorityKeyIdentifierExtension.CreateFromCertificate(ca, includeKeyIdentifier: true, includeIssuerAndSerial: false);
        Parallel.For(0, (certs + 999) / 1000, folder =>
        {
            var sub = Path.Combine(data.CertDir, folder.ToString("D4", CultureInfo.InvariantCulture));
            Directory.CreateDirectory(sub);
            var generator = X509SignatureGenerator.CreateForECDsa(caKey);
            for (int i = folder * 1000; i < Math.Min(certs, folder * 1000 + 1000); i++)
            {
                var leaf = new CertificateRequest($"CN=host{i}.bench.example", leafKeys[i % leafKeys.Length], HashAlgorithmName.SHA256);
                leaf.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
                leaf.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
                leaf.CertificateExtensions.Add(authorityKeyId);
                using var cert = leaf.Create(ca.SubjectName, generator, now.AddDays(-1), now.AddDays(90), Serial(i));
                File.WriteAllBytes(Path.Combine(sub, $"{i}.der"), cert.RawData);
            }
        });
        log($"  {certs:N0} certificate files written at {watch.Elapsed.TotalSeconds:F1} s");

        // Every entry with a reasonCode but every tenth, as a CA's CRL mostly has: 1M entries make about 49 MB.
        // keyCompromise, affiliationChanged, superseded, cessationOfOperation.
        var crl = benchCa.Crl(1000, now.AddMinutes(-5), now.AddDays(7), Enumerable.Range(0, entries).Select(i =>
            (Serial(certs + i), now.AddSeconds(-(i % 86_400) - 60), i % 10 == 0 ? null : (byte?)(i % 4 == 0 ? 1 : i % 4 + 2))), entries);
        File.WriteAllBytes(data.Crl, crl);
        log($"  CRL of {entries:N0} entries ({crl.Length / 1e6:F1} MB) written at {watch.Elapsed.TotalSeconds:F1} s");
        File.WriteAllText(Path.Combine(dir, "complete"), "");
        return data;
    }

    /// <summary>16 octets, top bit clear and first octet non-zero: a positive DER INTEGER of exactly these octets.</summary>
    private static byte[] Serial(long i)
    {
        var serial = SHA256.HashData(BitConverter.GetBytes(i))[..16];
        serial[0] = (byte)((serial[0] & 0x7F) | 0x01);
        return serial;
    }

    private static void DeleteStore(string db)
    {
        foreach (var suffix in new[] { "", "-wal", "-shm", "-journal" }) File.Delete(db + suffix);
    }

    private static void Certdns(string bin, string db, params string[] args) => Measure(bin, ["--db", db, .. args]);

    /// <summary>Wall seconds, peak RSS in kB (GNU time's %M) and stdout+stderr of one command; throws when it fails.</summary>
    private static (double Wall, long RssKb, string Output) Measure(string program, string[] args)
    {
        var timeFile = Path.GetTempFileName();
        var psi = new ProcessStartInfo("/usr/bin/time") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in (string[])["-f", "%M", "-o", timeFile, program, .. args]) psi.ArgumentList.Add(a);
        var watch = Stopwatch.StartNew();
        using var process = Process.Start(psi)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        process.WaitForExit();
        double wall = watch.Elapsed.TotalSeconds;
        var output = stdout.Result + stderr.Result;
        var rss = File.ReadAllLines(timeFile).Select(l => l.Trim()).LastOrDefault(l => l.Length > 0 && l.All(char.IsAsciiDigit));
        File.Delete(timeFile);
        if (process.ExitCode != 0 || rss is null) throw new InvalidOperationException($"{program} {string.Join(' ', args)} failed ({process.ExitCode}): {output.Trim()}");
        return (wall, long.Parse(rss, CultureInfo.InvariantCulture), output);
    }

    private static double Median(List<double> values)
    {
        var sorted = values.Order().ToList();
        return sorted[(sorted.Count - 1) / 2];
    }
}
