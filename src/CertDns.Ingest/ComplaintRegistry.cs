using System.Security.Cryptography;
using CertDns.Core;
using CertDns.Store;
using MimeKit;

namespace CertDns.Ingest;

/// <summary>The outcome of one <c>certdns report</c>.</summary>
public sealed record ReportResult(long ComplaintId, CertRow Certificate, CaRow Ca, ComplaintStanding Standing, MimeMessage Evidence);

/// <summary>
/// <c>certdns report</c> and <c>complaints</c>: abuse complaints against registered certificates. A spammer's
/// message is evidence; once distinct reporters reach the zone's threshold the certificate is listed as blocked.
/// </summary>
public sealed class ComplaintRegistry(CertStore store, TimeProvider? clock = null)
{
    /// <summary>Evidence larger than this is refused: it is not a spam message but something else.</summary>
    public const int MaxEvidenceBytes = 25 * 1024 * 1024;

    /// <summary>How much of the evidence is kept in the store; the hash covers all of it.</summary>
    public const int StoredEvidenceBytes = 1024 * 1024;

    private readonly TimeProvider _clock = clock ?? TimeProvider.System;

    /// <summary>Checks the evidence, then records the complaint.</summary>
    /// <exception cref="BadInputException">Unknown certificate, malformed message, or evidence reported before.</exception>
    public ReportResult Report(byte[] sha256, string evidenceSource, byte[] evidence, string reporter)
    {
        var cert = store.FindCertificate(sha256) ?? throw new BadInputException(Hex.Lower(sha256), "no registered certificate with that fingerprint");
        var ca = store.GetCa(cert.CaId)!;
        if (string.IsNullOrWhiteSpace(reporter) || reporter.Length > 200)
            throw new BadInputException(reporter, "a reporter id is 1 to 200 characters");
        var message = ParseEvidence(evidenceSource, evidence);
        var summary = $"From: {message.From}; Date: {message.Headers[HeaderId.Date] ?? "-"}; Subject: {message.Subject ?? "-"}";
        var record = new ComplaintRecord(cert.Sha256, reporter.Trim(), SHA256.HashData(evidence),
            evidence.Length <= StoredEvidenceBytes ? evidence : evidence[..StoredEvidenceBytes], evidence.Length, summary);
        var (id, standing) = store.AddComplaint(record, cert.Subject ?? Hex.Lower(cert.Sha256), _clock.GetUtcNow());
        return new ReportResult(id, cert, ca, standing, message);
    }

    /// <summary>Reads an RFC 5322 message; refuses what is not one.</summary>
    public static MimeMessage ParseEvidence(string source, byte[] evidence)
    {
        if (evidence.Length == 0) throw new BadInputException(source, "empty evidence");
        if (evidence.Length > MaxEvidenceBytes) throw new BadInputException(source, $"evidence of {evidence.Length} bytes is over the {MaxEvidenceBytes / (1024 * 1024)} MiB cap");
        MimeMessage message;
        try
        {
            using var stream = new MemoryStream(evidence, writable: false);
            message = MimeMessage.Load(stream);
        }
        catch (FormatException e)
        {
            throw new BadInputException(source, $"not an e-mail message: {e.Message}");
        }
        // MimeKit parses almost anything; a message a spammer sent has at least these (RFC 5322 section 3.6).
        if (message.From.Count == 0) throw new BadInputException(source, "not an e-mail message: no From header");
        if (message.Headers[HeaderId.Date] is null && message.Headers[HeaderId.Received] is null)
            throw new BadInputException(source, "not an e-mail message: neither Date nor Received header");
        return message;
    }
}
