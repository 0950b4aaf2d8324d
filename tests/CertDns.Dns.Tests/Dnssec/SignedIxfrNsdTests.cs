using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Security.Cryptography;
using CertDns.Core;
using CertDns.Dns.Dnssec;

namespace CertDns.Dns.Tests.Dnssec;

/// <summary>
/// Issue 15, secondaries: a real NSD takes the signed zone from the primary by AXFR and serves it; a validating Unbound
/// (trust anchor: the key set's DNSKEYs) resolving through that NSD gets the AD bit for a revoked, a valid and an
/// unknown name (NSEC3 denial); after changes at the primary NSD catches up by IXFR and the new answers validate too.
/// </summary>
public sealed class SignedIxfrNsdTests : IDisposable
{
    // Unbound checks the signatures at the real time: the zone is made at it.
    private static readonly DateTimeOffset Now = DateTimeOffset.UtcNow;
    private static readonly ZoneOptions Options = new();
    private static readonly CaFacts Ca = new(1, "CN=Signed Secondary CA", Trusted: true, Crl: new CrlFacts("1000", Now.AddDays(-1), Now.AddDays(1)));
    private readonly TempDir _dir = new();
    private readonly List<Process> _daemons = [];

    public void Dispose()
    {
        foreach (var p in _daemons)
        {
            if (!p.HasExited) p.Kill(entireProcessTree: true);
            p.WaitForExit(5000);
            p.Dispose();
        }
        _dir.Dispose();
    }

    private static CertFacts Cert(int i)
    {
        var der = BitConverter.GetBytes(i * 7919);
        return new CertFacts(SHA256.HashData(der), SHA1.HashData(der), MD5.HashData(der), SHA256.HashData([.. der, 1]),
            Serial: [(byte)(i >> 8), (byte)i], NotBefore: Now.AddDays(-30), NotAfter: Now.AddDays(300), Ca: Ca);
    }

    private static CertFacts Revoked(CertFacts cert) => cert with { Revocation = new RevocationFacts(RevocationReason.KeyCompromise, Now.AddHours(-1), "1000") };

    private static CertFacts Blocked(CertFacts cert) => cert with { Block = new BlockFacts("abuse", Now.AddMinutes(-1)) };

    private static string Name(CertFacts cert, string view = "") => PublishedNames.Split(cert.Sha256) + view + "." + TestZone.Apex;

