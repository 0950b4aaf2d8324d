using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace CertDns.TestInfrastructure;

/// <summary>
/// Unbound validating (module-config "validator iterator") with one trust anchor file (DNSKEY or DS lines), stubbed to
/// CertDns (or a secondary of it) on loopback; optionally checking signatures at another moment than now
/// (<c>val-override-date</c>), for a zone signed on a fake clock. With no anchor it only iterates (module-config
/// "iterator"), as an MTA host's plain caching resolver. Everything stays on loopback: outgoing queries leave from
/// 127.0.0.1, and even the root is a stub to the upstream, so Unbound can never reach a real name server.
/// </summary>
public sealed class ValidatingUnbound : IDisposable
{
    private readonly Process _process;

    private ValidatingUnbound(Process process, int port)
    {
        _process = process;
        Port = port;
    }

    public int Port { get; }

    /// <summary>
    /// Unbound inside <paramref name="netns"/> on its 127.0.0.1:53 (the resolver its resolv.conf names), validating
    /// CertDns on the namespace's 127.0.0.1:<paramref name="certdnsPort"/>; it dies with the namespace.
    /// </summary>
    public static void StartIn(Netns netns, TempDir dir, string name, int certdnsPort, string anchor)
    {
        var conf = WriteConfig(dir, name, 53, certdnsPort, anchor);
        netns.Start(dir.Path, Peer.Path(Peer.Unbound), "-d", "-c", conf);
        var until = DateTime.UtcNow.AddSeconds(20);
        while (DateTime.UtcNow < until)
        {
            // Any answer (even SERVFAIL) means it listens; dig exits 9 while nothing does.
            if (netns.Run(Peer.Path(Peer.Dig), "@127.0.0.1", "-p", "53", "+tries=1", "+time=1", "status.example", "SOA").ExitCode == 0) return;
            Thread.Sleep(100);
        }
        throw new TimeoutException($"unbound did not start in {netns.Name}");
    }

    /// <summary>
    /// Unbound on a free 127.0.0.1 port, resolving <c>status.example</c> (and the root) at 127.0.0.1:<paramref name="certdnsPort"/>.
    /// <paramref name="anchor"/> null: no validation. <paramref name="qnameMinimisationStrict"/>: RFC 9156 strictly,
    /// no fallback to the full name. <paramref name="logFile"/>: Unbound logs to <c>unbound-{name}.log</c> in
    /// <paramref name="dir"/> rather than to its standard error.
    /// </summary>
    public static ValidatingUnbound Start(TempDir dir, string name, int certdnsPort, string? anchor, DateTimeOffset? validateAt = null,
        bool qnameMinimisationStrict = false, bool logFile = false)
    {
        var port = CertDnsProcess.FreePort();
        var conf = WriteConfig(dir, name, port, certdnsPort, anchor, validateAt, qnameMinimisationStrict, logFile);
        var info = new ProcessStartInfo(Peer.Path(Peer.Unbound)) { UseShellExecute = false, RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (var a in new[] { "-d", "-c", conf }) info.ArgumentList.Add(a);
        var process = Process.Start(info)!;
        var unbound = new ValidatingUnbound(process, port);
        var until = DateTime.UtcNow.AddSeconds(20);
        while (DateTime.UtcNow < until)
        {
            if (process.HasExited) throw new InvalidOperationException("unbound exited: " + process.StandardError.ReadToEnd());
            using var probe = new UdpClient();
            try
            {
                probe.Connect(IPAddress.Loopback, port);
                // A header-only query: any reply shows Unbound is listening.
                probe.Send([0x12, 0x34, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
                probe.Client.ReceiveTimeout = 200;
                var from = new IPEndPoint(IPAddress.Any, 0);
                probe.Receive(ref from);
                return unbound;
            }
            catch (SocketException)
            {
                Thread.Sleep(100);
            }
        }
        unbound.Dispose();
        throw new TimeoutException("unbound did not start");
    }

    private static string WriteConfig(TempDir dir, string name, int port, int certdnsPort, string? anchor, DateTimeOffset? validateAt = null,
        bool qnameMinimisationStrict = false, bool logFile = false)
    {
        var conf = dir.File($"unbound-{name}.conf");
        var validation = anchor is null
            ? """
                module-config: "iterator"
            """
            : string.Create(CultureInfo.InvariantCulture, $"""
                val-log-level: 2
                module-config: "validator iterator"
                trust-anchor-file: "{anchor}"
                val-override-date: "{(validateAt is { } at ? at.UtcDateTime.ToString("yyyyMMddHHmmss", CultureInfo.InvariantCulture) : "0")}"
            """);
        var strict = qnameMinimisationStrict ? "\n    qname-minimisation-strict: yes" : "";
        File.WriteAllText(conf, string.Create(CultureInfo.InvariantCulture, $"""
            server:
                interface: 127.0.0.1
                port: {port}
                outgoing-interface: 127.0.0.1
                do-ip6: no
                access-control: 127.0.0.0/8 allow
                chroot: ""
                username: ""
                directory: "{dir.Path}"
                pidfile: "{dir.File($"unbound-{name}.pid")}"
                use-syslog: no
                logfile: "{(logFile ? dir.File($"unbound-{name}.log") : "")}"
                verbosity: 1
            {validation}
                do-not-query-localhost: no
                qname-minimisation: yes{strict}
                harden-below-nxdomain: yes
                num-threads: 1
            stub-zone:
                name: "status.example"
                stub-addr: 127.0.0.1@{certdnsPort}
            stub-zone:
                name: "."
                stub-addr: 127.0.0.1@{certdnsPort}
            """));
        return conf;
    }

    public void Dispose()
    {
        if (!_process.HasExited) _process.Kill(entireProcessTree: true);
        _process.WaitForExit(5000);
        _process.Dispose();
    }
}
