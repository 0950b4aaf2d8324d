using System.Security.Cryptography;
using System.Text;
using CertDns.Core;
using CertDns.Pki;
using CertDns.Store;
using Microsoft.Extensions.Time.Testing;
using MimeKit;

namespace CertDns.Ingest.Tests;

/// <summary>
/// Complaints by mail (issue #16): only a registered reporter's DKIM-signed report counts, and only against the
/// certificate its own MTA stamped on top of the spam. The attack corpus: each case is refused or harmless, and no
/// innocent certificate is ever listed.
/// </summary>
public sealed class MailComplaintTests : IDisposable
{
    private readonly StoreFile _file = new();
    private readonly TestAuthority _ca = new("Mail Complaint CA");
    private readonly ParsedCertificate _spammer, _innocent;
    private readonly FakeTimeProvider _clock = new(new DateTimeOffset(2026, 11, 20, 9, 0, 0, TimeSpan.Zero));
    private readonly TestReporter _alice = new("alice"), _bob = new("bob"), _carol = new("carol");
    private int _messages;

    public MailComplaintTests()
    {
        var now = DateTimeOffset.UtcNow;
        var spammer = _ca.Issue("spammer.example", now.AddDays(-10), now.AddDays(300));
        var innocent = _ca.Issue("innocent.example", now.AddDays(-10), now.AddDays(300));
        _spammer = CertificateFile.Read(spammer, "spammer")[0];
        _innocent = CertificateFile.Read(innocent, "innocent")[0];
        using var store = _file.Open();
        new CaRegistry(store).Add("ca", _ca.CertificateDer, [], "abuse@mail-ca.example");
        new CertificateRegistry(store).Add([("spammer", spammer), ("innocent", innocent)]);
        new CrlIngestor(store).Ingest("crl", _ca.CreateCrl(1, now.AddHours(-1), now.AddDays(7), []));
        foreach (var r in new[] { _alice, _bob, _carol }) Register(store, r);
    }

    public void Dispose() => _file.Dispose();

    private static ReporterRow Register(CertStore store, TestReporter r, int weight = 1, string? name = null) =>
        new ReporterRegistry(store).Add(name ?? r.Name, r.Domain, r.Selector, "key.pem", Encoding.ASCII.GetBytes(r.PublicPem), r.AuthservId, weight);

    private byte[] Spam(params string[] stamps) => MailReports.Spam(++_messages, stamps);

    private MailOutcome Receive(MimeMessage report) => Receive(MailReports.Bytes(report));

    private MailOutcome Receive(byte[] report)
    {
        using var store = _file.Open();
        return new MailComplaints(store, _clock).Receive("stdin", report);
    }

    private void Refused(string reason, byte[] report)
    {
        var before = File.ReadAllBytes(_file.Path);
        var e = Assert.Throws<BadInputException>(() => Receive(report));
        Assert.Contains(reason, e.Message);
        Assert.Equal(before, File.ReadAllBytes(_file.Path));
    }

    private void Refused(string reason, MimeMessage report) => Refused(reason, MailReports.Bytes(report));

    private CertStatus Status(ParsedCertificate cert)
    {
        using var store = _file.Open();
        return store.Snapshots.Load().Evaluate(new QueryName(NameKind.Fingerprint, Value: cert.Sha256), DateTimeOffset.UtcNow)!.Status;
    }

    private IReadOnlyList<ComplaintRow> Complaints()
    {
        using var store = _file.Open();
        return store.Listings.Complaints(true, ComplaintRegistry.DefaultPolicy, _clock.GetUtcNow());
    }

    /// <summary>Zero false listings: whatever the corpus did, the innocent certificate is neither listed nor complained about.</summary>
    private void AssertInnocentUntouched()
    {
        Assert.Equal(CertStatus.Valid, Status(_innocent));
        Assert.DoesNotContain(Complaints(), c => c.Sha256.AsSpan().SequenceEqual(_innocent.Sha256));
    }

    /// <summary>An Ed25519 reporter (RFC 8463): its key as PEM SubjectPublicKeyInfo, its report signed ed25519-sha256.</summary>
    private (TestReporter Reporter, Org.BouncyCastle.Crypto.Parameters.Ed25519PrivateKeyParameters Key) Ed25519Reporter(CertStore store)
    {
        var key = new Org.BouncyCastle.Crypto.Parameters.Ed25519PrivateKeyParameters(new Org.BouncyCastle.Security.SecureRandom());
        var spki = Org.BouncyCastle.X509.SubjectPublicKeyInfoFactory.CreateSubjectPublicKeyInfo(key.GeneratePublicKey()).GetDerEncoded();
        var reporter = new TestReporter("eddie");
        new ReporterRegistry(store).Add(reporter.Name, reporter.Domain, reporter.Selector, "eddie.pem",
            Encoding.ASCII.GetBytes(TestAuthority.ToPem("PUBLIC KEY", spki)), reporter.AuthservId, 1);
        return (reporter, key);
    }

