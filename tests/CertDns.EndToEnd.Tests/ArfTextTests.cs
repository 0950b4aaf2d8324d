using System.Text;
using CertDns.Core;
using CertDns.Pki;
using MimeKit;

namespace CertDns.EndToEnd.Tests;

/// <summary>
/// Issue 12 item 12: the ARF report's machine-readable field comes out plain (not RFC 2047 encoded), and its
/// human part and headers carry no NUL or other control characters even when the certificate's names do.
/// </summary>
public sealed class ArfTextTests : IDisposable
{
    private readonly TempDir _dir = new();
    private readonly ParsedCertificate _cert;

    public ArfTextTests()
    {
        var ca = new TestAuthority("Arf\0CA\r\nBcc: victim@example.org");
        var now = DateTimeOffset.UtcNow;
        var der = ca.Issue("relay\0.spammer\r\n.example", now.AddDays(-1), now.AddDays(30));
        _cert = CertificateFile.Read(der, "cert")[0];
        File.WriteAllText(_dir.File("ca.pem"), ca.CertificatePem);
        File.WriteAllText(_dir.File("cert.pem"), TestAuthority.ToPem("CERTIFICATE", der));
        File.WriteAllBytes(_dir.File("spam.eml"), Evidence.Spam(1));
        foreach (var args in new[] { new[] { "ca", "add", "ca.pem", "--abuse-contact", "abuse@arf-ca.example" }, ["certs", "add", "cert.pem"] })
            Assert.Equal(0, CertDnsProcess.Run(_dir.Path, args).ExitCode);
    }

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void ReportArf_NamesWithNulAndCrLf_PlainFingerprintHeaderAndNoControlCharacters()
    {
        var result = CertDnsProcess.Run(_dir.Path, "report", "cert.pem", "--evidence", "spam.eml", "--reporter", "alice", "--arf", "arf.eml");
        Assert.True(result.ExitCode == 0, result.Stderr);
        Assert.DoesNotContain(result.Stdout, c => char.IsControl(c) && c != '\n');

        var bytes = File.ReadAllBytes(_dir.File("arf.eml"));
        var message = MimeMessage.Load(new MemoryStream(bytes));
        var report = Assert.IsType<MultipartReport>(message.Body);
        var human = Assert.IsType<TextPart>(report[0]);
        var feedback = Assert.IsType<MessageFeedbackReport>(report[1]);

        // The field as written, byte for byte: one plain line a CA's tools can grep.
        var raw = Encoding.ASCII.GetString(bytes);
        var newline = raw.Contains("Version: 1\r\n", StringComparison.Ordinal) ? "\r\n" : "\n";
        Assert.Contains("Reported-Certificate-SHA256: " + Hex.Colons(_cert.Sha256) + newline, raw); // same line ending as its neighbours
        var text = raw.ReplaceLineEndings("\n");
        Assert.Contains("\nReported-Certificate-SHA256: " + Hex.Colons(_cert.Sha256) + "\n", text);
        Assert.Equal(Hex.Colons(_cert.Sha256), feedback.Fields["Reported-Certificate-SHA256"]);

        // Everything before the evidence (the reporter's own message, attached as it came) is free of NUL and
        // of control characters other than CR, LF and TAB.
        var evidenceStart = text.IndexOf("Content-Type: message/rfc822", StringComparison.Ordinal);
        Assert.True(evidenceStart > 0);
        Assert.DoesNotContain(text[..evidenceStart], c => char.IsControl(c) && c is not ('\n' or '\r' or '\t'));
        Assert.DoesNotContain(human.Text, c => char.IsControl(c) && c is not ('\n' or '\r' or '\t'));
        Assert.DoesNotContain(message.Subject ?? "", c => char.IsControl(c));
        Assert.Equal(["abuse@arf-ca.example"], message.To.Mailboxes.Select(m => m.Address));
        Assert.Empty(message.Bcc);
    }
}
