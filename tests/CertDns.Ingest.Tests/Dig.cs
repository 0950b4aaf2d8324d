using System.Diagnostics;

namespace CertDns.Ingest.Tests;

/// <summary>The real <c>dig</c> from Debian's dnsutils (installed by .ci/run).</summary>
internal static class Dig
{
    public static string? Path { get; } = new[] { "/usr/bin/dig", "/bin/dig" }.FirstOrDefault(File.Exists);

    public sealed record Answer(string Status, IReadOnlyList<string> Answers, IReadOnlyList<string> Authority, string Flags, string Raw);

    /// <summary>Runs dig and parses its status, flags and the answer and authority sections.</summary>
    public static Answer Query(int port, string name, string type, params string[] extra)
    {
        var info = new ProcessStartInfo(Path ?? throw new InvalidOperationException("dig is not installed"))
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        string[] args = ["@127.0.0.1", "-p", port.ToString(System.Globalization.CultureInfo.InvariantCulture), name, type, "+tries=2", "+time=3", "+norec", .. extra];
        foreach (var a in args) info.ArgumentList.Add(a);
        using var p = Process.Start(info)!;
        var raw = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        string status = "", flags = "", section = "";
        var answers = new List<string>();
        var authority = new List<string>();
        foreach (var line in raw.Split('\n'))
        {
            if (line.Contains("status: ", StringComparison.Ordinal))
                status = line[(line.IndexOf("status: ", StringComparison.Ordinal) + 8)..].Split(',')[0];
            if (line.StartsWith(";; flags: ", StringComparison.Ordinal)) flags = line[10..line.IndexOf(';', 3)];
            if (line.StartsWith(";; ANSWER SECTION", StringComparison.Ordinal)) { section = "answer"; continue; }
            if (line.StartsWith(";; AUTHORITY SECTION", StringComparison.Ordinal)) { section = "authority"; continue; }
            if (line.StartsWith(";;", StringComparison.Ordinal) || line.Length == 0) { if (line.Length == 0) section = ""; continue; }
            if (section == "answer") answers.Add(line);
            if (section == "authority") authority.Add(line);
        }
        return new Answer(status, answers, authority, flags, raw);
    }
}

/// <summary>A fact that needs dig: skipped with the reason when dig is not installed.</summary>
public sealed class DigFactAttribute : FactAttribute
{
    public DigFactAttribute()
    {
        if (Dig.Path is null) Skip = "dig is not installed (apt-get install dnsutils; .ci/run does)";
    }
}
