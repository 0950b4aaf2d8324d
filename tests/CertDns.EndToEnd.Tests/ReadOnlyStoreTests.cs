using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;
using CertDns.Core;

namespace CertDns.EndToEnd.Tests;

/// <summary>Runs only as root: it needs to hand the store to root and run certdns as the unprivileged user nobody.</summary>
public sealed class RootFactAttribute : FactAttribute
{
    public RootFactAttribute()
    {
        if (Environment.UserName != "root") Skip = "needs root, to make a root-owned store and run certdns as nobody (setpriv)";
        else if (!File.Exists("/usr/bin/setpriv")) Skip = "setpriv is not installed (Debian: util-linux)";
    }
}

/// <summary>
/// Issue 12 case 7: with read access only to the store and its folder (a root-owned 0444 file in a 0555 folder), the
/// reading verbs and serve work for an unprivileged user ("attempt to write a readonly database" before), and a
/// server so run still follows what a writer with access (cron as root) writes.
/// </summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed partial class ReadOnlyStoreTests : IDisposable
{
    private static readonly string Dll = Path.Combine(AppContext.BaseDirectory, "certdns.dll");
    private readonly TempDir _dir = new();

    public void Dispose()
    {
        File.SetUnixFileMode(_dir.Path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        _dir.Dispose();
    }

    private static ProcessStartInfo AsNobody(string workDir, params string[] args)
    {
        var info = new ProcessStartInfo("/usr/bin/setpriv") { WorkingDirectory = workDir, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in new[] { "--reuid=nobody", "--regid=nogroup", "--clear-groups", "env", "HOME=/tmp", "DOTNET_CLI_TELEMETRY_OPTOUT=1", "dotnet", Dll }) info.ArgumentList.Add(a);
        foreach (var a in args) info.ArgumentList.Add(a);
        return info;
    }

    private static CertDnsProcess.Result RunAsNobody(string workDir, params string[] args)
    {
        using var process = Process.Start(AsNobody(workDir, args))!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        Assert.True(process.WaitForExit(TimeSpan.FromSeconds(120)), "certdns did not finish");
        return new CertDnsProcess.Result(process.ExitCode, stdout.Result, stderr.Result);
    }

    [GeneratedRegex(@"on 127\.0\.0\.1:(\d+) \(udp, tcp\)")]
    private static partial Regex ServingOn();

    private void MakeReadOnly()
    {
        foreach (var suffix in new[] { "-wal", "-shm", ".served-serial" }) File.Delete(_dir.File("certdns.db" + suffix));
        File.SetUnixFileMode(_dir.File("certdns.db"), UnixFileMode.UserRead | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
        File.SetUnixFileMode(_dir.Path, UnixFileMode.UserRead | UnixFileMode.UserExecute | UnixFileMode.GroupRead | UnixFileMode.GroupExecute
            | UnixFileMode.OtherRead | UnixFileMode.OtherExecute);
    }

    [RootFact]
    public void ReadingVerbs_ReadOnlyStoreAndFolder_Work()
    {
        var scenario = StatusScenario.Register(_dir, "Read-only CA");
        MakeReadOnly();
        var revoked = Hex.Lower(scenario.Clients["revoked"].Parsed.Sha256);
        var output = Path.Combine(Path.GetTempPath(), "certdns-ro-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(output);
        File.SetUnixFileMode(output, (UnixFileMode)0x1FF);
        try
        {
            foreach (var args in new[]
            {
                new[] { "lookup", revoked }, ["status"], ["ca", "list"], ["audit"], ["complaints"], ["complaints", "list", "--all"],
                ["export", "-o", Path.Combine(output, "zone")], ["export", "--format", "rbldnsd", "-o", Path.Combine(output, "rbl")],
            })
            {
                var result = RunAsNobody(_dir.Path, args);
                Assert.True(result.ExitCode == 0, $"certdns {string.Join(' ', args)}: {result.ExitCode} {result.Stdout}{result.Stderr}");
            }
            Assert.Contains("revoked", RunAsNobody(_dir.Path, "lookup", revoked).Stdout);
            Assert.DoesNotContain(Directory.GetFileSystemEntries(_dir.Path), f => Path.GetFileName(f).StartsWith("certdns.db", StringComparison.Ordinal) && !f.EndsWith("certdns.db", StringComparison.Ordinal));
        }
        finally
        {
            Directory.Delete(output, recursive: true);
        }
    }

    [RootFact]
    public async Task Serve_ReadOnlyStoreAndFolder_ServesAndFollowsARootWriter()
    {
        var scenario = StatusScenario.Register(_dir, "Read-only Serve CA");
        MakeReadOnly();
        using var process = Process.Start(AsNobody(_dir.Path, "serve", "--listen", "127.0.0.1:0", "--poll", "0.2"))!;
        var server = new CertDnsProcess.Server(process);
        try
        {
            server.WaitFor("serving ", TimeSpan.FromSeconds(60));
            int port = int.Parse(ServingOn().Match(server.Output).Groups[1].Value, CultureInfo.InvariantCulture);
            var valid = Hex.Lower(scenario.Clients["valid"].Parsed.Sha256);
            var name = $"{valid[..32]}.{valid[32..]}.status.example";
            Assert.Equal("127.0.1.2", (await Dig.RunAsync(port, name, "A")).SingleAnswer("A")[4]);
            // The SHA-1 form goes through the store's directory: it must read a read-only store too.
            var sha1 = Hex.Lower(scenario.Clients["valid"].Parsed.Sha1);
            Assert.Equal("127.0.1.2", (await Dig.RunAsync(port, $"{sha1}.status.example", "A")).SingleAnswer("A")[4]);

            // Cron, as root, blocks it: the server (nobody) must see the write.
            Assert.Equal(0, CertDnsProcess.Run(_dir.Path, "block", scenario.Clients["valid"].Cert, "--reason", "cron block").ExitCode);
            var until = DateTime.UtcNow.AddSeconds(30);
            DigResult answer;
            do
            {
                answer = await Dig.RunAsync(port, name, "A");
                if (answer.Answer.Count == 1 && answer.Answer[0][4] == "127.0.0.3") break;
                await Task.Delay(100);
            }
            while (DateTime.UtcNow < until);
            Assert.True(answer.Answer.Count == 1 && answer.Answer[0][4] == "127.0.0.3", "the server did not follow the write: " + answer.Output + server.Output);
        }
        finally
        {
            server.Dispose();
        }
    }
}
