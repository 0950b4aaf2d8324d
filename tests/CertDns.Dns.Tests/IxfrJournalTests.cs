using System.Globalization;
using System.Net;
using System.Security.Cryptography;
using System.Text.RegularExpressions;
using CertDns.Core;

namespace CertDns.Dns.Tests;

/// <summary>
/// IXFR (RFC 1995) from the zone journal, as real dig receives it: only the changed records, condensed from the client's
/// serial; the whole zone when the journal does not reach back that far; the journal kept across a restart.
/// </summary>
public sealed partial class IxfrJournalTests : IDisposable
{
    private static readonly ZoneOptions Zone = new();
    private static readonly CrlFacts Crl = new("1000", TestZone.Now.AddDays(-1), TestZone.Now.AddDays(1));
    private static readonly CaFacts Ca = new(1, "CN=Journal CA", Trusted: true, Crl: Crl);
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    private static CertFacts Cert(int i)
    {
        var der = BitConverter.GetBytes(i);
        return new CertFacts(SHA256.HashData(der), SHA1.HashData(der), MD5.HashData(der), SHA256.HashData([.. der, 1]),
            Serial: [(byte)(i >> 16), (byte)(i >> 8), (byte)i], NotBefore: TestZone.Now.AddDays(-30), NotAfter: TestZone.Now.AddDays(300), Ca: Ca);
    }

    private static CertFacts[] Certs(int count) => [.. Enumerable.Range(0, count).Select(Cert)];

    private static CertFacts Revoke(CertFacts cert) => cert with { Revocation = new RevocationFacts(RevocationReason.KeyCompromise, TestZone.Now.AddHours(-1), "1001") };

    private static CertFacts Block(CertFacts cert) => cert with { Block = new BlockFacts("abuse", TestZone.Now.AddHours(-1)) };

    private sealed class Primary(DnsServer server, SnapshotHolder holder, ZoneJournal journal) : IAsyncDisposable
    {
        public int Port => server.LocalEndPoint.Port;

        public ZoneJournal Journal => journal;

        /// <summary>Publishes <paramref name="next"/> as the watcher does: journalled first, then served.</summary>
        public long Publish(StatusSnapshot next, DateTimeOffset? at = null)
        {
            var size = journal.Record(holder.Current, journal.PublishedAt, next, at ?? TestZone.Now);
            holder.Publish(next);
            return size;
        }

        public ValueTask DisposeAsync() => server.DisposeAsync();
    }

    private static async Task<Primary> StartAsync(StatusSnapshot first, ZoneJournal? journal = null)
    {
        journal ??= new ZoneJournal(Zone, JournalOptions.Default);
        journal.Reset(first.Serial, TestZone.Now);
        var holder = new SnapshotHolder(first);
        var responder = new DnsResponder(Zone, holder, new FakeTimeProvider(TestZone.Now)) { Journal = journal };
        var server = await DnsServer.StartAsync(new IPEndPoint(IPAddress.Loopback, 0), responder, new DnsServerOptions { TransferClients = [IPAddress.Loopback] });
        return new Primary(server, holder, journal);
    }

    /// <summary>One record as dig prints it: owner, TTL, type, RDATA.</summary>
    private sealed record Rr(string Owner, int Ttl, string Type, string Rdata)
    {
        /// <summary>Owner, type and RDATA: what IXFR deletes by (the TTL is not part of a record's identity).</summary>
        public string Key => $"{Owner.ToLowerInvariant()} {Type} {Rdata}";

        public uint SoaSerial() => uint.Parse(Rdata.Split(' ')[2], CultureInfo.InvariantCulture);
    }

    private sealed record Transfer(List<Rr> Records, int Bytes);

    private static async Task<Transfer> AskAsync(int port, string type)
    {
        var output = await Dig.RunRawAsync(port, TestZone.Apex, type, "+tcp", "+time=10");
        var records = output.Split('\n').Where(l => l.Length > 0 && !l.StartsWith(';')).Select(l => Whitespace().Split(l.Trim(), 5))
            .Select(p => new Rr(p[0], int.Parse(p[1], CultureInfo.InvariantCulture), p[3], p[4])).ToList();
        var size = XfrSize().Match(output);
        Assert.True(size.Success, output);
        return new Transfer(records, int.Parse(size.Groups[1].Value, CultureInfo.InvariantCulture));
    }

