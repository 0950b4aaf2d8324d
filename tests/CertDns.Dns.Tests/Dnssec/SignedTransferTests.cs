using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Security.Cryptography;
using CertDns.Core;
using CertDns.Dns.Dnssec;

namespace CertDns.Dns.Tests.Dnssec;

/// <summary>
/// The signed transfer form (issue 15, secondaries): the AXFR of a signed zone is a complete pre-signed zone that
/// ldns-verify-zone accepts (NSEC3 chain, NSEC3PARAM, DNSKEY, an RRSIG on every RRset); a second AXFR signs nothing
/// again; a journal step carries exactly what turns the old signed zone into the new one, which verifies too.
/// </summary>
public sealed class SignedTransferTests : IDisposable
{
    private static readonly DateTimeOffset Now = TestZone.Now;
    private static readonly ZoneOptions Options = new();
    private static readonly CrlFacts Crl = new("1000", Now.AddDays(-1), Now.AddDays(1));
    private static readonly CaFacts Ca = new(1, "CN=Signed Transfer CA", Trusted: true, Crl: Crl);
    private const ushort Soa = 6;
    private readonly TempDir _dir = new();
    private readonly DnssecKeySet _keys = DnssecKeySet.Generate(TestZone.Apex, DnssecAlgorithm.EcdsaP256Sha256, split: true, Now);

    public void Dispose()
    {
        _keys.Dispose();
        _dir.Dispose();
    }

    private static CertFacts Cert(int i)
    {
        var der = BitConverter.GetBytes(i);
        return new CertFacts(SHA256.HashData(der), SHA1.HashData(der), MD5.HashData(der), SHA256.HashData([.. der, 1]),
            Serial: [(byte)(i >> 16), (byte)(i >> 8), (byte)i], NotBefore: Now.AddDays(-30), NotAfter: Now.AddDays(300), Ca: Ca);
    }

    private static StatusSnapshot Snapshot(uint serial, int count, Func<CertFacts, CertFacts>? change = null, int changed = 0) =>
        new(serial, [.. Enumerable.Range(0, count).Select(i => i < changed && change is not null ? change(Cert(i)) : Cert(i))]);

    private static CertFacts Block(CertFacts cert) => cert with { Block = new BlockFacts("abuse", Now.AddHours(-1)) };

    private TransferSigner Signer() => new(new Zone(Options), _keys);

    [PeerFact(Peer.LdnsVerifyZone)]
    public async Task Axfr_SignedZone_LdnsVerifyZoneAcceptsIt()
    {
        var signer = Signer();

        var records = signer.Axfr(Snapshot(1, 300), Now).Select(Copy).ToList();

        Assert.Equal(Soa, records[0].Type);
        Assert.Equal(Soa, records[^1].Type);
        var types = records.GroupBy(r => r.Type).ToDictionary(g => g.Key, g => g.Count());
        Assert.Equal(1, types[DnssecType.Nsec3Param]);
        Assert.Equal(2, types[DnssecType.Dnskey]);
        // Every RRset has an RRSIG: the RRSIGs are as many as the RRsets (SOA, NS, DNSKEY, NSEC3PARAM, glue, each A, TXT and NSEC3).
        int rrsets = records.Skip(1).Where(r => r.Type != DnssecType.Rrsig).Select(r => (r.Owner, r.Type)).Distinct().Count();
        Assert.Equal(rrsets, types[DnssecType.Rrsig]);
        // The chain: each name in the zone (the split names, the test entries, their right halves, the view labels, the apex, the NS).
        var owners = records.Where(r => r.Type is not (DnssecType.Rrsig or DnssecType.Nsec3)).Select(r => r.Owner.ToLowerInvariant()).ToHashSet();
        var withEnts = owners.SelectMany(Ancestors).ToHashSet();
        Assert.Equal(withEnts.Count, types[DnssecType.Nsec3]);
        Assert.True(withEnts.Count > owners.Count, "the split names' right halves are empty non-terminals in the chain");

        await Verify(records);
    }

