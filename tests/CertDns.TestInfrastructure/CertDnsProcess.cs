using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.RegularExpressions;

namespace CertDns.TestInfrastructure;

/// <summary>The real <c>certdns</c> program, run as a user would run it.</summary>
public static partial class CertDnsProcess
{
    private static readonly string Dll = Path.Combine(AppContext.BaseDirectory, "certdns.dll");

    public sealed record Result(int ExitCode, string Stdout, string Stderr);

    public static Result Run(string workDir, params string[] args) => Run(workDir, null, args);

    public static Result Run(string workDir, byte[]? stdin, params string[] args) => RunProgram(null, workDir, stdin, args);

    /// <summary>
    /// As <see cref="Run(string, byte[], string[])"/> with another build of the program: <paramref name="program"/> is a
    /// native executable (the published, NativeAOT certdns), or null for this build's certdns.dll.
    /// </summary>
    public static Result RunProgram(string? program, string workDir, byte[]? stdin, params string[] args)
    {
        using var process = Process.Start(Info(program, workDir, args, stdin is not null))!;
        if (stdin is not null)
        {
            process.StandardInput.BaseStream.Write(stdin);
            process.StandardInput.Close();
        }
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(TimeSpan.FromSeconds(120)))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"certdns {string.Join(' ', args)} did not finish");
        }
        return new Result(process.ExitCode, stdout.Result, stderr.Result);
    }

    /// <summary>
    /// Starts <c>certdns serve</c> on a port the system picks (127.0.0.1:0) and waits until it says it is serving;
    /// the port is read back from that log line ("... serving ZONE from STORE on 127.0.0.1:PORT (udp, tcp)").
    /// </summary>
    public static Server Serve(string workDir, params string[] args) => Serve(workDir, null, args);

    /// <summary>As <see cref="Serve(string, string[])"/>, with environment variables set for the server (NOTIFY_SOCKET, JOURNAL_STREAM).</summary>
    public static Server Serve(string workDir, IReadOnlyDictionary<string, string>? environment, params string[] args) =>
        ServeProgram(null, workDir, environment, args);

    /// <summary>As <see cref="Serve(string, IReadOnlyDictionary{string, string}, string[])"/> with the program of <see cref="RunProgram"/>.</summary>
    public static Server ServeProgram(string? program, string workDir, IReadOnlyDictionary<string, string>? environment, params string[] args)
    {
        var info = Info(program, workDir, ["serve", "--listen", "127.0.0.1:0", .. args], false);
        foreach (var (name, value) in environment ?? new Dictionary<string, string>()) info.Environment[name] = value;
        var process = Process.Start(info)!;
        var server = new Server(process);
        try
        {
            server.WaitFor("serving ", TimeSpan.FromSeconds(60));
            var bound = ServingOn().Match(server.Output);
            if (!bound.Success) throw new InvalidOperationException("certdns serve did not say where it listens: " + server.Output);
            server.Port = int.Parse(bound.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
            return server;
        }
        catch
        {
            server.Dispose();
            throw;
        }
    }

    // The line is a log line on stderr now: time and level (or JSON, or a journal priority) stand before it.
    [GeneratedRegex(@"serving \S+ from .* on 127\.0\.0\.1:(\d+) \(udp, tcp\)")]
    private static partial Regex ServingOn();

    /// <summary>Starts certdns without waiting, output redirected, for tests that kill it midway.</summary>
    public static Process Start(string workDir, params string[] args) => Process.Start(Info(null, workDir, args, false))!;

    /// <summary>Starts certdns with environment variables set, without waiting for anything it prints.</summary>
    public static Server StartServer(string workDir, IReadOnlyDictionary<string, string> environment, params string[] args)
    {
        var info = Info(null, workDir, args, false);
        foreach (var (name, value) in environment) info.Environment[name] = value;
        return new Server(Process.Start(info)!);
    }

    private static ProcessStartInfo Info(string? program, string workDir, string[] args, bool stdin)
    {
        var info = new ProcessStartInfo(program ?? "dotnet")
        {
            WorkingDirectory = workDir,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = stdin,
            UseShellExecute = false,
            StandardOutputEncoding = Encoding.UTF8,
        };
        // What systemd sets decides serve's log format and notify protocol: a test run under a unit must not inherit them.
        foreach (var name in new[] { "NOTIFY_SOCKET", "JOURNAL_STREAM", "INVOCATION_ID" }) info.Environment.Remove(name);
        if (program is null) info.ArgumentList.Add(Dll);
        foreach (var a in args) info.ArgumentList.Add(a);
        return info;
    }

    /// <summary>
    /// A port free for both UDP and TCP on 127.0.0.1 right now, for peers that must be told a port and cannot report
    /// one they picked (NSD, Knot, Unbound, rbldnsd, HttpListener) and for a port where nothing answers.
    /// Drawn outside the kernel's ephemeral range: Knot's UDP workers share their port with SO_REUSEPORT, and the
    /// kernel hands such a group's port to a client socket that sets the option too (dig's does), which then reads
    /// its own query back as the answer.
    /// </summary>
    public static int FreePort()
    {
        var (low, high) = EphemeralRange();
        int below = Math.Max(0, low - 1024), above = 65535 - high;
        for (int attempt = 0; attempt < 50; attempt++)
        {
            int pick = Random.Shared.Next(below + above);
            var port = pick < below ? 1024 + pick : high + 1 + (pick - below);
            using var udp = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
            try
            {
                udp.Bind(new IPEndPoint(IPAddress.Loopback, port));
            }
            catch (SocketException)
            {
                continue;
            }
            using var tcp = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            try
            {
                tcp.Bind(new IPEndPoint(IPAddress.Loopback, port));
                return port;
            }
            catch (SocketException)
            {
            }
        }
        throw new InvalidOperationException("no free port");
    }

    /// <summary>The kernel's range of ports for sockets that name none (net.ipv4.ip_local_port_range; IPv6 uses it too).</summary>
    public static (int Low, int High) EphemeralRange()
    {
        var fields = File.ReadAllText("/proc/sys/net/ipv4/ip_local_port_range").Split((char[])['\t', ' ', '\n'], StringSplitOptions.RemoveEmptyEntries);
        return (int.Parse(fields[0], System.Globalization.CultureInfo.InvariantCulture), int.Parse(fields[1], System.Globalization.CultureInfo.InvariantCulture));
    }

    /// <summary>A running server; disposing stops it.</summary>
    public sealed class Server : IDisposable
    {
        private readonly Process _process;
        private readonly StringBuilder _output = new();
        private readonly StringBuilder _stdout = new();
        private readonly object _lock = new();

        public Server(Process process)
        {
            _process = process;
            process.OutputDataReceived += (_, e) => { lock (_lock) { _output.AppendLine(e.Data); _stdout.AppendLine(e.Data); } };
            process.ErrorDataReceived += (_, e) => { lock (_lock) _output.AppendLine(e.Data); };
            process.BeginOutputReadLine();
            process.BeginErrorReadLine();
        }

        /// <summary>The port it serves on, UDP and TCP, as it reported.</summary>
        public int Port { get; internal set; }

        public string Output { get { lock (_lock) return _output.ToString(); } }

        /// <summary>What it wrote to stdout alone.</summary>
        public string Stdout { get { lock (_lock) return _stdout.ToString(); } }

        /// <summary>Its process id, for signals.</summary>
        public int Pid => _process.Id;

        /// <summary>Whether it has exited.</summary>
        public bool HasExited => _process.HasExited;

        /// <summary>Sends it a POSIX signal (SIGHUP 1, SIGTERM 15).</summary>
        public void Signal(int signal)
        {
            if (Kill(_process.Id, signal) != 0) throw new InvalidOperationException($"kill({_process.Id}, {signal}) failed");
        }

        /// <summary>Waits for it to exit; returns its exit code, or null when it is still running at the deadline.</summary>
        public int? WaitForExit(TimeSpan timeout)
        {
            if (!_process.WaitForExit(timeout)) return null;
            _process.WaitForExit();
            return _process.ExitCode;
        }

        [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "kill", SetLastError = true)]
        private static extern int Kill(int pid, int signal);

        /// <summary>
        /// Waits until what it wrote to stdout satisfies <paramref name="complete"/>, and returns that. Stdout and
        /// stderr are read apart: the log's "serving" line may be read before the stdout written ahead of it.
        /// </summary>
        public string WaitForStdout(Func<string, bool> complete, string what, TimeSpan timeout)
        {
            string stdout = "";
            Until(() => complete(stdout = Stdout), what, timeout);
            return stdout;
        }

        public void WaitFor(string text, TimeSpan timeout) => Until(() => Output.Contains(text, StringComparison.Ordinal), $"'{text}'", timeout);

        private void Until(Func<bool> done, string what, TimeSpan timeout)
        {
            var until = DateTime.UtcNow + timeout;
            while (DateTime.UtcNow < until)
            {
                if (done()) return;
                if (_process.HasExited) throw new InvalidOperationException($"certdns serve exited {_process.ExitCode}: {Output}");
                Thread.Sleep(50);
            }
            throw new TimeoutException($"certdns serve did not print {what}: {Output}");
        }

        public void Dispose()
        {
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);
                _process.WaitForExit(5000);
            }
            _process.Dispose();
        }
    }
}
