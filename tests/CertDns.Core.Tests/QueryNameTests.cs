using CertDns.Core;

namespace CertDns.Core.Tests;

public class QueryNameTests
{
    private const string Sha256 = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
    private const string Sha1 = "a94a8fe5ccb19ba61c4c0873d391e987982fbbd3";
    private const string Md5 = "098f6bcd4621d373cade4e832627b4f6";

    public static TheoryData<string, NameKind, DigestKind, string, bool> Forms => new()
    {
        // relative name, kind, digest kind, digest hex, unknown answers NODATA
        { $"{Sha256[..32]}.{Sha256[32..]}", NameKind.Fingerprint, DigestKind.Sha256, Sha256, false },
        { $"{Sha256[..32].ToUpperInvariant()}.{Sha256[32..]}", NameKind.Fingerprint, DigestKind.Sha256, Sha256, false },
        { $"{Sha256[..20]}.{Sha256[20..40]}.{Sha256[40..]}", NameKind.Fingerprint, DigestKind.Sha256, Sha256, false },
        { Sha256[..56], NameKind.Fingerprint, DigestKind.Sha256Prefix, Sha256[..56], true },
        { Sha1, NameKind.Fingerprint, DigestKind.Sha1, Sha1, true },
        { Md5, NameKind.Fingerprint, DigestKind.Md5, Md5, true },
        { string.Join('.', Convert.FromHexString(Sha256).Select(b => b.ToString("x2"))), NameKind.Fingerprint, DigestKind.Sha256, Sha256, false },
        { string.Join('.', Convert.FromHexString(Sha1).Select(b => b.ToString("X2"))), NameKind.Fingerprint, DigestKind.Sha1, Sha1, true },
        { string.Join('.', Convert.FromHexString(Md5).Select(b => b.ToString("x2"))), NameKind.Fingerprint, DigestKind.Md5, Md5, true },
    };

    [Theory]
    [MemberData(nameof(Forms))]
    public void Parse_EverySpecForm_DecodesDigest(string name, NameKind kind, DigestKind digest, string hex, bool noData)
    {
        var q = QueryName.Parse(name);

        Assert.Equal(kind, q.Kind);
        Assert.Equal(digest, q.Digest);
        Assert.Equal(hex, Convert.ToHexStringLower(q.Value!));
        Assert.Equal(noData, q.UnknownIsNoData);
        Assert.Equal(ZoneView.Combined, q.View);
        Assert.False(q.IsKey);
    }

    /// <summary>
    /// Every split of each digest into two labels, even and odd, in both cases: the same digest as the whole hex. Even
    /// splits take the vectorised decoder, odd ones the character loops; a character that is not hex (nor base32) at
    /// any place makes the name one that cannot exist, from either path.
    /// </summary>
    [Theory]
    [InlineData(Sha256, DigestKind.Sha256)]
    [InlineData(Sha1, DigestKind.Sha1)]
    [InlineData(Md5, DigestKind.Md5)]
    public void Parse_EverySplitInTwoLabels_DecodesTheDigest_ANonHexCharacterAnywhereIsNonExistent(string hex, DigestKind kind)
    {
        foreach (var text in new[] { hex, hex.ToUpperInvariant() })
        {
            for (int split = 1; split < text.Length; split++)
            {
                if (split > QueryName.MaxLabelLength || text.Length - split > QueryName.MaxLabelLength) continue;
                var q = QueryName.Parse($"{text[..split]}.{text[split..]}");
                Assert.True(q.Kind == NameKind.Fingerprint && q.Digest == kind, $"split at {split}: {q.Kind} {q.Digest}");
                Assert.Equal(hex, Convert.ToHexStringLower(q.Value!));

                for (int bad = 0; bad < text.Length; bad += 7)
                {
                    var spoiled = text[..bad] + "-" + text[(bad + 1)..];
                    Assert.Equal(NameKind.NonExistent, QueryName.Parse($"{spoiled[..split]}.{spoiled[split..]}").Kind);
                }
            }
        }
    }

    [Fact]
    public void Parse_Base32Label_DecodesSha256()
    {
        var digest = Convert.FromHexString(Sha256);
        var label = Hex.Base32(digest);

        var q = QueryName.Parse(label.ToUpperInvariant());

        Assert.Equal(52, label.Length);
        Assert.Equal(NameKind.Fingerprint, q.Kind);
        Assert.Equal(DigestKind.Sha256, q.Digest);
        Assert.Equal(digest, q.Value);
        Assert.False(q.UnknownIsNoData);
    }

    [Fact]
    public void Parse_Base32WithSpareBitsSet_IsNonExistent()
    {
        var label = Hex.Base32(Convert.FromHexString(Sha256));
        // The last character carries 1 data bit and 4 spare bits; 'b' sets a spare bit.
        var noncanonical = label[..51] + (label[51] == 'a' ? 'b' : 'a');

        Assert.Equal(NameKind.NonExistent, QueryName.Parse(noncanonical).Kind);
    }

