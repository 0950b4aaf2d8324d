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
    public static Process Start(string dir, int port, string clauses) => Start(dir, port, clauses, "recursion no;\n    dnssec-validation no;");

    /// <summary>
    /// Starts named as a validating resolver: recursion for 127.0.0.0/8 only, <c>dnssec-validation yes</c> (only the
    /// configured anchors, not the built-in root key), every DNSKEY record of <paramref name="dnskey"/> (presentation form
    /// with ; comments, as <c>certdns dnssec dnskey</c> prints it) as a static key, and <paramref name="zone"/> and
    /// the root forwarded only to 127.0.0.1 port <paramref name="authoritative"/>, so named asks nothing off loopback; <paramref name="cookies"/> off sends
    /// queries without a COOKIE option (so answers end in an option-less OPT, as a byte-flipping relay expects).
    /// </summary>
    public static Process StartValidating(string dir, int port, string zone, int authoritative, string dnskey, bool cookies = true)
    {
        var anchors = new System.Text.StringBuilder();
        foreach (var line in dnskey.Split('\n'))
        {
            var f = line.Split(';')[0].Split([' ', '\t'], StringSplitOptions.RemoveEmptyEntries);
            int at = Array.IndexOf(f, "DNSKEY");
            if (at < 0 || f.Length < at + 5) continue;
            anchors.Append(CultureInfo.InvariantCulture, $"{zone}. static-key {f[at + 1]} {f[at + 2]} {f[at + 3]} \"{string.Concat(f[(at + 4)..])}\"; ");
        }
        if (anchors.Length == 0) throw new ArgumentException($"no DNSKEY record in: {dnskey}", nameof(dnskey));
        var forward = string.Create(CultureInfo.InvariantCulture, $"type forward; forward only; forwarders {{ 127.0.0.1 port {authoritative}; }};");
        return Start(dir, port, string.Create(CultureInfo.InvariantCulture, $$"""
            trust-anchors { {{anchors}}};
            zone "{{zone}}" { {{forward}} };
            zone "." { {{forward}} };
            server 127.0.0.1 { send-cookie {{(cookies ? "yes" : "no")}}; };
            """), """
            recursion yes;
                allow-recursion { 127.0.0.0/8; };
                allow-query-cache { 127.0.0.0/8; };
                dnssec-validation yes;
                qname-minimization off;
                query-source address 127.0.0.1;
            """);
    }

    private static Process Start(string dir, int port, string clauses, string policy)
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
                {{policy}}
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
