using System.Diagnostics;
using System.Globalization;
using System.Text;

namespace CertDns.Bench;

/// <summary>
/// <c>--dnssec</c>: online signing (issue #15) against Knot's mod-onlinesign on the same zone, one UDP worker each,
/// dnsperf with DO (<c>-D</c>). Known names: every name of the data set, asked over and over (signatures cached).
/// Unknown names: each asked once (<c>-n 1</c> over more names than a run sends): every answer needs a fresh
/// signature. CertDns unsigned (no DO) is the third row, for the known-name ratio.
/// </summary>
internal static class DnssecBench
{
    /// <summary>Sampled answers the zero-bogus row asks a validating Unbound.</summary>
    public const int Samples = 1_000;

    /// <returns>Whether the zero-bogus row found nothing bogus (false also when it could not run).</returns>
    public static bool Run(DataSet data, Options options, Action<string> log)
    {
        string known = Path.Combine(options.Work, "dnssec-known.txt"), unknown = Path.Combine(options.Work, "dnssec-unknown.txt");
        WriteNames(known, Enumerable.Range(0, (int)Math.Min(data.Count, 300_000)).Select(i => (long)i));
        // Never registered: indices above the data set, each once; more than any run here answers in its seconds.
        WriteNames(unknown, Enumerable.Range(0, 1_500_000).Select(i => data.Count + 1 + (long)i));
        var rows = new List<(string Name, DnsPerf Known, double KnownCpu, DnsPerf? Unknown, double UnknownCpu)>();
        ZeroBogusResult? bogus = null;
        int port = options.Port;
        // CertDns signed last: its zero-bogus row (the signed transfer through ldns-verify-zone takes minutes at 100,000
        // names) then comes after every timed row.
        foreach (var (name, signed) in new[] { ("certdns unsigned", false), ("knot onlinesign", true), ("certdns signed", true) })
        {
            var dir = Path.Combine(options.Work, $"run-dnssec-{name.Replace(' ', '-')}");
            if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true);
            Directory.CreateDirectory(dir);
            var psi = name.StartsWith("knot", StringComparison.Ordinal) ? KnotOnlineSign(data, dir, port)
                : CertDns(data, options, dir, port, signed);
            psi.RedirectStandardOutput = true;
            psi.RedirectStandardError = true;
            var output = new StringBuilder();
            using var process = Process.Start(psi)!;
            process.OutputDataReceived += (_, e) => { lock (output) output.AppendLine(e.Data); };
            process.ErrorDataReceived += (_, e) => { lock (output) output.AppendLine(e.Data); };
            process.BeginOutputReadLine();
            process.BeginErrorReadLine();
            try
            {
                var watch = Stopwatch.StartNew();
                using (var probe = new Probe(port, timeoutMs: 50))
                {
                    while (probe.Ask(DataSet.ProbeName) != "127.0.1.2")
                    {
                        if (process.HasExited || watch.Elapsed > TimeSpan.FromMinutes(10)) throw new InvalidOperationException($"{name}: no answer:\n{output}");
                        Thread.Sleep(10);
                    }
                }
                string[] dnssec = signed ? ["-D"] : [];
                // Warm-up: every known name asked once (-n 1: the whole file, however long it takes), so the measured run
                // below finds each one's signature cached, as a day's traffic leaves it, and the JIT tiers are up. A warm-up
                // of 10 s (before) reached only part of 100,000 names on a loaded machine, so the known-name row also timed
                // first signatures.
                var warm = Bench.RunDnsPerf(known, port, 600, options.Clients, [.. dnssec, "-n", "1"]);
                log($"{name}: warm-up, every known name once: {warm.Completed:N0} answered, {warm.Lost} lost, {warm.Qps:F0} qps");
                // The server's CPU seconds per 100,000 answers beside queries/s: what a loaded machine disturbs least.
                double cpu = ProcStats.CpuSeconds(process.Id);
                var k = Bench.RunDnsPerf(known, port, options.Seconds, options.Clients, dnssec);
                double knownCpu = Per100k(ProcStats.CpuSeconds(process.Id) - cpu, k);
                log($"{name}: known names {k.Qps:F0} qps, {k.Lost} lost, {knownCpu:F2} CPU s per 100k answers; load {File.ReadAllText("/proc/loadavg").Trim()}");
                DnsPerf? u = null;
                double unknownCpu = double.NaN;
                if (signed)
                {
                    cpu = ProcStats.CpuSeconds(process.Id);
                    u = Bench.RunDnsPerf(unknown, port, options.Seconds, options.Clients, [.. dnssec, "-n", "1"]);
                    unknownCpu = Per100k(ProcStats.CpuSeconds(process.Id) - cpu, u);
                    log($"{name}: unknown names {u.Qps:F0} qps, {u.Lost} lost, {u.Completed:N0} answered, {unknownCpu:F2} CPU s per 100k answers");
                }
                // After the measurements, on the same server: the signed transfer and sampled answers, validated outside the project.
                if (name == "certdns signed") bogus = ZeroBogus.Run(data, options, Path.Combine(dir, "keys.json"), dir, port, port + 100, Samples, log);
                rows.Add((name, k, knownCpu, u, unknownCpu));
            }
            finally
            {
                // Only the process this run started.
                if (!process.HasExited) process.Kill(entireProcessTree: true);
                process.WaitForExit(10_000);
            }
            port++;
        }

