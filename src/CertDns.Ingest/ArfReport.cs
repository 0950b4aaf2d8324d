using CertDns.Core;
using CertDns.Store;
using MimeKit;
using MimeKit.Utils;

namespace CertDns.Ingest;

/// <summary>
/// An RFC 5965 Abuse Reporting Format message to the issuing CA's abuse contact, carrying the evidence, so the
/// operator can forward it and the CA can act (revoke) on it.
/// </summary>
public static class ArfReport
{
    /// <summary>Builds the report for a recorded complaint.</summary>
    /// <exception cref="BadInputException">The CA has no abuse contact.</exception>
    public static MimeMessage Build(ReportResult report, string from, DateTimeOffset now) => Build(report, from, now, null);

    /// <summary>Builds the report, with <paramref name="messageId"/> when given (a resent report keeps its Message-ID, so the CA sees one).</summary>
    /// <exception cref="BadInputException">The CA has no abuse contact.</exception>
    public static MimeMessage Build(ReportResult report, string from, DateTimeOffset now, string? messageId)
    {
        var ca = report.Ca;
        if (string.IsNullOrEmpty(ca.AbuseContact))
            throw new BadInputException(ca.Subject, "CA has no abuse contact (certdns ca add <ca> --abuse-contact ADDRESS)");
        var cert = report.Certificate;
        var fingerprint = Hex.Colons(cert.Sha256);
        // Names come from certificates: a NUL or a line break must not reach the report's text or headers.
        var subject = SafeText.OneLine(cert.Subject);
        var caSubject = SafeText.OneLine(ca.Subject);

        var message = new MimeMessage();
        message.From.Add(MailboxAddress.Parse(from));
        message.To.Add(MailboxAddress.Parse(ca.AbuseContact));
        message.Subject = $"Abuse report: TLS certificate {subject} (serial {Hex.Lower(cert.Serial)})";
        message.Date = now;
        if (messageId is not null) message.MessageId = messageId;

        // RFC 5965 section 2: multipart/report; report-type=feedback-report, with a human part, the
        // machine-readable part and the original message.
        var arf = new MultipartReport("feedback-report");
        arf.Add(new TextPart("plain")
        {
            Text =
                $"""
                This is an abuse report for a TLS certificate issued by {caSubject}.

                The certificate below was presented by a mail client that sent the attached message.
                Please review the evidence and revoke the certificate if it is being used for abuse.

                  subject:  {subject}
                  serial:   {Hex.Lower(cert.Serial)}
                  sha256:   {fingerprint}
                  reports:  {report.Standing.DistinctReporters} distinct reporters (listing threshold {report.Standing.Threshold})
                  status:   {(report.Standing.Listed ? $"listed as blocked since {TimeText.Utc(report.Standing.Since!.Value)}" : "not listed yet")}
                """,
        });
        var feedback = new MessageFeedbackReport();
        feedback.Fields.Add("Feedback-Type", "abuse");
        feedback.Fields.Add("User-Agent", "CertDns/1.0");
        feedback.Fields.Add("Version", "1");
        if (report.Evidence.From.Mailboxes.FirstOrDefault() is { } sender) feedback.Fields.Add("Original-Mail-From", $"<{sender.Address}>");
        if (report.Evidence.Date != DateTimeOffset.MinValue) feedback.Fields.Add("Arrival-Date", DateUtils.FormatDate(report.Evidence.Date));
        // An ext-field (RFC 5965 section 3.3): which certificate, for the CA's tools.
        // Set raw: MimeKit would RFC 2047-encode a value it cannot fold below 78 columns, and the CA's tools
        // read the plain fingerprint (124 octets is well within RFC 5322's 998).
        var field = new Header("Reported-Certificate-SHA256", fingerprint);
        field.SetRawValue(System.Text.Encoding.ASCII.GetBytes(" " + fingerprint + "\n"));
        feedback.Fields.Add(field);
        arf.Add(feedback);
        arf.Add(new MessagePart("rfc822") { Message = report.Evidence });
        message.Body = arf;
        return message;
    }
}
