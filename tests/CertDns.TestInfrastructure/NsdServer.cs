using System.Diagnostics;
using System.Globalization;

namespace CertDns.TestInfrastructure;

/// <summary>A real NSD in the foreground, on 127.0.0.1, with its state files in the test's folder.</summary>
public static class NsdServer
{
    /// <summary>
    /// Starts NSD serving <c>status.example</c> on <paramref name="port"/>; <paramref name="zone"/> holds the lines of
    /// the zone block after its name (a zonefile, request-xfr, allow-notify ...), indented by four spaces;
    /// <paramref name="clauses"/> holds top-level clauses to add before it (a key: for TSIG).
    /// </summary>
    public static Process Start(TempDir dir, int port, string zone, int verbosity = 0, string clauses = "")
    {
        var conf = dir.File("nsd.conf");
        File.WriteAllText(conf, string.Create(CultureInfo.InvariantCulture, $"""
            server:
                ip-address: 127.0.0.1@{port}
                do-ip6: no
                zonesdir: "{dir.Path}"
                database: ""
                pidfile: "{dir.File("nsd.pid")}"
                xfrdfile: "{dir.File("xfrd.state")}"
                zonelistfile: "{dir.File("zone.list")}"
                xfrdir: "{dir.Path}"
                username: ""
                chroot: ""
                logfile: "{dir.File("nsd.log")}"
                server-count: 1
                verbosity: {verbosity}
            remote-control:
                control-enable: no
            {clauses}
            zone:
                name: "status.example"
            {zone}
            """));
        var info = new ProcessStartInfo(Peer.Path(Peer.Nsd)) { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in new[] { "-d", "-c", conf }) info.ArgumentList.Add(a);
        return Process.Start(info)!;
    }

    /// <summary>
    /// Starts NSD as a secondary of the primary on 127.0.0.1:<paramref name="primaryPort"/>: it requests the zone into
    /// <c>secondary.zone</c> (AXFR only if <paramref name="axfrOnly"/>, else IXFR first) and accepts NOTIFY from
    /// 127.0.0.1, both signed with the TSIG <paramref name="key"/> (hmac-sha256) if one is given; with
    /// <paramref name="provideXfr"/> it gives the zone by transfer to 127.0.0.1 in turn. It logs to <c>nsd.log</c>.
    /// </summary>
    public static Process StartSecondary(TempDir dir, int port, int primaryPort, (string Name, string Secret)? key = null,
        bool axfrOnly = false, bool provideXfr = false, int verbosity = 2)
    {
        var keyName = key?.Name ?? "NOKEY";
        var zone = string.Create(CultureInfo.InvariantCulture, $"""
                zonefile: "secondary.zone"
                request-xfr: {(axfrOnly ? "AXFR " : "")}127.0.0.1@{primaryPort} {keyName}
                allow-notify: 127.0.0.1 {keyName}
            """);
        if (provideXfr) zone += "\n    provide-xfr: 127.0.0.1 NOKEY";
        var clauses = key is { } k ? $"""
            key:
                name: "{k.Name}"
                algorithm: hmac-sha256
                secret: "{k.Secret}"
            """ : "";
        return Start(dir, port, zone, verbosity, clauses);
    }
}
