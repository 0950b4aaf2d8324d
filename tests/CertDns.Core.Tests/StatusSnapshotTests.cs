using System.Security.Cryptography;
using CertDns.Core;

namespace CertDns.Core.Tests;

public class StatusSnapshotTests
{
    private static readonly DateTimeOffset Now = new(2026, 11, 28, 12, 0, 0, TimeSpan.Zero);
    private static readonly CaFacts TrustedCa = new(1, "CN=Example CA", true, Crl: new CrlFacts("1000", Now.AddHours(-1), Now.AddSeconds(90)));
    private static readonly CaFacts StaleCa = new(2, "CN=Stale CA", true, Crl: new CrlFacts("7", Now.AddDays(-10), Now.AddDays(-3)));
    private static readonly CaFacts Distrusted = new(3, "CN=Distrusted CA", false, Now.AddDays(-1), "misissuance");
    private static readonly RevocationFacts KeyCompromise = new(RevocationReason.KeyCompromise, Now.AddDays(-2), "1000");
    private static readonly RevocationFacts Superseded = new(RevocationReason.Superseded, Now.AddDays(-2), "1000");

    private static CertFacts Cert(int n, CaFacts? ca = null, RevocationFacts? revocation = null, BlockFacts? block = null, byte[]? spki = null, long notAfterDays = 300)
    {
        var der = BitConverter.GetBytes(n);
        return new CertFacts(SHA256.HashData(der), SHA1.HashData(der), MD5.HashData(der), spki ?? SHA256.HashData([.. der, 1]),
            [(byte)n, 0x1b], Now.AddDays(-30), Now.AddDays(notAfterDays), ca ?? TrustedCa, revocation, block);
    }

    /// <summary>Many certificates in every status, added in no particular order, some sharing keys.</summary>
    private static List<CertFacts> Mixed()
    {
        var shared = SHA256.HashData([9, 9, 9]);
        var certs = new List<CertFacts>();
        for (int n = 0; n < 500; n++)
        {
            certs.Add((n % 7) switch
            {
                0 => Cert(n, revocation: KeyCompromise),
                1 => Cert(n, block: new BlockFacts("3 abuse complaints", Now.AddDays(-1))),
                2 => Cert(n, StaleCa),
                3 => Cert(n, Distrusted),
                4 => Cert(n, notAfterDays: -1),
                5 => Cert(n, revocation: Superseded, spki: shared),
                _ => Cert(n, spki: n % 2 == 0 ? shared : null),
            });
        }
        return certs;
    }

    [Fact]
    public void Answer_EveryCertificateAndForm_AgreesWithEvaluator()
    {
        var certs = Mixed();
        var snapshot = new StatusSnapshot(7, certs);
        var maxTtl = TimeSpan.FromSeconds(300);

        Assert.Equal(certs.Count, snapshot.Count);
        foreach (var cert in certs)
        {
            var expected = StatusEvaluator.Evaluate(cert, Now, maxTtl);
            foreach (var (kind, digest) in new[] { (DigestKind.Sha256, cert.Sha256), (DigestKind.Sha256Prefix, cert.Sha256[..28]), (DigestKind.Sha1, cert.Sha1), (DigestKind.Md5, cert.Md5) })
            {
                var status = snapshot.Answer(kind, digest, isKey: false, Now, maxTtl, out var ttl);
                Assert.Equal(expected.Status, status);
                Assert.Equal(expected.Ttl, ttl);
                Assert.Equal(expected, snapshot.Evaluate(kind, digest, false, Now, maxTtl));
            }
        }
    }