    [Theory]
    [InlineData("bl", ZoneView.Block, false)]
    [InlineData("wl", ZoneView.Allow, false)]
    [InlineData("key", ZoneView.Combined, true)]
    [InlineData("key.bl", ZoneView.Block, true)]
    [InlineData("KEY.WL", ZoneView.Allow, true)]
    public void Parse_ReservedLabels_ReadRightToLeft(string suffix, ZoneView view, bool isKey)
    {
        var q = QueryName.Parse($"{Sha256[..32]}.{Sha256[32..]}.{suffix}");

        Assert.Equal(NameKind.Fingerprint, q.Kind);
        Assert.Equal(view, q.View);
        Assert.Equal(isKey, q.IsKey);

        var prefixOnly = QueryName.Parse(suffix);
        Assert.Equal(NameKind.EmptyNonTerminal, prefixOnly.Kind);
    }

    [Fact]
    public void Parse_ViewLeftOfKey_IsNotAView()
    {
        // bl.key: key is read first from the right, then "bl" is left over as a (non-hex) fingerprint label.
        Assert.Equal(NameKind.NonExistent, QueryName.Parse($"{Sha256[..32]}.{Sha256[32..]}.bl.key").Kind);
    }

    public static TheoryData<string, NameKind> EmptyNonTerminals => new()
    {
        // The QNAME-minimisation prefixes (RFC 9156) of split names: NODATA, never NXDOMAIN.
        { Sha256[32..], NameKind.Fingerprint },          // 32 hex: also a complete MD5 name; unknown -> NODATA
        { Sha256[40..], NameKind.EmptyNonTerminal },     // 24 hex
        { "0a", NameKind.EmptyNonTerminal },
        { "0a.bl", NameKind.EmptyNonTerminal },
        { "0a.key.wl", NameKind.EmptyNonTerminal },
        { string.Join('.', Convert.FromHexString(Sha256[2..]).Select(b => b.ToString("x2"))), NameKind.EmptyNonTerminal }, // 31 of 32 byte labels
        { "zzzz", NameKind.EmptyNonTerminal },           // all base32, shorter than 64 (SPEC's rule, literally)
        { "test.key", NameKind.EmptyNonTerminal },       // "test" is base32 letters too
        { "", NameKind.Apex },
    };

    [Theory]
    [MemberData(nameof(EmptyNonTerminals))]
    public void Parse_PrefixOfCompleteName_NeverNxdomain(string name, NameKind kind)
    {
        var q = QueryName.Parse(name);

        Assert.Equal(kind, q.Kind);
        if (q.Kind == NameKind.Fingerprint) Assert.True(q.UnknownIsNoData);
    }

    [Theory]
    [InlineData("invalid")]
    [InlineData("INVALID.bl")]
    [InlineData("www1")] // '1' is not base32 and 'w' is not hex
    [InlineData("not-a-digest")]
    [InlineData("9f86d081884c7d659a2feaa0c55ad015.a3bf4f1b2b0b822cd15d6c15b0f00a08a")] // 65 hex
    [InlineData("11.9f86d081884c7d659a2feaa0c55ad015.a3bf4f1b2b0b822cd15d6c15b0f00a08")] // 66 hex
    [InlineData("test-valid.key")] // test entries take no key marker
    public void Parse_NamesThatCanNeverExist_AreNonExistent(string name)
    {
        Assert.Equal(NameKind.NonExistent, QueryName.Parse(name).Kind);
    }

    [Fact]
    public void Parse_UnknownComplete64Hex_IsNxdomainCandidate()
    {
        var q = QueryName.Parse($"{Sha256[..32]}.{Sha256[32..]}");

        Assert.False(q.UnknownIsNoData);
    }

    [Theory]
    [InlineData("test", CertStatus.Revoked)]
    [InlineData("test-blocked", CertStatus.Blocked)]
    [InlineData("test-hold", CertStatus.Hold)]
    [InlineData("test-valid", CertStatus.Valid)]
    [InlineData("test-stale", CertStatus.Stale)]
    [InlineData("test-untrusted", CertStatus.Untrusted)]
    [InlineData("TEST-Expired", CertStatus.Expired)]
    public void Parse_TestEntries_MapToTheirStatus(string label, CertStatus status)
    {
        var q = QueryName.Parse(label);
        Assert.Equal(NameKind.TestEntry, q.Kind);
        Assert.Equal(status, q.TestStatus);

        var inView = QueryName.Parse(label + ".bl");
        Assert.Equal(NameKind.TestEntry, inView.Kind);
        Assert.Equal(ZoneView.Block, inView.View);
    }

    [Fact]
    public void Parse_LabelOf64Octets_IsRefused()
    {
        var e = Assert.Throws<BadInputException>(() => QueryName.Parse(Sha256));
        Assert.Contains("63", e.Reason);
    }

    [Fact]
    public void Parse_EmptyLabel_IsRefused()
    {
        Assert.Throws<BadInputException>(() => QueryName.Parse("ab..cd"));
    }

    [Fact]
    public void Parse_LabelOf63Octets_IsAccepted()
    {
        Assert.Equal(NameKind.EmptyNonTerminal, QueryName.Parse(Sha256[..63]).Kind);
    }
}
