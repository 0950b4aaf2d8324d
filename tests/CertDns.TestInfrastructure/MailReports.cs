using System.Security.Cryptography;
using System.Text;
using MimeKit;
using MimeKit.Cryptography;

namespace CertDns.TestInfrastructure;

/// <summary>A reporter's abuse desk as a test plays it: its DKIM key (made here), selector and its MTA's authserv-id.</summary>
public sealed class TestReporter
{
    private readonly RSA _key;

    public TestReporter(string name, RSA? key = null, string? domain = null, string? selector = null, string? authservId = null)
    {
        Name = name;
        _key = key ?? RSA.Create(2048);
        Domain = domain ?? $"{name}.example";
        Selector = selector ?? "abuse";
        AuthservId = authservId ?? $"mx.{name}.example";
    }

    public string Name { get; }
    public string Domain { get; }
    public string Selector { get; }
    public string AuthservId { get; }
    public RSA Key => _key;

    /// <summary>The public key as <c>reporters add --dkim-key</c> takes it.</summary>
    public string PublicPem => _key.ExportSubjectPublicKeyInfoPem();

    /// <summary>The <c>X-CertDns-Client-Cert</c> value its MTA writes for a client certificate.</summary>
    public string Stamp(byte[] sha256) => $"{AuthservId}; sha256={Convert.ToHexStringLower(sha256)}";

    /// <summary>Signs <paramref name="message"/> as this reporter (relaxed/relaxed, rsa-sha256), over <paramref name="headers"/>.</summary>
    public void Sign(MimeMessage message, params HeaderId[] headers)
    {
        using var pem = new MemoryStream(Encoding.ASCII.GetBytes(_key.ExportRSAPrivateKeyPem()));
        var signer = new DkimSigner(pem, Domain, Selector, DkimSignatureAlgorithm.RsaSha256)
        {
            HeaderCanonicalizationAlgorithm = DkimCanonicalizationAlgorithm.Relaxed,
            BodyCanonicalizationAlgorithm = DkimCanonicalizationAlgorithm.Relaxed,
        };
        signer.Sign(message, headers.Length > 0 ? headers : [HeaderId.From, HeaderId.To, HeaderId.Date, HeaderId.Subject, HeaderId.MessageId]);
    }
}

/// <summary>Reports by mail as reporters send them to <c>certdns report --mail</c>: ARF (RFC 5965) and plain forwards.</summary>
public static class MailReports
{
    /// <summary>A spam message with trace headers on top, topmost first (as MTAs prepend them).</summary>
    public static byte[] Spam(int n, params string[] traceHeadersTopmostFirst)
    {
        var top = string.Concat(traceHeadersTopmostFirst.Select(v => $"X-CertDns-Client-Cert: {v}\r\n"));
        return [.. Encoding.ASCII.GetBytes(top), .. Evidence.Spam(n)];
    }

    /// <summary>An ARF report of <paramref name="spam"/> by <paramref name="reporter"/>, signed unless <paramref name="sign"/> is false.</summary>
    public static MimeMessage Arf(TestReporter reporter, byte[] spam, bool sign = true)
    {
        var message = Envelope(reporter, "Abuse report");
        var report = new MultipartReport("feedback-report")
        {
            new TextPart("plain") { Text = "This is an abuse report for a message received from a certificate's holder.\r\n" },
        };
        var feedback = new MessageFeedbackReport();
        feedback.Fields.Add("Feedback-Type", "abuse");
        feedback.Fields.Add("User-Agent", "TestReporter/1.0");
        feedback.Fields.Add("Version", "1");
        report.Add(feedback);
        report.Add(new MessagePart("rfc822") { Message = Parse(spam) });
        message.Body = report;
        if (sign) reporter.Sign(message);
        return message;
    }

    /// <summary>A plain forward: a note and the spam attached as message/rfc822.</summary>
    public static MimeMessage Forward(TestReporter reporter, byte[] spam)
    {
        var message = Envelope(reporter, "Fwd: spam");
        message.Body = new Multipart("mixed")
        {
            new TextPart("plain") { Text = "Spam from a certificate holder, attached.\r\n" },
            new MessagePart("rfc822") { Message = Parse(spam) },
        };
        reporter.Sign(message);
        return message;
    }

    /// <summary>The report's bytes, as an MTA pipes them.</summary>
    public static byte[] Bytes(MimeMessage message)
    {
        using var buffer = new MemoryStream();
        message.WriteTo(buffer);
        return buffer.ToArray();
    }

    private static MimeMessage Envelope(TestReporter reporter, string subject)
    {
        var message = new MimeMessage();
        message.From.Add(new MailboxAddress("Abuse desk", $"abuse@{reporter.Domain}"));
        message.To.Add(new MailboxAddress("CertDns", "abuse@certdns.example"));
        message.Subject = subject;
        message.Date = new DateTimeOffset(2026, 11, 20, 9, 0, 0, TimeSpan.Zero);
        message.MessageId = $"{Guid.NewGuid():N}@{reporter.Domain}";
        return message;
    }

    private static MimeMessage Parse(byte[] spam)
    {
        using var stream = new MemoryStream(spam);
        return MimeMessage.Load(stream);
    }
}