    /// <summary>The zone's records (not the SOA) from an AXFR.</summary>
    private static HashSet<string> Zone_(Transfer axfr) => [.. axfr.Records.Where(r => r.Type != "SOA").Select(r => r.Key)];

    /// <summary>Applies an incremental transfer (RFC 1995 section 4) to <paramref name="zone"/>; every deletion must find its record.</summary>
    private static (int Deleted, int Added) Apply(HashSet<string> zone, Transfer ixfr)
    {
        var records = ixfr.Records;
        Assert.True(records.Count >= 4 && records[0].Type == "SOA" && records[1].Type == "SOA", "not an incremental transfer: " + string.Join('\n', records.Take(5)));
        int deleted = 0, added = 0;
        bool adding = false;
        for (int i = 2; i < records.Count - 1; i++)
        {
            var r = records[i];
            if (r.Type == "SOA")
            {
                adding = !adding;
                continue;
            }
            if (adding)
            {
                Assert.True(zone.Add(r.Key), "added twice: " + r.Key);
                added++;
            }
            else
            {
                Assert.True(zone.Remove(r.Key), "deleted but not in the zone: " + r.Key);
                deleted++;
            }
        }
        Assert.Equal(records[0], records[^1]);
        return (deleted, added);
    }

    [PeerFact(Peer.Dig)]
    public async Task Ixfr_OneChangeFromPreviousSerial_CarriesOnlyThatChange()
    {
        // Issue 14: IXFR always answered with the whole zone (444 MB at 1M certificates, for one changed certificate).
        var certs = Certs(3000);
        await using var primary = await StartAsync(new StatusSnapshot(1, certs));
        var before = Zone_(await AskAsync(primary.Port, "AXFR"));
        certs[1234] = Revoke(certs[1234]);
        primary.Publish(new StatusSnapshot(2, certs));

        var ixfr = await AskAsync(primary.Port, "IXFR=1");

        // SOA 2, SOA 1, the valid names' A and TXT (combined and wl), SOA 2, the revoked ones' (combined and bl), SOA 2.
        Assert.Equal(4 + 4 + 4, ixfr.Records.Count);
        Assert.Equal([2u, 1u], ixfr.Records.Take(2).Select(r => r.SoaSerial()));
        var name = PublishedNames.Split(certs[1234].Sha256);
        Assert.All(ixfr.Records.Where(r => r.Type != "SOA"), r => Assert.StartsWith(name + ".", r.Owner, StringComparison.Ordinal));
        var (deleted, added) = Apply(before, ixfr);
        Assert.Equal((4, 4), (deleted, added));
        Assert.Equal(Zone_(await AskAsync(primary.Port, "AXFR")), before);
        // The issue's bound is 300 octets on the wire per changed record.
        Assert.True(ixfr.Bytes < 300 * (deleted + added), $"{ixfr.Bytes} octets for {deleted + added} changed records");
    }

    [PeerFact(Peer.Dig)]
    public async Task Ixfr_ManyChanges_CondensedFromEachSerial_GiveTheCurrentZone()
    {
        var certs = Certs(500);
        await using var primary = await StartAsync(new StatusSnapshot(10, certs));
        var zones = new Dictionary<uint, HashSet<string>> { [10] = Zone_(await AskAsync(primary.Port, "AXFR")) };
        // Serial 11 revokes 0-49, 12 blocks 25-74 (half of them revoked already), 13 adds 20 certificates and revokes 100,
        // 14 takes that revocation back: each client serial must reach the same zone.
        for (int i = 0; i < 50; i++) certs[i] = Revoke(certs[i]);
        primary.Publish(new StatusSnapshot(11, certs));
        zones[11] = Zone_(await AskAsync(primary.Port, "AXFR"));
        for (int i = 25; i < 75; i++) certs[i] = Block(certs[i]);
        primary.Publish(new StatusSnapshot(12, certs));
        zones[12] = Zone_(await AskAsync(primary.Port, "AXFR"));
        var revoked100 = certs[100];
        certs = [.. certs, .. Enumerable.Range(1000, 20).Select(Cert)];
        certs[100] = Revoke(revoked100);
        primary.Publish(new StatusSnapshot(13, certs));
        zones[13] = Zone_(await AskAsync(primary.Port, "AXFR"));
        certs[100] = revoked100;
        primary.Publish(new StatusSnapshot(14, certs));
        var current = Zone_(await AskAsync(primary.Port, "AXFR"));

        foreach (var (serial, zone) in zones)
        {
            var ixfr = await AskAsync(primary.Port, $"IXFR={serial}");
            Assert.Equal(serial, ixfr.Records[1].SoaSerial());
            // One deletion and one addition sequence, not one per serial (RFC 1995 section 5).
            Assert.Equal(4, ixfr.Records.Count(r => r.Type == "SOA"));
            var (deleted, added) = Apply(zone, ixfr);
            Assert.Equal(current, zone);
            Assert.Equal(zone.Count, current.Count);
            Assert.True(deleted + added > 0);
        }
        // From 13 only certificate 100's change back: its 4 records out, 4 in.
        Assert.Equal(4 + 8, (await AskAsync(primary.Port, "IXFR=13")).Records.Count);
    }

