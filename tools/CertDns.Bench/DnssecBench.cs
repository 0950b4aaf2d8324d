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
    public static void Run(DataSet data, Options options, Action<string> log)
    {
        string known = Path.Combine(options.Work, "dnssec-known.txt"), unknown = Path.Combine(options.Work, "dnssec-unknown.txt");
        WriteNames(known, Enumerable.Range(0, (int)Math.Min(data.Count, 300_000)).Select(i => (long)i));
        // Never registered: indices above the data set, each once; more than any run here answers in its seconds.
        WriteNames(unknown, Enumerable.Range(0, 1_500_000).Select(i => data.Count + 1 + (long)i));
        var rows = new List<(string Name, DnsPerf Known, DnsPerf? Unknown)>();
        int port = options.Port;
        foreach (var (name, signed) in new[] { ("certdns unsigned", false), ("certdns signed", true), ("knot onlinesign", true) })
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
                // Warm-up over every known name (JIT tiers; for the signers, one signature per name, as a day's traffic leaves).
                Bench.RunDnsPerf(known, port, Math.Min(10, options.Seconds), options.Clients, dnssec);
                var k = Bench.RunDnsPerf(known, port, options.Seconds, options.Clients, dnssec);
                log($"{name}: known names {k.Qps:F0} qps, {k.Lost} lost");
                DnsPerf? u = null;
                if (signed)
                {
                    u = Bench.RunDnsPerf(unknown, port, options.Seconds, options.Clients, [.. dnssec, "-n", "1"]);
                    log($"{name}: unknown names {u.Qps:F0} qps, {u.Lost} lost, {u.Completed:N0} answered");
                }
                rows.Add((name, k, u));
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
        Console.WriteLine("| server | known names qps | unknown names (each once) qps |");
        Console.WriteLine("|---|---|---|");
        foreach (var (name, k, u) in rows) Console.WriteLine($"| {name} | {k.Qps:F0} ({k.Lost} lost) | {(u is null ? "-" : $"{u.Qps:F0} ({u.Lost} lost)")} |");
        var knot = rows.FirstOrDefault(r => r.Name == "knot onlinesign");
        var signedRow = rows.FirstOrDefault(r => r.Name == "certdns signed");
        var plain = rows.FirstOrDefault(r => r.Name == "certdns unsigned");
        if (knot.Known is not null && signedRow.Known is not null && plain.Known is not null)
        {
            Console.WriteLine();
            Console.WriteLine($"known names: signed {signedRow.Known.Qps / knot.Known.Qps:F2}x Knot (target 5x), {signedRow.Known.Qps / plain.Known.Qps:F2}x CertDns unsigned (target 0.5x)");
            if (knot.Unknown is not null && signedRow.Unknown is not null)
                Console.WriteLine($"unknown names: signed {signedRow.Unknown.Qps / knot.Unknown.Qps:F2}x Knot (target 2x)");
        }
    }

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
        File.WriteAllText(config, $"[zone]\nname = \"{DataSet.Apex}\"\ndnssec = true\ndnssec-keys = \"{keys}\"\n");
        psi.ArgumentList.Add("--config");
        psi.ArgumentList.Add(config);
        return psi;
    }

    /// <summary>Knot with mod-onlinesign (its default policy: ECDSA P-256, keys made at load), one UDP worker.</summary>
    private static ProcessStartInfo KnotOnlineSign(DataSet data, string dir, int port) => Peers.KnotStart(data, dir, port, "mod-onlinesign");
}
