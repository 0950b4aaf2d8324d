using System.Buffers.Binary;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using CertDns.Dns;

namespace CertDns.Bench;

/// <summary>
/// <c>--rrl</c>: what response rate limiting and DNS cookies cost and buy (issue #14). Amplification: one source floods
/// the largest answer (a revoked certificate's TXT) and every octet in and out is counted, over the run and after its
/// first second. Legitimate traffic: the usual dnsperf run against certdns with RRL and cookies off, then on with
/// dnsperf presenting a valid server cookie (made here with the configured secret), as a cookie-aware resolver would.
/// </summary>
internal static class RrlBench
{
    private const string Secret = "000102030405060708090a0b0c0d0e0f";

    public static void Run(DataSet data, Options options, Action<string> log)
    {
        int port = options.Port;
        var (ratio, after, answered, sent, limitedRate) = Amplification(data, options, port++, log);
        var (off, on) = Legitimate(data, options, port, log);

        Console.WriteLine();
        Console.WriteLine($"RRL: one-source flood of TXT answers for a revoked certificate, {sent:N0} queries in {options.Seconds} s; RRL on (responses-per-second {limitedRate}, slip 2)");
        Console.WriteLine();
        Console.WriteLine("| measurement | value |");
        Console.WriteLine("|---|---|");
        Console.WriteLine($"| amplification, whole run (bytes out / bytes in) | {ratio:F3} |");
        Console.WriteLine($"| amplification after the first second | {after:F3} |");
        Console.WriteLine($"| flood answers received (full and slipped) | {answered:N0} of {sent:N0} |");
        Console.WriteLine($"| legitimate qps, RRL and cookies off (median of {Rounds}) | {off.Qps:F0} ({off.Lost} lost), {off.Cpu:F3} CPU s per 100k answers |");
        Console.WriteLine($"| legitimate qps, RRL and cookies on, valid server cookie (median of {Rounds}) | {on.Qps:F0} ({on.Lost} lost, {on.Qps / off.Qps:P1} of off), {on.Cpu:F3} CPU s per 100k answers ({on.Cpu / off.Cpu:F3}x) |");
    }

