using System.Text;
using CertDns.Core;
using CertDns.Pki;
using CertDns.Store;
using Microsoft.Extensions.Time.Testing;
using MimeKit;

namespace CertDns.Ingest.Tests;

/// <summary>The penalty side in the store: thresholds, duplicates, expiry, withdrawal, unblock, ARF.</summary>
public sealed class ComplaintTests : IDisposable
{
    private readonly StoreFile _file = new();
    private readonly TestAuthority _ca = new("Complaint CA");
    private readonly ParsedCertificate _cert;
    private readonly FakeTimeProvider _clock = new(new DateTimeOffset(2026, 11, 20, 9, 0, 0, TimeSpan.Zero));
    private int _messages;

    public ComplaintTests()
    {
        var now = DateTimeOffset.UtcNow;
        var der = _ca.Issue("spammer.example", now.AddDays(-10), now.AddDays(300));
        _cert = CertificateFile.Read(der, "cert")[0];
        using var store = _file.Open();
        new CaRegistry(store).Add("ca", _ca.CertificateDer, [], "abuse@complaint-ca.example");
        new CertificateRegistry(store).Add([("cert", der)]);
        new CrlIngestor(store).Ingest("crl", _ca.CreateCrl(1, now.AddHours(-1), now.AddDays(7), []));
    }

    public void Dispose() => _file.Dispose();

    private ReportResult Report(string reporter, byte[]? evidence = null)
    {
        using var store = _file.Open();
        return new ComplaintRegistry(store, _clock).Report(_cert.Sha256, "spam.eml", evidence ?? Evidence.Spam(++_messages), reporter);
    }

    private Verdict Status()
    {
        using var store = _file.Open();
        return store.Snapshots.Load().Evaluate(new QueryName(NameKind.Fingerprint, Value: _cert.Sha256), DateTimeOffset.UtcNow)!;
    }

    [Fact]
    public void Report_TwoDistinctReporters_NotBlocked_ThirdBlocks()
    {
        Assert.False(Report("alice").Standing.Listed);
        var second = Report("bob");
        Assert.Equal(2, second.Standing.DistinctReporters);
        Assert.False(second.Standing.Listed);
        Assert.Equal(CertStatus.Valid, Status().Status);

        var third = Report("carol");

        Assert.True(third.Standing.Listed);
        Assert.Equal(_clock.GetUtcNow(), third.Standing.Since);
        var verdict = Status();
        Assert.Equal(CertStatus.Blocked, verdict.Status);
        Assert.Equal("blocked: 3 abuse complaints since 2026-11-20", verdict.Text);
    }

    [Fact]
    public void Report_BelowThreshold_SerialKept_AtThresholdAdvanced()
    {
        // Issue #12: the serial moves only when what is published changes. A complaint below the threshold changes no
        // answer, so secondaries must not be sent the same zone again; the third one lists the certificate.
        uint Serial()
        {
            using var store = _file.Open();
            return store.Serial;
        }
        var before = Serial();
        Report("alice");
        Report("bob");
        Assert.Equal(before, Serial());

        Report("carol");
        Assert.NotEqual(before, Serial());
        var listed = Serial();
        // A fourth reporter changes the listing's text ("4 abuse complaints"): published, so the serial moves again.
        Report("dave");
        Assert.NotEqual(listed, Serial());
    }

    [Fact]
    public void Report_SameReporterTwice_CountsOnce()
    {
        Report("alice");
        Report("alice");
        var third = Report("bob");

        Assert.Equal(2, third.Standing.DistinctReporters);
        Assert.False(third.Standing.Listed);
        Assert.Equal(CertStatus.Valid, Status().Status);
    }

    [Fact]
    public void Report_SameEvidenceTwice_RefusedAndStoreUnchanged()
    {
        var evidence = Evidence.Spam(99);
        Report("alice", evidence);
        var before = _file.Bytes();

        var e = Assert.Throws<BadInputException>(() => Report("bob", evidence));

        Assert.Contains("already reported", e.Reason);
        Assert.Equal(before, _file.Bytes());
    }

    [Fact]
    public void Threshold_ConfiguredPerZone_Applies()
    {
        using (var store = _file.Open()) new ComplaintRegistry(store, _clock).Set(ComplaintRegistry.ThresholdSetting, "2");

        Report("alice");
        Assert.True(Report("bob").Standing.Listed);

        // Raising it again lifts the listing at once.
        using (var store = _file.Open()) new ComplaintRegistry(store, _clock).Set(ComplaintRegistry.ThresholdSetting, "3");
        Assert.Equal(CertStatus.Valid, Status().Status);
    }

    [Fact]
    public void Expire_ComplaintsOlderThanWindow_ListingLifted()
    {
        using (var store = _file.Open()) new ComplaintRegistry(store, _clock).Set(ComplaintRegistry.WindowSetting, "30");
        Report("alice");
        Report("bob");
        _clock.Advance(TimeSpan.FromDays(10));
        Report("carol");
        Assert.Equal(CertStatus.Blocked, Status().Status);

        _clock.Advance(TimeSpan.FromDays(21)); // alice and bob are now 31 days old
        using (var store = _file.Open())
        {
            var serial = store.Serial;
            Assert.Equal(1, new ComplaintRegistry(store, _clock).Expire());
            Assert.True(store.Serial > serial);
            Assert.Equal(0, new ComplaintRegistry(store, _clock).Expire());
            Assert.Single(new ComplaintRegistry(store, _clock).Complaints(all: false));
        }
        Assert.Equal(CertStatus.Valid, Status().Status);
    }

