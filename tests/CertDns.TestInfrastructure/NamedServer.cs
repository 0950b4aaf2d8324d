using System.Diagnostics;
using System.Globalization;

namespace CertDns.TestInfrastructure;

/// <summary>
/// A real BIND <c>named</c> in the foreground on 127.0.0.1, its configuration, zone files and log
/// (<c>named.log</c>: xfer-in, notify, security, at debug level 3: only there does named say "got incremental response") in a folder of the test's own, no rndc.
/// </summary>
public static class NamedServer
{
    /// <summary>
    /// Starts named on <paramref name="port"/> with <paramref name="clauses"/> (key, zone and server statements) after
    /// its options; the log is <see cref="LogPath(string)"/>.
    /// </summary>
    public static Process Start(string dir, int port, string clauses)
    {
        Directory.CreateDirectory(dir);
        var conf = Path.Combine(dir, "named.conf");
        File.WriteAllText(conf, string.Create(CultureInfo.InvariantCulture, $$"""
            options {
                directory "{{dir}}";
                pid-file "{{Path.Combine(dir, "named.pid")}}";
                session-keyfile "{{Path.Combine(dir, "session.key")}}";
                managed-keys-directory "{{dir}}";
                listen-on port {{port}} { 127.0.0.1; };
                listen-on-v6 { none; };
                recursion no;
                dnssec-validation no;
                notify no;
                allow-transfer { none; };
            };
            controls { };
            logging {
                channel file { file "{{LogPath(dir)}}"; severity debug 3; print-time yes; print-category yes; print-severity yes; };
                category default { file; };
                category xfer-in { file; };
                category notify { file; };
                category security { file; };
                category general { file; };
            };
            {{clauses}}
            """));
        var info = new ProcessStartInfo(Peer.Path(Peer.Named)) { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        // -f: foreground, logging as configured; as root it stays root (-u would need a user that can write the folder).
        foreach (var a in new[] { "-f", "-c", conf, "-n", "1" }) info.ArgumentList.Add(a);
        var process = Process.Start(info)!;
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return process;
    }

    /// <summary>Where named logs.</summary>
    public static string LogPath(string dir) => Path.Combine(dir, "named.log");

    /// <summary>Starts named in the folder <c>named</c> of <paramref name="dir"/>.</summary>
    public static Process Start(TempDir dir, int port, string clauses) => Start(dir.File("named"), port, clauses);

    /// <summary>Where named started in <paramref name="dir"/> logs.</summary>
    public static string LogPath(TempDir dir) => LogPath(dir.File("named"));
}
