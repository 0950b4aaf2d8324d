using CertDns.Core;
using CertDns.Dns.Dnssec;

namespace CertDns.Dns.Tests.Dnssec;

/// <summary>
/// The responder with a signer: queries without DO are answered exactly as the unsigned zone answers them; with DO
/// the signatures come from the cache (nothing allocated for a cached one, unknown names unable to evict known ones),
/// and compact denials answer NOERROR, or NXDOMAIN for a client that set CO. Validation itself is checked by Unbound,
/// delv and ldns in the other tests.
/// </summary>
[Collection(nameof(AloneCollection))]
public sealed class OnlineSigningTests : IDisposable
{
    private const ushort Dnskey = 48;
    private readonly DnssecKeySet _keys = DnssecKeySet.Generate("status.example", DnssecAlgorithm.EcdsaP256Sha256, split: false, TestZone.Now);

    public void Dispose() => _keys.Dispose();

    private DnsResponder Signed(FakeTimeProvider time, OnlineSigner? signer = null) =>
        new(new ZoneOptions(), new SnapshotHolder(TestZone.Snapshot()), time, signer ?? new OnlineSigner(_keys));

    private static string[] Names() =>
    [
        TestZone.Name(TestZone.Split(TestZone.Valid.Sha256)),
        TestZone.Name(TestZone.Split(TestZone.Revoked.Sha256), "bl"),
        TestZone.Name(TestZone.Split(TestZone.Valid.Sha256), "wl"),
        TestZone.Name(TestZone.Split(TestZone.Revoked.Sha256), "wl"),
        TestZone.Name(Hex.Lower(TestZone.Valid.Sha1)),
        TestZone.Name(TestZone.Split(TestZone.Unknown.Sha256)),
        TestZone.Name(Hex.Lower(TestZone.Valid.Sha256)[..20]),
        TestZone.Name("test"),
        TestZone.Name("not-a-fingerprint"),
        "ns." + TestZone.Apex,
        TestZone.Apex,
    ];

    private static byte[] WithFlags(byte[] query, bool co)
    {
        // The OPT is last: its TTL's flag octets are the 4th and 3rd from the end (RDLENGTH 0 follows).
        var q = (byte[])query.Clone();
        if (co) q[^4] |= 0x40;
        return q;
    }

    [Fact]
    public void WithoutDo_EveryAnswerIsTheUnsignedZones()
    {
        var time = new FakeTimeProvider(TestZone.Now);
        var signed = Signed(time);
        var unsigned = new DnsResponder(new ZoneOptions(), new SnapshotHolder(TestZone.Snapshot()), time);
        var a = new byte[DnsResponder.MaxMessageSize];
        var b = new byte[DnsResponder.MaxMessageSize];
        int compared = 0;
        foreach (var name in Names())
        {
            foreach (var type in new[] { WireQuery.A, WireQuery.Txt, WireQuery.Aaaa, WireQuery.Soa, WireQuery.Ns, WireQuery.Any })
            {
                foreach (ushort? edns in new ushort?[] { null, 1232 })
                {
                    var query = WireQuery.Build(name, type, ednsSize: edns);
                    int n = signed.Respond(query, a, DnsResponder.MaxMessageSize, tcp: false);
                    int m = unsigned.Respond(query, b, DnsResponder.MaxMessageSize, tcp: false);
                    Assert.True(a.AsSpan(0, n).SequenceEqual(b.AsSpan(0, m)), $"{name} type {type} edns {edns}: the signed zone answered otherwise without DO");
                    compared++;
                }
            }
        }
        Assert.Equal(Names().Length * 12, compared);
        Assert.Equal(0, signed.Signer!.Signed);
    }

    [Fact]
    public void WithDo_AnswersCarryRrsigsAndTheApexHasDnskey()
    {
        var signed = Signed(new FakeTimeProvider(TestZone.Now));
        var r = new byte[DnsResponder.MaxMessageSize];
        int n = signed.Respond(WireQuery.Build(TestZone.Name(TestZone.Split(TestZone.Revoked.Sha256)), WireQuery.A, ednsSize: 1232, dnssecOk: true), r, DnsResponder.MaxMessageSize, false);
        Assert.True(n > 0);
        Assert.Equal(2, WireQuery.Count(r, 1)); // A and its RRSIG
        Assert.Equal(0, WireQuery.Count(r, 2));
        n = signed.Respond(WireQuery.Build(TestZone.Apex, Dnskey, ednsSize: 1232, dnssecOk: true), r, DnsResponder.MaxMessageSize, false);
        Assert.Equal(2, WireQuery.Count(r, 1)); // DNSKEY and its RRSIG
        n = signed.Respond(WireQuery.Build(TestZone.Apex, Dnskey, ednsSize: 1232), r, DnsResponder.MaxMessageSize, false);
        Assert.Equal(1, WireQuery.Count(r, 1)); // DNSKEY alone without DO
    }

