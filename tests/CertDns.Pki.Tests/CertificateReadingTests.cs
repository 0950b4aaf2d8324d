using System.Security.Cryptography;
using CertDns.Core;
using Xunit.Abstractions;

namespace CertDns.Pki.Tests;

/// <summary>
/// The System.Formats.Asn1 reading of certificates (<see cref="CertificateReader"/>, <see cref="Names.TryFastText"/>)
/// against the BouncyCastle reading it replaced, which stays in <see cref="ParsedCertificate"/> for what the fast
/// reading leaves to it: every certificate of the test data, and every one-byte change of a few, gives the same
/// fields or the same refusal both ways.
/// </summary>
public class CertificateReadingTests(ITestOutputHelper output)
{
    private const string DebianVectors = TestData.DebianVectors;

    [PeerFact(TestData.Pkits, TestData.PycaCustom, TestData.RealCrls)]
    public void Read_EveryTestDataFile_SameAsBouncyCastle()
    {
        var roots = new[] { TestData.Pkits, TestData.PycaCustom, TestData.RealCrls }.Select(set => TestData.Root(set)!);
        var (compared, fast) = CompareAll(roots);
        // PKITS alone holds about 400 certificates; most of them must take the fast reading.
        Assert.True(compared > 400, $"only {compared} certificate files compared");
        Assert.True(fast * 2 > compared, $"only {fast} of {compared} certificates read without BouncyCastle");
    }

    [DebianVectorsFact]
    public void Read_DebianCryptographyVectors_SameAsBouncyCastle()
    {
        var (compared, fast) = CompareAll([DebianVectors]);
        Assert.True(compared > 500, $"only {compared} certificate files compared");
        Assert.True(fast > 0);
    }

    [PeerFact(TestData.Pkits, TestData.RealCrls)]
    public void Read_EveryOneByteChange_SameAsBouncyCastle()
    {
        var differences = new List<string>();
        int fast = 0, refused = 0, total = 0;
        foreach (var der in new[]
                 {
                     TestData.Bytes("pkits", "certs", "GoodCACert.crt"),
                     TestData.Bytes("pkits", "certs", "ValidDSASignaturesTest4EE.crt"),
                     TestData.Bytes("real-crls", "issuers", "D-TRUST_Root_CA_1_2017.crt"),
                     Leaf(new TestAuthority("Mutated CA"), new TestAuthority("Indirect CRL issuer")),
                 })
        {
            for (int i = 0; i < der.Length; i++)
            {
                foreach (var change in (byte[])[0x01, 0x80, 0xFF])
                {
                    var mutated = (byte[])der.Clone();
                    mutated[i] ^= change;
                    total++;
                    var (a, b, readFast) = Both(mutated, $"byte {i} ^ {change:x2}");
                    if (a != b) differences.Add($"byte {i} ^ {change:x2}:\n  fast: {a}\n  bc:   {b}");
                    if (readFast) fast++;
                    if (a.StartsWith("refused", StringComparison.Ordinal)) refused++;
                }
            }
        }
        output.WriteLine($"{total} changes: {fast} read by the fast reader, {refused} refused both ways");
        Assert.True(differences.Count == 0, $"{differences.Count} of {total} differ:\n{string.Join("\n", differences.Take(10))}");
        Assert.True(fast > total / 4, $"only {fast} of {total} read by the fast reader");
    }

    [Fact]
    public void Read_TestAuthorityCertificates_WithoutBouncyCastle()
    {
        var root = new TestAuthority("Fast Root CA");
        var sub = root.IssueCa("Fast Sub CA", pathLength: 0, crlUrl: "http://crl.example/root.crl");
        foreach (var der in new[] { root.CertificateDer, sub.CertificateDer, Leaf(sub, null), Leaf(sub, root) })
        {
            var cert = Assert.Single(CertificateFile.Read(der, "t"));
            Assert.False(cert.ReadByBouncyCastle);
            var (a, b, _) = Both(der, "t");
            Assert.Equal(b, a);
        }
    }

    private static byte[] Leaf(TestAuthority ca, TestAuthority? crlIssuer) =>
        ca.Issue("leaf.example", DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(90), crlUrl: "http://crl.example/ca.crl", crlIssuer: crlIssuer);

