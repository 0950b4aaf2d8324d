using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;
using CertDns.Bench;

// certdns-bench: one data set, every server on a loopback port, the same dnsperf run against each, one table.
var options = Options.Parse(args);
if (options is null)
{
    Console.Error.WriteLine("usage: certdns-bench --certdns BIN/certdns (or BIN/certdns.dll) [--n 1000000] [--seconds 20] [--clients 8] [--work DIR] [--servers certdns,certdns-metrics,certdns-compared,rbldnsd,nsd,knot] [--compare OTHER-CERTDNS] [--no-reload] [--port 25300] [--udp-threads N] [--rrl] [--dnssec] [--prepare-only] [--ingest [--ingest-certs 100000] [--crl-entries 1000000] [--build N]]");
    return 1;
}
CultureInfo.DefaultThreadCurrentCulture = CultureInfo.InvariantCulture;
Directory.CreateDirectory(options.Work);
void Log(string line) => Console.Error.WriteLine(line);

if (options.Ingest)
{
    Log($"load: {Environment.ProcessorCount} cores, loadavg {File.ReadAllText("/proc/loadavg").Trim()}");
    // Ingestion only (issue #17): certs add, crl ingest against openssl, the data set's build time.
    IngestBench.Run(options, Log);
    Log($"load after: loadavg {File.ReadAllText("/proc/loadavg").Trim()}");
    return 0;
}
Log($"data set: {options.N:N0} certificates in {options.Work}");
var data = DataSet.Prepare(options.Work, options.N, Log);
// Building a data set is no measurement: --prepare-only builds (or finds) it outside the bench lock and stops.
if (options.PrepareOnly) return 0;
var peers = new Dictionary<string, Peer>
{
    ["certdns"] = Peers.CertDns(options.CertDns, options.UdpThreads),
    ["certdns-metrics"] = Peers.CertDns(options.CertDns, options.UdpThreads, metrics: true),
    ["rbldnsd"] = Peers.Rbldnsd,
    ["nsd"] = Peers.Nsd,
    ["knot"] = Peers.Knot,
};
// --compare: an older certdns served the same way, right after the measured one (its split-name row only).
if (options.CompareWith is { } compared) peers["certdns-compared"] = Peers.CertDns(compared, options.UdpThreads, name: "certdns-compared");

Log($"load: {Environment.ProcessorCount} cores, loadavg {File.ReadAllText("/proc/loadavg").Trim()}");
if (options.Dnssec)
{
    // DNSSEC online signing against Knot's mod-onlinesign (issue #15).
    bool noBogus = DnssecBench.Run(data, options, Log);
    Log($"load after: loadavg {File.ReadAllText("/proc/loadavg").Trim()}");
    if (!noBogus) Log("bench: the zero-bogus check FAILED (see above)");
    return noBogus ? 0 : 1;
}
if (options.Rrl)
{
    // Response rate limiting and cookies only (issue #14): amplification under a flood, legitimate qps on and off.
    RrlBench.Run(data, options, Log);
    Log($"load after: loadavg {File.ReadAllText("/proc/loadavg").Trim()}");
    return 0;
}
var results = new List<Result>();
int port = options.Port;
var order = options.CompareWith is null || options.Servers.Contains("certdns-compared") ? options.Servers
    : [.. options.Servers.SelectMany(s => s == "certdns" ? new[] { s, "certdns-compared" } : [s])];
foreach (var name in order)
{
    results.AddRange(Bench.Run(peers[name], data, port++, options, Log));
}
Bench.PrintTable(results, options);
Log($"load after: loadavg {File.ReadAllText("/proc/loadavg").Trim()}");
return 0;

namespace CertDns.Bench
{
    internal sealed record Options(string CertDns, long N, int Seconds, int Clients, string Work, string[] Servers, bool Reload, int Port, int? UdpThreads)
    {
        /// <summary>--rrl: only the rate limiting and cookie measurements.</summary>
        public bool Rrl { get; init; }

