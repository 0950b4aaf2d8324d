using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text.RegularExpressions;
using CertDns.Bench;
using CertDns.Store;

// certdns-ixfr-bench: CertDns as primary of NSD, Knot and BIND; after the zone is held by all, C certificates are
// blocked in the store and published as one serial (SIGHUP); each secondary's catch-up time (primary serves the new
// serial -> the secondary does), whether it logged IXFR with no AXFR fallback, the condensed IXFR's octets per changed
// record, and every changed name asked of each secondary.
CultureInfo.DefaultThreadCurrentCulture = CultureInfo.InvariantCulture;
string? certdns = null;
long n = 10_000;
int changes = 1000;
string work = Path.Combine(Path.GetTempPath(), "certdns-bench");
string[] secondaries = ["nsd", "knot", "bind"];
for (int i = 0; i < args.Length; i++)
{
    string Next() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value");
    switch (args[i])
    {
        case "--certdns": certdns = Path.GetFullPath(Next()); break;
        case "--n": n = long.Parse(Next(), CultureInfo.InvariantCulture); break;
        case "--changes": changes = int.Parse(Next(), CultureInfo.InvariantCulture); break;
        case "--work": work = Path.GetFullPath(Next()); break;
        case "--secondaries": secondaries = Next().Split(','); break;
        default:
            Console.Error.WriteLine("usage: certdns-ixfr-bench --certdns BIN/certdns.dll [--n 10000] [--changes 1000] [--work DIR] [--secondaries nsd,knot,bind]");
            return 1;
    }
}
if (certdns is null || changes < 1 || changes > n / 2) { Console.Error.WriteLine("ixfr-bench: --certdns is required, --changes at most n/2"); return 1; }
static void Log(string line) => Console.Error.WriteLine(line);