    [Fact]
    public void UnknownName_IsNoerrorWithNxnameOrNxdomainWithCo()
    {
        var signed = Signed(new FakeTimeProvider(TestZone.Now));
        var r = new byte[DnsResponder.MaxMessageSize];
        var name = TestZone.Name(TestZone.Split(TestZone.Unknown.Sha256));
        var plain = WireQuery.Build(name, WireQuery.A, ednsSize: 1232);
        var withDo = WireQuery.Build(name, WireQuery.A, ednsSize: 1232, dnssecOk: true);

        signed.Respond(plain, r, DnsResponder.MaxMessageSize, false);
        Assert.Equal(3, WireQuery.Rcode(r));
        Assert.Equal(1, WireQuery.Count(r, 2));

        int n = signed.Respond(withDo, r, DnsResponder.MaxMessageSize, false);
        Assert.Equal(0, WireQuery.Rcode(r));
        Assert.Equal(4, WireQuery.Count(r, 2)); // SOA, RRSIG, NSEC, RRSIG
        // The NSEC's bitmap, last in its RDATA before the RRSIG: window 0, 17 octets, RRSIG NSEC and NXNAME (128).
        var response = r.AsSpan(0, n);
        Assert.True(response.IndexOf((ReadOnlySpan<byte>)SignedZoneFile.Bitmap([46, 47, 128])) > 0);

        signed.Respond(WithFlags(withDo, co: true), r, DnsResponder.MaxMessageSize, false);
        Assert.Equal(3, WireQuery.Rcode(r));
        Assert.Equal(4, WireQuery.Count(r, 2));
    }

    /// <summary>
    /// A cache well under full keeps every RRset it was given: 400 names' A RRsets in 1,024 slots, the ratio of the
    /// bench's 100,000 names to the default 262,144. With two candidate slots per key about 5% of them were evicted
    /// by later ones, re-signed on their next query (an ECDSA signature each) and evicted others in turn: the
    /// known-name bench at 100,000 names spent twice the CPU per answer of the unsigned zone.
    /// </summary>
    [Fact]
    public void PositiveCache_ALittleOverAThirdFull_KeepsEveryRrset()
    {
        var template = TestZone.Valid;
        var certs = Enumerable.Range(0, 400).Select(i => template with
        {
            Sha256 = System.Security.Cryptography.SHA256.HashData(BitConverter.GetBytes(i)),
            Sha1 = System.Security.Cryptography.SHA1.HashData(BitConverter.GetBytes(i)),
            Md5 = System.Security.Cryptography.MD5.HashData(BitConverter.GetBytes(i)),
            SpkiSha256 = System.Security.Cryptography.SHA256.HashData([.. BitConverter.GetBytes(i), 1]),
        }).ToList();
        var signer = new OnlineSigner(_keys, positiveSlots: 1024);
        var signed = new DnsResponder(new ZoneOptions(), new SnapshotHolder(new StatusSnapshot(1, certs)), new FakeTimeProvider(TestZone.Now), signer);
        var queries = certs.Select(c => WireQuery.Build(TestZone.Name(TestZone.Split(c.Sha256)), WireQuery.A, ednsSize: 1232, dnssecOk: true)).ToArray();
        var response = new byte[DnsResponder.MaxMessageSize];
        foreach (var q in queries)
        {
            signed.Respond(q, response, DnsResponder.MaxMessageSize, false);
            Assert.Equal(2, WireQuery.Count(response, 1)); // the A and its RRSIG
        }
        Assert.Equal(400, signer.Signed);

        for (int pass = 0; pass < 3; pass++)
            foreach (var q in queries) signed.Respond(q, response, DnsResponder.MaxMessageSize, false);

        Assert.Equal(400, signer.Signed);
    }