        /// <summary>--dnssec: only the online signing measurements, against Knot's mod-onlinesign.</summary>
        public bool Dnssec { get; init; }

        /// <summary>--ingest: only the ingestion measurements (certs add, crl ingest against openssl, data set build).</summary>
        public bool Ingest { get; init; }

        /// <summary>--ingest-certs: certificates for the certs add row.</summary>
        public int IngestCerts { get; init; } = 100_000;

        /// <summary>--crl-entries: entries of the CRL for the crl ingest rows.</summary>
        public int CrlEntries { get; init; } = 1_000_000;

        /// <summary>--build N: also build the serving data set of N certificates in a fresh folder and time it (0: not).</summary>
        public long BuildN { get; init; }

        /// <summary>--prepare-only: with --ingest, write the certificates and the CRL, measure nothing.</summary>
        public bool PrepareOnly { get; init; }

        /// <summary>
        /// --compare BIN: another certdns (an older build) measured in the same runs: interleaved in --ingest; served
        /// right after certdns otherwise (the "certdns-compared" row, split names only).
        /// </summary>
        public string? CompareWith { get; init; }

        /// <summary>
        /// --paced-qps R: after the flood, each server once more at R queries/s offered (dnsperf -Q), below every server's
        /// capacity, for the latency of an answer when nothing queues (0: not).
        /// </summary>
        public int PacedQps { get; init; } = 50_000;

        public static Options? Parse(string[] args)
        {
            string? certdns = null;
            long n = 1_000_000;
            int seconds = 20, clients = 8, port = 25300;
            string work = Path.Combine(Path.GetTempPath(), "certdns-bench");
            string[] servers = ["certdns", "rbldnsd", "nsd", "knot"];
            bool reload = true;
            // One worker, as the peers run here (NSD server-count 1, Knot udp-workers 1, rbldnsd has one).
            int? udpThreads = 1;
            bool rrl = false, dnssec = false, ingest = false;
            int ingestCerts = 100_000, crlEntries = 1_000_000;
            long buildN = 0;
            string? compare = null;
            bool prepareOnly = false;
            int pacedQps = 50_000;
            for (int i = 0; i < args.Length; i++)
            {
                string Next() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value");
                switch (args[i])
                {
                    case "--certdns": certdns = Next(); break;
                    case "--n": n = long.Parse(Next(), CultureInfo.InvariantCulture); break;
                    case "--seconds": seconds = int.Parse(Next(), CultureInfo.InvariantCulture); break;
                    case "--clients": clients = int.Parse(Next(), CultureInfo.InvariantCulture); break;
                    case "--work": work = Next(); break;
                    case "--servers": servers = Next().Split(','); break;
                    case "--port": port = int.Parse(Next(), CultureInfo.InvariantCulture); break;
                    case "--no-reload": reload = false; break;
                    case "--udp-threads": udpThreads = int.Parse(Next(), CultureInfo.InvariantCulture); break;
                    case "--rrl": rrl = true; break;
                    case "--dnssec": dnssec = true; break;
                    case "--ingest": ingest = true; break;
                    case "--prepare-only": prepareOnly = true; break;
                    case "--ingest-certs": ingestCerts = int.Parse(Next(), CultureInfo.InvariantCulture); break;
                    case "--crl-entries": crlEntries = int.Parse(Next(), CultureInfo.InvariantCulture); break;
                    case "--build": buildN = long.Parse(Next(), CultureInfo.InvariantCulture); break;
                    case "--compare": compare = Path.GetFullPath(Next()); break;
                    case "--paced-qps": pacedQps = int.Parse(Next(), CultureInfo.InvariantCulture); break;
                    default: return null;
                }
            }
            if (certdns is null || n < 100 || seconds < 1 || pacedQps < 0 || servers.Any(s => s is not ("certdns" or "certdns-metrics" or "certdns-compared" or "rbldnsd" or "nsd" or "knot"))
                || (compare is null && servers.Contains("certdns-compared"))) return null;
            return new Options(Path.GetFullPath(certdns), n, seconds, clients, Path.GetFullPath(work), servers, reload, port, udpThreads) { Rrl = rrl, Dnssec = dnssec, Ingest = ingest, IngestCerts = ingestCerts, CrlEntries = crlEntries, BuildN = buildN, CompareWith = compare, PrepareOnly = prepareOnly, PacedQps = pacedQps };
        }
    }

