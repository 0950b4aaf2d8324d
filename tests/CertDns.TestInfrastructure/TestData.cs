using CertDns.Pki;

namespace CertDns.TestInfrastructure;

/// <summary>Locates ../shared/testdata beside the repository (the folder holding CertDns.sln).</summary>
public static class TestData
{
    private static readonly Lazy<string> RootPath = new(Find);

    public static string Root => RootPath.Value;

    public static string Path(params string[] parts) => System.IO.Path.Combine([Root, .. parts]);

    public static byte[] Bytes(params string[] parts) => File.ReadAllBytes(Path(parts));

    public static ParsedCertificate Certificate(params string[] parts) =>
        Assert.Single(CertificateFile.Read(Bytes(parts), System.IO.Path.GetFileName(Path(parts))));

    public static ParsedCrl Crl(params string[] parts) =>
        CrlFile.Parse(Bytes(parts), System.IO.Path.GetFileName(Path(parts)));

    private static string Find()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(System.IO.Path.Combine(dir.FullName, "CertDns.sln")))
            {
                var shared = System.IO.Path.GetFullPath(System.IO.Path.Combine(dir.FullName, "..", "shared", "testdata"));
                if (Directory.Exists(shared)) return shared;
                throw new DirectoryNotFoundException($"test data not found at {shared} (expected ../shared/testdata beside the repository)");
            }
        }
        throw new DirectoryNotFoundException($"no CertDns.sln above {AppContext.BaseDirectory}");
    }
}
