using System.Diagnostics;
using System.Numerics;
using CertDns.Core;
using CertDns.Pki;

namespace CertDns.EndToEnd.Tests;

/// <summary>
/// Progress on a terminal, plain output elsewhere: the long verbs run under a pseudo-terminal (<c>script</c>) draw
/// Spectre.Console's progress on stderr; piped, they print exactly their lines and files, byte for byte the same.
/// </summary>
public sealed class ProgressTests : IDisposable
{
    private static readonly string Dll = Path.Combine(AppContext.BaseDirectory, "certdns.dll");
    private readonly TestAuthority _ca = new("Progress CA");
    private readonly TempDir _terminal = new();
    private readonly TempDir _piped = new();

    public ProgressTests()
    {
        foreach (var dir in new[] { _terminal, _piped })
        {
            File.WriteAllText(dir.File("ca.pem"), _ca.CertificatePem);
            Assert.Equal(0, CertDnsProcess.Run(dir.Path, "ca", "add", "ca.pem").ExitCode);
        }
    }

    public void Dispose()
    {
        _terminal.Dispose();
        _piped.Dispose();
    }

    [PeerFact(Peer.Script)]
    public void CrlIngest_OnATerminal_ProgressOnStderr_PipedTheSameLineAlone()
    {
        var now = DateTimeOffset.UtcNow;
        // Enough entries for the bar to be told how far the ingest is (every 20,000).
        var crl = _ca.CreateCrl(1, now.AddMinutes(-5), now.AddDays(7),
            Enumerable.Range(1, 45_000).Select(i => (new BigInteger(i).ToByteArray(isUnsigned: true, isBigEndian: true), now.AddDays(-1), RevocationReason.Unspecified)));
        File.WriteAllBytes(_terminal.File("crl.der"), crl);
        File.WriteAllBytes(_piped.File("crl.der"), crl);

        var shown = UnderTerminal(_terminal.Path, "crl", "ingest", "crl.der");
        var piped = CertDnsProcess.Run(_piped.Path, "crl", "ingest", "crl.der");

        Assert.True(piped.ExitCode == 0, piped.Stderr);
        Assert.Equal("", piped.Stderr);
        Assert.DoesNotContain('\x1b', piped.Stdout);
        Assert.Contains("crl.der: storing entries", shown);
        Assert.Contains("\x1b[", shown);
        // The summary line is the same (but for the time it took), after the bar has cleared.
        Assert.Equal([Timeless(piped.Stdout.TrimEnd('\n'))], Printed(shown).Select(Timeless));
    }

    [PeerFact(Peer.Script)]
    public void CertsAddAndExport_OnATerminal_ProgressShown_FilesAndLinesAsPiped()
    {
        foreach (var dir in new[] { _terminal, _piped })
        {
            Directory.CreateDirectory(dir.File("certs"));
            File.WriteAllText(dir.File("certs/README"), "not a certificate\n");
        }
        for (int i = 0; i < 3; i++)
        {
            var cert = TestAuthority.ToPem("CERTIFICATE", _ca.Issue($"host{i}.example", DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(30)));
            File.WriteAllText(_terminal.File($"certs/{i}.pem"), cert);
            File.WriteAllText(_piped.File($"certs/{i}.pem"), cert);
        }

        var shownAdd = UnderTerminal(_terminal.Path, "certs", "add", "certs");
        var pipedAdd = CertDnsProcess.Run(_piped.Path, "certs", "add", "certs");
        var shownExport = UnderTerminal(_terminal.Path, "export", "--output", "zone.txt");
        // From the same store: its serial is in the zone, and each store's comes from the clock.
        var pipedExport = CertDnsProcess.Run(_terminal.Path, "export", "--output", "piped.txt");

        Assert.Contains("reading, verifying and storing 4 files", shownAdd);
        Assert.Contains("loading the store", shownExport);
        Assert.Contains("writing zone.txt", shownExport);
        foreach (var piped in new[] { pipedAdd, pipedExport })
        {
            Assert.True(piped.ExitCode == 0, piped.Stderr);
            Assert.Equal("", piped.Stderr);
        }
        Assert.Equal(["skipped certs/README: not a certificate file", "3 certificates read: 3 added, 0 already registered; zone serial N"],
            Timeless(pipedAdd.Stdout).Split('\n', StringSplitOptions.RemoveEmptyEntries));
        // Every line the piped run printed, the terminal run printed too, in order, between its bars.
        Assert.Equal(Timeless(pipedAdd.Stdout).Split('\n', StringSplitOptions.RemoveEmptyEntries), Printed(shownAdd).Select(Timeless));
        Assert.Equal([pipedExport.Stdout.TrimEnd('\n').Replace("piped.txt", "zone.txt", StringComparison.Ordinal)], Printed(shownExport));
        // The exported zone is the same file byte for byte.
        Assert.Equal(File.ReadAllBytes(_terminal.File("piped.txt")), File.ReadAllBytes(_terminal.File("zone.txt")));
    }

    /// <summary>A line without what differs from run to run: the time it took, the serial (the clock's).</summary>
    private static string Timeless(string line) =>
        System.Text.RegularExpressions.Regex.Replace(System.Text.RegularExpressions.Regex.Replace(line, @"\d+(\.\d+)?s$", "Ts", System.Text.RegularExpressions.RegexOptions.Multiline),
            @"serial \d+", "serial N");

    /// <summary>
    /// The lines left on the terminal once every bar has cleared: escape sequences taken out, each line as its last
    /// carriage return left it, the bars' own lines (drawn with U+2501) and blank lines dropped.
    /// </summary>
    private static List<string> Printed(string output) =>
        [.. System.Text.RegularExpressions.Regex.Replace(output, @"\x1b(\[[0-9;?]*[A-Za-z]|[=>])", "")
            .Replace("\r\n", "\n", StringComparison.Ordinal).Split('\n')
            .Select(l => l.Split('\r')[^1])
            .Where(l => l.Trim().Length > 0 && !l.Contains('\u2501'))];

    /// <summary>Runs certdns under a pseudo-terminal (stdin, stdout and stderr all a terminal) and returns what it drew.</summary>
    private static string UnderTerminal(string workDir, params string[] args)
    {
        var command = string.Join(' ', new[] { "dotnet", Dll }.Concat(args).Select(a => "'" + a.Replace("'", "'\\''", StringComparison.Ordinal) + "'"));
        var info = new ProcessStartInfo(Peer.Path(Peer.Script))
        {
            WorkingDirectory = workDir,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        foreach (var a in new[] { "-qec", command, "/dev/null" }) info.ArgumentList.Add(a);
        info.Environment["TERM"] = "xterm-256color";
        using var process = Process.Start(info)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        Assert.True(process.WaitForExit(TimeSpan.FromSeconds(120)), "certdns under script did not finish");
        process.WaitForExit();
        Assert.True(process.ExitCode == 0, $"certdns {string.Join(' ', args)} exited {process.ExitCode} on a terminal: {output.Result}{error.Result}");
        return output.Result;
    }
}