var data = DataSet.Prepare(work, n, Log);
var dir = Path.Combine(work, $"ixfr-{n}");
if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true);
Directory.CreateDirectory(dir);
var db = Path.Combine(dir, "certdns.db");
File.Copy(data.Store, db);
int primary = FreePort();
var ports = secondaries.ToDictionary(s => s, _ => FreePort());
var processes = new List<Process>();
try
{
    var serve = new List<string> { certdns, "serve", "--db", db, "--listen", $"127.0.0.1:{primary}", "--allow-transfer", "127.0.0.1", "--poll", "3600", "--time-changes", "0" };
    foreach (var port in ports.Values) serve.AddRange(["--notify", $"127.0.0.1:{port}"]);
    var server = Start("dotnet", serve, Path.Combine(dir, "certdns.log"));
    processes.Add(server);
    uint s0 = WaitSerial(primary, null, TimeSpan.FromMinutes(10)) ?? throw new TimeoutException("certdns did not answer");
    Log($"certdns: serial {s0}, {n:N0} certificates");
    foreach (var (name, port) in ports) processes.Add(StartSecondary(name, Path.Combine(dir, name), port, primary));
    var held = Stopwatch.StartNew();
    foreach (var (name, port) in ports)
    {
        if (WaitSerial(port, s0, TimeSpan.FromMinutes(10)) is null) throw new TimeoutException($"{name} did not transfer the zone");
        Log($"{name}: holds serial {s0} after {held.Elapsed.TotalSeconds:F1} s (AXFR)");
    }
    // Steady state before the change: Knot writes its zone file after the AXFR (zonefile-sync 0) and takes a NOTIFY
    // only when that is done; at 1M that is tens of seconds a secondary in service is not spending.
    if (ports.ContainsKey("knot"))
    {
        var idle = Stopwatch.StartNew();
        while (!LogText(dir, "knot").Contains("zone file updated", StringComparison.Ordinal) && idle.Elapsed < TimeSpan.FromMinutes(5)) Thread.Sleep(100);
        Log($"knot: zone file written {idle.Elapsed.TotalSeconds:F1} s later");
    }
    var logMarks = secondaries.ToDictionary(s => s, s => LogText(dir, s).Length);

    // C changes: every other certificate from 1 on blocked (valid ones: their names move from wl to bl).
    var changed = Enumerable.Range(0, changes).Select(k => 2L * k + 1).Where(i => !DataSet.Revoked(i)).Take(changes).ToList();
    var written = Stopwatch.StartNew();
    using (var store = CertStore.Open(db))
    {
        foreach (var i in changed) store.Listings.Block(SHA256.HashData(DataSet.Der(i)), "ixfr bench", "operator", $"bench {i}");
    }
    Log($"{changed.Count} certificates blocked in {written.Elapsed.TotalSeconds:F1} s; SIGHUP publishes them as one serial");
    var published = Stopwatch.StartNew();
    Process.Start("kill", ["-HUP", server.Id.ToString(CultureInfo.InvariantCulture)])!.WaitForExit();
    uint s1 = WaitSerial(primary, null, TimeSpan.FromMinutes(5), not: s0) ?? throw new TimeoutException("certdns did not publish");
    var atPrimary = published.Elapsed;
    Log($"certdns: serial {s1} after {atPrimary.TotalSeconds:F2} s");
    var results = new List<string>();
    var caughtUp = new Dictionary<string, double>();
    var pending = new HashSet<string>(secondaries);
    var until = Stopwatch.StartNew();
    while (pending.Count > 0 && until.Elapsed < TimeSpan.FromMinutes(5))
    {
        foreach (var name in pending.ToList())
        {
            if (Soa(ports[name]) == s1)
            {
                caughtUp[name] = (published.Elapsed - atPrimary).TotalSeconds;
                pending.Remove(name);
            }
        }
        Thread.Sleep(5);
    }
    // The condensed IXFR from s0, as dig receives it.
    // Timed: what CertDns takes to build and send it, with nothing applied at the other end (dig only prints it).
    var answering = Stopwatch.StartNew();
    var dig = Run("dig", ["@127.0.0.1", "-p", primary.ToString(CultureInfo.InvariantCulture), DataSet.Apex, $"IXFR={s0}", "+tcp", "+time=30"]);
    var answered = answering.Elapsed;
    var size = Regex.Match(dig, @"XFR size: (\d+) records \(messages (\d+), bytes (\d+)\)");
    int records = int.Parse(size.Groups[1].Value, CultureInfo.InvariantCulture) - 4;
    int bytes = int.Parse(size.Groups[3].Value, CultureInfo.InvariantCulture);
    var axfr = Regex.Match(Run("dig", ["@127.0.0.1", "-p", primary.ToString(CultureInfo.InvariantCulture), DataSet.Apex, "AXFR", "+time=60"]), @"XFR size: \d+ records \(messages \d+, bytes (\d+)\)");
    Console.WriteLine($"n={n} changes={changed.Count} ixfr: {records} changed records, {bytes} octets, {(double)bytes / records:F1} octets per changed record, "
        + $"{(double)bytes / changed.Count:F0} per changed certificate; the whole zone (AXFR) is {axfr.Groups[1].Value} octets");
    Console.WriteLine($"certdns: publication (SIGHUP to the new serial served) {atPrimary.TotalSeconds:F2} s; the IXFR from {s0} to dig over TCP {answered.TotalSeconds:F3} s");
    foreach (var name in secondaries)
    {
        var since = LogText(dir, name)[logMarks[name]..];
        string how = name switch
        {
            // Knot logs the transfer's own time and then the whole refresh (transfer and applying it to its zone).
            "knot" => (since.Contains("IXFR, incoming", StringComparison.Ordinal) && !since.Contains("fallback to AXFR", StringComparison.Ordinal) ? "IXFR" : "AXFR?")
                + $" (NOTIFY to transfer start {KnotWait(since)}, transfer {Regex.Match(since, @"IXFR, incoming, .*finished, ([\d.]+) seconds").Groups[1].Value} s, refresh with applying {Regex.Match(since, @"zone updated, ([\d.]+) seconds").Groups[1].Value} s)",
            // BIND applies each message as it arrives: its transfer time includes applying the differences.
            "bind" => (since.Contains("got incremental response", StringComparison.Ordinal) && !since.Contains("nonincremental", StringComparison.Ordinal) ? "IXFR" : "AXFR?")
                + $" (transfer with applying {Regex.Matches(since, @"Transfer completed: .*, ([\d.]+) secs").LastOrDefault()?.Groups[1].Value} s)",
            // NSD does not log the transfer type; "of N bytes in S seconds" is what xfrd received; the rest is its reload.
            _ => Regex.Matches(since, @"of (\d+) bytes in ([\d.]+) seconds").LastOrDefault() is { } m ? $"{m.Groups[1].Value} bytes received in {double.Parse(m.Groups[2].Value, CultureInfo.InvariantCulture):F3} s" : "?",
        };
        int wrong = 0;
        using (var probe = new Probe(ports[name]))
        {
            foreach (var i in changed) if (probe.Ask(DataSet.Name(i)) != "127.0.0.3") wrong++;
        }
        Console.WriteLine($"  {name,-5} catch-up {(caughtUp.TryGetValue(name, out var t) ? $"{t:F3} s" : "TIMEOUT"),-9} log: {how}; changed names answered wrong: {wrong}/{changed.Count}");
    }
    return 0;
}
finally
{
    foreach (var p in processes)
    {
        try { if (!p.HasExited) p.Kill(entireProcessTree: true); } catch (InvalidOperationException) { }
        p.WaitForExit(5000);
    }
}