    [Fact]
    public void Answer_SharedKey_FollowsKeyRuleOverAllItsCertificates()
    {
        var certs = Mixed();
        var snapshot = new StatusSnapshot(7, certs);
        var shared = SHA256.HashData([9, 9, 9]);
        var carrying = certs.Where(c => c.SpkiSha256.AsSpan().SequenceEqual(shared)).ToList();

        var status = snapshot.Answer(DigestKind.Sha256, shared, isKey: true, Now, TimeSpan.FromSeconds(300), out _);
        var prefixStatus = snapshot.Answer(DigestKind.Sha256Prefix, shared[..28], isKey: true, Now, TimeSpan.FromSeconds(300), out _);

        Assert.True(carrying.Count > 100);
        // Revoked for superseded does not condemn the key; the valid certificates carrying it make it valid.
        Assert.Equal(CertStatus.Valid, StatusEvaluator.EvaluateKey(carrying, Now)!.Status);
        Assert.Equal(CertStatus.Valid, status);
        Assert.Equal(CertStatus.Valid, prefixStatus);
        Assert.Equal(carrying.Count, snapshot.Find(DigestKind.Sha256, shared, isKey: true).Count);
    }

    [Fact]
    public void Answer_KeyOfOneCertificateRevokedForKeyCompromise_Revoked()
    {
        var snapshot = new StatusSnapshot(1, Mixed());
        var revoked = Cert(0, revocation: KeyCompromise);

        Assert.Equal(CertStatus.Revoked, snapshot.Answer(DigestKind.Sha256, revoked.SpkiSha256, isKey: true, Now, TimeSpan.FromSeconds(300), out _));
        // Only SHA-256 names a key.
        Assert.Equal(CertStatus.Unknown, snapshot.Answer(DigestKind.Sha1, revoked.Sha1, isKey: true, Now, TimeSpan.FromSeconds(300), out _));
    }

    [Fact]
    public void Answer_DigestOneBitOff_Unknown()
    {
        var snapshot = new StatusSnapshot(1, Mixed());
        var cert = Cert(6);
        var sha256 = (byte[])cert.Sha256.Clone();
        sha256[31] ^= 1;
        var prefix = cert.Sha256[..28];
        prefix[27] ^= 1;

        Assert.Equal(CertStatus.Valid, snapshot.Answer(DigestKind.Sha256, cert.Sha256, false, Now, TimeSpan.FromSeconds(300), out _));
        Assert.Equal(CertStatus.Unknown, snapshot.Answer(DigestKind.Sha256, sha256, false, Now, TimeSpan.FromSeconds(300), out _));
        Assert.Equal(CertStatus.Unknown, snapshot.Answer(DigestKind.Sha256Prefix, prefix, false, Now, TimeSpan.FromSeconds(300), out _));
        Assert.Empty(snapshot.Find(DigestKind.Sha256, sha256, false));
    }

    [Fact]
    public void Certificates_RoundTripEveryFact()
    {
        var certs = Mixed();
        var snapshot = new StatusSnapshot(1, certs);

        var back = snapshot.Certificates.ToDictionary(c => Convert.ToHexString(c.Sha256));

        foreach (var cert in certs)
        {
            var b = back[Convert.ToHexString(cert.Sha256)];
            Assert.Equal(cert.Sha1, b.Sha1);
            Assert.Equal(cert.Md5, b.Md5);
            Assert.Equal(cert.SpkiSha256, b.SpkiSha256);
            Assert.Equal(cert.Serial, b.Serial);
            Assert.Equal((cert.NotBefore, cert.NotAfter), (b.NotBefore, b.NotAfter));
            Assert.Same(cert.Ca, b.Ca);
            Assert.Equal(cert.Revocation, b.Revocation);
            Assert.Equal(cert.Block, b.Block);
        }
    }

    [Fact]
    public void Builder_BeyondCapacity_GrowsAndAnswers()
    {
        var builder = new StatusSnapshotBuilder(0);
        int ca = builder.AddCa(TrustedCa);
        var certs = Enumerable.Range(0, 100).Select(n => Cert(n)).ToList();
        foreach (var c in certs) builder.Add(c.Sha256, c.NotBefore.ToUnixTimeSeconds(), c.NotAfter.ToUnixTimeSeconds(), ca, null, null);

        var snapshot = builder.Build(3, ICertificateDirectory.InMemory(certs));

        Assert.Equal(100, snapshot.Count);
        Assert.All(certs, c => Assert.Equal(CertStatus.Valid, snapshot.Answer(DigestKind.Md5, c.Md5, false, Now, TimeSpan.FromSeconds(300), out _)));
    }

