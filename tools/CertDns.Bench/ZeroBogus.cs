using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace CertDns.Bench;

/// <summary>What the zero-bogus row found: the signed transfer through ldns-verify-zone, sampled answers through Unbound.</summary>
internal sealed record ZeroBogusResult(int Rrsets, IReadOnlyDictionary<string, int> RrsetsByType, int Owners, int Rrsigs, int Unsigned, int LdnsExit, int LdnsErrors, int Sampled, int Secure, int Bogus, int Insecure, int Wrong,
    IReadOnlyDictionary<string, int> SampledByCase, double Seconds)
{
    /// <summary>Every RRset signed, ldns-verify-zone passed with no error, every sampled answer validated (AD) and said what it should.</summary>
    public bool Passed => Rrsets > 0 && Unsigned == 0 && LdnsExit == 0 && LdnsErrors == 0 && Sampled > 0 && Secure == Sampled && Bogus == 0 && Insecure == 0 && Wrong == 0;
}

/// <summary>
/// Issue #15's third target, zero bogus signatures over 100,000 distinct RRsets, checked by validators outside the
/// project: the signed zone as a secondary gets it (AXFR with dig) through ldns-verify-zone with the trust anchor
/// <c>certdns dnssec dnskey</c> prints; and a random sample of online-signed answers (valid, revoked, revoked TXT,
/// unknown names never asked before, NODATA at a name and at an empty non-terminal) through a validating Unbound
/// with the same anchor, each of which must come back with AD and the right answer.
/// </summary>
internal static class ZeroBogus
{
    public static ZeroBogusResult Run(DataSet data, Options options, string keys, string dir, int port, int unboundPort, int samples, Action<string> log)
    {
        var watch = Stopwatch.StartNew();
        var anchor = Path.Combine(dir, "anchor");
        File.WriteAllText(anchor, Tool(Peers.Command(options.CertDns), "dnssec", "dnskey", "--keys", keys).Stdout);

        // The transfer a secondary gets: the SOA once, one record a line, as ldns reads a zone file.
        var zone = Path.Combine(dir, "signed-axfr.zone");
        var axfr = Tool(new ProcessStartInfo("dig"), "@127.0.0.1", "-p", Port(port), DataSet.Apex, "AXFR", "+onesoa", "+nocmd", "+nocomments", "+nostats", "+time=60");
        File.WriteAllText(zone, axfr.Stdout);
        var (rrsets, byType, owners, rrsigs, unsigned) = CountRrsets(axfr.Stdout);
        log($"  zero bogus: AXFR {rrsets:N0} RRsets at {owners:N0} names, {rrsigs:N0} RRSIGs, {unsigned} RRsets unsigned ({watch.Elapsed.TotalSeconds:F1} s)");

        var ldns = Tool(new ProcessStartInfo("ldns-verify-zone"), check: false, "-V", "1", "-k", anchor, zone);
        var ldnsText = ldns.Stdout + ldns.Stderr;
        int ldnsErrors = ldnsText.Split('\n').Count(l => l.StartsWith("Error", StringComparison.OrdinalIgnoreCase));
        log($"  zero bogus: ldns-verify-zone exit {ldns.ExitCode}, {ldnsErrors} errors: {ldnsText.Trim().Split('\n').LastOrDefault()} ({watch.Elapsed.TotalSeconds:F1} s)");
        if (ldnsErrors > 0 || ldns.ExitCode != 0) log(string.Join('\n', ldnsText.Split('\n').Take(20)));

        var (sampled, secure, bogus, insecure, wrong, byCase) = Sample(data, dir, port, unboundPort, anchor, samples, log);
        log($"  zero bogus: {sampled:N0} sampled answers through Unbound: {secure:N0} secure, {bogus} bogus, {insecure} insecure, {wrong} wrong ({watch.Elapsed.TotalSeconds:F1} s)");
        return new ZeroBogusResult(rrsets, byType, owners, rrsigs, unsigned, ldns.ExitCode, ldnsErrors, sampled, secure, bogus, insecure, wrong, byCase, watch.Elapsed.TotalSeconds);
    }

