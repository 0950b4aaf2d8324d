using CertDns.Core;

namespace CertDns.Core.Tests;

public class StatusEvaluatorTests
{
    private static readonly DateTimeOffset Now = new(2026, 11, 28, 12, 0, 0, TimeSpan.Zero);
    private static readonly CrlFacts CurrentCrl = new("1000", Now.AddHours(-1), Now.AddDays(7));
    private static readonly CaFacts TrustedCa = new(1, "CN=Example CA", true, Crl: CurrentCrl);

    private static CertFacts Cert(
        CaFacts? ca = null, RevocationFacts? revocation = null, BlockFacts? block = null,
        DateTimeOffset? notBefore = null, DateTimeOffset? notAfter = null, byte fill = 1) =>
        new(Enumerable.Repeat(fill, 32).ToArray(), Enumerable.Repeat(fill, 20).ToArray(), Enumerable.Repeat(fill, 16).ToArray(),
            Enumerable.Repeat((byte)(fill + 100), 32).ToArray(), [0x0a, 0x1b, 0x2c],
            notBefore ?? Now.AddDays(-30), notAfter ?? Now.AddDays(300), ca ?? TrustedCa, revocation, block);

    private static readonly RevocationFacts KeyCompromise = new(RevocationReason.KeyCompromise, new(2025, 11, 1, 0, 0, 0, TimeSpan.Zero), "1000");
    private static readonly RevocationFacts Held = new(RevocationReason.CertificateHold, Now.AddDays(-2), "1000");
    private static readonly BlockFacts Complaints = new("3 abuse complaints", new(2026, 11, 20, 0, 0, 0, TimeSpan.Zero));
    private static readonly CaFacts Distrusted = TrustedCa with { Trusted = false, DistrustedAt = Now.AddDays(-1), DistrustReason = "ignores abuse" };
    private static readonly CaFacts StaleCa = TrustedCa with { Crl = new CrlFacts("999", Now.AddDays(-10), Now.AddDays(-3)) };
    private static readonly CaFacts NoCrlCa = TrustedCa with { Crl = null };

    public static TheoryData<string, CertStatus> EachStatus => new()
    {
        { "valid", CertStatus.Valid },
        { "revoked", CertStatus.Revoked },
        { "hold", CertStatus.Hold },
        { "blocked", CertStatus.Blocked },
        { "stale", CertStatus.Stale },
        { "no-crl", CertStatus.Stale },
        { "untrusted", CertStatus.Untrusted },
        { "expired", CertStatus.Expired },
        { "not-yet-valid", CertStatus.Expired },
    };

    private static CertFacts Case(string name) => name switch
    {
        "valid" => Cert(),
        "revoked" => Cert(revocation: KeyCompromise),
        "hold" => Cert(revocation: Held),
        "blocked" => Cert(block: Complaints),
        "stale" => Cert(StaleCa),
        "no-crl" => Cert(NoCrlCa),
        "untrusted" => Cert(Distrusted),
        "expired" => Cert(notAfter: Now.AddDays(-1)),
        "not-yet-valid" => Cert(notBefore: Now.AddDays(1)),
        _ => throw new ArgumentException(name),
    };

    [Theory]
    [MemberData(nameof(EachStatus))]
    public void Evaluate_EachCase_GivesItsStatus(string name, CertStatus expected)
    {
        var verdict = StatusEvaluator.Evaluate(Case(name), Now);

        Assert.Equal(expected, verdict.Status);
        Assert.StartsWith(expected == CertStatus.Expired && name == "not-yet-valid" ? "not valid before" : StatusCodes.Name(expected), verdict.Text);
        Assert.True(System.Text.Encoding.UTF8.GetByteCount(verdict.Text) <= 255);
    }

    [Fact]
    public void Evaluate_Revoked_TextQuotesReasonIssuerSerialAndCrl()
    {
        var verdict = StatusEvaluator.Evaluate(Cert(revocation: KeyCompromise), Now);

        Assert.Equal("revoked keyCompromise 2025-11-01T00:00:00Z by \"CN=Example CA\" serial 0a1b2c (CRL 1000)", verdict.Text);
    }

    [Fact]
    public void Evaluate_Blocked_TextSaysWhyAndSince()
    {
        Assert.Equal("blocked: 3 abuse complaints since 2026-11-20", StatusEvaluator.Evaluate(Cert(block: Complaints), Now).Text);
    }

    // Every pair (higher, lower) of SPEC's precedence: blocked > revoked > hold > untrusted > expired > stale > valid.
    public static TheoryData<CertStatus, CertStatus> PrecedencePairs()
    {
        var order = new[] { CertStatus.Blocked, CertStatus.Revoked, CertStatus.Hold, CertStatus.Untrusted, CertStatus.Expired, CertStatus.Stale, CertStatus.Valid };
        var data = new TheoryData<CertStatus, CertStatus>();
        for (int i = 0; i < order.Length; i++)
            for (int j = i + 1; j < order.Length; j++)
                data.Add(order[i], order[j]);
        return data;
    }