    [Fact]
    public void Builder_BuiltTwice_SameRevocationsAndNoMoreAdds()
    {
        var builder = new StatusSnapshotBuilder(2);
        int ca = builder.AddCa(TrustedCa);
        var revoked = Cert(1, revocation: KeyCompromise);
        builder.Add(revoked.Sha256, revoked.NotBefore.ToUnixTimeSeconds(), revoked.NotAfter.ToUnixTimeSeconds(), ca, KeyCompromise, null);
        var directory = ICertificateDirectory.InMemory([revoked]);

        var first = builder.Build(1, directory);
        var second = builder.Build(2, directory);

        Assert.All(new[] { first, second }, s => Assert.Equal(CertStatus.Revoked, s.Answer(DigestKind.Sha256, revoked.Sha256, false, Now, TimeSpan.FromSeconds(300), out _)));
        Assert.Throws<InvalidOperationException>(() => builder.Add(revoked.Sha256, 0, 0, ca, null, null));
    }

    [Fact]
    public void Answer_DigestsSharingTheirFirstEightOctets_EachFoundAndNoOther()
    {
        // The hash index keys on the first eight octets: equal heads share one probe run, the rest must tell them apart.
        var certs = Enumerable.Range(0, 50).Select(n =>
        {
            var c = Cert(n);
            var sha256 = (byte[])c.Sha256.Clone();
            Array.Fill(sha256, (byte)0xAB, 0, 8);
            return c with { Sha256 = sha256 };
        }).ToList();
        var snapshot = new StatusSnapshot(1, certs);
        var stranger = (byte[])certs[0].Sha256.Clone();
        stranger[31] ^= 0x80;

        Assert.All(certs, c => Assert.Equal(c.Sha256, snapshot.Find(DigestKind.Sha256, c.Sha256, false).Single().Sha256));
        Assert.All(certs, c => Assert.Equal(c.Sha256, snapshot.Find(DigestKind.Sha256Prefix, c.Sha256[..28], false).Single().Sha256));
        Assert.Equal(CertStatus.Unknown, snapshot.Answer(DigestKind.Sha256, stranger, false, Now, TimeSpan.FromSeconds(300), out _));
    }

    [Fact]
    public void Answer_ValidityOutside1970To2106_SameStatusAndTextAsTheEvaluator()
    {
        // The snapshot keeps validity in 32-bit seconds; dates past either end must answer as the exact ones do.
        var noExpiry = Cert(1) with { NotBefore = new DateTimeOffset(1950, 1, 1, 0, 0, 0, TimeSpan.Zero), NotAfter = new DateTimeOffset(9999, 12, 31, 23, 59, 59, TimeSpan.Zero) };
        var expiredLongAgo = Cert(2) with { NotBefore = new DateTimeOffset(1950, 1, 1, 0, 0, 0, TimeSpan.Zero), NotAfter = new DateTimeOffset(1960, 1, 1, 0, 0, 0, TimeSpan.Zero) };
        var farFuture = Cert(3) with { NotBefore = new DateTimeOffset(2200, 1, 1, 0, 0, 0, TimeSpan.Zero), NotAfter = new DateTimeOffset(2300, 1, 1, 0, 0, 0, TimeSpan.Zero) };
        var snapshot = new StatusSnapshot(1, [noExpiry, expiredLongAgo, farFuture]);

        foreach (var (cert, status) in new[] { (noExpiry, CertStatus.Valid), (expiredLongAgo, CertStatus.Expired), (farFuture, CertStatus.Expired) })
        {
            var exact = StatusEvaluator.Evaluate(cert, Now, TimeSpan.FromSeconds(300));
            Assert.Equal(status, exact.Status);
            Assert.Equal(status, snapshot.Answer(DigestKind.Sha256, cert.Sha256, false, Now, TimeSpan.FromSeconds(300), out var ttl));
            Assert.Equal(exact.Ttl, ttl);
            // Texts (which name the date passed or ahead) take the exact dates from the directory.
            Assert.Equal(exact.Text, snapshot.Evaluate(DigestKind.Sha256, cert.Sha256, false, Now, TimeSpan.FromSeconds(300))!.Text);
        }
    }

