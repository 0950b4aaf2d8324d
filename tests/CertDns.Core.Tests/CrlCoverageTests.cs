using CertDns.Core;

namespace CertDns.Core.Tests;

/// <summary>RFC 5280 6.3.3 coverage without a database: series, entries and certificates given as plain values.</summary>
public sealed class CrlCoverageTests
{
    private static readonly DateTimeOffset T0 = DateTimeOffset.FromUnixTimeSeconds(1_800_000_000);
    private static readonly byte[] SubjectA = [0x30, 1, 0xAA], SubjectX = [0x30, 1, 0xBB];
    private static readonly CoverageCa A = new(1, "CN=A", SubjectA), X = new(2, "CN=X", SubjectX);
    // GeneralNames as the store keeps them (DER); coverage compares them as bytes, so any distinct bytes serve.
    private static readonly byte[] P = [0x86, 1, (byte)'p'], Q = [0x86, 1, (byte)'q'];
    private static readonly byte[] Serial = [0x10];

    private static CrlSeries Series(long id, CoverageCa ca, CrlScope? scope = null, string number = "1", DateTimeOffset? next = null, string? delta = null) =>
        new(id, ca.Id, scope ?? CrlScope.Complete, new CrlFacts(delta is null ? number : $"{number} delta {delta}", T0, next ?? T0.AddDays(7)), delta);

    private static CrlScope Scope(IReadOnlyList<byte[]>? points = null, int? reasons = null, bool indirect = false, bool onlyCa = false) =>
        new([0x30, 0], points, false, onlyCa, false, reasons, indirect);

    private static byte[]? Points(params CrlDistributionPoint[] points) => CrlPointCodec.Encode(points);

    private static CrlCoverage Coverage(params CrlSeries[] series) => new([A, X], series);

    [Fact]
    public void Judge_CompleteCrlListingTheSerial_RevokedWithItsNumber()
    {
        var coverage = Coverage(Series(10, A));
        coverage.AddEntry(10, false, A.Id, Serial, RevocationReason.KeyCompromise, T0.ToUnixTimeSeconds());

        var judged = coverage.Judge(A.Id, false, Serial, null);

        Assert.Equal(RevocationReason.KeyCompromise, judged.Revocation!.Reason);
        Assert.Equal("1", judged.Revocation.CrlNumber);
        Assert.Equal("1", judged.Crl!.Number);
        Assert.Null(judged.Gap);
        Assert.Null(coverage.Judge(A.Id, false, [0x11], null).Revocation);
    }

    [Fact]
    public void Judge_DeltaRemoveFromCrl_LiftsTheBaseHold()
    {
        var coverage = Coverage(Series(10, A, delta: "2"));
        coverage.AddEntry(10, false, A.Id, Serial, RevocationReason.CertificateHold, T0.ToUnixTimeSeconds());
        coverage.AddEntry(10, true, A.Id, Serial, RevocationReason.RemoveFromCrl, T0.ToUnixTimeSeconds());

        Assert.Null(coverage.Judge(A.Id, false, Serial, null).Revocation);
    }

    [Fact]
    public void Judge_DeltaEntry_OverridesTheBaseAndCarriesTheDeltaNumber()
    {
        var coverage = Coverage(Series(10, A, delta: "2"));
        coverage.AddEntry(10, false, A.Id, Serial, RevocationReason.CertificateHold, T0.ToUnixTimeSeconds());
        coverage.AddEntry(10, true, A.Id, Serial, RevocationReason.KeyCompromise, T0.AddHours(1).ToUnixTimeSeconds());

        var judged = coverage.Judge(A.Id, false, Serial, null).Revocation!;

        Assert.Equal(RevocationReason.KeyCompromise, judged.Reason);
        Assert.Equal("2", judged.CrlNumber);
    }

    [Fact]
    public void Judge_DeltaEntriesWithoutAnAppliedDelta_AreIgnored()
    {
        // The series' delta was built on an older base (none applies): its leftover rows say nothing.
        var coverage = Coverage(Series(10, A));
        coverage.AddEntry(10, true, A.Id, Serial, RevocationReason.KeyCompromise, T0.ToUnixTimeSeconds());

        Assert.Null(coverage.Judge(A.Id, false, Serial, null).Revocation);
    }

    [Fact]
    public void Judge_OnePartitionOfReasons_NotCoveredAndSaysWhy()
    {
        var coverage = Coverage(Series(10, A, Scope(reasons: 1 << (int)RevocationReason.KeyCompromise)));

        var judged = coverage.Judge(A.Id, false, Serial, null);

        Assert.Null(judged.Crl);
        Assert.Equal("only some revocation reasons (onlySomeReasons)", judged.Gap);
    }

