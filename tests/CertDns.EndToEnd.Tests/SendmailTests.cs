using CertDns.Core;
using CertDns.Pki;

namespace CertDns.EndToEnd.Tests;

/// <summary>
/// The Sendmail recipe (docs/sendmail/certdns.cf: a dns map and a Local_check_mail ruleset over ${cert_fp})
/// run by <c>sendmail -bt</c> against CertDns answering on port 53 in a network namespace of the test's own.
/// </summary>
public sealed class SendmailTests : IDisposable
{
    public static readonly string Sendmail = Peer.SendmailBinary;

    private readonly TempDir _dir = new();
    private readonly Netns? _netns;
    private readonly IReadOnlyDictionary<string, StatusScenario.Client> _certs = new Dictionary<string, StatusScenario.Client>();

    public SendmailTests()
    {
        if (!File.Exists(Sendmail) || Netns.Unavailable is not null) return;
        _certs = StatusScenario.Register(_dir, "Sendmail Test CA").Clients;
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

    [PeerFact(Peer.Sendmail, Peer.Netns)]
    public void SendmailBt_CertFpAsLabels_ListedCertificatesGetError()
    {
        // MD5 is Sendmail's default ${cert_fp}; SHA-1 with confCERT_FINGERPRINT_ALGORITHM.
        foreach (var digest in new Func<StatusScenario.Client, byte[]>[] { c => c.Parsed.Md5, c => c.Parsed.Sha1 })
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