    [Fact]
    public void NextChange_EarliestOfValidityAndNextUpdate_IgnoringAnswersTimeCannotChange()
    {
        // TrustedCa's CRL passes nextUpdate at Now+90 s; the answer changes the second after.
        var expiring = Cert(1, notAfterDays: 0) with { NotAfter = Now.AddSeconds(40) };
        var notYetValid = Cert(2) with { NotBefore = Now.AddSeconds(20) };
        var revokedSoonExpiring = Cert(3, revocation: KeyCompromise) with { NotAfter = Now.AddSeconds(5) };
        var distrustedSoonExpiring = Cert(4, Distrusted) with { NotAfter = Now.AddSeconds(5) };
        var expiredLongAgo = Cert(5) with { NotAfter = Now.AddDays(-1) };

        var ignored = new StatusSnapshot(1, [revokedSoonExpiring, distrustedSoonExpiring, expiredLongAgo, Cert(6)]);
        Assert.Equal(Now.AddSeconds(91), ignored.NextChange(Now));
        var snapshot = new StatusSnapshot(1, [expiring, notYetValid, revokedSoonExpiring, distrustedSoonExpiring, expiredLongAgo]);
        Assert.Equal(Now.AddSeconds(20), snapshot.NextChange(Now));
        Assert.Equal(Now.AddSeconds(41), snapshot.NextChange(Now.AddSeconds(20)));
        Assert.Equal(Now.AddSeconds(91), snapshot.NextChange(Now.AddSeconds(41)));
        Assert.Null(snapshot.NextChange(Now.AddYears(2)));
        // The answers really do change at those instants.
        Assert.Equal(CertStatus.Valid, snapshot.Answer(DigestKind.Sha256, expiring.Sha256, false, Now.AddSeconds(40), TimeSpan.FromMinutes(5), out _));
        Assert.Equal(CertStatus.Expired, snapshot.Answer(DigestKind.Sha256, expiring.Sha256, false, Now.AddSeconds(41), TimeSpan.FromMinutes(5), out _));
        Assert.Equal(CertStatus.Valid, snapshot.Answer(DigestKind.Sha256, notYetValid.Sha256, false, Now.AddSeconds(20), TimeSpan.FromMinutes(5), out _));
        Assert.Equal(CertStatus.Stale, snapshot.Answer(DigestKind.Sha256, notYetValid.Sha256, false, Now.AddSeconds(91), TimeSpan.FromMinutes(5), out _));
        Assert.Equal(snapshot.Serial + 1, snapshot.WithSerial(snapshot.Serial + 1).Serial);
    }

    [Fact]
    public void Constructor_DuplicateSha256_Throws()
    {
        Assert.Throws<ArgumentException>(() => new StatusSnapshot(1, [Cert(1), Cert(1, StaleCa)]));
    }

    /// <summary>A snapshot of <paramref name="count"/> certificates whose SHA-256 is that of their number, with record
    /// <paramref name="copy"/> (if any) given the SHA-256 of record <paramref name="original"/>.</summary>
    private static StatusSnapshot Numbered(int count, int original = -1, int copy = -1)
    {
        var builder = new StatusSnapshotBuilder(count);
        int ca = builder.AddCa(TrustedCa);
        long from = Now.AddDays(-30).ToUnixTimeSeconds(), to = Now.AddDays(300).ToUnixTimeSeconds();
        for (int n = 0; n < count; n++)
            builder.Add(SHA256.HashData(BitConverter.GetBytes(n == copy ? original : n)), from, to, ca, n % 3 == 0 ? KeyCompromise : null, null);
        return builder.Build(1, null);
    }

