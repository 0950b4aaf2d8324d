using CertDns.Core;
using CertDns.Pki;

namespace CertDns.Ingest.Tests;

/// <summary>A fact that needs Sendmail (tools/peers/install-sendmail.sh) and network namespaces.</summary>
public sealed class SendmailFactAttribute : FactAttribute
{
    public SendmailFactAttribute()
    {
        if (!File.Exists(SendmailTests.Sendmail)) Skip = $"Sendmail is not installed at {SendmailTests.Sendmail} (tools/peers/install-sendmail.sh; .ci/run does)";
        else if (Netns.Unavailable is { } why) Skip = why;
    }
}

/// <summary>
/// The Sendmail recipe (docs/sendmail/certdns.cf: a dns map and a Local_check_mail ruleset over ${cert_fp})
/// run by <c>sendmail -bt</c> against CertDns answering on port 53 in a network namespace of the test's own.
/// </summary>
public sealed class SendmailTests : IDisposable
{
    public static readonly string Sendmail = Path.Combine(TestPaths.Repository, ".peers", "sendmail", "usr", "libexec", "sendmail", "sendmail");

    private readonly TempDir _dir = new();
    private readonly TestAuthority _ca = new("Sendmail Test CA");
    private readonly Netns? _netns;
    private readonly Dictionary<string, ParsedCertificate> _certs = [];

    public SendmailTests()
    {
        if (!File.Exists(Sendmail) || Netns.Unavailable is not null) return;
        var now = DateTimeOffset.UtcNow;
        File.WriteAllText(_dir.File("ca.pem"), _ca.CertificatePem);
        foreach (var name in new[] { "valid", "revoked", "held", "blocked", "unknown" })
        {
            var der = _ca.Issue($"{name}.client.example", now.AddDays(-1), now.AddDays(30));
            _certs[name] = CertificateFile.Read(der, name)[0];
            File.WriteAllText(_dir.File($"{name}.pem"), TestAuthority.ToPem("CERTIFICATE", der));
        }
        File.WriteAllBytes(_dir.File("crl.der"), _ca.CreateCrl(1, now.AddMinutes(-5), now.AddDays(7),
        [
            (_certs["revoked"].Serial, now.AddHours(-1), RevocationReason.KeyCompromise),
            (_certs["held"].Serial, now.AddHours(-1), RevocationReason.CertificateHold),
        ]));
        foreach (var args in new[]
        {
            new[] { "ca", "add", "ca.pem" }, ["certs", "add", "valid.pem", "revoked.pem", "held.pem", "blocked.pem"],
            ["crl", "ingest", "crl.der"], ["block", "blocked.pem", "--reason", "3 abuse complaints"],
        })
            Assert.Equal(0, CertDnsProcess.Run(_dir.Path, args).ExitCode);
        _netns = new Netns("certdns-sendmail");
        _netns.Start(_dir.Path, "dotnet", Path.Combine(AppContext.BaseDirectory, "certdns.dll"), "serve", "--listen", "127.0.0.1:53");
        _netns.WaitForPort(53, TimeSpan.FromSeconds(30));
    }

    public void Dispose()
    {
        _netns?.Dispose();
        _dir.Dispose();
    }

    /// <summary>Defines ${cert_fp} as Sendmail would (upper-case hex, colons) and runs Local_check_mail.</summary>
    private string CheckMail(byte[]? fingerprint)
    {
        var script = (fingerprint is null ? "" : $".D{{cert_fp}}{Hex.Colons(fingerprint)}\n") + "Local_check_mail <sender@client.example>\n";
        File.WriteAllText(_dir.File("bt.in"), script);
        var cf = Path.Combine(TestPaths.Repository, "docs", "sendmail", "certdns.cf");
        var result = _netns!.Run("bash", "-c", $"timeout 30 '{Sendmail}' -C '{cf}' -bt < '{_dir.File("bt.in")}'");
        var line = result.Output.Split('\n').LastOrDefault(l => l.Contains("Local_check_mail returns:", StringComparison.Ordinal));
        Assert.True(line is not null, "no result from sendmail -bt:\n" + result.Output);
        return line!;
    }

    [SendmailFact]
    public void SendmailBt_CertFpAsLabels_ListedCertificatesGetError()
    {
        // MD5 is Sendmail's default ${cert_fp}; SHA-1 with confCERT_FINGERPRINT_ALGORITHM.
        foreach (var digest in new Func<ParsedCertificate, byte[]>[] { c => c.Md5, c => c.Sha1 })
        {
            Assert.EndsWith("returns: OK", CheckMail(digest(_certs["valid"])).TrimEnd());
            Assert.EndsWith("returns: OK", CheckMail(digest(_certs["unknown"])).TrimEnd());
            Assert.Matches(@"\$# error \$@ 5 \. 7 \. 1 \$: ""550 TLS client certificate revoked: "" revoked keyCompromise", CheckMail(digest(_certs["revoked"])));
            Assert.Matches(@"\$# error \$@ 5 \. 7 \. 1 \$: ""550 TLS client certificate on hold: "" hold certificateHold", CheckMail(digest(_certs["held"])));
            Assert.Matches(@"\$# error \$@ 5 \. 7 \. 1 \$: ""550 TLS client certificate blocked: "" blocked", CheckMail(digest(_certs["blocked"])));
        }
        Assert.EndsWith("returns: OK", CheckMail(null).TrimEnd());
    }
}
