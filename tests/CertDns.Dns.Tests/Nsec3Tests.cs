using CertDns.Dns.Dnssec;

namespace CertDns.Dns.Tests;

/// <summary>
/// NSEC3 (RFC 5155): the hash, base32hex owner labels, type bitmaps and the chain, against the example zone of RFC 5155
/// appendix A (salt aabbccdd, 12 extra iterations) and the RFC 9276 parameters the zone is published with.
/// </summary>
public sealed class Nsec3Tests
{
    private static readonly Nsec3Parameters AppendixA = new(Nsec3Parameters.Sha1, 1, 12, [0xAA, 0xBB, 0xCC, 0xDD]);

    // RFC 5155 appendix A: each name of the example zone and its hash, as the appendix's NSEC3 owners give them.
    [Theory]
    [InlineData("example", "0p9mhaveqvm6t7vbl5lop2u3t2rp3tom")]
    [InlineData("a.example", "35mthgpgcu1qg68fab165klnsnk3dpvl")]
    [InlineData("ai.example", "gjeqe526plbf1g8mklp59enfd789njgi")]
    [InlineData("ns1.example", "2t7b4g4vsa5smi47k61mv5bv1a22bojr")]
    [InlineData("ns2.example", "q04jkcevqvmu85r014c7dkba38o0ji5r")]
    [InlineData("w.example", "k8udemvp1j2f7eg6jebps17vp3n8i58h")]
    [InlineData("*.w.example", "r53bq7cc2uvmubfu5ocmm6pers9tk9en")]
    [InlineData("x.w.example", "b4um86eghhds6nea196smvmlo4ors995")]
    [InlineData("y.w.example", "ji6neoaepv8b5o6k4ev33abha8ht9fgc")]
    [InlineData("x.y.w.example", "2vptu5timamqttgl4luu9kg21e0aor3s")]
    [InlineData("xx.example", "t644ebqk9bibcna874givr6joj62mlhv")]
    // Upper case hashes as lower case (RFC 4034 section 6.2).
    [InlineData("X.W.Example", "b4um86eghhds6nea196smvmlo4ors995")]
    public void Hash_AppendixANames_AppendixAHashes(string name, string expected)
    {
        var hash = new byte[Nsec3Parameters.HashLength];

        AppendixA.Hash(Lower(name), hash);

        Assert.Equal(expected, Base32Hex.Encode(hash));
    }

    [Fact]
    public void Hash_Rfc9276Parameters_AsLdnsHashesIt()
    {
        // ldns-nsec3-hash -t 0 -s '' status.example
        var hash = new byte[Nsec3Parameters.HashLength];

        Nsec3Parameters.Default.Hash(Lower("status.example"), hash);

        Assert.Equal("caul6ereahf17km7embi1mpsko6qb3av", Base32Hex.Encode(hash));
    }

    [Theory]
    [InlineData("", "")]
    [InlineData("f", "co")]
    [InlineData("fo", "cpng")]
    [InlineData("foo", "cpnmu")]
    [InlineData("foob", "cpnmuog")]
    [InlineData("fooba", "cpnmuoj1")]
    [InlineData("foobar", "cpnmuoj1e8")]
    public void Base32Hex_Rfc4648Vectors_LowerCaseUnpadded(string octets, string expected) =>
        // RFC 4648 section 10, BASE32-HEX, without the padding NSEC3 owners leave out.
        Assert.Equal(expected, Base32Hex.Encode(System.Text.Encoding.ASCII.GetBytes(octets)));

    [Fact]
    public void TypeBitmap_Rfc4034Example_SameOctets()
    {
        // RFC 4034 section 4.3: A MX RRSIG NSEC TYPE1234.
        var bitmap = TypeBitmap.Of(1, 15, 46, 47, 1234);

        Assert.Equal("0006400100000003" + "041B" + string.Concat(Enumerable.Repeat("00", 26)) + "20", Convert.ToHexString(bitmap));
    }

    [Fact]
    public void Chain_AppendixAZone_AppendixARecords()
    {
        var chain = AppendixAChain();

        var records = chain.Records(3600).ToDictionary(r => r.Owner[..32]);

        // The appendix's chain: eleven hashed names, two of them empty non-terminals no name was added as.
        Assert.Equal(11, chain.Count);
        Assert.Equal(11, records.Count);
        Assert.All(records.Values, r => Assert.Equal((ushort)50, r.Type));
        Assert.Equal("2t7b4g4vsa5smi47k61mv5bv1a22bojr.example", records["2t7b4g4vsa5smi47k61mv5bv1a22bojr"].Owner);
        // 0p9m... NSEC3 1 1 12 aabbccdd 2t7b4g4vsa5smi47k61mv5bv1a22bojr MX DNSKEY NS SOA NSEC3PARAM RRSIG
        Assert.Equal(Rdata("2t7b4g4vsa5smi47k61mv5bv1a22bojr", 2, 6, 15, 46, 48, 51), Hex(records["0p9mhaveqvm6t7vbl5lop2u3t2rp3tom"]));
        // ji6n... (y.w.example, an empty non-terminal) NSEC3 1 1 12 aabbccdd k8udemvp1j2f7eg6jebps17vp3n8i58h, no types.
        Assert.Equal(Rdata("k8udemvp1j2f7eg6jebps17vp3n8i58h"), Hex(records["ji6neoaepv8b5o6k4ev33abha8ht9fgc"]));
        Assert.Equal(Rdata("ji6neoaepv8b5o6k4ev33abha8ht9fgc", 1, 13, 28, 46), Hex(records["gjeqe526plbf1g8mklp59enfd789njgi"]));
        // The last hash names the first: t644... NSEC3 1 1 12 aabbccdd 0p9m... A HINFO AAAA RRSIG.
        Assert.Equal(Rdata("0p9mhaveqvm6t7vbl5lop2u3t2rp3tom", 1, 13, 28, 46), Hex(records["t644ebqk9bibcna874givr6joj62mlhv"]));
        Assert.True(chain.TryFind("Y.w.example", out var ent));
        Assert.Equal(0UL, ent);
        Assert.False(chain.TryFind("c.example", out _));
    }