// Knot takes a NOTIFY only after the zone's earlier events (writing its zone file after the AXFR): from its log's
// timestamps (whole seconds), how long the IXFR waited.
static string KnotWait(string log)
{
    var notify = Regex.Match(log, @"T(\d\d:\d\d:\d\d)\S* info: \[[^\]]*\] notify, incoming");
    var start = Regex.Match(log, @"T(\d\d:\d\d:\d\d)\S* info: \[[^\]]*\] IXFR, incoming, .*started");
    return notify.Success && start.Success
        ? $"{(TimeSpan.Parse(start.Groups[1].Value, CultureInfo.InvariantCulture) - TimeSpan.Parse(notify.Groups[1].Value, CultureInfo.InvariantCulture)).TotalSeconds:F0} s"
        : "?";
}

static string LogText(string dir, string name)
{
    var path = name switch { "nsd" => "nsd/nsd.log", "knot" => "knot/knot.log", _ => "bind/named.log" };
    path = Path.Combine(dir, path);
    return File.Exists(path) ? File.ReadAllText(path) : "";
}

static Process StartSecondary(string name, string dir, int port, int primary)
{
    Directory.CreateDirectory(dir);
    var conf = Path.Combine(dir, name + ".conf");
    switch (name)
    {
        case "nsd":
            File.WriteAllText(conf, $"""
                server:
                    ip-address: 127.0.0.1@{port}
                    do-ip6: no
                    server-count: 1
                    username: ""
                    chroot: ""
                    zonesdir: "{dir}"
                    database: ""
                    zonelistfile: "{dir}/zone.list"
                    xfrdfile: "{dir}/xfrd.state"
                    xfrdir: "{dir}"
                    pidfile: "{dir}/nsd.pid"
                    logfile: "{dir}/nsd.log"
                    verbosity: 2
                remote-control:
                    control-enable: no
                zone:
                    name: "{DataSet.Apex}"
                    zonefile: "secondary.zone"
                    request-xfr: 127.0.0.1@{primary} NOKEY
                    allow-notify: 127.0.0.1 NOKEY
                """);
            return Start("nsd", ["-d", "-c", conf], Path.Combine(dir, "stdout"));
        case "knot":
            File.WriteAllText(conf, $"""
                server:
                    listen: 127.0.0.1@{port}
                    rundir: "{dir}"
                    udp-workers: 1
                    tcp-workers: 1
                    background-workers: 1
                log:
                  - target: "{dir}/knot.log"
                    any: info
                database:
                    storage: "{dir}"
                remote:
                  - id: primary
                    address: 127.0.0.1@{primary}
                acl:
                  - id: notify_from_primary
                    address: 127.0.0.1
                    action: notify
                template:
                  - id: default
                    storage: "{dir}"
                    semantic-checks: off
                zone:
                  - domain: {DataSet.Apex}
                    master: primary
                    acl: notify_from_primary
                """);
            return Start("knotd", ["-c", conf], Path.Combine(dir, "stdout"));
        default:
            File.WriteAllText(conf, $$"""
                options {
                    directory "{{dir}}";
                    pid-file "{{dir}}/named.pid";
                    session-keyfile "{{dir}}/session.key";
                    managed-keys-directory "{{dir}}";
                    listen-on port {{port}} { 127.0.0.1; };
                    listen-on-v6 { none; };
                    recursion no;
                    dnssec-validation no;
                    notify no;
                };
                controls { };
                logging {
                    channel file { file "{{dir}}/named.log"; severity debug 3; print-time yes; print-category yes; };
                    category default { file; };
                };
                zone "{{DataSet.Apex}}" {
                    type secondary;
                    primaries { 127.0.0.1 port {{primary}}; };
                    file "secondary.db";
                    allow-notify { 127.0.0.1; };
                    request-ixfr yes;
                    check-names ignore;
                };
                """);
            return Start("named", ["-f", "-c", conf], Path.Combine(dir, "stdout"));
    }
}