    [Fact]
    public void CachedSignatures_AllocateNothing_AndAreRenewedOncePerWindowSpreadOverTheHour()
    {
        var time = new FakeTimeProvider(TestZone.Now);
        var signed = Signed(time);
        var wire = Names().SelectMany(n => new[] { WireQuery.A, WireQuery.Txt, WireQuery.Aaaa }.Select(t => WireQuery.Build(n, t, ednsSize: 1232, dnssecOk: true)))
            .Concat([WireQuery.Build(TestZone.Apex, WireQuery.Soa, ednsSize: 1232, dnssecOk: true), WireQuery.Build(TestZone.Apex, WireQuery.Ns, ednsSize: 1232, dnssecOk: true),
                WireQuery.Build(TestZone.Apex, Dnskey, ednsSize: 1232, dnssecOk: true)]).ToArray();
        var response = new byte[DnsResponder.MaxMessageSize];
        foreach (var q in wire) Assert.True(signed.Respond(q, response, DnsResponder.MaxMessageSize, false) > 0);
        long made = signed.Signer!.Signed;
        Assert.True(made > 10, $"{made} signatures");

        // TXT answers build their text per query (unsigned too, by design); every other shape allocates nothing.
        var noTxt = wire.Where(q => q[q.Length - 11 - 4] != 0 || q[q.Length - 11 - 3] != WireQuery.Txt).ToArray();
        Assert.True(noTxt.Length < wire.Length);
        var report = new System.Text.StringBuilder();
        foreach (var q in noTxt)
        {
            long b0 = GC.GetAllocatedBytesForCurrentThread();
            for (int k = 0; k < 100; k++) signed.Respond(q, response, DnsResponder.MaxMessageSize, false);
            long d = GC.GetAllocatedBytesForCurrentThread() - b0;
            if (d > 0) report.Append(System.Globalization.CultureInfo.InvariantCulture, $"{Convert.ToHexString(q)} {d}\n");
        }
        Assert.True(report.Length == 0, report.ToString());
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 50_000; i++) signed.Respond(noTxt[i % noTxt.Length], response, DnsResponder.MaxMessageSize, false);
        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
        for (int i = 0; i < 1_000; i++) signed.Respond(wire[i % wire.Length], response, DnsResponder.MaxMessageSize, false);
        Assert.Equal(made, signed.Signer.Signed);

        // Within the hour the window stands; the next hour signs every RRset again, once.
        time.Advance(TimeSpan.FromMinutes(59) - TimeSpan.FromSeconds(TestZone.Now.Minute * 60 + TestZone.Now.Second));
        foreach (var q in wire) signed.Respond(q, response, DnsResponder.MaxMessageSize, false);
        Assert.Equal(made, signed.Signer.Signed);
        // Half a minute into the next hour few RRsets are due: re-signing is spread over the hour, not done at once.
        time.Advance(TimeSpan.FromMinutes(1.5));
        foreach (var q in wire) signed.Respond(q, response, DnsResponder.MaxMessageSize, false);
        Assert.True(signed.Signer.Signed < 2 * made, $"{signed.Signer.Signed - made} of {made} re-signed at once");
        // At that hour's last second every one has been signed again, once (no key's point in the hour is later).
        time.Advance(TimeSpan.FromMinutes(59) + TimeSpan.FromSeconds(29));
        foreach (var q in wire) signed.Respond(q, response, DnsResponder.MaxMessageSize, false);
        foreach (var q in wire) signed.Respond(q, response, DnsResponder.MaxMessageSize, false);
        Assert.Equal(2 * made, signed.Signer.Signed);
    }

    [Fact]
    public void AFloodOfUnknownNames_DoesNotEvictKnownOnes()
    {
        var signer = new OnlineSigner(_keys, positiveSlots: 1024, negativeSlots: 16);
        var signed = Signed(new FakeTimeProvider(TestZone.Now), signer);
        var response = new byte[DnsResponder.MaxMessageSize];
        var known = WireQuery.Build(TestZone.Name(TestZone.Split(TestZone.Revoked.Sha256)), WireQuery.A, ednsSize: 1232, dnssecOk: true);
        signed.Respond(known, response, DnsResponder.MaxMessageSize, false);
        long afterKnown = signer.Signed;
        for (int i = 0; i < 2000; i++)
        {
            var name = TestZone.Name($"{i:x32}.{i:x32}");
            signed.Respond(WireQuery.Build(name, WireQuery.A, ednsSize: 1232, dnssecOk: true), response, DnsResponder.MaxMessageSize, false);
        }
        long afterFlood = signer.Signed;
        Assert.True(afterFlood >= afterKnown + 2000, "every unknown name was signed");
        signed.Respond(known, response, DnsResponder.MaxMessageSize, false);
        Assert.Equal(afterFlood, signer.Signed);
    }
}