    [PeerFact(Peer.Dig)]
    public async Task Ixfr_ClientOlderThanJournal_GetsWholeZone()
    {
        var certs = Certs(200);
        // Room for about one change of one certificate: each new step pushes the oldest out.
        var journal = new ZoneJournal(Zone, new JournalOptions(1500, TimeSpan.FromDays(7)));
        await using var primary = await StartAsync(new StatusSnapshot(1, certs), journal);
        certs[5] = Revoke(certs[5]);
        primary.Publish(new StatusSnapshot(2, certs));
        certs[6] = Revoke(certs[6]);
        primary.Publish(new StatusSnapshot(3, certs));
        Assert.Equal(2u, journal.OldestSerial);

        var old = await AskAsync(primary.Port, "IXFR=1");
        var recent = await AskAsync(primary.Port, "IXFR=2");

        // AXFR's form: SOA, NS, the name server's A, the names, SOA (RFC 1995 section 4).
        Assert.Equal("NS", old.Records[1].Type);
        Assert.Equal(Zone_(await AskAsync(primary.Port, "AXFR")), Zone_(old));
        Assert.Equal("SOA", recent.Records[1].Type);
        Assert.Equal(12, recent.Records.Count);
    }

    [PeerFact(Peer.Dig)]
    public async Task Ixfr_ChangeLargerThanJournal_EmptiesIt_OlderClientsGetWholeZone()
    {
        var certs = Certs(200);
        var journal = new ZoneJournal(Zone, new JournalOptions(1500, TimeSpan.FromDays(7)));
        await using var primary = await StartAsync(new StatusSnapshot(1, certs), journal);
        for (int i = 0; i < 10; i++) certs[i] = Revoke(certs[i]);

        Assert.Equal(-1, primary.Publish(new StatusSnapshot(2, certs)));

        Assert.Equal(2u, journal.OldestSerial);
        Assert.Equal("NS", (await AskAsync(primary.Port, "IXFR=1")).Records[1].Type);
    }

    [PeerFact(Peer.Dig)]
    public async Task Ixfr_TimeDrivenSerialAdvance_CarriesTheCertificateThatExpired()
    {
        // No store write: the server advances the serial because a certificate expired; that is a difference too.
        var certs = Certs(100);
        certs[7] = certs[7] with { NotAfter = TestZone.Now.AddMinutes(5) };
        var first = new StatusSnapshot(1, certs);
        await using var primary = await StartAsync(first);

        primary.Publish(first.WithSerial(2), TestZone.Now.AddMinutes(10));

        var ixfr = await AskAsync(primary.Port, "IXFR=1");
        var name = PublishedNames.Split(certs[7].Sha256);
        var added = ixfr.Records.SkipWhile((r, i) => i < 2 || r.Type != "SOA").Skip(1).Where(r => r.Type == "A").ToList();
        Assert.All(ixfr.Records.Where(r => r.Type != "SOA"), r => Assert.StartsWith(name + ".", r.Owner, StringComparison.Ordinal));
        Assert.Equal(["127.0.2.4"], added.Select(r => r.Rdata).Distinct());
    }

