using System.Diagnostics;

namespace CertDns.TestInfrastructure;

/// <summary>
/// A network namespace of the test's own: its own loopback and nothing else, and a resolv.conf (bind-mounted by
/// <c>ip netns exec</c>) naming that loopback. MTAs ask only the system resolver; inside here that is CertDns
/// on 127.0.0.1:53, and no query can leave the machine.
/// </summary>
public sealed class Netns : IDisposable
{
    private readonly List<Process> _processes = [];

    /// <param name="prefix">the namespace name's prefix; a random suffix keeps tests apart.</param>
    /// <param name="resolvOptions">resolv.conf's options line; "trust-ad" makes glibc pass the resolver's AD bit on
    /// (it clears it otherwise), which an MTA that requires authenticated answers needs.</param>
    public Netns(string prefix, string resolvOptions = "timeout:2 attempts:2")
    {
        Name = $"{prefix}-{Guid.NewGuid().ToString("N")[..8]}";
        Assert.Equal(0, Exec("ip", "netns", "add", Name).ExitCode);
        Assert.Equal(0, Run("ip", "link", "set", "lo", "up").ExitCode);
        Directory.CreateDirectory($"/etc/netns/{Name}");
        File.WriteAllText($"/etc/netns/{Name}/resolv.conf", $"nameserver 127.0.0.1\noptions {resolvOptions}\n");
        // MTAs qualify their own host name at start; answered from hosts, it never waits on DNS (Sendmail
        // otherwise sleeps and retries for minutes on an unqualified name).
        File.WriteAllText($"/etc/netns/{Name}/hosts", $"127.0.0.1 localhost\n127.0.1.1 mx.test.example {Environment.MachineName}\n");
    }

    public string Name { get; }

    /// <summary>Whether this machine can make namespaces (root and iproute2).</summary>
    public static string? Unavailable =>
        !File.Exists("/usr/sbin/ip") && !File.Exists("/bin/ip") ? "iproute2 is not installed"
        : Environment.UserName != "root" ? "network namespaces need root"
        : null;

    /// <summary>Runs a command inside the namespace and waits for it.</summary>
    public (int ExitCode, string Output) Run(params string[] args) => Exec(["ip", "netns", "exec", Name, .. args]);

    /// <summary>Starts a long-running command inside the namespace; it is killed on dispose.</summary>
    public Process Start(string workDir, params string[] args)
    {
        var info = new ProcessStartInfo("ip") { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = workDir };
        foreach (var a in (string[])["netns", "exec", Name, .. args]) info.ArgumentList.Add(a);
        var process = Process.Start(info)!;
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        _processes.Add(process);
        Assert.False(process.WaitForExit(200), $"{args[0]} exited at once");
        return process;
    }

    /// <summary>Waits until a TCP port inside the namespace accepts connections.</summary>
    public void WaitForPort(int port, TimeSpan timeout)
    {
        var until = DateTime.UtcNow + timeout;
        while (DateTime.UtcNow < until)
        {
            if (Run("bash", "-c", $"exec 3<>/dev/tcp/127.0.0.1/{port}").ExitCode == 0) return;
            Thread.Sleep(200);
        }
        throw new TimeoutException($"nothing listens on 127.0.0.1:{port} in {Name}");
    }

    public static (int ExitCode, string Output) Exec(params string[] args) => Exec(TimeSpan.FromMinutes(1), args);

    /// <summary>Runs a command, killed (and saying so in the output) when it runs past <paramref name="limit"/>.</summary>
    public static (int ExitCode, string Output) Exec(TimeSpan limit, params string[] args)
    {
        var info = new ProcessStartInfo(args[0]) { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args[1..]) info.ArgumentList.Add(a);
        using var p = Process.Start(info)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        bool killed = !p.WaitForExit(limit);
        if (killed) p.Kill(entireProcessTree: true);
        p.WaitForExit();
        return (p.ExitCode, stdout.Result + stderr.Result + (killed ? $"\n(killed: still running after {limit.TotalSeconds:F0} s)" : ""));
    }

    public void Dispose()
    {
        foreach (var p in _processes)
        {
            if (!p.HasExited) p.Kill(entireProcessTree: true);
            p.WaitForExit(5000);
            p.Dispose();
        }
        // Daemons that detached (Postfix's master) die with the namespace's processes.
        Exec("bash", "-c", $"ip netns pids {Name} | xargs -r kill -9");
        Exec("ip", "netns", "del", Name);
        try { Directory.Delete($"/etc/netns/{Name}", recursive: true); } catch (DirectoryNotFoundException) { }
    }
}