    [Fact]
    public void Build_ManyCertificates_IndexFilledOnSeveralCoresFindsEveryOneAndNoOther()
    {
        // 200,000 records: past the size from which the SHA-256 index is filled from several threads.
        const int count = 200_000;
        var snapshot = Numbered(count);
        for (int n = 0; n < count + 1_000; n++)
        {
            var status = snapshot.Answer(DigestKind.Sha256, SHA256.HashData(BitConverter.GetBytes(n)), false, Now, TimeSpan.FromMinutes(5), out _);
            var expected = n >= count ? CertStatus.Unknown : n % 3 == 0 ? CertStatus.Revoked : CertStatus.Valid;
            if (status != expected) Assert.Fail($"certificate {n}: {status}, expected {expected}");
        }
    }

    [Theory]
    [InlineData(0, 199_999)] // first share against the last
    [InlineData(10, 20)] // within the first share
    [InlineData(150_000, 150_001)] // neighbours within a later share
    [InlineData(99_999, 100_000)] // either side of the halves' border
    public void Build_ManyCertificatesWithADuplicateSha256_Throws(int original, int copy)
    {
        // Each share claims slots on its own thread: the duplicate must be found whichever claims first. Run a few
        // times for the interleavings.
        for (int i = 0; i < 4; i++)
            Assert.Throws<ArgumentException>(() => Numbered(200_000, original, copy));
    }

    /// <summary>An intermediate under a root whose CRL covers it: its own certificate's facts, the root's CRL and trust.</summary>
    private static CaFacts Under(CaFacts root, DateTimeOffset notAfter, RevocationFacts? revocation = null, CrlFacts? rootCrl = null) =>
        new(10, "CN=Intermediate", true, Crl: new CrlFacts("5", Now.AddHours(-1), Now.AddDays(7)),
            Link: new CaLink("CN=Intermediate", [0x42], Now.AddDays(-100), notAfter, revocation, root with { Crl = rootCrl ?? root.Crl }));

    [Fact]
    public void NextChange_IntermediatesNotAfterAndRootsCrlNextUpdate_AreInstantsOfTheLeaf()
    {
        // Regression (#11): time-driven changes only looked at the leaf's own dates and its CA's CRL.
        var root = new CaFacts(1, "CN=Root", true, Crl: new CrlFacts("1", Now.AddHours(-1), Now.AddDays(30)));
        var expiring = new StatusSnapshot(1, [Cert(1, Under(root, Now.AddSeconds(40)))]);
        var rootCrlDue = new StatusSnapshot(1, [Cert(1, Under(root, Now.AddDays(200), rootCrl: new CrlFacts("1", Now.AddHours(-1), Now.AddSeconds(60))))]);

        Assert.Equal(Now.AddSeconds(41), expiring.NextChange(Now));
        Assert.Equal(CertStatus.Expired, expiring.Evaluate(DigestKind.Sha256, Cert(1).Sha256, false, Now.AddSeconds(41))!.Status);
        Assert.Equal(Now.AddSeconds(61), rootCrlDue.NextChange(Now));
        Assert.Equal(CertStatus.Stale, rootCrlDue.Evaluate(DigestKind.Sha256, Cert(1).Sha256, false, Now.AddSeconds(61))!.Status);
        // The answer's TTL does not outlive the root's CRL either.
        Assert.Equal(TimeSpan.FromSeconds(60), rootCrlDue.Evaluate(DigestKind.Sha256, Cert(1).Sha256, false, Now)!.Ttl);
    }

    [Theory]
    [InlineData(RevocationReason.KeyCompromise, CertStatus.Revoked, "revoked keyCompromise")]
    [InlineData(RevocationReason.CertificateHold, CertStatus.Hold, "hold certificateHold")]
    public void Evaluate_IntermediateOnItsParentsCrl_LeafTakesItsStatusNamingIt(RevocationReason reason, CertStatus expected, string text)
    {
        var root = new CaFacts(1, "CN=Root", true, Crl: new CrlFacts("1", Now.AddHours(-1), Now.AddDays(30)));
        var snapshot = new StatusSnapshot(1, [Cert(1, Under(root, Now.AddDays(200), new RevocationFacts(reason, Now.AddDays(-1), "1")))]);

        var verdict = snapshot.Evaluate(DigestKind.Sha256, Cert(1).Sha256, false, Now)!;

        Assert.Equal(expected, verdict.Status);
        Assert.StartsWith(text, verdict.Text);
        Assert.Contains("CA \"CN=Intermediate\"", verdict.Text);
        Assert.Contains("by \"CN=Root\" serial 42", verdict.Text);
        Assert.Null(snapshot.NextChange(Now));
    }