    internal sealed record DnsPerf(long Sent, long Completed, long Lost, double Qps, double MeanMs, double MaxMs, double MinSecondQps);

    internal sealed record Result(string Name, DnsPerf Perf, double CpuPer100k, double RssMb, double PssMb, double FirstAnswerSeconds, string? Reload)
    {
        /// <summary>For a run that scraped /metrics: how many scrapes succeeded and failed during it.</summary>
        public (int Ok, int Failed)? Scrapes { get; init; }

        /// <summary>The run at <see cref="Options.PacedQps"/> offered, when there was one.</summary>
        public DnsPerf? Paced { get; init; }

        /// <summary>
        /// Queries inside the server on average, by Little's law (mean latency times answers a second). dnsperf keeps
        /// -q of them outstanding; a server that drops holds fewer, because each lost query keeps its slot until -t
        /// runs out, so its latency in a flood is shorter by that much (rbldnsd's default 208 KB receive buffer holds
        /// about 90 queries).
        /// </summary>
        public double InFlight => Perf.MeanMs / 1000 * Perf.Qps;
    }

    internal static partial class Bench
    {
        public static IReadOnlyList<Result> Run(Peer peer, DataSet data, int port, Options options, Action<string> log)
        {
            var dir = Path.Combine(options.Work, $"run-{peer.Name}");
            if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true);
            Directory.CreateDirectory(dir);
            var psi = peer.Start(data, dir, port);
            psi.RedirectStandardOutput = true;
            psi.RedirectStandardError = true;
            var output = new System.Text.StringBuilder();
            var watch = Stopwatch.StartNew();
            using var process = Process.Start(psi)!;
            process.OutputDataReceived += (_, e) => { lock (output) output.AppendLine(e.Data); };
            process.ErrorDataReceived += (_, e) => { lock (output) output.AppendLine(e.Data); };
            process.BeginOutputReadLine();
            process.BeginErrorReadLine();
            try
            {
                double firstAnswer = WaitForAnswer(port, process, watch, TimeSpan.FromMinutes(10));
                if (double.IsNaN(firstAnswer))
                {
                    log($"{peer.Name}: no answer; output:\n{output}");
                    return [];
                }
                log($"{peer.Name}: first answer after {firstAnswer:F2} s");
                using var scraper = peer.ScrapesMetrics ? MetricsScraper.Start(() => { lock (output) return output.ToString(); }, log) : null;
                // Warm-up (JIT tiers, caches): the same for every server.
                RunDnsPerf(data.Queries, port, Math.Min(5, options.Seconds), options.Clients);
                var scrapesBefore = scraper?.Counts;
                double cpuBefore = ProcStats.CpuSeconds(process.Id);
                var perf = RunDnsPerf(data.Queries, port, options.Seconds, options.Clients);
                double cpu = ProcStats.CpuSeconds(process.Id) - cpuBefore;
                var (rss, pss) = ProcStats.MemoryMb(process.Id);
                (int, int)? scrapes = scraper is null ? null : (scraper.Counts.Ok - scrapesBefore!.Value.Ok, scraper.Counts.Failed - scrapesBefore.Value.Failed);
                log($"{peer.Name}: {perf.Qps:F0} qps, {perf.Lost} lost, cpu {cpu:F1} s, rss {rss:F0} MB, pss {pss:F0} MB{(scrapes is var (ok, failed) ? $", /metrics scraped {ok} times ({failed} failed)" : "")}");
                DnsPerf? paced = null;
                if (options.PacedQps > 0)
                {
                    paced = RunDnsPerf(data.Queries, port, Math.Min(10, options.Seconds), options.Clients, "-Q", options.PacedQps.ToString(CultureInfo.InvariantCulture));
                    log($"{peer.Name}: at {options.PacedQps:N0} qps offered: {paced.Qps:F0} answered, mean latency {paced.MeanMs:F3} ms, {paced.Lost} lost");
                }
                var results = new List<Result> { new(peer.Name, perf, perf.Completed == 0 ? double.NaN : cpu / perf.Completed * 100_000, rss, pss, firstAnswer, null) { Scrapes = scrapes, Paced = paced } };
                if (peer.Name == "certdns")
                {
                    // The SHA-1, MD5 and key forms only CertDns serves (the peers carry the split SHA-256 names). Each
                    // form's in-memory index is built on its first lookup, so each gets the same warm-up as every server.
                    foreach (var (form, queries, name) in new (string, string, Func<long, string>)[]
                        { ("SHA-1 names", data.Sha1Queries, DataSet.Sha1Name), ("MD5 names", data.Md5Queries, DataSet.Md5Name), ("key names", data.KeyQueries, DataSet.KeyName) })
                    {
                        RunDnsPerf(queries, port, Math.Min(5, options.Seconds), options.Clients);
                        using (var probe = new Probe(port, timeoutMs: 1000))
                        {
                            if (probe.Ask(name(1)) != "127.0.1.2" || probe.Ask(name(10)) != "127.0.0.2")
                                log($"{peer.Name}: WRONG answers for {form}");
                        }
                        cpuBefore = ProcStats.CpuSeconds(process.Id);
                        var legacy = RunDnsPerf(queries, port, options.Seconds, options.Clients);
                        cpu = ProcStats.CpuSeconds(process.Id) - cpuBefore;
                        (rss, pss) = ProcStats.MemoryMb(process.Id);
                        log($"{peer.Name} ({form}): {legacy.Qps:F0} qps, {legacy.Lost} lost, cpu {cpu:F1} s, rss {rss:F0} MB, pss {pss:F0} MB");
                        results.Add(new($"{peer.Name} ({form})", legacy, legacy.Completed == 0 ? double.NaN : cpu / legacy.Completed * 100_000, rss, pss, double.NaN, null));
                    }
                    if (options.Reload) results[0] = results[0] with { Reload = ReloadUnderLoad(data, Peers.CertDnsStore(dir), port, options, log) };
                }
                return results;
            }
            finally
            {
                // Only the process this run started (and what it forked).
                if (!process.HasExited) process.Kill(entireProcessTree: true);
                process.WaitForExit(10_000);
            }
        }