    [Fact]
    public void Difference_NameAddedAndRemoved_ItsNsec3AndItsPredecessorsOnly()
    {
        var before = AppendixAChain();
        var after = AppendixAChain(without: "xx.example", extra: "ai2.example");
        var deleted = new List<ZoneRecord>();
        var added = new List<ZoneRecord>();

        Nsec3Chain.Difference(before, after, 3600, deleted, added);

        var extra = new byte[20];
        AppendixA.Hash(Lower("ai2.example"), extra);
        var extraLabel = Base32Hex.Encode(extra);
        var beforeOwners = before.Records(3600).Select(r => r.Owner[..32]).ToList();
        var afterOwners = after.Records(3600).Select(r => r.Owner[..32]).ToList();
        // Deleted: xx's own NSEC3, the one before it (its next hash moves), the one before the new name; added the new name's and those two again.
        string PredecessorIn(List<string> owners, string label) => owners[(owners.IndexOf(label) + owners.Count - 1) % owners.Count];
        var expectDeleted = new[] { "t644ebqk9bibcna874givr6joj62mlhv", PredecessorIn(beforeOwners, "t644ebqk9bibcna874givr6joj62mlhv"), PredecessorIn(afterOwners, extraLabel) }.ToHashSet();
        Assert.Equal(expectDeleted.Order(), deleted.Select(r => r.Owner[..32]).Order());
        Assert.Contains(extraLabel, added.Select(r => r.Owner[..32]));
        Assert.DoesNotContain("t644ebqk9bibcna874givr6joj62mlhv", added.Select(r => r.Owner[..32]));
        Assert.Equal(after.Records(3600).Select(Hex).Order(), before.Records(3600).Select(Hex).Except(deleted.Select(Hex)).Concat(added.Select(Hex)).Order());
    }

    private static Nsec3Chain AppendixAChain(string? without = null, string? extra = null)
    {
        var chain = new Nsec3Chain("example", AppendixA);
        // RFC 5155 appendix A's zone, authoritative names only (c.example is an opt-out delegation, not in the chain).
        var names = new List<(string, ulong)>
        {
            ("example", Nsec3Chain.Types(2, 6, 15, 46, 48, 51)),
            ("a.example", Nsec3Chain.Types(2, 43, 46)),
            ("ai.example", Nsec3Chain.Types(1, 13, 28, 46)),
            ("ns1.example", Nsec3Chain.Types(1, 46)),
            ("ns2.example", Nsec3Chain.Types(1, 46)),
            ("*.w.example", Nsec3Chain.Types(15, 46)),
            ("x.w.example", Nsec3Chain.Types(15, 46)),
            ("x.y.w.example", Nsec3Chain.Types(15, 46)),
            ("xx.example", Nsec3Chain.Types(1, 13, 28, 46)),
        };
        if (extra is not null) names.Add((extra, Nsec3Chain.Types(1, 46)));
        foreach (var (name, types) in names.Where(n => n.Item1 != without)) chain.Add(name, types);
        chain.Seal();
        return chain;
    }

    /// <summary>NSEC3 RDATA with appendix A's parameters: 1 1 12 aabbccdd, then the next hash and the types.</summary>
    private static string Rdata(string next, params ushort[] types)
    {
        var nextHash = Base32HexDecode(next);
        return Convert.ToHexString(AppendixA.Rdata(nextHash, types.Length == 0 ? [] : TypeBitmap.Of(types)));
    }

    private static string Hex(ZoneRecord record) => Convert.ToHexString(record.Rdata.Span);

    private static byte[] Base32HexDecode(string text)
    {
        const string alphabet = "0123456789abcdefghijklmnopqrstuv";
        var bytes = new List<byte>();
        int buffer = 0, bits = 0;
        foreach (var c in text)
        {
            buffer = (buffer << 5) | alphabet.IndexOf(c, StringComparison.Ordinal);
            bits += 5;
            if (bits >= 8)
            {
                bits -= 8;
                bytes.Add((byte)(buffer >> bits));
            }
        }
        return [.. bytes];
    }

    private static byte[] Lower(string name)
    {
        var wire = new List<byte>();
        foreach (var label in name.ToLowerInvariant().Split('.'))
        {
            wire.Add((byte)label.Length);
            wire.AddRange(System.Text.Encoding.ASCII.GetBytes(label));
        }
        wire.Add(0);
        return [.. wire];
    }
}
