using System.Diagnostics;
using System.Globalization;
using System.Net;
using CertDns.Core;
using CertDns.Dns.Dnssec;

namespace CertDns.Dns.Tests.Dnssec;

/// <summary>
/// Issue 15's rollover test: a rollover run on a fake clock keeps every answer validating through each phase. The
/// server's parts as serve wires them (the key set file, <see cref="KeySetWatcher"/> checking it, the responder
/// swapping keys and the serial advancing) answer on loopback; at each phase a validating Unbound, checking signatures
/// at the fake clock's time and holding the DS a resolver would hold then, resolves a listed name, a valid one, an
/// unknown one, a NODATA and the apex's SOA, NS and DNSKEY, all with the AD bit; the signed AXFR passes
/// ldns-verify-zone at that time; and the phase's keys are the ones signing (the test would pass vacuously otherwise).
/// </summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed class RolloverValidationTests : IDisposable
{
    private static readonly ZoneOptions Options = new();
    private static readonly RolloverTiming Timing = RolloverTiming.For(Options, TimeSpan.FromSeconds(1));
    private readonly TempDir _dir = new();
    private readonly FakeTimeProvider _time = new(TestZone.Now);
    private readonly string _path;
    private readonly SnapshotHolder _holder = new(TestZone.Snapshot());
    private int _unbounds;

    public RolloverValidationTests() => _path = _dir.File("status.example.keys");

    public void Dispose() => _dir.Dispose();

    private sealed record Served(DnsResponder Responder, DnsServer Server, KeySetWatcher Watcher, List<string> Log);

    private async Task<Served> Serve(bool split)
    {
        using (var generated = DnssecKeySet.Generate(TestZone.Apex, DnssecAlgorithm.EcdsaP256Sha256, split, _time.GetUtcNow().AddDays(-30)))
            generated.Save(_path, overwrite: false);
        var keys = DnssecKeySet.Load(_path, _time.GetUtcNow());
        var log = new List<string>();
        DnsResponder? responder = null;
        // As ServeService wires it: new keys sign from the next query, and the serial moves for the secondaries.
        var watcher = new KeySetWatcher(_path, keys, _time, (next, why) =>
        {
            responder!.UseKeys(next);
            _holder.Publish(_holder.Current.WithSerial(_holder.Current.Serial + 1));
            log.Add(why);
        }, log.Add);
        responder = new DnsResponder(Options, _holder, _time, new OnlineSigner(watcher.Current)) { TransferSigner = new TransferSigner(new Zone(Options), watcher.Current) };
        var server = await DnsServer.StartAsync(new IPEndPoint(IPAddress.Loopback, 0), responder, new DnsServerOptions { TransferClients = [IPAddress.Loopback] });
        return new Served(responder, server, watcher, log);
    }

    /// <summary>Moves the fake clock to <paramref name="at"/> and lets the watcher check, as the server's poll does.</summary>
    private void At(Served served, DateTimeOffset at)
    {
        Assert.True(at >= _time.GetUtcNow());
        _time.SetUtcNow(at);
        served.Watcher.Check();
    }

    /// <summary>Rewrites the key set file as <c>certdns dnssec rollover</c> does, at the fake clock's time.</summary>
    private DnssecKey StartRollover(string? role)
    {
        var now = _time.GetUtcNow();
        var keys = DnssecKeySet.Load(_path, now);
        var (next, fresh) = KeyRollover.Start(keys, _path, null, role, Timing, now);
        next.Save(_path, overwrite: true);
        return fresh;
    }

    private void DsChanged()
    {
        var now = _time.GetUtcNow();
        var keys = DnssecKeySet.Load(_path, now);
        KeyRollover.DsChanged(keys, _path, Timing, now);
        keys.Save(_path, overwrite: true);
    }

    [PeerFact(Peer.Unbound, Peer.Dig, Peer.LdnsVerifyZone)]
    public async Task CskRollover_DoubleSignature_EveryPhaseValidates()
    {
        var served = await Serve(split: false);
        await using var _ = served.Server;
        var old = served.Watcher.Current.KeySigningKeys.Single();
        await Phase(served, "before", dnskeys: [old.KeyTag], signers: [old.KeyTag], dnskeySigners: [old.KeyTag], anchors: [old.KeyTag]);

        var fresh = StartRollover(null);
        At(served, _time.GetUtcNow().AddSeconds(1));
        await Phase(served, "double signature", [old.KeyTag, fresh.KeyTag], [old.KeyTag, fresh.KeyTag], [old.KeyTag, fresh.KeyTag], [old.KeyTag]);

        At(served, KeyRollover.DsReady(fresh, Timing));
        // The new DS may go to the parent now: a resolver holding either validates.
        await Phase(served, "ready for the new DS", [old.KeyTag, fresh.KeyTag], [old.KeyTag, fresh.KeyTag], [old.KeyTag, fresh.KeyTag], [old.KeyTag], [fresh.KeyTag]);

        At(served, _time.GetUtcNow().AddHours(2));
        DsChanged();
        At(served, _time.GetUtcNow().AddSeconds(1));
        // The parent serves the new DS alone; resolvers may still hold the old one.
        await Phase(served, "parent changed", [old.KeyTag, fresh.KeyTag], [old.KeyTag, fresh.KeyTag], [old.KeyTag, fresh.KeyTag], [old.KeyTag], [fresh.KeyTag]);

        At(served, _time.GetUtcNow() + Timing.Propagation + Timing.DsTtl);
        await Phase(served, "old key removed", [fresh.KeyTag], [fresh.KeyTag], [fresh.KeyTag], [fresh.KeyTag]);
        // The old DS no longer fits: the check can fail, and the old key is really gone.
        await Bogus(served, old.KeyTag);
        // Two changes of what the zone publishes (the new key in, the old one out), each under a new serial; the DS change
        // itself rewrote the file and changed nothing served.
        Assert.Equal(2, served.Log.Count(l => l.StartsWith("DNSSEC keys:", StringComparison.Ordinal)));
        Assert.Equal(TestZone.Snapshot().Serial + 2, _holder.Current.Serial);
    }

    [PeerFact(Peer.Unbound, Peer.Dig, Peer.LdnsVerifyZone)]
    public async Task SplitSet_ZskPrePublicationThenKskDoubleSignature_EveryPhaseValidates()
    {
        var served = await Serve(split: true);
        await using var _ = served.Server;
        var ksk = served.Watcher.Current.KeySigningKeys.Single();
        var zsk = served.Watcher.Current.ZoneSigningKeys.Single();
        await Phase(served, "before", [ksk.KeyTag, zsk.KeyTag], [zsk.KeyTag], [ksk.KeyTag], [ksk.KeyTag]);

        var newZsk = StartRollover(null);
        At(served, _time.GetUtcNow().AddSeconds(1));
        await Phase(served, "ZSK pre-publication", [ksk.KeyTag, zsk.KeyTag, newZsk.KeyTag], [zsk.KeyTag], [ksk.KeyTag], [ksk.KeyTag]);
        At(served, newZsk.Activated!.Value.AddSeconds(-1));
        await Phase(served, "ZSK just before the swap", [ksk.KeyTag, zsk.KeyTag, newZsk.KeyTag], [zsk.KeyTag], [ksk.KeyTag], [ksk.KeyTag]);
        At(served, newZsk.Activated.Value);
        await Phase(served, "ZSK swapped, old retired", [ksk.KeyTag, zsk.KeyTag, newZsk.KeyTag], [newZsk.KeyTag], [ksk.KeyTag], [ksk.KeyTag]);
        At(served, newZsk.Activated.Value + Timing.SignaturesExpire);
        await Phase(served, "old ZSK removed", [ksk.KeyTag, newZsk.KeyTag], [newZsk.KeyTag], [ksk.KeyTag], [ksk.KeyTag]);

        var newKsk = StartRollover("KSK");
        At(served, _time.GetUtcNow().AddSeconds(1));
        await Phase(served, "KSK double signature", [ksk.KeyTag, newZsk.KeyTag, newKsk.KeyTag], [newZsk.KeyTag], [ksk.KeyTag, newKsk.KeyTag], [ksk.KeyTag]);
        At(served, KeyRollover.DsReady(newKsk, Timing));
        DsChanged();
        At(served, _time.GetUtcNow().AddSeconds(1));
        await Phase(served, "KSK parent changed", [ksk.KeyTag, newZsk.KeyTag, newKsk.KeyTag], [newZsk.KeyTag], [ksk.KeyTag, newKsk.KeyTag], [ksk.KeyTag], [newKsk.KeyTag]);
        At(served, _time.GetUtcNow() + Timing.Propagation + Timing.DsTtl);
        await Phase(served, "old KSK removed", [newZsk.KeyTag, newKsk.KeyTag], [newZsk.KeyTag], [newKsk.KeyTag], [newKsk.KeyTag]);
        await Bogus(served, ksk.KeyTag);
        // Five changes: new ZSK published, signers swapped, old ZSK removed, new KSK in, old KSK out.
        Assert.Equal(TestZone.Snapshot().Serial + 5, _holder.Current.Serial);
    }

    /// <summary>
    /// One phase: the DNSKEY RRset holds <paramref name="dnskeys"/>, A answers are signed by <paramref name="signers"/>
    /// and the DNSKEY RRset by <paramref name="dnskeySigners"/> (asked of CertDns directly); then for each DS a resolver
    /// may hold (<paramref name="anchors"/>, and <paramref name="alsoAnchors"/>) a validating Unbound gets the AD bit on
    /// every sampled name; the AXFR passes ldns-verify-zone; a change of keys came with a new serial.
    /// </summary>
    private async Task Phase(Served served, string phase, ushort[] dnskeys, ushort[] signers, ushort[] dnskeySigners, ushort[] anchors, ushort[]? alsoAnchors = null)
    {
        int port = served.Server.LocalEndPoint.Port;
        var listed = TestZone.Name(TestZone.Split(TestZone.Revoked.Sha256));
        var a = await Dig.RunAsync(port, listed, "A", "+norec", "+dnssec");
        Assert.True(a.Status == "NOERROR", $"{phase}: {a.Output}");
        Assert.True(signers.Order().SequenceEqual(RrsigTags(a, "A")), $"{phase}: A signed by {string.Join(',', RrsigTags(a, "A"))}, not {string.Join(',', signers)}\n{a.Output}");
        var dnskey = await Dig.RunAsync(port, TestZone.Apex, "DNSKEY", "+norec", "+dnssec");
        Assert.True(dnskey.Answer.Count(r => r[3] == "DNSKEY") == dnskeys.Length, $"{phase}: DNSKEY RRset\n{dnskey.Output}");
        Assert.True(dnskeySigners.Order().SequenceEqual(RrsigTags(dnskey, "DNSKEY")), $"{phase}: DNSKEY signed by {string.Join(',', RrsigTags(dnskey, "DNSKEY"))}, not {string.Join(',', dnskeySigners)}\n{dnskey.Output}");
        Assert.Equal(dnskeys.Order(), served.Watcher.Current.Published.Select(k => k.KeyTag).Order());

        foreach (var tag in anchors.Concat(alsoAnchors ?? []))
        {
            using var unbound = ValidatingUnbound.Start(_dir, $"u{_unbounds++}", port, Anchor(served, tag), _time.GetUtcNow());
            foreach (var (qname, qtype) in new[]
            {
                (listed, "A"),
                (listed, "TXT"),
                (TestZone.Name(TestZone.Split(TestZone.Valid.Sha256), "wl"), "A"),
                (TestZone.Name(TestZone.Split(TestZone.Unknown.Sha256)), "A"),
                (listed, "AAAA"),
                (TestZone.Apex, "SOA"),
                (TestZone.Apex, "NS"),
                (TestZone.Apex, "DNSKEY"),
            })
            {
                var r = await Dig.RunAsync(unbound.Port, qname, qtype, "+rec", "+dnssec");
                Assert.True(r.Status is "NOERROR" or "NXDOMAIN" && r.Flags.Contains("ad"),
                    $"{phase}, DS of {tag}: {qname} {qtype}: {r.Status} {string.Join(' ', r.Flags)}\n{r.Output}");
            }
        }
        await VerifyAxfr(port, phase, dnskeys.Length);
    }

    /// <summary>A resolver holding the DS of <paramref name="tag"/>, no longer in the zone, gets SERVFAIL.</summary>
    private async Task Bogus(Served served, ushort tag)
    {
        var anchor = _dir.File($"ds-{tag}-gone");
        // The key is out of the set served: its DS comes from the file, which keeps removed keys until the next rollover.
        using var file = DnssecKeySet.Load(_path, _time.GetUtcNow());
        var key = file.Keys.Single(k => k.KeyTag == tag);
        File.WriteAllText(anchor, DsLine(file, key));
        using var unbound = ValidatingUnbound.Start(_dir, $"u{_unbounds++}", served.Server.LocalEndPoint.Port, anchor, _time.GetUtcNow());
        var r = await Dig.RunAsync(unbound.Port, TestZone.Name(TestZone.Split(TestZone.Revoked.Sha256)), "A", "+rec", "+dnssec");
        Assert.True(r.Status == "SERVFAIL", $"the DS of removed key {tag} still validates: {r.Status}\n{r.Output}");
    }

    private string Anchor(Served served, ushort tag)
    {
        var anchor = _dir.File($"ds-{tag}-{_unbounds}");
        var key = served.Watcher.Current.Keys.Single(k => k.KeyTag == tag);
        File.WriteAllText(anchor, DsLine(served.Watcher.Current, key));
        return anchor;
    }

    private static string DsLine(DnssecKeySet keys, DnssecKey key)
    {
        var ds = key.DsRdata(keys.ZoneWire);
        return string.Create(CultureInfo.InvariantCulture, $"{keys.Zone} 3600 IN DS {key.KeyTag} {(byte)key.Algorithm} 2 {Convert.ToHexString(ds.AsSpan(4))}\n");
    }

    /// <summary>The key tags of the RRSIGs over <paramref name="type"/> in the answer, in order (dig's RDATA is one field: type covered, algorithm, labels, TTL, expiration, inception, key tag ...).</summary>
    private static IEnumerable<ushort> RrsigTags(DigResult r, string type) =>
        r.Answer.Where(x => x[3] == "RRSIG").Select(x => x[4].Split(' ', StringSplitOptions.RemoveEmptyEntries)).Where(f => f[0] == type)
            .Select(f => ushort.Parse(f[6], CultureInfo.InvariantCulture)).Order();

    /// <summary>The signed AXFR, checked by ldns-verify-zone at the fake clock's time.</summary>
    private async Task VerifyAxfr(int port, string phase, int dnskeys)
    {
        var axfr = await Dig.RunRawAsync(port, TestZone.Apex, "AXFR", "+nocomments", "+nostats", "+nocmd");
        var lines = axfr.Split('\n').Where(l => l.Length > 0 && !l.StartsWith(';')).ToList();
        Assert.True(lines.Count > 10, $"{phase}: AXFR\n{axfr}");
        // The transfer ends with the SOA again; a zone file has it once.
        var soa = lines[0];
        Assert.Contains($" {_holder.Current.Serial} ", soa.Replace('\t', ' '), StringComparison.Ordinal);
        // Secondaries get the phase's keys too, not the ones the transfer signer started with.
        Assert.True(lines.Count(l => l.Split((char[])[' ', '\t'], StringSplitOptions.RemoveEmptyEntries) is [_, _, _, "DNSKEY", ..]) == dnskeys, $"{phase}: AXFR DNSKEY RRset\n{axfr}");
        var file = _dir.File($"axfr-{_unbounds}.zone");
        await File.WriteAllLinesAsync(file, lines.Take(lines.Count - 1));
        var info = new ProcessStartInfo(Peer.Path(Peer.LdnsVerifyZone)) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var arg in new[] { "-V", "3", "-t", _time.GetUtcNow().UtcDateTime.ToString("yyyyMMddHHmmss", CultureInfo.InvariantCulture), file }) info.ArgumentList.Add(arg);
        using var process = Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        var output = await stdout + await stderr;
        Assert.True(process.ExitCode == 0 && output.Contains("Zone is verified and complete", StringComparison.Ordinal), $"{phase}: ldns-verify-zone\n{output}");
    }
}
