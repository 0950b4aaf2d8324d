using CertDns.Core;

namespace CertDns.Dns.Tests;

/// <summary>
/// A TXT answer for a form the snapshot does not index itself (SHA-1, MD5, the key) asks the store's directory once,
/// and describes the record that lookup found: no second lookup that could see another store state.
/// </summary>
public sealed class TxtLookupTests
{
    /// <summary>A directory that counts what it is asked.</summary>
    private sealed class CountingDirectory(ICertificateDirectory inner) : ICertificateDirectory
    {
        public int Finds;
        public int Details;

        public int Find(DigestKind kind, ReadOnlySpan<byte> digest, bool isKey, Span<byte> sha256s)
        {
            Interlocked.Increment(ref Finds);
            return inner.Find(kind, digest, isKey, sha256s);
        }

        CertificateDetails? ICertificateDirectory.Details(ReadOnlySpan<byte> sha256)
        {
            Interlocked.Increment(ref Details);
            return inner.Details(sha256);
        }

        public IEnumerable<(byte[] Sha256, CertificateDetails Details)> InOrder() => inner.InOrder();
    }

    public static TheoryData<string, string> Forms => new()
    {
        { "sha1", Hex.Lower(TestZone.Revoked.Sha1) },
        { "md5-bytes", PublishedNames.PerByte(TestZone.Revoked.Md5) },
        { "key", PublishedNames.Key(TestZone.Revoked.SpkiSha256) },
    };

    [Theory]
    [MemberData(nameof(Forms))]
    public void Respond_TxtForDirectoryForm_OneLookupOneDescription(string form, string relative)
    {
        var directory = new CountingDirectory(ICertificateDirectory.InMemory(TestZone.All));
        var builder = new StatusSnapshotBuilder(TestZone.All.Count);
        var cas = new Dictionary<CaFacts, int>(ReferenceEqualityComparer.Instance);
        foreach (var c in TestZone.All)
        {
            if (!cas.TryGetValue(c.Ca, out int ca)) cas[c.Ca] = ca = builder.AddCa(c.Ca);
            builder.Add(c.Sha256, c.NotBefore.ToUnixTimeSeconds(), c.NotAfter.ToUnixTimeSeconds(), ca, c.Revocation, c.Block);
        }
        var responder = TestZone.Responder(new SnapshotHolder(builder.Build(1, directory)));
        var response = new byte[DnsResponder.MaxMessageSize];

        int length = responder.Respond(WireQuery.Build(TestZone.Name(relative), WireQuery.Txt), response, DnsResponder.MaxMessageSize, tcp: false);

        Assert.True(length > 0, form);
        Assert.Equal(0, WireQuery.Rcode(response));
        Assert.Equal(1, WireQuery.Count(response, 1));
        Assert.True(response.AsSpan(0, length).IndexOf("revoked keyCompromise"u8) > 0, "the TXT describes the revoked certificate");
        Assert.Equal(1, directory.Finds);
        Assert.Equal(1, directory.Details);
    }
}