    private static MimeMessage SignedEd25519(TestReporter reporter, Org.BouncyCastle.Crypto.Parameters.Ed25519PrivateKeyParameters key, byte[] spam)
    {
        var report = MailReports.Arf(reporter, spam, sign: false);
        var signer = new MimeKit.Cryptography.DkimSigner(key, reporter.Domain, reporter.Selector, MimeKit.Cryptography.DkimSignatureAlgorithm.Ed25519Sha256)
        {
            HeaderCanonicalizationAlgorithm = MimeKit.Cryptography.DkimCanonicalizationAlgorithm.Relaxed,
            BodyCanonicalizationAlgorithm = MimeKit.Cryptography.DkimCanonicalizationAlgorithm.Relaxed,
        };
        signer.Sign(report, [HeaderId.From, HeaderId.To, HeaderId.Date, HeaderId.Subject, HeaderId.MessageId]);
        return report;
    }

    [Fact]
    public void Receive_Ed25519SignedReport_Counts_EditedOneRefused()
    {
        TestReporter eddie;
        Org.BouncyCastle.Crypto.Parameters.Ed25519PrivateKeyParameters key;
        using (var store = _file.Open()) (eddie, key) = Ed25519Reporter(store);
        var report = MailReports.Bytes(SignedEd25519(eddie, key, Spam(eddie.Stamp(_spammer.Sha256))));
        Assert.Contains("a=ed25519-sha256", Encoding.ASCII.GetString(report));
        // The same report with the stamp turned on the innocent certificate: the signature no longer verifies.
        var edited = Encoding.ASCII.GetBytes(Encoding.ASCII.GetString(report).Replace(Hex.Lower(_spammer.Sha256), Hex.Lower(_innocent.Sha256), StringComparison.Ordinal));

        Refused("DKIM signature of reporter eddie does not verify", edited);
        var outcome = Receive(report);

        Assert.Equal("eddie", outcome.Reporter.Name);
        Assert.False(outcome.AlreadyCounted);
        Assert.Equal(_spammer.Sha256, Assert.Single(Complaints()).Sha256);
        AssertInnocentUntouched();
    }

    [Fact]
    public void Receive_ThreeRegisteredReportersArf_ThirdBlocksTheStampedCertificate()
    {
        Assert.False(Receive(MailReports.Arf(_alice, Spam(_alice.Stamp(_spammer.Sha256)))).Result!.Standing.Listed);
        Assert.False(Receive(MailReports.Arf(_bob, Spam(_bob.Stamp(_spammer.Sha256)))).Result!.Standing.Listed);
        Assert.Equal(CertStatus.Valid, Status(_spammer));

        var third = Receive(MailReports.Arf(_carol, Spam(_carol.Stamp(_spammer.Sha256))));

        Assert.Equal("carol", third.Reporter.Name);
        Assert.True(third.Result!.Standing.Listed);
        Assert.Equal(CertStatus.Blocked, Status(_spammer));
        Assert.Equal(["alice", "bob", "carol"], Complaints().Select(c => c.Reporter).Order());
        AssertInnocentUntouched();
    }

    [Fact]
    public void Receive_PlainForwardWithMessageRfc822_Counts()
    {
        var outcome = Receive(MailReports.Forward(_alice, Spam(_alice.Stamp(_spammer.Sha256))));

        Assert.False(outcome.AlreadyCounted);
        Assert.Equal(_spammer.Sha256, Assert.Single(Complaints()).Sha256);
    }

    [Fact]
    public void Receive_WeightedReporter_ReachesThresholdAlone()
    {
        var heavy = new TestReporter("heavy");
        using (var store = _file.Open()) Register(store, heavy, weight: 3);

        var outcome = Receive(MailReports.Arf(heavy, Spam(heavy.Stamp(_spammer.Sha256))));

        Assert.Equal(3, outcome.Result!.Standing.Weight);
        Assert.True(outcome.Result.Standing.Listed);
        Assert.Equal(CertStatus.Blocked, Status(_spammer));
    }

    [Fact]
    public void Attack_ForgedHeaderNamingInnocentBelowReportersOwn_CountsOnlyTheStampedCertificate()
    {
        // The spammer wrote a convincing stamp naming an innocent certificate, even with a reporter's authserv-id;
        // each reporter's MTA put its own above it. Three reports: the spammer is listed, the innocent never.
        foreach (var r in new[] { _alice, _bob, _carol })
            Receive(MailReports.Arf(r, Spam(r.Stamp(_spammer.Sha256), r.Stamp(_innocent.Sha256), _alice.Stamp(_innocent.Sha256))));

        Assert.Equal(CertStatus.Blocked, Status(_spammer));
        AssertInnocentUntouched();
    }

