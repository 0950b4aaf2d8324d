using System.Diagnostics;
using System.Globalization;

namespace CertDns.TestInfrastructure;

/// <summary>
/// A real BIND <c>named</c> in the foreground, on 127.0.0.1, with its configuration, state and log in the test's folder.
/// </summary>
public static class NamedServer
{
    /// <summary>The log file <see cref="Start"/> has named write (transfers, NOTIFY and the rest).</summary>
    public static string LogPath(TempDir dir) => dir.File("named.log");

    /// <summary>
    /// Starts named on <paramref name="port"/>; <paramref name="zones"/> holds its zone statements (e.g. a secondary
    /// of <c>status.example</c> with <c>primaries { 127.0.0.1 port N; };</c>).
    /// </summary>
    public static Process Start(TempDir dir, int port, string zones)
    {
        var state = Directory.CreateDirectory(dir.File("named")).FullName;
        var conf = dir.File("named.conf");
        File.WriteAllText(conf, string.Create(CultureInfo.InvariantCulture, $$"""
            options {
                directory "{{state}}";
                pid-file "{{state}}/named.pid";
                session-keyfile "{{state}}/session.key";
                managed-keys-directory "{{state}}";
                listen-on port {{port}} { 127.0.0.1; };
                listen-on-v6 { none; };
                recursion no;
                dnssec-validation no;
                notify no;
                allow-transfer { none; };
            };
            controls { };
            logging {
                channel file { file "{{LogPath(dir)}}"; severity debug 3; print-time yes; print-category yes; };
                category default { file; };
            };
            {{zones}}
            """));
        var info = new ProcessStartInfo(Peer.Path(Peer.Named)) { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in new[] { "-f", "-c", conf }) info.ArgumentList.Add(a);
        return Process.Start(info)!;
    }
}