    [Theory]
    [MemberData(nameof(PrecedencePairs))]
    public void Evaluate_TwoConditionsApply_HigherPrecedenceWins(CertStatus higher, CertStatus lower)
    {
        var cert = Combine(Cert(), higher);
        cert = Combine(cert, lower);

        Assert.Equal(higher, StatusEvaluator.Evaluate(cert, Now).Status);
        Assert.True(StatusCodes.Precedence(higher) > StatusCodes.Precedence(lower));
    }

    private static CertFacts Combine(CertFacts cert, CertStatus status) => status switch
    {
        CertStatus.Blocked => cert with { Block = Complaints },
        // Revoked and hold are both CRL entries; a certificate has one entry, so hold is made by its own pair below.
        CertStatus.Revoked => cert with { Revocation = cert.Revocation ?? KeyCompromise },
        CertStatus.Hold => cert with { Revocation = cert.Revocation ?? Held },
        CertStatus.Untrusted => cert with { Ca = cert.Ca with { Trusted = false } },
        CertStatus.Expired => cert with { NotAfter = Now.AddDays(-1) },
        CertStatus.Stale => cert with { Ca = cert.Ca with { Crl = StaleCa.Crl } },
        _ => cert,
    };

    [Fact]
    public void Ttl_NeverReachesPastCrlNextUpdate()
    {
        var soon = TrustedCa with { Crl = new CrlFacts("1", Now.AddHours(-1), Now.AddSeconds(42)) };

        Assert.Equal(TimeSpan.FromSeconds(42), StatusEvaluator.Evaluate(Cert(soon), Now).Ttl);
        Assert.Equal(TimeSpan.FromSeconds(300), StatusEvaluator.Evaluate(Cert(), Now).Ttl);
        Assert.Equal(TimeSpan.FromSeconds(60), StatusEvaluator.Evaluate(Cert(), Now, TimeSpan.FromSeconds(60)).Ttl);
    }

    [Fact]
    public void Ttl_ValidCertificate_NotPastNotAfter()
    {
        Assert.Equal(TimeSpan.FromSeconds(10), StatusEvaluator.Evaluate(Cert(notAfter: Now.AddSeconds(10)), Now).Ttl);
    }

    [Fact]
    public void EvaluateKey_OneCertRevokedForKeyCompromise_KeyIsRevoked()
    {
        var verdict = StatusEvaluator.EvaluateKey([Cert(fill: 1), Cert(revocation: KeyCompromise, fill: 2)], Now);

        Assert.Equal(CertStatus.Revoked, verdict!.Status);
    }

    [Fact]
    public void EvaluateKey_RevokedForSupersededAndAnotherValid_KeyIsValid()
    {
        var superseded = KeyCompromise with { Reason = RevocationReason.Superseded };

        var verdict = StatusEvaluator.EvaluateKey([Cert(revocation: superseded, fill: 1), Cert(fill: 2)], Now);

        Assert.Equal(CertStatus.Valid, verdict!.Status);
    }

    [Fact]
    public void EvaluateKey_NoneValidNoneCompromised_HighestPrecedence()
    {
        var superseded = KeyCompromise with { Reason = RevocationReason.Superseded };

        var verdict = StatusEvaluator.EvaluateKey([Cert(notAfter: Now.AddDays(-1), fill: 1), Cert(revocation: superseded, fill: 2)], Now);

        Assert.Equal(CertStatus.Revoked, verdict!.Status);
    }

    [Fact]
    public void EvaluateKey_OneBlocked_KeyIsBlocked()
    {
        Assert.Equal(CertStatus.Blocked, StatusEvaluator.EvaluateKey([Cert(fill: 1), Cert(block: Complaints, fill: 2)], Now)!.Status);
    }

    [Theory]
    [InlineData(CertStatus.Revoked, ZoneView.Block, true)]
    [InlineData(CertStatus.Blocked, ZoneView.Block, true)]
    [InlineData(CertStatus.Hold, ZoneView.Block, true)]
    [InlineData(CertStatus.Valid, ZoneView.Block, false)]
    [InlineData(CertStatus.Stale, ZoneView.Block, false)]
    [InlineData(CertStatus.Valid, ZoneView.Allow, true)]
    [InlineData(CertStatus.Revoked, ZoneView.Allow, false)]
    [InlineData(CertStatus.Expired, ZoneView.Combined, true)]
    public void VisibleIn_ViewsShowOnlyTheirFamily(CertStatus status, ZoneView view, bool visible)
    {
        Assert.Equal(visible, StatusCodes.VisibleIn(status, view));
        var address = StatusCodes.Address(status);
        if (view == ZoneView.Block && visible) Assert.Equal(0, address[2]);
    }

    [Fact]
    public void Truncate_LongMultibyteText_StaysWithin255OctetsWithoutSplittingCharacters()
    {
        var text = StatusEvaluator.Truncate(new string('é', 200));

        Assert.Equal(127, text.Length);
        Assert.Equal(254, System.Text.Encoding.UTF8.GetByteCount(text));
    }
}
