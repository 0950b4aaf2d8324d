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
}
