using CertDns.Pki;
using CertDns.Store;

namespace CertDns.EndToEnd.Tests;

/// <summary>
/// Issue 12 case 12: no control character reaches an exported text. The store is written as an older certdns (or a
/// hand edit) could have left it: a block reason and a distrust reason with CR, LF and NUL, a CA subject with them too.
/// </summary>
public sealed class ExportTextTests : IDisposable
{
    private readonly TempDir _dir = new();

    public ExportTextTests()
    {
        var evil = new TestAuthority("Evil\r\nCA\0 name");
        var other = new TestAuthority("Distrusted\rCA");
        var now = DateTimeOffset.UtcNow;
        File.WriteAllText(_dir.File("evil.pem"), evil.CertificatePem);
        File.WriteAllText(_dir.File("other.pem"), other.CertificatePem);
        File.WriteAllText(_dir.File("a.pem"), TestAuthority.ToPem("CERTIFICATE", evil.Issue("a", now.AddDays(-1), now.AddDays(30))));
        File.WriteAllText(_dir.File("b.pem"), TestAuthority.ToPem("CERTIFICATE", evil.Issue("b", now.AddDays(-1), now.AddDays(30))));
        File.WriteAllText(_dir.File("c.pem"), TestAuthority.ToPem("CERTIFICATE", other.Issue("c", now.AddDays(-1), now.AddDays(30))));
        File.WriteAllBytes(_dir.File("evil.crl"), evil.CreateCrl(1, now.AddMinutes(-5), now.AddDays(7), []));
        foreach (var args in new[] { new[] { "ca", "add", "evil.pem", "other.pem" }, ["certs", "add", "a.pem", "b.pem", "c.pem"], ["crl", "ingest", "evil.crl"] })
            Assert.Equal(0, CertDnsProcess.Run(_dir.Path, args).ExitCode);
        using var store = CertStore.Open(_dir.File("certdns.db"));
        var a = CertificateFile.Read(File.ReadAllBytes(_dir.File("a.pem")), "a.pem")[0];
        store.Listings.Block(a.Sha256, "spam\r\n\0run", "operator", "a");
        store.Cas.SetTrust(2, trusted: false, "ignores\r\nabuse\0reports");
    }

    public void Dispose()
    {
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        _dir.Dispose();
    }

    [Theory]
    [InlineData("zone", "zone.txt")]
    [InlineData("rbldnsd", "rbl.combined")]
    [InlineData("rbldnsd", "rbl.bl")]
    public void Export_TextsWithCrLfNul_NoControlCharacterButLineEnds(string format, string file)
    {
        var prefix = format == "zone" ? "zone.txt" : "rbl";
        var result = CertDnsProcess.Run(_dir.Path, "export", "--format", format, "-o", prefix);
        Assert.True(result.ExitCode == 0, result.Stderr);

        var text = File.ReadAllText(_dir.File(file));
        Assert.Contains("spam", text);
        Assert.DoesNotContain(text, c => char.IsControl(c) && c != '\n');
        // Every line is a record or a directive: none starts with a fragment of a broken text.
        Assert.DoesNotContain(text.Split('\n'), line => line.StartsWith("run", StringComparison.Ordinal) || line.StartsWith("abuse", StringComparison.Ordinal));
    }
}
