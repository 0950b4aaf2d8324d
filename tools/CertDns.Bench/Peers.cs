using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace CertDns.Bench;

/// <summary>A server under test: how to configure and start it in its own directory on a loopback port.</summary>
/// <param name="Name">Its row in the table.</param>
/// <param name="Start">How to start it on the data, in a folder, on a port.</param>
/// <param name="ScrapesMetrics">Whether the run scrapes its /metrics once per second, as Prometheus would.</param>
internal sealed record Peer(string Name, Func<DataSet, string, int, ProcessStartInfo> Start, bool ScrapesMetrics = false);

internal static class Peers
{
    /// <summary>The store file a certdns run serves: a copy, so the reload test leaves the data set as it was.</summary>
    public static string CertDnsStore(string dir) => Path.Combine(dir, "certdns.db");

    /// <summary>
    /// certdns serve on a copy of the store; with <paramref name="metrics"/> ("certdns-metrics") also the monitoring
    /// listener (on a port the kernel picks; the log says which), so the cost of metrics shows beside the plain row.
    /// </summary>
    public static Peer CertDns(string certdns, int? udpThreads, bool metrics = false, string? name = null) => new(name ?? (metrics ? "certdns-metrics" : "certdns"), (data, dir, port) =>
    {
        File.Copy(data.Store, CertDnsStore(dir), overwrite: true);
        var psi = Command(certdns);
        psi.WorkingDirectory = dir;
        foreach (var a in new[] { "serve", "--db", CertDnsStore(dir), "--listen", $"127.0.0.1:{port}", "--poll", "0.2" }) psi.ArgumentList.Add(a);
        if (udpThreads is { } threads)
        {
            psi.ArgumentList.Add("--udp-threads");
            psi.ArgumentList.Add(threads.ToString(System.Globalization.CultureInfo.InvariantCulture));
        }
        if (metrics)
        {
            psi.ArgumentList.Add("--metrics-listen");
            psi.ArgumentList.Add("127.0.0.1:0");
        }
        return psi;
    }, ScrapesMetrics: metrics);

    /// <summary>
    /// How to run certdns: the published program itself (tools/bench passes tools/publish's apphost, as the package
    /// installs it), or <c>dotnet certdns.dll</c> for a framework-dependent build named by its .dll.
    /// </summary>
    public static ProcessStartInfo Command(string certdns)
    {
        if (!certdns.EndsWith(".dll", StringComparison.Ordinal)) return new ProcessStartInfo(certdns);
        var psi = new ProcessStartInfo("dotnet");
        psi.ArgumentList.Add(certdns);
        return psi;
    }

    /// <summary>rbldnsd refuses to run as root: it drops to its package's user and chroots into a copy readable by it.</summary>
    public static readonly Peer Rbldnsd = new("rbldnsd", (data, dir, port) =>
    {
        File.Copy(data.Dnset, Path.Combine(dir, "status.dnset"), overwrite: true);
        Chmod(dir);
        var psi = new ProcessStartInfo("rbldnsd");
        foreach (var a in new[] { "-n", "-q", "-u", "rbldns", "-r", dir, "-b", $"127.0.0.1/{port}", $"{DataSet.Apex}:dnset:status.dnset" }) psi.ArgumentList.Add(a);
        return psi;
    });

    /// <summary>NSD in the foreground with its own files; rate limiting off; one server process.</summary>
    public static readonly Peer Nsd = new("nsd", (data, dir, port) =>
    {
        var conf = Path.Combine(dir, "nsd.conf");
        File.WriteAllText(conf, $"""
            server:
                ip-address: 127.0.0.1
                port: {port}
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
                verbosity: 0
                rrl-ratelimit: 0
                zonefiles-check: no
            remote-control:
                control-enable: no
            zone:
                name: {DataSet.Apex}
                zonefile: "{data.ZoneFile}"
            """);
        var psi = new ProcessStartInfo("nsd");
        foreach (var a in new[] { "-d", "-c", conf }) psi.ArgumentList.Add(a);
        return psi;
    });

    /// <summary>Knot in the foreground with its own run and storage directories; one UDP and one TCP worker.</summary>
    public static readonly Peer Knot = new("knot", (data, dir, port) => KnotStart(data, dir, port, module: null));

    /// <summary>
    /// knotd as <see cref="Knot"/> runs it, the zone optionally served through a query <paramref name="module"/>
    /// (mod-onlinesign for the DNSSEC rows): one configuration, so the signed and unsigned Knot rows differ by that alone.
    /// </summary>
    public static ProcessStartInfo KnotStart(DataSet data, string dir, int port, string? module)
    {
        var conf = Path.Combine(dir, "knot.conf");
        File.WriteAllText(conf, $"""
            server:
                rundir: "{dir}"
                pidfile: "{dir}/knot.pid"
                listen: 127.0.0.1@{port}
                udp-workers: 1
                tcp-workers: 1
                background-workers: 1
            log:
              - target: stderr
                any: error
            database:
                storage: "{dir}"
            template:
              - id: default
                storage: "{dir}"
                zonefile-sync: -1
                zonefile-load: whole
                journal-content: none
                semantic-checks: off
            zone:
              - domain: {DataSet.Apex}
                file: "{data.ZoneFile}"
            """ + (module is null ? "" : $"\n    module: {module}") + "\n");
        var psi = new ProcessStartInfo("knotd");
        foreach (var a in new[] { "-c", conf }) psi.ArgumentList.Add(a);
        return psi;
    }