    [Fact]
    public void Attack_SignedByUnregisteredKey_Refused()
    {
        var stranger = new TestReporter("stranger");
        Refused("not a registered reporter", MailReports.Arf(stranger, Spam(stranger.Stamp(_innocent.Sha256))));
        // A stranger's key under a registered reporter's domain and selector: the registry's key does not verify it.
        var impostor = new TestReporter("impostor", domain: _alice.Domain, selector: _alice.Selector, authservId: _alice.AuthservId);
        Refused("does not verify", MailReports.Arf(impostor, Spam(_alice.Stamp(_innocent.Sha256))));
        AssertInnocentUntouched();
    }

    [Fact]
    public void Attack_UnsignedReport_Refused()
    {
        Refused("no DKIM signature", MailReports.Arf(_alice, Spam(_alice.Stamp(_innocent.Sha256)), sign: false));
        AssertInnocentUntouched();
    }

    [Fact]
    public void Attack_OneKeyUnderThreeNames_SecondAndThirdRefused_CountsOnce()
    {
        var mallory = new TestReporter("mallory");
        using (var store = _file.Open())
        {
            Register(store, mallory);
            // The same key with other selectors and hosts: still one reporter.
            foreach (var alias in new[] { "mallory2", "mallory3" })
            {
                var copy = new TestReporter(alias, mallory.Key);
                var e = Assert.Throws<BadInputException>(() => Register(store, copy));
                Assert.Contains("belongs to reporter mallory", e.Message);
            }
            Assert.Equal(["alice", "bob", "carol", "mallory"], store.Reporters.List().Select(r => r.Name));
        }
        foreach (var i in Enumerable.Range(0, 3))
            Receive(MailReports.Arf(mallory, Spam(mallory.Stamp(_innocent.Sha256))));

        var complaints = Complaints();
        Assert.Equal(3, complaints.Count);
        Assert.All(complaints, c => Assert.Equal("mallory", c.Reporter));
        Assert.Equal(CertStatus.Valid, Status(_innocent));
    }

    [Fact]
    public void Attack_BodyEditedAfterSigning_Refused()
    {
        var report = MailReports.Bytes(MailReports.Arf(_alice, Spam(_alice.Stamp(_spammer.Sha256))));
        var text = Encoding.ASCII.GetString(report);
        // Swap the stamped certificate for the innocent one inside the signed body.
        var edited = text.Replace(Convert.ToHexStringLower(_spammer.Sha256), Convert.ToHexStringLower(_innocent.Sha256), StringComparison.Ordinal);
        Assert.NotEqual(text, edited);

        Refused("does not verify", Encoding.ASCII.GetBytes(edited));
        AssertInnocentUntouched();
    }

    [Fact]
    public void Attack_SignatureWithBodyLengthAndAppendedContent_Refused()
    {
        // l= lets anyone append below the signed part; MimeKit's signer never writes it, so it is added here (the
        // refusal comes before verification, whatever the rest of the signature says).
        var report = MailReports.Arf(_alice, Spam(_alice.Stamp(_spammer.Sha256)));
        var bytes = Encoding.ASCII.GetString(MailReports.Bytes(report));
        var withLength = bytes.Replace("DKIM-Signature: v=1;", "DKIM-Signature: v=1; l=20;", StringComparison.Ordinal) +
            "\r\n--appended\r\nX-CertDns-Client-Cert: " + _alice.Stamp(_innocent.Sha256) + "\r\n";
        Assert.Contains("l=20;", withLength);

        Refused("body length (l=)", Encoding.ASCII.GetBytes(withLength));
        AssertInnocentUntouched();
    }

    [Fact]
    public void Attack_SignatureNotCoveringSubject_Refused()
    {
        var report = MailReports.Arf(_alice, Spam(_alice.Stamp(_spammer.Sha256)), sign: false);
        _alice.Sign(report, HeaderId.From, HeaderId.Date);

        Refused("does not cover the subject header", report);
    }

    [Fact]
    public void Attack_Replay_CountsOnce()
    {
        var report = MailReports.Bytes(MailReports.Arf(_alice, Spam(_alice.Stamp(_spammer.Sha256))));
        var first = Receive(report);

        var replay = Receive(report);

        Assert.True(replay.AlreadyCounted);
        Assert.Equal(first.Result!.ComplaintId, replay.Earlier);
        Assert.Single(Complaints());
    }

