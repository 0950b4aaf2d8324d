namespace CertDns.TestInfrastructure;

/// <summary>Where things are: the repository and the team's ../shared/testdata beside it (see <see cref="TestData"/>).</summary>
public static class TestPaths
{
    public static string Repository { get; } = FindRepository();

    /// <summary>The team's copy of test data from others (read only; never edited to make a test pass); may be absent.</summary>
    public static string SharedTestData { get; } = Path.GetFullPath(Path.Combine(Repository, "..", "shared", "testdata"));

    private static string FindRepository()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "CertDns.sln"))) return dir.FullName;
        }
        throw new InvalidOperationException("CertDns.sln not found above " + AppContext.BaseDirectory);
    }
}

/// <summary>A scratch folder removed at the end of a test.</summary>
public sealed class TempDir : IDisposable
{
    public TempDir()
    {
        Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "certdns-test-" + Guid.NewGuid().ToString("N")[..12]);
        Directory.CreateDirectory(Path);
    }

    public string Path { get; }

    public string File(string name) => System.IO.Path.Combine(Path, name);

    public void Dispose()
    {
        try { Directory.Delete(Path, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}
