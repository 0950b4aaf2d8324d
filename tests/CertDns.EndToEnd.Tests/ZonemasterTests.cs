using System.Globalization;

namespace CertDns.EndToEnd.Tests;

/// <summary>
/// Zonemaster, as DNS operators check a zone before delegating it: its NS, SOA and name server modules against
/// CertDns as primary and NSD as its secondary, on port 53 of two loopback addresses in a network namespace of the
/// test's own (the zone is tested undelegated, with --ns, so nothing leaves the machine).
/// </summary>
public sealed class ZonemasterTests : IDisposable
{
    private const string Primary = "127.0.0.10", Secondary = "127.0.0.11";

    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    [PeerFact(Peer.Netns, Peer.Nsd, Peer.Dig, Peer.Zonemaster)]
    public void Zonemaster_PrimaryAndNsdSecondary_NoWarningInNsAndSoaModules()
    {
        File.WriteAllText(_dir.File("certdns.toml"), $"""
            [zone]
            name = "status.example"
            ns = ["ns1.status.example", "ns2.status.example"]
            soa-contact = "hostmaster@example.org"
            [zone.glue]
            "ns1.status.example" = ["{Primary}"]
            "ns2.status.example" = ["{Secondary}"]
            [zone.soa]
            refresh = 14400
            retry = 3600
            expire = 1209600
            minimum = 300
            [server]
            listen = ["{Primary}:53"]
            allow-transfer = ["{Secondary}"]
            notify = ["{Secondary}:53"]
            """);
        File.WriteAllText(_dir.File("nsd.conf"), $"""
            server:
                ip-address: {Secondary}@53
                do-ip6: no
                zonesdir: "{_dir.Path}"
                database: ""
                pidfile: "{_dir.File("nsd.pid")}"
                xfrdfile: "{_dir.File("xfrd.state")}"
                zonelistfile: "{_dir.File("zone.list")}"
                xfrdir: "{_dir.Path}"
                username: ""
                chroot: ""
                logfile: "{_dir.File("nsd.log")}"
                server-count: 1
            remote-control:
                control-enable: no
            zone:
                name: "status.example"
                zonefile: "secondary.zone"
                outgoing-interface: {Secondary}
                request-xfr: AXFR {Primary}@53 NOKEY
                allow-notify: {Primary} NOKEY
            """);
        using var netns = new Netns("zm");
        netns.Start(_dir.Path, "dotnet", Path.Combine(AppContext.BaseDirectory, "certdns.dll"), "serve", "--config", _dir.File("certdns.toml"), "--demo");
        var primarySerial = WaitForSerial(netns, Primary, null);
        netns.Start(_dir.Path, Peer.Path(Peer.Nsd), "-d", "-c", _dir.File("nsd.conf"));
        WaitForSerial(netns, Secondary, primarySerial);

        var (code, output) = netns.Run(Peer.Path(Peer.Zonemaster), "--no-ipv6", "--level", "WARNING", "--no-progress",
            "--test", "delegation", "--test", "nameserver", "--test", "zone", "--test", "consistency", "--test", "syntax",
            "--ns", $"ns1.status.example/{Primary}", "--ns", $"ns2.status.example/{Secondary}", "status.example");

        Assert.True(code == 0, output);
        var findings = output.Split('\n').Where(l => l.Contains(" WARNING ", StringComparison.Ordinal) || l.Contains(" ERROR ", StringComparison.Ordinal)
            || l.Contains(" CRITICAL ", StringComparison.Ordinal)).ToList();
        Assert.True(findings.Count == 0, output);
    }

    /// <summary>Waits until <paramref name="server"/> answers the zone's SOA (at <paramref name="serial"/> when given).</summary>
    private static string WaitForSerial(Netns netns, string server, string? serial)
    {
        var until = DateTime.UtcNow.AddSeconds(60);
        string last = "";
        while (DateTime.UtcNow < until)
        {
            last = netns.Run("dig", "@" + server, "status.example", "SOA", "+short", "+tries=1", "+time=1").Output.Trim();
            var fields = last.Split(' ');
            if (fields.Length == 7 && (serial is null || fields[2] == serial)) return fields[2];
            Thread.Sleep(200);
        }
        throw new TimeoutException(string.Create(CultureInfo.InvariantCulture, $"{server} did not answer the SOA{(serial is null ? "" : " at " + serial)}: {last}"));
    }
}