        Console.WriteLine();
        Console.WriteLine($"DNSSEC: N = {data.Count:N0} certificates, dnsperf -c {options.Clients} -q 200 for {options.Seconds} s, -D for the signed rows, one UDP worker each; load {File.ReadAllText("/proc/loadavg").Trim()}");
        Console.WriteLine();
        Console.WriteLine("| server | known names qps | CPU s per 100k known answers | unknown names (each once) qps | CPU s per 100k unknown answers |");
        Console.WriteLine("|---|---|---|---|---|");
        foreach (var (name, k, kc, u, uc) in rows)
            Console.WriteLine($"| {name} | {k.Qps:F0} ({k.Lost} lost) | {kc:F2} | {(u is null ? "-" : $"{u.Qps:F0} ({u.Lost} lost)")} | {(u is null ? "-" : $"{uc:F2}")} |");
        var knot = rows.FirstOrDefault(r => r.Name == "knot onlinesign");
        var signedRow = rows.FirstOrDefault(r => r.Name == "certdns signed");
        var plain = rows.FirstOrDefault(r => r.Name == "certdns unsigned");
        if (knot.Known is not null && signedRow.Known is not null && plain.Known is not null)
        {
            Console.WriteLine();
            double known5 = signedRow.Known.Qps / knot.Known.Qps, half = signedRow.Known.Qps / plain.Known.Qps;
            Console.WriteLine($"known names: signed {known5:F2}x Knot's queries/s (target 5x: {Met(known5 >= 5)}; CPU per answer {knot.KnownCpu / signedRow.KnownCpu:F2}x less than Knot's), "
                + $"{half:F2}x CertDns unsigned (target 0.5x: {Met(half >= 0.5)}; CPU per answer {signedRow.KnownCpu / plain.KnownCpu:F2}x unsigned's)");
            if (knot.Unknown is not null && signedRow.Unknown is not null)
            {
                double unknown2 = signedRow.Unknown.Qps / knot.Unknown.Qps;
                Console.WriteLine($"unknown names: signed {unknown2:F2}x Knot's queries/s (target 2x: {Met(unknown2 >= 2)}; CPU per answer {knot.UnknownCpu / signedRow.UnknownCpu:F2}x less than Knot's)");
            }
        }
        if (bogus is null) return false;
        Console.WriteLine();
        Console.WriteLine($"zero bogus: the signed AXFR, {bogus.Rrsets:N0} distinct RRsets ({string.Join(", ", bogus.RrsetsByType.Select(t => $"{t.Value:N0} {t.Key}"))}) at {bogus.Owners:N0} names with {bogus.Rrsigs:N0} RRSIGs ({bogus.Unsigned} RRsets unsigned), "
            + $"through ldns-verify-zone with the trust anchor from `certdns dnssec dnskey`: exit {bogus.LdnsExit}, {bogus.LdnsErrors} errors; "
            + $"{bogus.Sampled:N0} sampled answers ({string.Join(", ", bogus.SampledByCase.Select(c => $"{c.Value} {c.Key}"))}) through a validating Unbound: "
            + $"{bogus.Secure:N0} secure with the right answer, {bogus.Bogus} bogus, {bogus.Insecure} without AD, {bogus.Wrong} wrong ({bogus.Seconds:F0} s) "
            + (bogus.Passed ? $"(target: zero bogus over {(bogus.Rrsets >= 100_000 ? "" : "FEWER THAN ")}100,000 RRsets: {(bogus.Rrsets >= 100_000 ? "met" : "NOT met")})" : "BOGUS OR WRONG ANSWERS: FAILED"));
        return bogus.Passed;
    }

    private static string Met(bool met) => met ? "met" : "NOT met";

    private static double Per100k(double cpuSeconds, DnsPerf perf) => perf.Completed == 0 ? double.NaN : cpuSeconds / perf.Completed * 100_000;

    private static void WriteNames(string path, IEnumerable<long> indices)
    {
        using var w = new StreamWriter(path, false, Encoding.ASCII, 1 << 20);
        foreach (var i in indices)
        {
            w.Write(DataSet.Name(i));
            w.WriteLine(" A");
        }
    }

    private static ProcessStartInfo CertDns(DataSet data, Options options, string dir, int port, bool signed)
    {
        var psi = Peers.CertDns(options.CertDns, options.UdpThreads).Start(data, dir, port);
        if (!signed) return psi;
        string keys = Path.Combine(dir, "keys.json"), config = Path.Combine(dir, "certdns.toml");
        var keygen = Peers.Command(options.CertDns);
        keygen.RedirectStandardOutput = keygen.RedirectStandardError = true;
        foreach (var a in new[] { "--zone", DataSet.Apex, "dnssec", "keygen", "--keys", keys }) keygen.ArgumentList.Add(a);
        using (var p = Process.Start(keygen)!)
        {
            p.StandardOutput.ReadToEnd();
            var err = p.StandardError.ReadToEnd();
            p.WaitForExit();
            if (p.ExitCode != 0) throw new InvalidOperationException("dnssec keygen: " + err);
        }
        // The zero-bogus row transfers the signed zone from it.
        psi.ArgumentList.Add("--allow-transfer");
        psi.ArgumentList.Add("127.0.0.1");
        File.WriteAllText(config, $"[zone]\nname = \"{DataSet.Apex}\"\ndnssec = true\ndnssec-keys = \"{keys}\"\n");
        psi.ArgumentList.Add("--config");
        psi.ArgumentList.Add(config);
        return psi;
    }

    /// <summary>Knot with mod-onlinesign (its default policy: ECDSA P-256, keys made at load), one UDP worker.</summary>
    private static ProcessStartInfo KnotOnlineSign(DataSet data, string dir, int port) => Peers.KnotStart(data, dir, port, "mod-onlinesign");
}
