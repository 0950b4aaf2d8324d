using System.Diagnostics;
using System.Globalization;

namespace CertDns.TestInfrastructure;

/// <summary>
/// A real Knot DNS <c>knotd</c> as a secondary of <c>status.example</c> on 127.0.0.1, its configuration, storage and log
/// (<c>knot.log</c>, at info: it names each transfer "AXFR, incoming" or "IXFR, incoming", and any "fallback to AXFR") in
/// the folder <c>knot</c> of the test's own.
/// </summary>
public static class KnotServer
{
    /// <summary>A TSIG key Knot signs its transfer requests with and requires on NOTIFY (algorithm as Knot spells it: hmac-sha256).</summary>
    public sealed record Key(string Name, string Algorithm, string Secret);

    /// <summary>
    /// Starts knotd on <paramref name="port"/>, transferring from the primary at 127.0.0.1:<paramref name="primary"/> and
    /// taking NOTIFY from 127.0.0.1; with <paramref name="key"/> both are signed with it. The log is <see cref="LogPath"/>.
    /// </summary>
    public static Process Start(TempDir dir, int port, int primary, Key? key = null)
    {
        var knotDir = Directory.CreateDirectory(dir.File("knot")).FullName;
        var conf = Path.Combine(knotDir, "knot.conf");
        string keys = key is null ? "" : $"""
            key:
              - id: {key.Name}
                algorithm: {key.Algorithm}
                secret: {key.Secret}
            """;
        string uses = key is null ? "" : $"key: {key.Name}";
        File.WriteAllText(conf, string.Create(CultureInfo.InvariantCulture, $"""
            server:
                listen: 127.0.0.1@{port}
                rundir: "{knotDir}"
            log:
              - target: "{LogPath(dir)}"
                any: info
            database:
                storage: "{knotDir}"
            {keys}
            remote:
              - id: primary
                address: 127.0.0.1@{primary}
                {uses}
            acl:
              - id: notify_from_primary
                address: 127.0.0.1
                {uses}
                action: notify
            template:
              - id: default
                storage: "{knotDir}"
            zone:
              - domain: status.example
                master: primary
                acl: notify_from_primary
            """));
        var info = new ProcessStartInfo(Peer.Path(Peer.Knot)) { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in new[] { "-c", conf }) info.ArgumentList.Add(a);
        var process = Process.Start(info)!;
        // Drained so that a chatty knotd never blocks on a full pipe; what matters is in the log file.
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return process;
    }

    /// <summary>Where knotd started in <paramref name="dir"/> logs.</summary>
    public static string LogPath(TempDir dir) => dir.File(Path.Combine("knot", "knot.log"));

    /// <summary>The log so far, or "" before knotd wrote one.</summary>
    public static string Log(TempDir dir) => File.Exists(LogPath(dir)) ? File.ReadAllText(LogPath(dir)) : "";
}