        private static double WaitForAnswer(int port, Process process, Stopwatch watch, TimeSpan limit)
        {
            using var probe = new Probe(port, timeoutMs: 50);
            while (watch.Elapsed < limit && !process.HasExited)
            {
                if (probe.Ask(DataSet.ProbeName) == "127.0.1.2") return watch.Elapsed.TotalSeconds;
                Thread.Sleep(10);
            }
            return double.NaN;
        }

        public static DnsPerf RunDnsPerf(string queries, int port, int seconds, int clients, params string[] extra)
        {
            var psi = new ProcessStartInfo("dnsperf") { RedirectStandardOutput = true, RedirectStandardError = true };
            foreach (var a in (string[])["-s", "127.0.0.1", "-p", port.ToString(CultureInfo.InvariantCulture), "-d", queries, "-l", seconds.ToString(CultureInfo.InvariantCulture),
                "-c", clients.ToString(CultureInfo.InvariantCulture), "-q", "200", "-t", "2", "-S", "1", .. extra]) psi.ArgumentList.Add(a);
            using var p = Process.Start(psi)!;
            var err = p.StandardError.ReadToEndAsync();
            var text = p.StandardOutput.ReadToEnd();
            p.WaitForExit();
            _ = err.Result;
            long Number(string label) => long.Parse(Regex.Match(text, label + @":\s+(\d+)").Groups[1].Value, CultureInfo.InvariantCulture);
            var latency = Regex.Match(text, @"Average Latency \(s\):\s+([\d.]+) \(min [\d.]+, max ([\d.]+)\)");
            // -S 1 prints one "<time>: <qps>" line per second; the lowest full second shows a stall.
            var perSecond = Regex.Matches(text, @"^\d+\.\d+: ([\d.]+)", RegexOptions.Multiline).Select(m => double.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture)).ToList();
            return new DnsPerf(Number("Queries sent"), Number("Queries completed"), Number("Queries lost"),
                double.Parse(Regex.Match(text, @"Queries per second:\s+([\d.]+)").Groups[1].Value, CultureInfo.InvariantCulture),
                double.Parse(latency.Groups[1].Value, CultureInfo.InvariantCulture) * 1000, double.Parse(latency.Groups[2].Value, CultureInfo.InvariantCulture) * 1000,
                perSecond.Count > 2 ? perSecond.Skip(1).SkipLast(1).Min() : double.NaN);
        }

        /// <summary>
        /// While dnsperf runs, `certdns crl ingest` (another process, as cron would) revokes 10,000 more certificates;
        /// the server's watcher swaps the snapshot. Afterwards every one of them must answer revoked.
        /// </summary>
        private static string ReloadUnderLoad(DataSet data, string store, int port, Options options, Action<string> log)
        {
            int seconds = Math.Max(6, options.Seconds);
            var perf = Task.Run(() => RunDnsPerf(data.Queries, port, seconds, options.Clients));
            Thread.Sleep(TimeSpan.FromSeconds(seconds / 3.0));
            var watch = Stopwatch.StartNew();
            var psi = Peers.Command(options.CertDns);
            psi.RedirectStandardOutput = true;
            psi.RedirectStandardError = true;
            foreach (var a in new[] { "crl", "ingest", data.ReloadCrl, "--db", store }) psi.ArgumentList.Add(a);
            using (var ingest = Process.Start(psi)!)
            {
                var stdout = ingest.StandardOutput.ReadToEnd();
                var stderr = ingest.StandardError.ReadToEnd();
                ingest.WaitForExit();
                log($"  ingest: exit {ingest.ExitCode}: {stdout.Trim()} {stderr.Trim()}");
            }
            double ingested = watch.Elapsed.TotalSeconds;
            var first = DataSet.Name(DataSet.ReloadRevoked(data.Count).Last());
            using (var probe = new Probe(port, timeoutMs: 500))
            {
                while (probe.Ask(first) != "127.0.0.2" && watch.Elapsed < TimeSpan.FromMinutes(2)) Thread.Sleep(10);
            }
            double swapped = watch.Elapsed.TotalSeconds;
            var result = perf.Result;
            int right = 0, asked = 0;
            using (var probe = new Probe(port, timeoutMs: 1000))
            {
                foreach (var i in DataSet.ReloadRevoked(data.Count))
                {
                    asked++;
                    if (probe.Ask(DataSet.Name(i)) == "127.0.0.2") right++;
                }
            }
            var summary = $"reload under load: CRL ingest {ingested:F1} s, answers changed {swapped:F1} s after it began, {swapped - ingested:F1} s after its end (issue #17: at most 5 s at 10M{(data.Count >= 10_000_000 ? (swapped - ingested <= 5 ? ", met" : ", not met") : "; judged only at 10M")}); during the run {result.Completed:N0} answered, "
                + $"{result.Lost} lost, slowest second {result.MinSecondQps:F0} qps (mean {result.Qps:F0}); afterwards {right:N0}/{asked:N0} newly revoked answer 127.0.0.2";
            log("  " + summary);
            return summary;
        }

        public static void PrintTable(IReadOnlyList<Result> results, Options options)
        {
            // rbldnsd when it ran; else the first row (certdns for --servers certdns,certdns-metrics).
            var baseline = results.FirstOrDefault(r => r.Name == "rbldnsd") ?? results.FirstOrDefault();
            string Ratio(double value, Func<Result, double> of) => baseline is null || of(baseline) == 0 || double.IsNaN(of(baseline)) || double.IsNaN(value) ? "" : $" ({value / of(baseline):F2}x)";
            Console.WriteLine();
            Console.WriteLine($"N = {options.N:N0} certificates, {options.Seconds} s of dnsperf -c {options.Clients} -q 200 over UDP, queries 1/3 valid, 1/3 revoked, 1/3 unknown; ratios to {baseline?.Name ?? "-"}");
            Console.WriteLine("In flight: mean latency x queries/s (Little's law). With 0 lost it is about -q, so the flood's latency is -q / queries/s; a server that drops holds fewer, each lost query keeping its dnsperf slot for -t 2 s.");
            if (options.PacedQps > 0) Console.WriteLine($"At {options.PacedQps:N0} qps offered (dnsperf -Q, {Math.Min(10, options.Seconds)} s): the latency of an answer when nothing queues.");
            Console.WriteLine();
            string paced = options.PacedQps > 0 ? $" mean latency ms at {options.PacedQps:N0} qps offered |" : "";
            Console.WriteLine($"| server | queries/s | CPU s per 100k answers | mean latency ms | max latency ms | lost | in flight |{paced} RSS MB after load | PSS MB | start to first answer s |");
            Console.WriteLine($"|---|---|---|---|---|---|---|{(paced.Length > 0 ? "---|" : "")}---|---|---|");
            foreach (var r in results)
            {
                Console.WriteLine($"| {r.Name} | {r.Perf.Qps:F0}{Ratio(r.Perf.Qps, x => x.Perf.Qps)} | {r.CpuPer100k:F2}{Ratio(r.CpuPer100k, x => x.CpuPer100k)} "
                    + $"| {r.Perf.MeanMs:F3}{Ratio(r.Perf.MeanMs, x => x.Perf.MeanMs)} | {r.Perf.MaxMs:F1} | {r.Perf.Lost} | {r.InFlight:F0} "
                    + (paced.Length == 0 ? "" : r.Paced is { } p ? $"| {p.MeanMs:F3}{Ratio(p.MeanMs, x => x.Paced?.MeanMs ?? double.NaN)}{(p.Lost > 0 ? $", {p.Lost} lost" : "")} " : "| - ")
                    + $"| {r.RssMb:F0}{Ratio(r.RssMb, x => x.RssMb)} | {r.PssMb:F0}{Ratio(r.PssMb, x => x.PssMb)} | {(double.IsNaN(r.FirstAnswerSeconds) ? "-" : $"{r.FirstAnswerSeconds:F2}{Ratio(r.FirstAnswerSeconds, x => x.FirstAnswerSeconds)}")} |");
            }
            foreach (var r in results.Where(r => r.Reload is not null)) Console.WriteLine($"\n{r.Name} {r.Reload}");
            // Issue #13: metrics on may cost at most 3% of the queries per second of metrics off.
            if (results.FirstOrDefault(r => r.Name == "certdns") is { } off && results.FirstOrDefault(r => r.Name == "certdns-metrics") is { Scrapes: var (ok, failed) } on && off.Perf.Qps > 0)
            {
                double ratio = on.Perf.Qps / off.Perf.Qps;
                Console.WriteLine($"\ncertdns-metrics: {ratio:F3}x the queries/s of certdns ({(ratio >= 0.97 ? "within" : "NOT within")} 3%), /metrics scraped once per second: {ok} scrapes, {failed} failed");
            }
        }
    }
}
