using System.Diagnostics;
using System.Text.RegularExpressions;

namespace CertDns.TestInfrastructure;

/// <summary>What dig printed, read back into the parts tests check.</summary>
public sealed record DigResult(string Status, IReadOnlySet<string> Flags, IReadOnlyList<string[]> Answer, IReadOnlyList<string[]> Authority, string? Edns, string Output)
{
    /// <summary>The one answer record of <paramref name="type"/>; a failure shows what dig printed, so a flake says why.</summary>
    public string[] SingleAnswer(string type)
    {
        var matching = Answer.Where(r => r[3] == type).ToList();
        Assert.True(matching.Count == 1, $"expected one {type} answer, dig printed {matching.Count}:\n{Output}");
        return matching[0];
    }
}

/// <summary>Runs the real <c>dig</c> against a local port.</summary>
public static partial class Dig
{
    public const string Missing = "dig is not installed (Debian: apt-get install bind9-dnsutils); the real-client checks need it; .ci/install-peers installs it";

    public static string? Path { get; } = Find();

    private static string? Find() => (Environment.GetEnvironmentVariable("PATH") ?? "")
        .Split(System.IO.Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
        .Select(dir => System.IO.Path.Combine(dir, "dig"))
        .FirstOrDefault(File.Exists);

    public static async Task<DigResult> RunAsync(int port, string name, string type, params string[] options) =>
        Read(await RunRawAsync(port, name, type, options));

    /// <summary>dig's standard output, for outcomes that print no header (zone transfers).</summary>
    public static Task<string> RunRawAsync(int port, string name, string type, params string[] options) =>
        RunRawAtAsync("127.0.0.1", port, name, type, options);

    /// <summary>dig asking <paramref name="server"/> (an address other than 127.0.0.1: 127.0.0.2, ::1).</summary>
    public static async Task<DigResult> RunAtAsync(string server, int port, string name, string type, params string[] options) =>
        Read(await RunRawAtAsync(server, port, name, type, options));

    private static async Task<string> RunRawAtAsync(string server, int port, string name, string type, string[] options)
    {
        var start = new ProcessStartInfo(Path ?? throw new InvalidOperationException(Missing))
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var arg in new[] { "@" + server, "-p", port.ToString(System.Globalization.CultureInfo.InvariantCulture), name, type, "+tries=1", "+time=2" }.Concat(options))
            start.ArgumentList.Add(arg);
        using var process = Process.Start(start)!;
        var output = await process.StandardOutput.ReadToEndAsync();
        var error = await process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        Assert.True(process.ExitCode == 0, $"dig exited {process.ExitCode}: {output}{error}");
        return output;
    }

    private static DigResult Read(string output)
    {
        var status = StatusLine().Match(output);
        Assert.True(status.Success, "no header in dig output:\n" + output);
        var flags = FlagsLine().Match(output).Groups[1].Value.Split(' ', StringSplitOptions.RemoveEmptyEntries).ToHashSet();
        var edns = EdnsLine().Match(output);
        return new DigResult(status.Groups[1].Value, flags, Section(output, "ANSWER"), Section(output, "AUTHORITY"), edns.Success ? edns.Value : null, output);
    }

    private static List<string[]> Section(string output, string name)
    {
        var records = new List<string[]>();
        bool inside = false;
        foreach (var line in output.Split('\n'))
        {
            if (line.StartsWith($";; {name} SECTION:", StringComparison.Ordinal)) { inside = true; continue; }
            if (!inside) continue;
            if (line.Trim().Length == 0) break;
            // owner, TTL, class, type, then the RDATA as one field.
            var parts = Regex.Split(line.Trim(), @"\s+", RegexOptions.None, TimeSpan.FromSeconds(1));
            records.Add([.. parts[..4], string.Join(' ', parts[4..])]);
        }
        return records;
    }

    [GeneratedRegex(@"->>HEADER<<- opcode: \w+, status: (\w+), id: \d+")]
    private static partial Regex StatusLine();

    [GeneratedRegex(@";; flags: ([a-z ]*);")]
    private static partial Regex FlagsLine();

    [GeneratedRegex(@"; EDNS: version: \d+, flags:[^;]*; udp: \d+")]
    private static partial Regex EdnsLine();
}