static Process Start(string file, IEnumerable<string> arguments, string output)
{
    var psi = new ProcessStartInfo(file) { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
    foreach (var a in arguments) psi.ArgumentList.Add(a);
    var process = Process.Start(psi)!;
    var sink = new StreamWriter(output) { AutoFlush = true };
    process.OutputDataReceived += (_, e) => { lock (sink) sink.WriteLine(e.Data); };
    process.ErrorDataReceived += (_, e) => { lock (sink) sink.WriteLine(e.Data); };
    process.BeginOutputReadLine();
    process.BeginErrorReadLine();
    return process;
}

static string Run(string file, string[] arguments)
{
    var psi = new ProcessStartInfo(file) { UseShellExecute = false, RedirectStandardOutput = true };
    foreach (var a in arguments) psi.ArgumentList.Add(a);
    using var process = Process.Start(psi)!;
    var text = process.StandardOutput.ReadToEnd();
    process.WaitForExit();
    return text;
}

static int FreePort()
{
    using var tcp = new TcpListener(IPAddress.Loopback, 0);
    tcp.Start();
    return ((IPEndPoint)tcp.LocalEndpoint).Port;
}

// The SOA serial at port, or null when nothing answers (a raw UDP query: this polls every few milliseconds).
static uint? Soa(int port)
{
    using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp) { ReceiveTimeout = 200 };
    var query = new List<byte> { 0x12, 0x34, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0 };
    foreach (var label in DataSet.Apex.Split('.')) { query.Add((byte)label.Length); query.AddRange(System.Text.Encoding.ASCII.GetBytes(label)); }
    query.AddRange([0, 0, 6, 0, 1]);
    try
    {
        socket.SendTo(query.ToArray(), new IPEndPoint(IPAddress.Loopback, port));
        var buffer = new byte[1500];
        int length = socket.Receive(buffer);
        if (length < 12 || (buffer[3] & 0xF) != 0 || buffer[7] == 0) return null;
        // The SOA's RDATA ends with serial, refresh, retry, expire, minimum: the serial is 20 octets from its end.
        int at = query.Count;
        at += (buffer[at] & 0xC0) == 0xC0 ? 2 : SkipName(buffer, at);
        int rdlength = (buffer[at + 8] << 8) | buffer[at + 9];
        int end = at + 10 + rdlength;
        return System.Buffers.Binary.BinaryPrimitives.ReadUInt32BigEndian(buffer.AsSpan(end - 20));
    }
    catch (SocketException)
    {
        return null;
    }
}

static int SkipName(byte[] buffer, int at)
{
    int start = at;
    while (buffer[at] != 0 && (buffer[at] & 0xC0) == 0) at += 1 + buffer[at];
    return (buffer[at] & 0xC0) == 0xC0 ? at + 2 - start : at + 1 - start;
}

static uint? WaitSerial(int port, uint? serial, TimeSpan patience, uint? not = null)
{
    var watch = Stopwatch.StartNew();
    while (watch.Elapsed < patience)
    {
        var now = Soa(port);
        if (now is { } s && (serial is null || s == serial) && (not is null || s != not)) return s;
        Thread.Sleep(10);
    }
    return null;
}

namespace CertDns.Bench
{
    /// <summary>A UDP client for A questions: the first answer's address, or what came instead.</summary>
    internal sealed class Probe : IDisposable
    {
        private readonly Socket _socket = new(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        private readonly byte[] _buffer = new byte[4096];
        private ushort _id;

        public Probe(int port)
        {
            _socket.Connect(new IPEndPoint(IPAddress.Loopback, port));
            _socket.ReceiveTimeout = 1000;
        }

        public string? Ask(string name)
        {
            var id = ++_id;
            var query = new List<byte> { (byte)(id >> 8), (byte)id, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0 };
            foreach (var label in name.Split('.'))
            {
                query.Add((byte)label.Length);
                query.AddRange(System.Text.Encoding.ASCII.GetBytes(label));
            }
            query.AddRange([0, 0, 1, 0, 1]);
            try
            {
                _socket.Send(query.ToArray());
                int length = _socket.Receive(_buffer);
                if (length < 12 || (_buffer[3] & 0xF) != 0) return $"rcode {_buffer[3] & 0xF}";
                if (((_buffer[6] << 8) | _buffer[7]) == 0) return "NODATA";
                int pos = query.Count;
                while (_buffer[pos] != 0 && (_buffer[pos] & 0xC0) == 0) pos += 1 + _buffer[pos];
                pos += ((_buffer[pos] & 0xC0) == 0xC0 ? 2 : 1) + 10;
                return $"{_buffer[pos]}.{_buffer[pos + 1]}.{_buffer[pos + 2]}.{_buffer[pos + 3]}";
            }
            catch (SocketException)
            {
                return null;
            }
        }

        public void Dispose() => _socket.Dispose();
    }
}