    /// <summary>Distinct (owner, type) RRsets other than RRSIG, the names, the RRSIGs, and how many RRsets no RRSIG covers.</summary>
    private static (int Rrsets, Dictionary<string, int> ByType, int Owners, int Rrsigs, int Unsigned) CountRrsets(string zone)
    {
        var sets = new HashSet<(string, string)>();
        var signedSets = new HashSet<(string, string)>();
        var owners = new HashSet<string>();
        int rrsigs = 0;
        foreach (var line in zone.Split('\n'))
        {
            if (line.Length == 0 || line[0] == ';') continue;
            var f = line.Split(['\t', ' '], 6, StringSplitOptions.RemoveEmptyEntries);
            if (f.Length < 5) continue;
            var owner = f[0].ToLowerInvariant();
            owners.Add(owner);
            if (f[3] == "RRSIG")
            {
                rrsigs++;
                signedSets.Add((owner, f[4]));
            }
            else
            {
                sets.Add((owner, f[3]));
            }
        }
        var byType = sets.GroupBy(s => s.Item2).OrderByDescending(g => g.Count()).ToDictionary(g => g.Key, g => g.Count());
        return (sets.Count, byType, owners.Count, rrsigs, sets.Count(s => !signedSets.Contains(s)));
    }

    private enum Expect { Address, Txt, Denied }

    /// <summary>
    /// The sample, asked of a validating Unbound in one dig batch: each answer must have AD (secure), never SERVFAIL
    /// (bogus), and say what the data set says (the status code, the TXT, or no record of the type asked).
    /// </summary>
    private static (int Sampled, int Secure, int Bogus, int Insecure, int Wrong, Dictionary<string, int> ByCase) Sample(DataSet data, string dir, int port, int unboundPort,
        string anchor, int samples, Action<string> log)
    {
        int seed = Environment.TickCount;
        var random = new Random(seed);
        var queries = new List<(string Case, string Name, string Type, Expect Expect, string? Address)>();
        long Known() => random.NextInt64(data.Count);
        long RevokedIndex() => 10 * random.NextInt64(Math.Max(1, data.Count / 10));
        for (int i = 0; i < samples; i++)
        {
            switch (i % 10)
            {
                case 0 or 1 or 2:
                    long v = Known();
                    if (DataSet.Revoked(v)) v = v + 1 < data.Count ? v + 1 : 1;
                    queries.Add(("valid A", DataSet.Name(v), "A", Expect.Address, "127.0.1.2"));
                    break;
                case 3 or 4:
                    queries.Add(("revoked A", DataSet.Name(RevokedIndex()), "A", Expect.Address, "127.0.0.2"));
                    break;
                case 5:
                    queries.Add(("revoked TXT", DataSet.Name(RevokedIndex()), "TXT", Expect.Txt, null));
                    break;
                case 6 or 7:
                    // Never registered and never asked in the runs before (those used indices just above the data set).
                    queries.Add(("unknown A", DataSet.Name(data.Count + 10_000_000 + random.NextInt64(1_000_000_000)), "A", Expect.Denied, null));
                    break;
                case 8:
                    queries.Add(("NODATA (AAAA at a registered name)", DataSet.Name(Known()), "AAAA", Expect.Denied, null));
                    break;
                default:
                    // The split name's right half alone: an empty non-terminal (RFC 8020: NODATA, not NXDOMAIN).
                    var name = DataSet.Name(Known());
                    queries.Add(("NODATA (empty non-terminal)", name[(name.IndexOf('.', StringComparison.Ordinal) + 1)..], "A", Expect.Denied, null));
                    break;
            }
        }
        using var unbound = ValidatingUnbound(dir, unboundPort, port, anchor);
        var batch = Path.Combine(dir, "sample.batch");
        File.WriteAllLines(batch, queries.Select(q => $"{q.Name} {q.Type}"));
        var dig = Tool(new ProcessStartInfo("dig"), "@127.0.0.1", "-p", Port(unboundPort), "+rec", "+dnssec", "+tries=2", "+time=10", "+noall", "+comments", "+answer", "-f", batch);
        var answers = dig.Stdout.Split(";; Got answer:", StringSplitOptions.RemoveEmptyEntries).Where(a => a.Contains("->>HEADER<<-", StringComparison.Ordinal)).ToList();
        if (answers.Count != queries.Count) log($"  zero bogus: dig printed {answers.Count} answers for {queries.Count} queries");
        int secure = 0, bogus = 0, insecure = 0, wrong = 0;
        var byCase = new Dictionary<string, int>();
        for (int i = 0; i < queries.Count; i++)
        {
            var q = queries[i];
            byCase[q.Case] = byCase.GetValueOrDefault(q.Case) + 1;
            if (i >= answers.Count)
            {
                wrong++;
                continue;
            }
            var a = answers[i];
            var status = Regex.Match(a, @"status: (\w+)").Groups[1].Value;
            var flags = Regex.Match(a, @";; flags:([^;]*);").Groups[1].Value.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            // The answer section's records of the type asked, at the name asked.
            var records = a.Split('\n').Select(l => l.Split(['\t', ' '], 5, StringSplitOptions.RemoveEmptyEntries))
                .Where(f => f.Length == 5 && f[0].Equals(q.Name + ".", StringComparison.OrdinalIgnoreCase) && f[3] == q.Type).ToList();
            bool right = q.Expect switch
            {
                Expect.Address => status == "NOERROR" && records.Count == 1 && records[0][4].Trim() == q.Address,
                Expect.Txt => status == "NOERROR" && records.Count == 1 && records[0][4].Contains("revoked", StringComparison.OrdinalIgnoreCase),
                _ => status is "NOERROR" or "NXDOMAIN" && records.Count == 0,
            };
            if (status == "SERVFAIL") bogus++;
            else if (!flags.Contains("ad")) insecure++;
            else if (right) secure++;
            if (status != "SERVFAIL" && !right) wrong++;
            if ((status == "SERVFAIL" || !flags.Contains("ad") || !right) && bogus + insecure + wrong <= 5)
                log($"  zero bogus: {q.Case} {q.Name} {q.Type}: {status} flags [{string.Join(' ', flags)}]\n{a.Trim()}");
        }
        if (bogus > 0) log($"  zero bogus: Unbound's log of the failures (seed {seed}):\n{string.Join('\n', unbound.Log.Split('\n').Where(l => l.Contains("validation failure", StringComparison.Ordinal)).Take(10))}");
        return (queries.Count, secure, bogus, insecure, wrong, byCase);
    }