    [PeerFact(Peer.Nsd, Peer.Unbound, Peer.Dig)]
    public async Task Nsd_SignedZone_UnboundThroughItValidates_AndFollowsByIxfr()
    {
        using var keys = DnssecKeySet.Generate(TestZone.Apex, DnssecAlgorithm.EcdsaP256Sha256, split: true, Now);
        var zone = new Zone(Options);
        var signer = new TransferSigner(zone, keys);
        var journal = new ZoneJournal(Options, JournalOptions.Default) { Signer = signer };
        var certs = Enumerable.Range(0, 50).Select(Cert).ToArray();
        certs[1] = Revoked(certs[1]);
        var s1 = new StatusSnapshot(1, certs);
        journal.Reset(1, Now);
        var holder = new SnapshotHolder(s1);
        var responder = new DnsResponder(Options, holder, TimeProvider.System) { Journal = journal, TransferSigner = signer };
        await using var primary = await DnsServer.StartAsync(new IPEndPoint(IPAddress.Loopback, 0), responder, new DnsServerOptions { TransferClients = [IPAddress.Loopback] });
        int nsdPort = CertDnsProcess.FreePort();
        _daemons.Add(NsdServer.StartSecondary(_dir, nsdPort, primary.LocalEndPoint.Port));
        await WaitForSerial(nsdPort, 1);
        var anchor = _dir.File("anchor.key");
        File.WriteAllText(anchor, keys.DnskeyText(3600));
        // Loopback only: even the root is a stub to the NSD, so Unbound reaches no other server.
        using var resolver = ValidatingUnbound.Start(_dir, "nsd", nsdPort, anchor, logFile: true);
        int unbound = resolver.Port;

        await Validates(unbound, Name(certs[1]), "127.0.0.2");
        await Validates(unbound, Name(certs[0]), "127.0.1.2");
        await Validates(unbound, Name(certs[0], ".wl"), "127.0.1.2");
        var unknown = await Dig.RunAsync(unbound, Name(Cert(999)), "A", "+rec", "+dnssec");
        Assert.True(unknown.Status == "NXDOMAIN" && unknown.Flags.Contains("ad"), "an unknown name is proven absent (NSEC3)\n" + unknown.Output);

        // Change 1, the first after the signer started: the journal starts afresh there, NSD transfers the whole zone.
        var s2 = new StatusSnapshot(2, [.. certs.Select((c, i) => i == 2 ? Blocked(c) : c)]);
        await Publish(journal, holder, s1, s2, nsdPort, zone);
        // Change 2: a block and a new certificate, by IXFR.
        var fresh = Cert(500);
        var s3 = new StatusSnapshot(3, [.. s2.Certificates.Select((c, i) => i == 3 ? Blocked(c) : c), fresh]);
        long incremental = responder.Counters.Ixfr(TransferKind.IxfrIncremental);
        await Publish(journal, holder, s2, s3, nsdPort, zone);
        Assert.Equal(incremental + 1, responder.Counters.Ixfr(TransferKind.IxfrIncremental));

        await Validates(unbound, Name(certs[3]), "127.0.0.3");
        await Validates(unbound, Name(certs[3], ".bl"), "127.0.0.3");
        await Validates(unbound, Name(fresh), "127.0.1.2");
        var gone = await Dig.RunAsync(unbound, Name(certs[3], ".wl"), "A", "+rec", "+dnssec");
        Assert.True(gone.Status == "NXDOMAIN" && gone.Flags.Contains("ad"), "a blocked certificate is proven gone from the wl view\n" + gone.Output);
        var txt = await Dig.RunAsync(unbound, Name(certs[2]), "TXT", "+rec", "+dnssec");
        Assert.True(txt.Status == "NOERROR" && txt.Flags.Contains("ad"), txt.Output);
    }

    private async Task Publish(ZoneJournal journal, SnapshotHolder holder, StatusSnapshot before, StatusSnapshot next, int nsdPort, Zone zone)
    {
        journal.Record(before, journal.PublishedAt, next, Now);
        holder.Publish(next);
        Assert.True(await ZoneTransfer.NotifyAsync(new IPEndPoint(IPAddress.Loopback, nsdPort), zone, next.Serial), "NSD acknowledges the NOTIFY");
        await WaitForSerial(nsdPort, next.Serial);
    }

    private static async Task Validates(int unbound, string name, string address)
    {
        var answer = await Dig.RunAsync(unbound, name, "A", "+rec", "+dnssec");
        Assert.True(answer.Status == "NOERROR", $"{name}: {answer.Status}\n{answer.Output}");
        Assert.Equal(address, answer.SingleAnswer("A")[4]);
        Assert.True(answer.Flags.Contains("ad"), $"{name}: no AD bit\n{answer.Output}");
    }

    private async Task WaitForSerial(int port, uint serial)
    {
        var until = DateTime.UtcNow.AddSeconds(30);
        string last = "";
        while (DateTime.UtcNow < until)
        {
            last = await TryDig(port, "+norec", "+short");
            if (uint.TryParse(last.Split(' ', StringSplitOptions.RemoveEmptyEntries).ElementAtOrDefault(2), CultureInfo.InvariantCulture, out var held) && held == serial) return;
            await Task.Delay(100);
        }
        var log = _dir.File("nsd.log");
        Assert.Fail($"NSD did not reach serial {serial}: {last}\n{(File.Exists(log) ? File.ReadAllText(log) : "")}");
    }

    /// <summary>dig for the apex SOA, its output whatever came (nothing listening yet is no failure while waiting).</summary>
    private static async Task<string> TryDig(int port, params string[] options)
    {
        var info = new ProcessStartInfo(Dig.Path!) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in new[] { "@127.0.0.1", "-p", port.ToString(CultureInfo.InvariantCulture), TestZone.Apex, "SOA", "+time=1", "+tries=1" }.Concat(options)) info.ArgumentList.Add(a);
        using var process = Process.Start(info)!;
        var output = await process.StandardOutput.ReadToEndAsync();
        await process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        return output;
    }
}
