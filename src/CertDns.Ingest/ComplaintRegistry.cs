using System.Globalization;
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

    /// <summary>Settings keys of the complaint policy.</summary>
    public const string ThresholdSetting = "complaint-threshold", WindowSetting = "complaint-window-days";

    /// <summary>The policy where nothing is set: three distinct reporters (SPEC), complaints never expire.</summary>
    public static ComplaintPolicy DefaultPolicy { get; } = new(3, null);

    /// <summary>The complaint policy in force: the zone's settings, defaults where unset.</summary>
    public ComplaintPolicy Policy() => Reader(store.Listings.GetSetting);

    /// <summary>The rule: the threshold and window settings, defaults where unset; the store applies it inside its writes.</summary>
    private static readonly ComplaintPolicyReader Reader = setting => PolicyOf(setting(ThresholdSetting), setting(WindowSetting));

    /// <summary>Changes a policy setting, audited; listings are recomputed under the new policy in the same transaction.</summary>
    public void Set(string key, string value)
    {
        if (key is not (ThresholdSetting or WindowSetting)) throw new BadInputException(key, $"unknown setting; known: {ThresholdSetting}, {WindowSetting}");
        store.Listings.SetSetting(key, value, Reader, _clock.GetUtcNow());
    }

    /// <summary>Withdraws a complaint (it no longer counts), audited; the listing follows.</summary>
    public ComplaintStanding Withdraw(long id, string reason, string subject) =>
        store.Listings.WithdrawComplaint(id, reason, subject, Reader, _clock.GetUtcNow());

    /// <summary>Applies the complaint window now; returns how many listings changed.</summary>
    public int Expire() => store.Listings.ExpireComplaints(Reader, _clock.GetUtcNow());

    /// <summary>Complaints, newest first; only those still counting (inside the window, not withdrawn) unless <paramref name="all"/>.</summary>
    public IReadOnlyList<ComplaintRow> Complaints(bool all) => store.Listings.Complaints(all, Policy(), _clock.GetUtcNow());

    /// <summary>Whether a complaint that was not withdrawn still counts now, inside the policy's window.</summary>
    public bool Counting(ComplaintRow complaint) =>
        complaint.WithdrawnAt is null && (Policy().Window is not { } window || DateTimeOffset.FromUnixTimeSeconds(complaint.ReceivedAt) >= _clock.GetUtcNow() - window);

    private static ComplaintPolicy PolicyOf(string? threshold, string? window)
    {
        var days = window is null ? 0 : int.Parse(window, CultureInfo.InvariantCulture);
        return new ComplaintPolicy(threshold is null ? DefaultPolicy.Threshold : int.Parse(threshold, CultureInfo.InvariantCulture),
            days > 0 ? TimeSpan.FromDays(days) : null);
    }

    /// <summary>Checks the evidence, then records the complaint.</summary>
    /// <exception cref="BadInputException">Unknown certificate, malformed message, or evidence reported before.</exception>
    public ReportResult Report(byte[] sha256, string evidenceSource, byte[] evidence, string reporter)
    {
        var cert = store.Certificates.Find(sha256) ?? throw new BadInputException(Hex.Lower(sha256), "no registered certificate with that fingerprint");
        var ca = store.Cas.Get(cert.CaId)!;
        if (string.IsNullOrWhiteSpace(reporter) || reporter.Length > 200)
            throw new BadInputException(reporter, "a reporter id is 1 to 200 characters");
        var message = ParseEvidence(evidenceSource, evidence);
        try
        {
            return Record(cert, ca, message, evidence, reporter.Trim(), 1, ComplaintRecord.ViaOperator);
        }
        catch (DuplicateComplaintException e)
        {
            // The operator is told, as before; only a mailed report treats it as counted.
            throw new BadInputException(e.Input, e.Reason);
        }
    }

    /// <summary>Records checked evidence as a complaint by <paramref name="reporter"/>.</summary>
    /// <exception cref="DuplicateComplaintException">The same evidence, or a message with its Message-ID, was reported before.</exception>
    internal ReportResult Record(CertRow cert, CaRow ca, MimeMessage message, byte[] evidence, string reporter, int weight, string via)
    {
        var summary = $"From: {message.From}; Date: {message.Headers[HeaderId.Date] ?? "-"}; Subject: {message.Subject ?? "-"}";
        var messageId = string.IsNullOrWhiteSpace(message.MessageId) ? null : message.MessageId.Trim();
        var record = new ComplaintRecord(cert.Sha256, reporter, SHA256.HashData(evidence),
            evidence.Length <= StoredEvidenceBytes ? evidence : evidence[..StoredEvidenceBytes], evidence.Length, summary, messageId, weight, via);
        var (id, standing) = store.Listings.AddComplaint(record, cert.Subject ?? Hex.Lower(cert.Sha256), Reader, _clock.GetUtcNow());
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