    [Fact]
    public void Judge_PartitionsCoveringEveryReason_CoveredByTheEarliestNextUpdate()
    {
        int key = 1 << (int)RevocationReason.KeyCompromise;
        var early = T0.AddDays(1);
        var coverage = Coverage(
            Series(10, A, Scope(reasons: key), number: "5"),
            Series(11, A, new CrlScope([0x30, 1], null, false, false, false, CrlScope.AllReasons & ~key, false), number: "6", next: early));

        var judged = coverage.Judge(A.Id, false, Serial, null);

        Assert.Equal("6", judged.Crl!.Number);
        Assert.Equal(early, judged.Crl.NextUpdate);
    }

    [Fact]
    public void Judge_CrlNamingAPoint_CoversOnlyCertificatesNamingIt()
    {
        var coverage = Coverage(Series(10, A, Scope(points: [P])));

        Assert.NotNull(coverage.Judge(A.Id, false, Serial, Points(new CrlDistributionPoint([Q, P], null, null))).Crl);
        var elsewhere = coverage.Judge(A.Id, false, Serial, Points(new CrlDistributionPoint([Q], null, null)));
        var none = coverage.Judge(A.Id, false, Serial, null);

        Assert.Null(elsewhere.Crl);
        Assert.Equal("the CRL of \"CN=A\" covers another distribution point", elsewhere.Gap);
        Assert.Equal("the CRL of \"CN=A\" covers one distribution point, and the certificate names none", none.Gap);
    }

    [Fact]
    public void Judge_SameGap_IsTheSameStringInstance()
    {
        var coverage = Coverage(Series(10, A, Scope(points: [P])));
        var points = Points(new CrlDistributionPoint([Q], null, null));

        Assert.Same(coverage.Judge(A.Id, false, Serial, points).Gap, coverage.Judge(A.Id, false, [0x11], Points(new CrlDistributionPoint([Q], null, null))).Gap);
    }

    [Fact]
    public void Judge_OnlyCaCertificatesScope_CoversCaCertificatesOnly()
    {
        var coverage = Coverage(Series(10, A, Scope(onlyCa: true)));

        Assert.NotNull(coverage.Judge(A.Id, true, Serial, null).Crl);
        Assert.Equal("the CRL of \"CN=A\" covers only CA certificates", coverage.Judge(A.Id, false, Serial, null).Gap);
    }

    [Fact]
    public void Judge_IndirectCrlNamedAsCrlIssuer_CoversAndListsAnotherIssuersCertificate()
    {
        var coverage = Coverage(Series(10, X, Scope(points: [P], indirect: true)));
        coverage.AddEntry(10, false, A.Id, Serial, RevocationReason.KeyCompromise, T0.ToUnixTimeSeconds());

        var judged = coverage.Judge(A.Id, false, Serial, Points(new CrlDistributionPoint([P], [SubjectX], null)));

        Assert.Equal("1", judged.Crl!.Number);
        Assert.Equal(RevocationReason.KeyCompromise, judged.Revocation!.Reason);
    }

    [Fact]
    public void Judge_IndirectCrlNotNamedByTheCertificate_DoesNotCoverIt()
    {
        var coverage = Coverage(Series(10, X, Scope(points: [P], indirect: true)));

        // The point names X's point but another CRL issuer; a point without cRLIssuer is A's own.
        var otherIssuer = coverage.Judge(A.Id, false, Serial, Points(new CrlDistributionPoint([P], [SubjectA], null)));
        var ownPoint = coverage.Judge(A.Id, false, Serial, Points(new CrlDistributionPoint([P], null, null)));

        Assert.Null(otherIssuer.Crl);
        Assert.Equal("the CRL of \"CN=X\" covers an indirect CRL of another issuer", otherIssuer.Gap);
        Assert.Null(ownPoint.Crl);
    }

    [Fact]
    public void Judge_CrlIssuerPointOnADirectCrl_IsNotServedByIt()
    {
        // A point with a cRLIssuer is served only by that issuer's indirect CRLs, never by a plain CRL of the issuer.
        var coverage = Coverage(Series(10, A, Scope(points: [P])));

        Assert.Null(coverage.Judge(A.Id, false, Serial, Points(new CrlDistributionPoint([P], [SubjectA], null))).Crl);
    }

