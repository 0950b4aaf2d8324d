using CertDns.Pki;

namespace CertDns.TestInfrastructure;

/// <summary>
/// Third-party test vectors, read where they are installed, never copied into the repository. Each set is looked
/// for first in the team's copy, <c>../shared/testdata</c> beside the repository, then in Debian's
/// <c>python3-cryptography-vectors</c> (NIST PKITS and pyca's custom CRLs; the real-world CRLs have no Debian
/// package). Paths are written in the shared layout (<c>"pkits", "certs", "GoodCACert.crt"</c>): the first part
/// names the set. A test that needs a set says so with <see cref="PeerFactAttribute"/> and is skipped, with the
/// reason, when no copy is installed.
/// </summary>
public static class TestData
{
    /// <summary>NIST PKITS: certs/ and crls/.</summary>
    public const string Pkits = "pkits";

    /// <summary>pyca/cryptography's hand-made CRLs and certificates (x509/custom).</summary>
    public const string PycaCustom = "pyca-custom";

    /// <summary>CRLs published by real CAs, with their issuers in issuers/ (the team's copy only).</summary>
    public const string RealCrls = "real-crls";

    /// <summary>Where Debian's python3-cryptography-vectors installs its x509 vectors.</summary>
    public const string DebianVectors = "/usr/lib/python3/dist-packages/cryptography_vectors/x509";

    private static readonly Dictionary<string, string?> DebianFolder = new()
    {
        [Pkits] = System.IO.Path.Combine(DebianVectors, "PKITS_data"),
        [PycaCustom] = System.IO.Path.Combine(DebianVectors, "custom"),
        [RealCrls] = null,
    };

    private static readonly Lazy<Dictionary<string, string?>> Roots = new(() => DebianFolder.Keys.ToDictionary(set => set, Find));

    /// <summary>The folder the set was found in, or null when no copy is installed.</summary>
    public static string? Root(string set) =>
        Roots.Value.TryGetValue(set, out var root) ? root : throw new ArgumentException($"no vector set named {set}", nameof(set));

    /// <summary>Why the set cannot be used here (for a skip), or null when it is installed.</summary>
    public static string? Missing(string set)
    {
        if (Root(set) is not null) return null;
        var shared = Shared(set);
        return DebianFolder[set] is { } debian
            ? $"{set} test vectors not found at {shared} nor {debian} (Debian: apt-get install python3-cryptography-vectors; .ci/install-peers does)"
            : $"{set} test vectors not found at {shared} (the team's copy beside the repository; no Debian package ships them)";
    }

    /// <summary>A file of a set: the first part names the set, the rest is the path inside it.</summary>
    public static string Path(params string[] parts)
    {
        var root = Root(parts[0]) ?? throw new DirectoryNotFoundException(Missing(parts[0]));
        return System.IO.Path.Combine([root, .. parts[1..]]);
    }

    public static byte[] Bytes(params string[] parts) => File.ReadAllBytes(Path(parts));

    public static ParsedCertificate Certificate(params string[] parts) =>
        Assert.Single(CertificateFile.Read(Bytes(parts), System.IO.Path.GetFileName(Path(parts))));

    public static ParsedCrl Crl(params string[] parts) =>
        CrlFile.Parse(Bytes(parts), System.IO.Path.GetFileName(Path(parts)));

    private static string Shared(string set) => System.IO.Path.Combine(TestPaths.SharedTestData, set);

    private static string? Find(string set) =>
        new[] { Shared(set), DebianFolder[set] }.FirstOrDefault(dir => dir is not null && Directory.Exists(dir));
}