    [Fact]
    public void Attack_SameMessageIdFromAnotherReporter_CountsOnce()
    {
        // The same spam (one Message-ID) reported by two desks: the stamps differ, the message is one.
        var spam = Spam(_alice.Stamp(_spammer.Sha256));
        Receive(MailReports.Arf(_alice, spam));
        var again = Encoding.ASCII.GetBytes(Encoding.ASCII.GetString(spam).Replace(_alice.AuthservId, _bob.AuthservId, StringComparison.Ordinal));

        var outcome = Receive(MailReports.Arf(_bob, again));

        Assert.True(outcome.AlreadyCounted);
        Assert.Equal("alice", Assert.Single(Complaints()).Reporter);
    }

    [Fact]
    public void Receive_SendmailColonStamp_Counts_MalformedColonsRefused()
    {
        // Sendmail's ${cert_fp} with CertFingerprintAlgorithm=sha256 is colon-separated upper-case hex
        // (docs/sendmail/stamp.cf): the stamp names the certificate in that form.
        var outcome = Receive(MailReports.Arf(_alice, Spam($"{_alice.AuthservId}; sha256={Hex.Colons(_spammer.Sha256)}")));

        Assert.Equal(_spammer.Sha256, Assert.Single(Complaints()).Sha256);
        Assert.False(outcome.AlreadyCounted);
        // Colons anywhere but between octets, or a short digest, are not a fingerprint.
        var colons = Hex.Colons(_innocent.Sha256);
        Refused("is not '<authserv-id>; sha256=", MailReports.Arf(_bob, Spam($"{_bob.AuthservId}; sha256={colons[..^3]}")));
        Refused("is not '<authserv-id>; sha256=", MailReports.Arf(_bob, Spam($"{_bob.AuthservId}; sha256={colons.Replace(":", "", StringComparison.Ordinal)[..3]}:{colons.Replace(":", "", StringComparison.Ordinal)[3..]}")));
        AssertInnocentUntouched();
    }

    [Fact]
    public void Attack_NoTraceHeader_Refused()
    {
        Refused("has no X-CertDns-Client-Cert header", MailReports.Arf(_alice, Spam()));
    }

    [Fact]
    public void Attack_TraceHeaderWithAnotherReportersAuthservId_Refused()
    {
        Refused($"written by {_bob.AuthservId}, not by reporter alice's {_alice.AuthservId}", MailReports.Arf(_alice, Spam(_bob.Stamp(_innocent.Sha256))));
        AssertInnocentUntouched();
    }

    [Fact]
    public void Attack_SpkiOfAnotherCertificate_Refused()
    {
        var stamp = _alice.Stamp(_innocent.Sha256) + "; spki-sha256=" + new string('0', 64);
        Refused("spki-sha256 is not the key", MailReports.Arf(_alice, Spam(stamp)));
    }

    [Fact]
    public void Attack_UnregisteredCertificate_Refused()
    {
        Refused("not a registered certificate", MailReports.Arf(_alice, Spam(_alice.Stamp(SHA256.HashData("nobody"u8)))));
    }

    [Fact]
    public void Attack_MessageOverTheCap_RefusedUnread()
    {
        using var huge = new MemoryStream(new byte[MailComplaints.MaxReportBytes + 1]);
        var e = Assert.Throws<BadInputException>(() => MailComplaints.ReadCapped(huge, "stdin"));
        Assert.Contains("over the 10 MiB cap", e.Message);
        Refused("over the 10 MiB cap", new byte[MailComplaints.MaxReportBytes + 1]);
    }

    [Fact]
    public void Attack_TwoAttachedMessages_Refused()
    {
        var report = MailReports.Forward(_alice, Spam(_alice.Stamp(_spammer.Sha256)));
        ((Multipart)report.Body!).Add(new MessagePart("rfc822") { Message = MimeMessage.Load(new MemoryStream(Spam(_alice.Stamp(_innocent.Sha256)))) });
        report.Headers.RemoveAll(HeaderId.DkimSignature);
        _alice.Sign(report);

        Refused("attaches 2 messages", report);
    }

    [Fact]
    public void OperatorReport_MarkedAsOperatorsOwnEvidence_MailAsSigned()
    {
        using (var store = _file.Open())
            new ComplaintRegistry(store, _clock).Report(_spammer.Sha256, "spam.eml", Evidence.Spam(900), "local:root");
        Receive(MailReports.Arf(_alice, Spam(_alice.Stamp(_spammer.Sha256))));

        using var s = _file.Open();
        var audit = s.AuditLog().Where(a => a.Action == "complaint").Select(a => a.Reason).ToList();
        Assert.Contains("by local:root (operator's own evidence)", audit[0]);
        Assert.Contains("by alice (signed report by mail, weight 1)", audit[1]);
    }
}