    [Fact]
    public void Evaluate_LeafOwnRevocation_OutranksAnIntermediatesHold()
    {
        var root = new CaFacts(1, "CN=Root", true, Crl: new CrlFacts("1", Now.AddHours(-1), Now.AddDays(30)));
        var ca = Under(root, Now.AddDays(200), new RevocationFacts(RevocationReason.CertificateHold, Now.AddDays(-1), "1"));

        var verdict = StatusEvaluator.Evaluate(Cert(1, ca, KeyCompromise), Now);

        Assert.Equal(CertStatus.Revoked, verdict.Status);
        Assert.StartsWith("revoked keyCompromise", verdict.Text);
        Assert.Contains("by \"CN=Intermediate\"", verdict.Text);
    }

    /// <summary>
    /// Patch against the snapshot a whole build gives of the same facts, over random changes: certificates re-read with
    /// other facts (revoked, lifted, blocked, another CA variant, other dates), listings set and lifted on others,
    /// certificates added, and a CRL renewed (the CA records carrying it and the revocations citing its number). Every
    /// certificate's facts must come out the same, in the same order, with the same answers; the many records no change
    /// names must keep theirs.
    /// </summary>
    [Theory]
    [InlineData(1, false)]
    [InlineData(2, true)]
    [InlineData(3, true)]
    public void Patch_RandomChanges_TheFactsAndAnswersOfAWholeBuild(int seed, bool renewal)
    {
        var random = new Random(seed);
        var before = Mixed();
        var snapshot = new StatusSnapshot(1, before);
        var renewedCrl = new CrlFacts("1001", Now.AddMinutes(-5), Now.AddDays(7));
        var variant = TrustedCa with { Crl = null, NoCrlReason = "no current CRL covers it: a test" };
        var blocked = new BlockFacts("operator: test", Now.AddMinutes(-1));
        var rows = new List<CertificateRow>();
        var blocks = new Dictionary<string, BlockFacts?>();
        var expected = new List<CertFacts>();
        foreach (var cert in before)
        {
            // A whole build after a renewal: the CA records that carried the old CRL carry the new one, and the entries
            // citing the old number cite the new one.
            var now = renewal && cert.Ca.Crl == TrustedCa.Crl ? cert with { Ca = cert.Ca with { Crl = renewedCrl } } : cert;
            if (renewal && now.Revocation is { CrlNumber: "1000" } r && now.Ca.Id == TrustedCa.Id) now = now with { Revocation = r with { CrlNumber = "1001" } };
            switch (random.Next(10))
            {
                case 0:
                    now = now with
                    {
                        Revocation = random.Next(2) == 0 ? null : new RevocationFacts(RevocationReason.CessationOfOperation, Now.AddHours(-3), renewal ? "1001" : "1000"),
                        Block = random.Next(2) == 0 ? null : blocked,
                        Ca = random.Next(3) == 0 ? variant : now.Ca,
                        NotAfter = Now.AddDays(random.Next(-5, 50)),
                    };
                    rows.Add(new CertificateRow(now.Sha256, now.NotBefore.ToUnixTimeSeconds(), now.NotAfter.ToUnixTimeSeconds(), now.Ca, now.Revocation, now.Block));
                    blocks[Convert.ToHexString(now.Sha256)] = now.Block;
                    break;
                case 1:
                    now = now with { Block = now.Block is null ? blocked : null };
                    blocks[Convert.ToHexString(now.Sha256)] = now.Block;
                    break;
            }
            expected.Add(now);
        }
        for (int n = 1_000; n < 1_000 + random.Next(0, 20); n++)
        {
            var cert = Cert(n, random.Next(2) == 0 ? variant : renewal ? TrustedCa with { Crl = renewedCrl } : TrustedCa, random.Next(2) == 0 ? null : KeyCompromise);
            rows.Add(new CertificateRow(cert.Sha256, cert.NotBefore.ToUnixTimeSeconds(), cert.NotAfter.ToUnixTimeSeconds(), cert.Ca, cert.Revocation, cert.Block));
            expected.Add(cert);
        }
        // A listing for a certificate no snapshot holds is not one.
        blocks[Convert.ToHexString(Cert(5_000).Sha256)] = blocked;
        var whole = new StatusSnapshot(2, expected);
        var renewed = renewal ? new Dictionary<long, (CrlFacts, CrlFacts)> { [TrustedCa.Id] = (TrustedCa.Crl!, renewedCrl) } : null;

        var patched = snapshot.Patch(2, blocks, rows, ICertificateDirectory.InMemory(expected), renewed);

        static string Text(CertFacts c) => $"{Convert.ToHexString(c.Sha256)} {c.NotBefore} {c.NotAfter} {c.Ca} {c.Revocation} {c.Block}";
        Assert.True(rows.Count > 20 && blocks.Count > 20, $"{rows.Count} rows and {blocks.Count} listings: too few changes to test");
        Assert.Equal(whole.Certificates.Select(Text), patched.Certificates.Select(Text));
        foreach (var cert in expected.Append(Cert(5_000)))
        {
            foreach (var at in new[] { Now, Now.AddSeconds(91), Now.AddDays(8) })
                Assert.Equal(whole.Evaluate(DigestKind.Sha256, cert.Sha256, false, at), patched.Evaluate(DigestKind.Sha256, cert.Sha256, false, at));
        }
        Assert.Equal(whole.NextChange(Now), patched.NextChange(Now));
    }