    [Fact]
    public void Record_SameSerialSameData_AddsNothing()
    {
        var snapshot = new StatusSnapshot(1, Certs(50));
        var journal = new ZoneJournal(Zone, JournalOptions.Default);
        journal.Reset(1, TestZone.Now);

        Assert.Equal(0, journal.Record(snapshot, TestZone.Now, new StatusSnapshot(1, Certs(50)), TestZone.Now.AddSeconds(30)));

        Assert.Equal(0, journal.Steps);
        Assert.Equal(1u, journal.Serial);
    }

    [PeerFact(Peer.Dig)]
    public async Task Ixfr_RestartBetweenChanges_JournalFromFileReachesTheFirstSerial()
    {
        var path = _dir.File("certdns.db.journal");
        var certs = Certs(300);
        var first = new StatusSnapshot(1, certs);
        HashSet<string> before;
        StatusSnapshot second;
        await using (var primary = await StartAsync(first, new ZoneJournal(Zone, JournalOptions.Default, path)))
        {
            before = Zone_(await AskAsync(primary.Port, "AXFR"));
            certs[3] = Revoke(certs[3]);
            primary.Publish(second = new StatusSnapshot(2, certs));
        }

        // A new process: the journal file ends at the serial served, so it is kept.
        var journal = new ZoneJournal(Zone, JournalOptions.Default, path);
        Assert.True(journal.Load(2, TestZone.Now.AddMinutes(1)));
        var holder = new SnapshotHolder(second);
        var responder = new DnsResponder(Zone, holder, new FakeTimeProvider(TestZone.Now)) { Journal = journal };
        await using var server = await DnsServer.StartAsync(new IPEndPoint(IPAddress.Loopback, 0), responder, new DnsServerOptions { TransferClients = [IPAddress.Loopback] });
        certs[4] = Block(certs[4]);
        var third = new StatusSnapshot(3, certs);
        journal.Record(second, journal.PublishedAt, third, TestZone.Now.AddMinutes(2));
        holder.Publish(third);

        var (deleted, added) = Apply(before, await AskAsync(server.LocalEndPoint.Port, "IXFR=1"));

        Assert.Equal((8, 8), (deleted, added));
        Assert.Equal(Zone_(await AskAsync(server.LocalEndPoint.Port, "AXFR")), before);
    }

    [Fact]
    public void Save_FolderNotWritable_KeptInMemory_SaidOnce()
    {
        // A read-only store's folder: the journal still serves from memory, and the log does not repeat it per change.
        var lines = new List<string>();
        var journal = new ZoneJournal(Zone, JournalOptions.Default, _dir.File("missing/certdns.db.journal"), lines.Add);
        journal.Reset(1, TestZone.Now);
        var certs = Certs(10);
        var first = new StatusSnapshot(1, certs);
        certs[0] = Revoke(certs[0]);

        journal.Record(first, TestZone.Now, new StatusSnapshot(2, certs), TestZone.Now);

        Assert.Equal((1, 2u), (journal.Steps, journal.Serial));
        Assert.Contains("kept in memory only", Assert.Single(lines), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("other serial")]
    [InlineData("damaged")]
    public void Load_FileNotEndingAtServedSerialOrDamaged_Dropped(string what)
    {
        var path = _dir.File("certdns.db.journal");
        var certs = Certs(20);
        var journal = new ZoneJournal(Zone, JournalOptions.Default, path);
        journal.Reset(1, TestZone.Now);
        var first = new StatusSnapshot(1, certs);
        certs[0] = Revoke(certs[0]);
        journal.Record(first, TestZone.Now, new StatusSnapshot(2, certs), TestZone.Now);
        if (what == "damaged")
        {
            var bytes = File.ReadAllBytes(path);
            bytes[bytes.Length / 2] ^= 1;
            File.WriteAllBytes(path, bytes);
        }

        var again = new ZoneJournal(Zone, JournalOptions.Default, path);
        Assert.False(again.Load(what == "damaged" ? 2u : 3u, TestZone.Now));

        Assert.Equal(0, again.Steps);
        Assert.Equal(what == "damaged" ? 2u : 3u, again.OldestSerial);
    }

    [GeneratedRegex(@"\s+")]
    private static partial Regex Whitespace();

    [GeneratedRegex(@";; XFR size: \d+ records \(messages \d+, bytes (\d+)\)")]
    private static partial Regex XfrSize();
}