    private static void Chmod(string dir)
    {
        // The peers are Debian packages: this harness runs on Linux only.
        if (OperatingSystem.IsWindows()) return;
        File.SetUnixFileMode(dir, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute
            | UnixFileMode.GroupRead | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute);
        foreach (var f in Directory.GetFiles(dir)) File.SetUnixFileMode(f, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
    }
}

/// <summary>CPU and memory of a process and everything it forked, from /proc.</summary>
internal static class ProcStats
{
    private static readonly double TicksPerSecond = 100;

    public static IEnumerable<int> Tree(int pid)
    {
        var children = new Dictionary<int, List<int>>();
        foreach (var dir in Directory.GetDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out var p)) continue;
            var fields = StatFields(p);
            if (fields is null) continue;
            int parent = int.Parse(fields[1], System.Globalization.CultureInfo.InvariantCulture);
            if (!children.TryGetValue(parent, out var list)) children[parent] = list = [];
            list.Add(p);
        }
        var stack = new Stack<int>([pid]);
        while (stack.Count > 0)
        {
            var p = stack.Pop();
            yield return p;
            if (children.TryGetValue(p, out var kids)) foreach (var k in kids) stack.Push(k);
        }
    }

    /// <summary>utime + stime of the tree in seconds.</summary>
    public static double CpuSeconds(int pid) => Tree(pid).Sum(p =>
    {
        var f = StatFields(p);
        return f is null ? 0 : (long.Parse(f[11], System.Globalization.CultureInfo.InvariantCulture) + long.Parse(f[12], System.Globalization.CultureInfo.InvariantCulture)) / TicksPerSecond;
    });

    /// <summary>RSS and PSS of the tree in MB. PSS splits pages a fork shares (NSD's server child) instead of counting them twice.</summary>
    public static (double Rss, double Pss) MemoryMb(int pid)
    {
        double rss = 0, pss = 0;
        foreach (var p in Tree(pid))
        {
            try
            {
                foreach (var line in File.ReadLines($"/proc/{p}/smaps_rollup"))
                {
                    if (line.StartsWith("Rss:", StringComparison.Ordinal)) rss += Kb(line);
                    else if (line.StartsWith("Pss:", StringComparison.Ordinal)) pss += Kb(line);
                }
            }
            catch (IOException) { }
            catch (UnauthorizedAccessException) { }
        }
        return (rss / 1024, pss / 1024);
    }

    private static double Kb(string line) => double.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>Fields of /proc/PID/stat after the command name (state first), or null when the process is gone.</summary>
    private static string[]? StatFields(int pid)
    {
        try
        {
            var text = File.ReadAllText($"/proc/{pid}/stat");
            return text[(text.LastIndexOf(')') + 2)..].Split(' ');
        }
        catch (IOException)
        {
            return null;
        }
    }
}

/// <summary>A minimal UDP client: asks one A query and returns the address answered, "NXDOMAIN", or null on silence.</summary>
internal sealed class Probe : IDisposable
{
    private readonly Socket _socket = new(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
    private readonly byte[] _buffer = new byte[4096];
    private ushort _id;

    public Probe(int port, int timeoutMs = 200)
    {
        _socket.Connect(new IPEndPoint(IPAddress.Loopback, port));
        _socket.ReceiveTimeout = timeoutMs;
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
            while (true)
            {
                int n = _socket.Receive(_buffer);
                if (n < 12 || _buffer[0] != (byte)(id >> 8) || _buffer[1] != (byte)id) continue;
                int rcode = _buffer[3] & 0xF;
                if (rcode == 3) return "NXDOMAIN";
                int answers = (_buffer[6] << 8) | _buffer[7];
                if (answers == 0) return rcode == 0 ? "NODATA" : $"rcode {rcode}";
                // The first answer's RDATA is the response's last four octets when it is the only record.
                int pos = 12 + query.Count - 12;
                // Skip the owner (a pointer or labels), type, class, TTL, RDLENGTH.
                while (_buffer[pos] != 0 && (_buffer[pos] & 0xC0) == 0) pos += 1 + _buffer[pos];
                pos += (_buffer[pos] & 0xC0) == 0xC0 ? 2 : 1;
                pos += 10;
                return $"{_buffer[pos]}.{_buffer[pos + 1]}.{_buffer[pos + 2]}.{_buffer[pos + 3]}";
            }
        }
        catch (SocketException)
        {
            return null;
        }
    }

    public void Dispose() => _socket.Dispose();
}