    [Fact]
    public void Withdraw_OneOfThree_Unblocks()
    {
        Report("alice");
        var bob = Report("bob");
        Report("carol");

        using var store = _file.Open();
        var standing = new ComplaintRegistry(store, _clock).Withdraw(bob.ComplaintId, "reporter retracted", "spammer");

        Assert.False(standing.Listed);
        Assert.Equal(2, standing.DistinctReporters);
        Assert.Throws<BadInputException>(() => new ComplaintRegistry(store, _clock).Withdraw(bob.ComplaintId, "again", "spammer"));
        Assert.Empty(store.Listings.List());
    }

    [Fact]
    public void Unblock_AfterThreshold_WithdrawsCountedComplaintsAndAudits()
    {
        Report("alice");
        Report("bob");
        Report("carol");

        using (var store = _file.Open()) Assert.True(store.Listings.Unblock(_cert.Sha256, "owner fixed the relay", "spammer"));

        Assert.Equal(CertStatus.Valid, Status().Status);
        var fourth = Report("dave");
        Assert.Equal(1, fourth.Standing.DistinctReporters);
        Assert.False(fourth.Standing.Listed);
        using var s = _file.Open();
        Assert.Equal(["ca add", "complaint", "complaint", "complaint", "block", "unblock", "complaint"],
            s.AuditLog().Select(a => a.Action));
    }

    [Fact]
    public void OperatorBlock_OverComplaintListing_TakesItOver()
    {
        Report("alice");
        Report("bob");
        Report("carol");
        using var store = _file.Open();

        Assert.True(store.Listings.Block(_cert.Sha256, "confirmed spam source", "operator", "spammer"));
        Assert.False(store.Listings.Block(_cert.Sha256, "again", "operator", "spammer"));
        Assert.Equal("operator", Assert.Single(store.Listings.List()).Source);
    }

    [Fact]
    public void Audit_IsAppendOnly()
    {
        Report("alice");
        using var raw = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={_file.Path};Pooling=False");
        raw.Open();
        using var cmd = raw.CreateCommand();
        cmd.CommandText = "DELETE FROM audit;";

        var e = Assert.Throws<Microsoft.Data.Sqlite.SqliteException>(() => cmd.ExecuteNonQuery());
        Assert.Contains("append-only", e.Message);
    }

    [Fact]
    public void Arf_BuiltForReport_ParsesBackAsRfc5965FeedbackReport()
    {
        var result = Report("alice");

        var arf = ArfReport.Build(result, "abuse-reports@status.example", _clock.GetUtcNow());
        using var buffer = new MemoryStream();
        arf.WriteTo(buffer);
        buffer.Position = 0;
        var parsed = MimeMessage.Load(buffer);

        Assert.Equal("abuse@complaint-ca.example", Assert.Single(parsed.To.Mailboxes).Address);
        var report = Assert.IsType<MultipartReport>(parsed.Body);
        Assert.Equal("feedback-report", report.ReportType);
        Assert.Equal(3, report.Count);
        Assert.Contains(Hex.Colons(_cert.Sha256), Assert.IsType<TextPart>(report[0]).Text);
        var feedback = Assert.IsType<MessageFeedbackReport>(report[1]);
        Assert.Equal("abuse", feedback.Fields["Feedback-Type"]);
        Assert.Equal("1", feedback.Fields["Version"]);
        Assert.Equal("<offers1@spammer.example>", feedback.Fields["Original-Mail-From"]);
        var original = Assert.IsType<MessagePart>(report[2]);
        Assert.Equal("Offer number 1", original.Message!.Subject);
    }

    [Fact]
    public void Arf_CaWithoutAbuseContact_Refused()
    {
        var other = new TestAuthority("No Contact CA");
        var der = other.Issue("x.example", DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(30));
        using (var store = _file.Open())
        {
            new CaRegistry(store).Add("ca2", other.CertificateDer, [], null);
            new CertificateRegistry(store).Add([("x", der)]);
        }
        ReportResult result;
        using (var store = _file.Open())
            result = new ComplaintRegistry(store, _clock).Report(CertificateFile.Read(der, "x")[0].Sha256, "spam.eml", Evidence.Spam(7), "alice");

        Assert.Contains("no abuse contact", Assert.Throws<BadInputException>(() => ArfReport.Build(result, "a@b.example", _clock.GetUtcNow())).Reason);
    }

    [Theory]
    [InlineData("this is not a message at all", "not an e-mail message")]
    [InlineData("Subject: no sender\r\n\r\nbody", "no From header")]
    [InlineData("From: a@b.example\r\nSubject: undated\r\n\r\nbody", "neither Date nor Received")]
    [InlineData("", "empty evidence")]
    public void Report_MalformedEvidence_RefusedAndNothingStored(string text, string reason)
    {
        var before = _file.Bytes();

        var e = Assert.Throws<BadInputException>(() => Report("alice", Encoding.UTF8.GetBytes(text)));

        Assert.Contains(reason, e.Reason);
        Assert.Equal(before, _file.Bytes());
    }
}
