using CertDns.Pki;

namespace CertDns.EndToEnd.Tests;

/// <summary>
/// Issue 12 item 11: <c>certs add dir/</c> takes the certificates in a folder, passes over other files with a
/// line each, and prints every refusal (README promises all), storing nothing when any certificate is refused.
/// </summary>
public sealed class CertsFolderTests : IDisposable
{
    private readonly TempDir _dir = new();
    private readonly TestAuthority _ca = new("Folder CA");
    private readonly TestAuthority _stranger = new("Stranger CA");

    public CertsFolderTests()
    {
        File.WriteAllText(_dir.File("ca.pem"), _ca.CertificatePem);
        Assert.Equal(0, CertDnsProcess.Run(_dir.Path, "ca", "add", "ca.pem").ExitCode);
        Directory.CreateDirectory(_dir.File("certs"));
    }

    public void Dispose() => _dir.Dispose();

    private byte[] Issue(TestAuthority ca, string name) => ca.Issue(name, DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(30));

    private static string[] Lines(string text) => text.Split('\n', StringSplitOptions.RemoveEmptyEntries);

    [Fact]
    public void CertsAdd_FolderWithCsrKeyAndReadme_CertificatesAddedOthersSkippedWithALineEach()
    {
        File.WriteAllText(_dir.File("certs/a.pem"), TestAuthority.ToPem("CERTIFICATE", Issue(_ca, "a.example")));
        File.WriteAllBytes(_dir.File("certs/b.der"), Issue(_ca, "b.example"));
        File.WriteAllText(_dir.File("certs/request.csr"), TestAuthority.ToPem("CERTIFICATE REQUEST", [0x30, 0x03, 0x02, 0x01, 0x00]));
        File.WriteAllText(_dir.File("certs/key.pem"), TestKeyPair.Create().PrivateKeyPem);
        File.WriteAllText(_dir.File("certs/README"), "These are the relay certificates.\n");

        var result = CertDnsProcess.Run(_dir.Path, "certs", "add", "certs");

        Assert.True(result.ExitCode == 0, result.Stderr);
        var skipped = Lines(result.Stdout).Where(l => l.StartsWith("skipped ", StringComparison.Ordinal)).ToList();
        Assert.Equal(3, skipped.Count);
        foreach (var name in new[] { "README", "key.pem", "request.csr" }) Assert.Contains(skipped, l => l.Contains(name, StringComparison.Ordinal));
        Assert.Contains("2 certificates read: 2 added", result.Stdout);
        Assert.Equal("", result.Stderr);
    }

    [Fact]
    public void CertsAdd_FolderWithTwoRefusals_EveryRefusalPrintedNothingStored()
    {
        File.WriteAllText(_dir.File("certs/good.pem"), TestAuthority.ToPem("CERTIFICATE", Issue(_ca, "good.example")));
        File.WriteAllText(_dir.File("certs/stranger1.pem"), TestAuthority.ToPem("CERTIFICATE", Issue(_stranger, "s1.example")));
        File.WriteAllText(_dir.File("certs/stranger2.pem"), TestAuthority.ToPem("CERTIFICATE", Issue(_stranger, "s2.example")));
        File.WriteAllText(_dir.File("certs/broken.pem"), "-----BEGIN CERTIFICATE-----\nnot base64 at all!\n-----END CERTIFICATE-----\n");
        var before = File.ReadAllBytes(_dir.File("certdns.db"));

        var result = CertDnsProcess.Run(_dir.Path, "certs", "add", "certs");

        Assert.Equal(1, result.ExitCode);
        var refusals = Lines(result.Stderr);
        Assert.Equal(3, refusals.Length);
        Assert.Contains(refusals, l => l.Contains("stranger1.pem", StringComparison.Ordinal) && l.Contains("not a registered CA", StringComparison.Ordinal));
        Assert.Contains(refusals, l => l.Contains("stranger2.pem", StringComparison.Ordinal));
        Assert.Contains(refusals, l => l.Contains("broken.pem", StringComparison.Ordinal));
        Assert.Contains("nothing stored", result.Stdout);
        Assert.Equal(before, File.ReadAllBytes(_dir.File("certdns.db")));
    }

    [Fact]
    public void CertsAdd_NamedFileNotACertificate_StillRefused()
    {
        File.WriteAllText(_dir.File("README"), "not a certificate\n");
        var before = File.ReadAllBytes(_dir.File("certdns.db"));

        var result = CertDnsProcess.Run(_dir.Path, "certs", "add", "README");

        Assert.Equal(1, result.ExitCode);
        Assert.Contains("README", Assert.Single(Lines(result.Stderr)));
        Assert.Equal(before, File.ReadAllBytes(_dir.File("certdns.db")));
    }
}