    private static (Process Process, string Dir) Start(DataSet data, Options options, int port, string name, string config, string rrl, Action<string> log)
    {
        var dir = Path.Combine(options.Work, $"run-{name}");
        if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true);
        Directory.CreateDirectory(dir);
        File.WriteAllText(Path.Combine(dir, "certdns.toml"), config);
        var psi = Peers.CertDns(options.CertDns, options.UdpThreads).Start(data, dir, port);
        foreach (var a in new[] { "--config", Path.Combine(dir, "certdns.toml"), "--rrl", rrl }) psi.ArgumentList.Add(a);
        psi.RedirectStandardOutput = true;
        psi.RedirectStandardError = true;
        var process = Process.Start(psi)!;
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var watch = Stopwatch.StartNew();
        using var probe = new Probe(port, timeoutMs: 50);
        while (probe.Ask(DataSet.ProbeName) != "127.0.1.2")
        {
            if (process.HasExited || watch.Elapsed > TimeSpan.FromMinutes(10)) throw new InvalidOperationException($"{name}: certdns gave no answer");
            Thread.Sleep(10);
        }
        log($"{name}: first answer after {watch.Elapsed.TotalSeconds:F2} s");
        return (process, dir);
    }

    private static void Stop(Process process)
    {
        if (!process.HasExited) process.Kill(entireProcessTree: true);
        process.WaitForExit(10_000);
        process.Dispose();
    }

    private static (double Ratio, double AfterFirstSecond, long Answered, long Sent, int Rate) Amplification(DataSet data, Options options, int port, Action<string> log)
    {
        var limits = new RateLimitOptions();
        var (process, _) = Start(data, options, port, "rrl-flood", "[rrl]\nenable = true\n", "on", log);
        try
        {
            // A revoked certificate (every tenth): its TXT answer is the zone's largest.
            var query = Query(DataSet.Name(10), 16);
            using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp) { ReceiveBufferSize = 16 << 20 };
            socket.Connect(new IPEndPoint(IPAddress.Loopback, port));
            var clock = Stopwatch.StartNew();
            var first = TimeSpan.FromSeconds(1);
            long sent = 0, bytesIn = 0, inAfter = 0;
            long answered = 0, bytesOut = 0, outAfter = 0;
            bool sending = true;
            var receiver = new Thread(() =>
            {
                var buffer = new byte[65535];
                while (Volatile.Read(ref sending) || socket.Poll(TimeSpan.FromSeconds(1), SelectMode.SelectRead))
                {
                    if (!socket.Poll(TimeSpan.FromMilliseconds(100), SelectMode.SelectRead)) continue;
                    int n = socket.Receive(buffer);
                    answered++;
                    bytesOut += n;
                    if (clock.Elapsed >= first) outAfter += n;
                }
            });
            receiver.Start();
            // 25,000 queries a second, in batches every 4 ms: as much as one loopback socket carries without losses.
            var end = TimeSpan.FromSeconds(options.Seconds);
            while (clock.Elapsed < end)
            {
                for (int i = 0; i < 100; i++)
                {
                    BinaryPrimitives.WriteUInt16BigEndian(query, (ushort)sent);
                    int n = socket.Send(query);
                    sent++;
                    bytesIn += n;
                    if (clock.Elapsed >= first) inAfter += n;
                }
                var next = TimeSpan.FromMilliseconds(4.0 * sent / 100);
                while (clock.Elapsed < next) Thread.SpinWait(100);
            }
            Volatile.Write(ref sending, false);
            receiver.Join();
            double ratio = (double)bytesOut / bytesIn, after = inAfter == 0 ? double.NaN : (double)outAfter / inAfter;
            log($"rrl-flood: {sent:N0} queries ({bytesIn:N0} octets), {answered:N0} answers ({bytesOut:N0} octets): {ratio:F3}x, after the first second {after:F3}x");
            return (ratio, after, answered, sent, limits.ResponsesPerSecond);
        }
        finally
        {
            Stop(process);
        }
    }

    /// <summary>dnsperf rounds against each of the two servers, alternating, so that a load change hits both alike.</summary>
    private const int Rounds = 3;

    /// <summary>
    /// The same legitimate traffic (dnsperf presenting the server cookie a resolver at 127.0.0.1 learnt: client cookie
    /// and RFC 9018 server cookie) against two servers up at once, one with RRL and cookies off (it ignores the cookie)
    /// and one with both on, in alternating rounds; per server the median round's queries/s, and the server's CPU
    /// seconds per 100,000 answers, which a loaded machine disturbs less than queries/s.
    /// </summary>
    private static ((double Qps, long Lost, double Cpu) Off, (double Qps, long Lost, double Cpu) On) Legitimate(DataSet data, Options options, int port, Action<string> log)
    {
        var cookie = new byte[ServerCookies.ResponseLength];
        new ServerCookies(Convert.FromHexString(Secret), default, TimeProvider.System).Check([1, 2, 3, 4, 5, 6, 7, 8], [127, 0, 0, 1], cookie);
        string[] extra = ["-E", "10:" + Convert.ToHexStringLower(cookie)];
        var (offServer, _) = Start(data, options, port, "rrl-cookies-off", "[rrl]\nenable = false\n[cookies]\nenable = false\n", "off", log);
        try
        {
            var (onServer, _) = Start(data, options, port + 1, "rrl-cookies-on", $"[rrl]\nenable = true\n[cookies]\nsecret = \"{Secret}\"\n", "on", log);
            try
            {
                var servers = new[] { (Name: "rrl-cookies-off", Process: offServer, Port: port), (Name: "rrl-cookies-on", Process: onServer, Port: port + 1) };
                var rounds = servers.ToDictionary(s => s.Name, _ => new List<(double Qps, long Lost, double Cpu)>());
                foreach (var server in servers) Bench.RunDnsPerf(data.Queries, server.Port, Math.Min(5, options.Seconds), options.Clients, extra);
                for (int round = 1; round <= Rounds; round++)
                {
                    foreach (var server in round % 2 == 1 ? servers : servers.Reverse())
                    {
                        double cpuBefore = ProcStats.CpuSeconds(server.Process.Id);
                        var perf = Bench.RunDnsPerf(data.Queries, server.Port, options.Seconds, options.Clients, extra);
                        double cpu = (ProcStats.CpuSeconds(server.Process.Id) - cpuBefore) / Math.Max(1, perf.Completed) * 100_000;
                        log($"{server.Name} round {round}: {perf.Qps:F0} qps, {perf.Lost} lost, {cpu:F3} CPU s per 100k answers (loadavg {File.ReadAllText("/proc/loadavg").Trim()})");
                        rounds[server.Name].Add((perf.Qps, perf.Lost, cpu));
                    }
                }
                static (double, long, double) Median(List<(double Qps, long Lost, double Cpu)> list) =>
                    (list.Select(r => r.Qps).Order().ElementAt(list.Count / 2), list.Sum(r => r.Lost), list.Select(r => r.Cpu).Order().ElementAt(list.Count / 2));
                return (Median(rounds["rrl-cookies-off"]), Median(rounds["rrl-cookies-on"]));
            }
            finally
            {
                Stop(onServer);
            }
        }
        finally
        {
            Stop(offServer);
        }
    }

    /// <summary>A query for <paramref name="name"/> with an OPT advertising 1232 octets, as resolvers send.</summary>
    private static byte[] Query(string name, ushort type)
    {
        var query = new List<byte> { 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1 };
        foreach (var label in name.Split('.'))
        {
            query.Add((byte)label.Length);
            query.AddRange(System.Text.Encoding.ASCII.GetBytes(label));
        }
        query.AddRange([0, (byte)(type >> 8), (byte)type, 0, 1]);
        query.AddRange([0, 0, 41, 0x04, 0xD0, 0, 0, 0, 0, 0, 0]);
        _ = CultureInfo.InvariantCulture;
        return [.. query];
    }
}