    /// <summary>
    /// A patch that adds no certificate keeps the records, so the other forms' indexes built so far still hold and are
    /// carried (at 10M each costs a scan of the store and about 205 MB to build again); a form never built is not, and
    /// a patch that adds certificates builds each again when asked. Answers by those forms follow the patched facts.
    /// </summary>
    [Fact]
    public void Patch_FormIndexes_CarriedWhenNoCertificateIsAdded()
    {
        var certs = Mixed();
        var snapshot = new StatusSnapshot(1, certs);
        Assert.True(snapshot.IndexForm(DigestKind.Sha1, false));
        var valid = certs.First(c => c.Revocation is null && c.Block is null && c.Ca == TrustedCa && c.NotAfter > Now);
        var revoked = valid with { Revocation = KeyCompromise };
        CertificateRow Row(CertFacts c) => new(c.Sha256, c.NotBefore.ToUnixTimeSeconds(), c.NotAfter.ToUnixTimeSeconds(), c.Ca, c.Revocation, c.Block);
        var now = certs.Select(c => c == valid ? revoked : c).ToList();

        var patched = snapshot.Patch(2, new Dictionary<string, BlockFacts?>(), [Row(revoked)], ICertificateDirectory.InMemory(now));

        Assert.True(patched.HasFormIndex(DigestKind.Sha1, false));
        Assert.False(patched.HasFormIndex(DigestKind.Md5, false));
        Assert.Equal(CertStatus.Revoked, patched.Answer(DigestKind.Sha1, valid.Sha1, false, Now, TimeSpan.FromMinutes(5), out _));
        Assert.Equal(CertStatus.Valid, snapshot.Answer(DigestKind.Sha1, valid.Sha1, false, Now, TimeSpan.FromMinutes(5), out _));
        Assert.All(now, c => Assert.Equal(StatusEvaluator.Evaluate(c, Now).Status, patched.Answer(DigestKind.Sha1, c.Sha1, false, Now, TimeSpan.FromMinutes(5), out _)));

        var added = Cert(9_999);
        var grown = patched.Patch(3, new Dictionary<string, BlockFacts?>(), [Row(added)], ICertificateDirectory.InMemory([.. now, added]));

        Assert.False(grown.HasFormIndex(DigestKind.Sha1, false));
        Assert.True(grown.IndexForm(DigestKind.Sha1, false));
        Assert.Equal(CertStatus.Valid, grown.Answer(DigestKind.Sha1, added.Sha1, false, Now, TimeSpan.FromMinutes(5), out _));
        Assert.Equal(CertStatus.Revoked, grown.Answer(DigestKind.Sha1, valid.Sha1, false, Now, TimeSpan.FromMinutes(5), out _));
    }