    private (int Compared, int Fast) CompareAll(IEnumerable<string> roots)
    {
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var differences = new List<string>();
        int compared = 0, fast = 0, refused = 0;
        foreach (var root in roots)
        {
            foreach (var path in Directory.EnumerateFiles(root, "*", SearchOption.AllDirectories).Order(StringComparer.Ordinal))
            {
                var data = File.ReadAllBytes(path);
                if (!seen.Add(Convert.ToHexString(SHA256.HashData(data)))) continue;
                if (!CertificateFile.MayHoldCertificates(data)) continue;
                var (a, b, readFast) = Both(data, Path.GetFileName(path));
                // Files that are not certificates at all (CRLs, keys) are refused before either reading: not counted.
                if (a == b && a.StartsWith("refused", StringComparison.Ordinal) && !a.Contains("not a certificate: ", StringComparison.Ordinal)) continue;
                compared++;
                if (readFast) fast++;
                if (a.StartsWith("refused", StringComparison.Ordinal)) refused++;
                if (a != b) differences.Add($"{path}:\n  fast: {a}\n  bc:   {b}");
            }
        }
        output.WriteLine($"{compared} files compared: {fast} read entirely by the fast reader, {refused} refused both ways");
        Assert.True(differences.Count == 0, $"{differences.Count} differ:\n{string.Join("\n", differences.Take(10))}");
        return (compared, fast);
    }

    /// <summary>The reading of <paramref name="data"/> both ways, each as one line, and whether the fast reader read all of it.</summary>
    private static (string Fast, string BouncyCastle, bool ReadFast) Both(byte[] data, string source)
    {
        string Describe(bool bouncyCastleOnly, out bool readFast)
        {
            readFast = false;
            try
            {
                var certs = CertificateFile.Read(data, source, bouncyCastleOnly);
                readFast = certs.All(c => !c.ReadByBouncyCastle);
                return string.Join(" | ", certs.Select(Fields));
            }
            catch (BadInputException e)
            {
                return $"refused {e.Input}: {e.Reason}";
            }
        }
        var fast = Describe(false, out bool readFast);
        return (fast, Describe(true, out _), readFast);
    }

    private static string Fields(ParsedCertificate c) => string.Join("; ",
        $"sha256={Hex.Lower(c.Sha256)}", $"sha1={Hex.Lower(c.Sha1)}", $"md5={Hex.Lower(c.Md5)}", $"spki={Hex.Lower(c.SpkiSha256)}",
        $"serial={Hex.Lower(c.Serial)}", $"subjectDer={Hex.Lower(c.SubjectDer)}", $"issuerDer={Hex.Lower(c.IssuerDer)}",
        $"subject={c.Subject}", $"issuer={c.Issuer}", $"notBefore={c.NotBefore:O}", $"notAfter={c.NotAfter:O}",
        $"ski={Opt(c.SubjectKeyId)}", $"aki={Opt(c.AuthorityKeyId)}", $"basic={c.HasBasicConstraints}", $"ca={c.IsCa}",
        $"pathLen={c.PathLengthConstraint?.ToString() ?? "-"}", $"certSign={c.CanSignCertificates?.ToString() ?? "-"}",
        $"crlSign={c.CanSignCrl?.ToString() ?? "-"}", $"selfIssued={c.IsSelfIssued}", $"key={c.KeyRefusal ?? "ok"}",
        $"uris=[{string.Join(",", c.CrlDistributionPoints)}]",
        $"points=[{string.Join(",", c.CrlPoints.Select(p => $"({List(p.Names)}/{List(p.CrlIssuers)}/{p.Reasons?.ToString() ?? "-"})"))}]");

    private static string Opt(byte[]? value) => value is null ? "-" : Hex.Lower(value);

    private static string List(IReadOnlyList<byte[]>? values) => values is null ? "-" : string.Join("+", values.Select(v => Hex.Lower(v)));

    /// <summary>A fact that needs Debian's python3-cryptography-vectors, skipped with the reason when it is absent.</summary>
    private sealed class DebianVectorsFactAttribute : FactAttribute
    {
        public DebianVectorsFactAttribute()
        {
            if (!Directory.Exists(DebianVectors))
                Skip = $"no {DebianVectors} (Debian: apt-get install python3-cryptography-vectors; .ci/install-peers does)";
        }
    }
}
