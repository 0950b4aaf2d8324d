using CertDns.Pki;

namespace CertDns.EndToEnd.Tests;

/// <summary>
/// Issue 12 items 2 and 12: untrusted text (CA subjects from certificates, operators' reasons) never breaks a
/// one-line CLI message, and a reason with control characters is refused before it can reach TXT.
/// </summary>
public sealed class CliTextTests : IDisposable
{
    private readonly TempDir _dir = new();
    private readonly TestAuthority _ca = new("Evil\r\nCA\0 injected: added: CA 99");

    public CliTextTests()
    {
        File.WriteAllText(_dir.File("ca.pem"), _ca.CertificatePem);
        var now = DateTimeOffset.UtcNow;
        File.WriteAllText(_dir.File("client.pem"), TestAuthority.ToPem("CERTIFICATE", _ca.Issue("client\nline two", now.AddDays(-1), now.AddDays(30))));
    }

    public void Dispose() => _dir.Dispose();

    private static string[] Lines(string output) => output.Split('\n', StringSplitOptions.RemoveEmptyEntries);

    [Fact]
    public void CaAddAndList_SubjectWithCrLfNul_EachMessageOneLine()
    {
        var add = CertDnsProcess.Run(_dir.Path, "ca", "add", "ca.pem");
        Assert.Equal(0, add.ExitCode);
        var line = Assert.Single(Lines(add.Stdout));
        Assert.StartsWith("added: CA 1 \"", line);
        Assert.DoesNotContain(line, c => char.IsControl(c));

        var list = CertDnsProcess.Run(_dir.Path, "ca", "list");
        Assert.Equal(2, Lines(list.Stdout).Length); // the header and one CA
        Assert.DoesNotContain("\0", list.Stdout);

        var distrust = CertDnsProcess.Run(_dir.Path, "ca", "distrust", "1", "--reason", "test");
        Assert.Single(Lines(distrust.Stdout));
        Assert.DoesNotContain("\0", distrust.Stdout);
    }

    [Theory]
    [InlineData("block", "spam run\n\naction=OK")]
    [InlineData("block", "escape\u001b[31m inside")] // a NUL cannot pass through argv at all
    [InlineData("block", "cr\rinside")]
    public void Block_ReasonWithControlCharacters_RefusedOneLineNothingStored(string verb, string reason)
    {
        Assert.Equal(0, CertDnsProcess.Run(_dir.Path, "ca", "add", "ca.pem").ExitCode);
        Assert.Equal(0, CertDnsProcess.Run(_dir.Path, "certs", "add", "client.pem").ExitCode);
        var before = File.ReadAllBytes(_dir.File("certdns.db"));

        var result = CertDnsProcess.Run(_dir.Path, verb, "client.pem", "--reason", reason);

        Assert.Equal(1, result.ExitCode);
        var line = Assert.Single(Lines(result.Stderr));
        Assert.Contains("--reason", line);
        Assert.Contains("control characters", line);
        Assert.Equal(before, File.ReadAllBytes(_dir.File("certdns.db")));
        Assert.DoesNotContain("blocked", CertDnsProcess.Run(_dir.Path, "lookup", "client.pem").Stdout);
    }

    [Fact]
    public void CaDistrust_ReasonWithLineBreak_RefusedNothingStored()
    {
        Assert.Equal(0, CertDnsProcess.Run(_dir.Path, "ca", "add", "ca.pem").ExitCode);
        var before = File.ReadAllBytes(_dir.File("certdns.db"));

        var result = CertDnsProcess.Run(_dir.Path, "ca", "distrust", "1", "--reason", "compromised\naction=OK");

        Assert.Equal(1, result.ExitCode);
        Assert.Contains("control characters", Assert.Single(Lines(result.Stderr)));
        Assert.Equal(before, File.ReadAllBytes(_dir.File("certdns.db")));
    }

    [Fact]
    public void Lookup_CaSubjectWithCrLf_TxtAndIssuerOneLine()
    {
        Assert.Equal(0, CertDnsProcess.Run(_dir.Path, "ca", "add", "ca.pem").ExitCode);
        Assert.Equal(0, CertDnsProcess.Run(_dir.Path, "certs", "add", "client.pem").ExitCode);

        var lookup = CertDnsProcess.Run(_dir.Path, "lookup", "client.pem");

        Assert.Equal(0, lookup.ExitCode);
        var lines = Lines(lookup.Stdout);
        Assert.Equal(["status:", "txt:", "ttl:", "certificate:"], lines.Select(l => l.Split(' ')[0]));
        Assert.DoesNotContain(lookup.Stdout, c => char.IsControl(c) && c != '\n');
    }
}