    [PeerFact(Peer.LdnsVerifyZone)]
    public async Task Axfr_OneFlippedSignatureByte_LdnsVerifyZoneRefusesIt()
    {
        var records = Signer().Axfr(Snapshot(1, 20), Now).Select(Copy).ToList();
        int victim = records.FindIndex(r => r.Type == DnssecType.Rrsig && r.Owner.StartsWith("test.", StringComparison.Ordinal) is false && r.Owner.Length > 40);
        var rdata = records[victim].Rdata.ToArray();
        rdata[^1] ^= 1;
        records[victim] = records[victim] with { Rdata = rdata };

        var (code, output) = await Verify(records, expectPass: false);

        Assert.NotEqual(0, code);
        Assert.Contains(records[victim].Owner, output, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public void Axfr_Twice_SignsNothingAgain()
    {
        var signer = Signer();
        var snapshot = Snapshot(1, 200);

        var first = signer.Axfr(snapshot, Now).Select(Copy).ToList();
        var cached = signer.Cached.Count;
        var second = signer.Axfr(snapshot, Now).Select(Copy).ToList();

        Assert.Equal(cached, signer.Cached.Count);
        Assert.Equal(first.Select(Key), second.Select(Key));
    }

    [PeerFact(Peer.LdnsVerifyZone, Peer.Dig)]
    public async Task Ixfr_BlockAndNewCertificates_OldZonePlusStepIsTheNewSignedZone()
    {
        var signer = Signer();
        var journal = new ZoneJournal(Options, JournalOptions.Default) { Signer = signer };
        var s1 = Snapshot(1, 100);
        var s2 = Snapshot(2, 100);
        var s3 = Snapshot(3, 110, Block, changed: 5);
        journal.Reset(1, Now);
        var holder = new SnapshotHolder(s1);
        var responder = new DnsResponder(Options, holder, new FakeTimeProvider(Now)) { Journal = journal, TransferSigner = signer };
        await using var server = await DnsServer.StartAsync(new IPEndPoint(IPAddress.Loopback, 0), responder, new DnsServerOptions { TransferClients = [IPAddress.Loopback] });
        int port = server.LocalEndPoint.Port;
        // The first step after the signer starts cannot be journalled: the secondaries may hold another process's signatures.
        Assert.Equal(-1, journal.Record(s1, Now, s2, Now));
        holder.Publish(s2);
        var held = await Transfer(port, "AXFR");

        Assert.True(journal.Record(s2, Now, s3, Now) > 0);
        holder.Publish(s3);
        var ixfr = await Transfer(port, "IXFR=2");

        // RFC 1995: SOA new, SOA old, deletions, SOA new, additions, SOA new.
        int third = ixfr.FindIndex(2, r => r.Type == "SOA");
        var (deleted, added) = (ixfr[2..third], ixfr[(third + 1)..^1]);
        // The step carries the changed names' RRSIGs, the NSEC3 records of the chain around the new and gone names, and the SOA's RRSIG.
        Assert.Contains(deleted, r => r.Type == "RRSIG" && r.Rdata.StartsWith("SOA ", StringComparison.Ordinal));
        Assert.Contains(added, r => r.Type == "RRSIG" && r.Rdata.StartsWith("SOA ", StringComparison.Ordinal));
        Assert.Contains(added, r => r.Type == "NSEC3");
        Assert.Contains(deleted, r => r.Type == "NSEC3");
        var heldKeys = held.Select(r => r.Key).ToHashSet();
        Assert.All(deleted, r => Assert.Contains(r.Key, heldKeys));
        var applied = held.Where(r => r.Type != "SOA").Select(r => r.Key).Except(deleted.Select(r => r.Key)).Concat(added.Select(r => r.Key)).ToHashSet();
        var whole = await Transfer(port, "AXFR");
        Assert.Equal(whole.Where(r => r.Type != "SOA").Select(r => r.Key).Order(), applied.Order());
        // Few signatures made for it: the step is small next to the zone.
        Assert.True(added.Count < whole.Count / 5, $"{added.Count} added of {whole.Count}");
        await VerifyText(whole.Take(whole.Count - 1).Select(r => r.Line));
    }

    /// <summary>One record as dig prints it.</summary>
    private sealed record Rr(string Owner, string Type, string Rdata, string Line)
    {
        public string Key => $"{Owner.ToLowerInvariant()} {Type} {Rdata}";
    }

    private static async Task<List<Rr>> Transfer(int port, string type)
    {
        var output = await Dig.RunRawAsync(port, TestZone.Apex, type, "+tcp", "+time=10");
        return [.. output.Split('\n').Where(l => l.Length > 0 && !l.StartsWith(';')).Select(l =>
        {
            var p = l.Trim().Split((char[])[' ', '\t'], 5, StringSplitOptions.RemoveEmptyEntries);
            return new Rr(p[0], p[3], p[4], l);
        })];
    }

    [Theory]
    // A day later: the window is kept (half its validity is left), the step is journalled.
    [InlineData(1, true)]
    // Past half the validity: every signature is made again, which no step carries.
    [InlineData(8, false)]
    public void JournalStep_LaterSerial_KeepsTheWindowUntilHalfItsValidity(int days, bool journalled)
    {
        var signer = Signer();
        var journal = new ZoneJournal(Options, JournalOptions.Default) { Signer = signer };
        journal.Reset(1, Now);
        journal.Record(Snapshot(1, 10), Now, Snapshot(2, 10), Now);
        signer.Axfr(Snapshot(2, 10), Now).ToList();

        var later = Now + TimeSpan.FromDays(days);
        var size = journal.Record(Snapshot(2, 10), Now, Snapshot(3, 10, Block, changed: 1), later);

        Assert.Equal(journalled, size > 0);
        Assert.Equal(journalled ? 2u : 3u, journal.OldestSerial);
        Assert.Equal(journalled, signer.WindowFor(3, later) == signer.WindowFor(2, Now));
    }

    [Fact]
    public void JournalStep_SignaturesNotHeld_JournalStartsAfresh()
    {
        // Nobody transferred serial 2 from this signer: the RRSIGs a step would delete are not known, so none is written.
        var signer = Signer();
        var journal = new ZoneJournal(Options, JournalOptions.Default) { Signer = signer };
        journal.Reset(1, Now);
        journal.Record(Snapshot(1, 10), Now, Snapshot(2, 10), Now);

        Assert.Equal(-1, journal.Record(Snapshot(2, 10), Now, Snapshot(3, 10, Block, changed: 1), Now));
    }

    private static IEnumerable<string> Ancestors(string owner)
    {
        for (var name = owner; name.Length >= TestZone.Apex.Length; name = name.Contains('.', StringComparison.Ordinal) ? name[(name.IndexOf('.', StringComparison.Ordinal) + 1)..] : "")
        {
            yield return name;
            if (name == TestZone.Apex) yield break;
        }
    }

    private static ZoneRecord Copy(ZoneRecord r) => r with { Rdata = r.Rdata.ToArray() };

    private static string Key(ZoneRecord r) => $"{r.Owner.ToLowerInvariant()} {r.Type} {Convert.ToHexString(r.Rdata.Span)}";

    private Task<(int Code, string Output)> Verify(List<ZoneRecord> records, bool expectPass = true) =>
        VerifyText(records.Take(records.Count - 1).Select(r => string.Create(CultureInfo.InvariantCulture, $"{r.Owner}. {r.Ttl} IN {r.TypeName} {r.RdataText()}")), expectPass);

    /// <summary>ldns-verify-zone over a zone in master-file lines (the SOA once).</summary>
    private async Task<(int Code, string Output)> VerifyText(IEnumerable<string> lines, bool expectPass = true)
    {
        var file = _dir.File("signed.zone");
        await File.WriteAllLinesAsync(file, lines);
        var info = new ProcessStartInfo(Peer.Path(Peer.LdnsVerifyZone)) { RedirectStandardOutput = true, RedirectStandardError = true };
        // The signatures are made for the test's fixed moment: ldns checks them at it.
        foreach (var a in new[] { "-V", "3", "-t", Now.ToString("yyyyMMddHHmmss", CultureInfo.InvariantCulture), file }) info.ArgumentList.Add(a);
        using var process = Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        var output = await stdout + await stderr;
        if (expectPass)
        {
            Assert.True(process.ExitCode == 0, output);
            Assert.Contains("Zone is verified and complete", output);
        }
        return (process.ExitCode, output);
    }
}
