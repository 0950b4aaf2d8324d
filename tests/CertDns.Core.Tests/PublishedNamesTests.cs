using System.Security.Cryptography;
using System.Text;
using CertDns.Core;

namespace CertDns.Core.Tests;

public class PublishedNamesTests
{
    private static readonly byte[] Der = Encoding.UTF8.GetBytes("certificate");
    private static readonly CertFacts Cert = new(SHA256.HashData(Der), SHA1.HashData(Der), MD5.HashData(Der), SHA256.HashData(Encoding.UTF8.GetBytes("spki")),
        [1], DateTimeOffset.UnixEpoch, DateTimeOffset.UnixEpoch.AddYears(60), new CaFacts(1, "CN=CA", true));

    [Fact]
    public void Of_AllForms_EachNameParsesBackToItsDigest()
    {
        var names = PublishedNames.Of(Cert, NameForms.All).ToList();

        Assert.Equal(7, names.Distinct().Count());
        var parsed = names.Select(n => QueryName.Parse(n)).ToList();
        Assert.All(parsed, p => Assert.Equal(NameKind.Fingerprint, p.Kind));
        Assert.All(parsed, p => Assert.False(p.IsKey));
        Assert.Equal(
            [(DigestKind.Sha256, Cert.Sha256), (DigestKind.Sha256Prefix, Cert.Sha256[..28]), (DigestKind.Sha256, Cert.Sha256), (DigestKind.Sha1, Cert.Sha1),
             (DigestKind.Md5, Cert.Md5), (DigestKind.Sha1, Cert.Sha1), (DigestKind.Md5, Cert.Md5)],
            parsed.Select(p => (p.Digest, p.Value!)));
        var key = QueryName.Parse(PublishedNames.Key(Cert.SpkiSha256));
        Assert.True(key.IsKey);
        Assert.Equal(Cert.SpkiSha256, key.Value);
    }

    [Fact]
    public void Of_Default_OnlyTheSplitForm()
    {
        Assert.Equal([PublishedNames.Split(Cert.Sha256)], PublishedNames.Of(Cert, NameForms.Split));
    }

    [Theory]
    [InlineData("split", NameForms.Split)]
    [InlineData("md5-bytes, SHA1", NameForms.Split | NameForms.Md5Bytes | NameForms.Sha1)]
    [InlineData("all", NameForms.All)]
    public void Parse_Words_FormsWithSplitAlways(string list, NameForms expected)
    {
        Assert.Equal(expected, PublishedNames.Parse(list));
        Assert.Equal(expected, PublishedNames.Parse(PublishedNames.Describe(expected)));
    }

    [Fact]
    public void Parse_UnknownWord_BadInputNamingIt()
    {
        var e = Assert.Throws<BadInputException>(() => PublishedNames.Parse("md5,sha512"));
        Assert.Equal("--forms", e.Input);
        Assert.Contains("'sha512'", e.Reason);
    }
}