    [Fact]
    public void Judge_HoldAndRevocationOnTwoSeries_RevocationDecides()
    {
        var coverage = Coverage(Series(10, A, number: "1"), Series(11, A, Scope(points: null, reasons: null), number: "2"));
        coverage.AddEntry(10, false, A.Id, Serial, RevocationReason.CertificateHold, T0.ToUnixTimeSeconds());
        coverage.AddEntry(11, false, A.Id, Serial, RevocationReason.Superseded, T0.ToUnixTimeSeconds());

        Assert.Equal(RevocationReason.Superseded, coverage.Judge(A.Id, false, Serial, null).Revocation!.Reason);
    }

    [Fact]
    public void AddEntry_UnknownSeriesOrIssuer_CountsForNothing()
    {
        var coverage = Coverage(Series(10, A));

        Assert.False(coverage.AddEntry(99, false, A.Id, Serial, RevocationReason.KeyCompromise, 0));
        Assert.False(coverage.AddEntry(10, false, 77, Serial, RevocationReason.KeyCompromise, 0));
        Assert.False(coverage.NeedsSerials);
    }

    [Fact]
    public void Freshness_CaWithoutSeries_NullAndWithOne_ItsFacts()
    {
        var coverage = Coverage(Series(10, A, number: "9"));

        Assert.Equal("9", coverage.Freshness(A.Id)!.Number);
        Assert.Null(coverage.Freshness(X.Id));
    }

    [Fact]
    public void Codec_RoundTrip_KeepsEveryField()
    {
        var points = new[] { new CrlDistributionPoint([P, Q], null, 6), new CrlDistributionPoint(null, [SubjectX, new byte[300]], null), new CrlDistributionPoint([], [], 0) };

        var decoded = CrlPointCodec.DecodePoints(CrlPointCodec.Encode(points));

        Assert.Equal(points.Length, decoded.Length);
        for (int i = 0; i < points.Length; i++)
        {
            Assert.Equal(points[i].Reasons, decoded[i].Reasons);
            Assert.Equal(points[i].Names, decoded[i].Names);
            Assert.Equal(points[i].CrlIssuers, decoded[i].CrlIssuers);
        }
        Assert.Null(CrlPointCodec.Encode([]));
        Assert.Equal([P, Q], CrlPointCodec.DecodeNames(CrlPointCodec.EncodeNames([P, Q])));
        Assert.Throws<InvalidDataException>(() => CrlPointCodec.DecodePoints([1, 5, 0]));
    }

    [Fact]
    public void Judge_IndirectEntryForACertificateThatDoesNotDelegate_RevokesNothing()
    {
        // Regression (#11): X's indirect CRL revoked A's certificates whatever their distribution points said.
        var coverage = Coverage(Series(1, A), Series(10, X, Scope(indirect: true)));
        coverage.AddEntry(10, false, A.Id, Serial, RevocationReason.KeyCompromise, T0.ToUnixTimeSeconds());

        Assert.Null(coverage.Judge(A.Id, false, Serial, null).Revocation);
        Assert.Null(coverage.Judge(A.Id, false, Serial, Points(new CrlDistributionPoint([P], null, null))).Revocation);
        Assert.Equal(RevocationReason.KeyCompromise, coverage.Judge(A.Id, false, Serial, Points(new CrlDistributionPoint(null, [SubjectX], null))).Revocation!.Reason);
    }

    [Fact]
    public void Judge_SameSubjectTwinOfAnotherAnchor_ItsCrlTouchesNothing_ARolloverUnderTheSameAnchorStillDoes()
    {
        // Regression (#11): CAs were grouped by subject alone, so a twin with another key revoked A's certificates.
        CoverageCa twin = new(3, "CN=A", SubjectA), rollover = new(4, "CN=A", SubjectA, ParentId: A.Id);
        var coverage = new CrlCoverage([A, X, twin, rollover], [Series(1, A), Series(3, twin), Series(4, rollover)]);
        coverage.AddEntry(3, false, twin.Id, Serial, RevocationReason.KeyCompromise, T0.ToUnixTimeSeconds());
        coverage.AddEntry(4, false, rollover.Id, [0x20], RevocationReason.Superseded, T0.ToUnixTimeSeconds());

        Assert.Null(coverage.Judge(A.Id, false, Serial, null).Revocation);
        Assert.Equal(RevocationReason.KeyCompromise, coverage.Judge(twin.Id, false, Serial, null).Revocation!.Reason);
        Assert.Equal(RevocationReason.Superseded, coverage.Judge(A.Id, false, [0x20], null).Revocation!.Reason);
    }
}