    /// <summary>A validating Unbound (validator iterator, the one trust anchor) on a loopback port, stubbed to CertDns.</summary>
    private sealed class Unbound(Process process, StringBuilder log) : IDisposable
    {
        public string Log
        {
            get
            {
                lock (log) return log.ToString();
            }
        }

        public void Dispose()
        {
            // Only the process this run started.
            if (!process.HasExited) process.Kill(entireProcessTree: true);
            process.WaitForExit(5000);
            process.Dispose();
        }
    }

    private static Unbound ValidatingUnbound(string dir, int port, int certdnsPort, string anchor)
    {
        var conf = Path.Combine(dir, "unbound.conf");
        File.WriteAllText(conf, $"""
            server:
                interface: 127.0.0.1
                port: {port}
                outgoing-interface: 127.0.0.1
                do-ip6: no
                access-control: 127.0.0.0/8 allow
                chroot: ""
                username: ""
                directory: "{dir}"
                pidfile: "{dir}/unbound.pid"
                use-syslog: no
                logfile: ""
                verbosity: 1
                val-log-level: 2
                module-config: "validator iterator"
                trust-anchor-file: "{anchor}"
                do-not-query-localhost: no
                num-threads: 1
            stub-zone:
                name: "{DataSet.Apex}"
                stub-addr: 127.0.0.1@{certdnsPort}
            stub-zone:
                name: "."
                stub-addr: 127.0.0.1@{certdnsPort}
            """);
        var psi = new ProcessStartInfo("unbound") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in new[] { "-d", "-c", conf }) psi.ArgumentList.Add(a);
        var log = new StringBuilder();
        var process = Process.Start(psi)!;
        process.OutputDataReceived += (_, e) => { lock (log) log.AppendLine(e.Data); };
        process.ErrorDataReceived += (_, e) => { lock (log) log.AppendLine(e.Data); };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var unbound = new Unbound(process, log);
        var watch = Stopwatch.StartNew();
        // Listening once it answers the apex SOA at all (a SERVFAIL would show in the sample, not here).
        while (true)
        {
            if (process.HasExited || watch.Elapsed > TimeSpan.FromSeconds(30))
            {
                unbound.Dispose();
                throw new InvalidOperationException($"unbound did not start: {unbound.Log}");
            }
            var probe = Tool(new ProcessStartInfo("dig"), check: false, "@127.0.0.1", "-p", Port(port), "+tries=1", "+time=1", DataSet.Apex, "SOA");
            if (probe.ExitCode == 0) return unbound;
            Thread.Sleep(100);
        }
    }

    private static string Port(int port) => port.ToString(CultureInfo.InvariantCulture);

    private static (int ExitCode, string Stdout, string Stderr) Tool(ProcessStartInfo psi, params string[] args) => Tool(psi, check: true, args);

    private static (int ExitCode, string Stdout, string Stderr) Tool(ProcessStartInfo psi, bool check, params string[] args)
    {
        psi.RedirectStandardOutput = psi.RedirectStandardError = true;
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var err = p.StandardError.ReadToEndAsync();
        var text = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        if (check && p.ExitCode != 0) throw new InvalidOperationException($"{psi.FileName} {string.Join(' ', psi.ArgumentList)}: exit {p.ExitCode}: {err.Result}");
        return (p.ExitCode, text, err.Result);
    }
}