    /// <summary>
    /// A form's index is built from the directory's rows placed by record: in step with the records without a hash
    /// lookup, and any row out of step (another order, a certificate the snapshot does not hold) by lookup. A directory
    /// naming its rows shuffled, with strangers among them, must give the same answers by every form as one in order.
    /// </summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void IndexForm_DirectoryRowsInAnyOrder_EveryCertificateFoundByItsOwnDigest(bool shuffled)
    {
        var certs = Mixed();
        var strangers = Enumerable.Range(10_000, 40).Select(n => Cert(n)).ToList();
        var rows = shuffled ? [.. certs.Concat(strangers).OrderBy(c => c.Sha256[5])] : certs;
        var snapshot = Built(certs, new RowOrderDirectory(ICertificateDirectory.InMemory(certs), rows));

        foreach (var (kind, isKey) in new[] { (DigestKind.Sha1, false), (DigestKind.Md5, false), (DigestKind.Sha256, true) })
            Assert.True(snapshot.IndexForm(kind, isKey));
        foreach (var cert in certs)
        {
            var expected = StatusEvaluator.Evaluate(cert, Now).Status;
            Assert.Equal(expected, snapshot.Answer(DigestKind.Sha1, cert.Sha1, false, Now, TimeSpan.FromMinutes(5), out _));
            Assert.Equal(expected, snapshot.Answer(DigestKind.Md5, cert.Md5, false, Now, TimeSpan.FromMinutes(5), out _));
        }
        Assert.All(strangers, c => Assert.Equal(CertStatus.Unknown, snapshot.Answer(DigestKind.Sha1, c.Sha1, false, Now, TimeSpan.FromMinutes(5), out _)));
    }

    /// <summary>A snapshot of <paramref name="certs"/> that finds the other forms in <paramref name="directory"/>.</summary>
    private static StatusSnapshot Built(List<CertFacts> certs, ICertificateDirectory directory)
    {
        var builder = new StatusSnapshotBuilder(certs.Count);
        var cas = new Dictionary<CaFacts, int>(ReferenceEqualityComparer.Instance);
        foreach (var c in certs)
        {
            if (!cas.TryGetValue(c.Ca, out int ca)) cas[c.Ca] = ca = builder.AddCa(c.Ca);
            builder.Add(c.Sha256, c.NotBefore.ToUnixTimeSeconds(), c.NotAfter.ToUnixTimeSeconds(), ca, c.Revocation, c.Block);
        }
        return builder.Build(1, directory);
    }

    /// <summary>A directory whose one-form pass names <paramref name="rows"/> in their order; everything else is <paramref name="inner"/>'s.</summary>
    private sealed class RowOrderDirectory(ICertificateDirectory inner, IReadOnlyList<CertFacts> rows) : ICertificateDirectory
    {
        public int Find(DigestKind kind, ReadOnlySpan<byte> digest, bool isKey, Span<byte> sha256s) => inner.Find(kind, digest, isKey, sha256s);

        public CertificateDetails? Details(ReadOnlySpan<byte> sha256) => inner.Details(sha256);

        public IEnumerable<(byte[] Sha256, CertificateDetails Details)> InOrder() => inner.InOrder();

        public void Digests(DigestKind kind, bool isKey, DigestRow row)
        {
            foreach (var c in rows) row(c.Sha256, isKey ? c.SpkiSha256 : kind == DigestKind.Md5 ? c.Md5 : c.Sha1);
        }
    }
}
