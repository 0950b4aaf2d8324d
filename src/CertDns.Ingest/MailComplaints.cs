using System.Text.RegularExpressions;
using CertDns.Core;
using CertDns.Store;
using MimeKit;
using MimeKit.Cryptography;
using Org.BouncyCastle.Crypto;
using Org.BouncyCastle.Security;

namespace CertDns.Ingest;

/// <summary>What <c>certdns report --mail</c> made of one report.</summary>
/// <param name="Reporter">The registered reporter whose signature verified.</param>
/// <param name="Result">The complaint (the earlier one's standing when <paramref name="AlreadyCounted"/>).</param>
/// <param name="AlreadyCounted">The same evidence or Message-ID counted before: nothing new was stored.</param>
/// <param name="Earlier">The complaint that counted it, when already counted.</param>
public sealed record MailOutcome(ReporterRow Reporter, ReportResult? Result, bool AlreadyCounted, long? Earlier);

/// <summary>
/// Complaints by mail (issue #16): a registered reporter's DKIM-signed report, ARF (RFC 5965) or a plain forward with
/// the spam attached as message/rfc822. The certificate is the one the reporter's own MTA stamped on the spam, in
/// the topmost <c>X-CertDns-Client-Cert</c> header: what the spammer wrote below it, or anyone else claims, never counts.
/// Every refusal is a <see cref="BadInputException"/> naming the reason, before anything is stored.
/// </summary>
public sealed partial class MailComplaints(CertStore store, TimeProvider? clock = null)
{
    /// <summary>The trace header a reporter's receiving MTA writes on top of the message.</summary>
    public const string TraceHeader = "X-CertDns-Client-Cert";

    /// <summary>A report larger than this is refused unread: evidence is one spam message and a short report around it.</summary>
    public const int MaxReportBytes = 10 * 1024 * 1024;

    /// <summary>The headers the signature must cover: who reports, when, and about what (with the whole body).</summary>
    public static readonly IReadOnlyList<string> RequiredSigned = ["from", "date", "subject"];

    private readonly ComplaintRegistry _complaints = new(store, clock);

    /// <summary>Reads a report of at most <see cref="MaxReportBytes"/> from <paramref name="input"/> (stdin of a pipe transport).</summary>
    /// <exception cref="BadInputException">The report is larger than the cap.</exception>
    public static byte[] ReadCapped(Stream input, string source, int cap = MaxReportBytes)
    {
        using var buffer = new MemoryStream();
        var chunk = new byte[81920];
        int n;
        while ((n = input.Read(chunk, 0, chunk.Length)) > 0)
        {
            // Stop reading at the cap: a pipe may carry gigabytes, the evidence never does.
            if (buffer.Length + n > cap) throw new BadInputException(source, $"report is over the {cap / (1024 * 1024)} MiB cap");
            buffer.Write(chunk, 0, n);
        }
        return buffer.ToArray();
    }

    /// <summary>Checks a report and counts its complaint.</summary>
    /// <exception cref="BadInputException">The report is refused: the reason says why.</exception>
    public MailOutcome Receive(string source, byte[] report)
    {
        if (report.Length == 0) throw new BadInputException(source, "empty report");
        if (report.Length > MaxReportBytes) throw new BadInputException(source, $"report is over the {MaxReportBytes / (1024 * 1024)} MiB cap");
        MimeMessage message;
        try
        {
            using var stream = new MemoryStream(report, writable: false);
            message = MimeMessage.Load(stream);
        }
        catch (FormatException e)
        {
            throw new BadInputException(source, $"not an e-mail message: {e.Message}");
        }

        var reporter = VerifiedReporter(source, message);
        var evidence = AttachedMessage(source, message);
        var evidenceBytes = Bytes(evidence);
        ComplaintRegistry.ParseEvidence(source + " (attached message)", evidenceBytes);
        var sha256 = StampedCertificate(source, evidence, reporter);
        var cert = store.Certificates.Find(sha256) ?? throw new BadInputException(source, $"{TraceHeader} names {Hex.Lower(sha256)}, not a registered certificate");
        var ca = store.Cas.Get(cert.CaId)!;
        try
        {
            return new MailOutcome(reporter, _complaints.Record(cert, ca, evidence, evidenceBytes, reporter.Name, reporter.Weight, ComplaintRecord.ViaMail), false, null);
        }
        catch (DuplicateComplaintException duplicate)
        {
            // A replay, or the same spam from another reporter: counted once, and the sender need not retry.
            return new MailOutcome(reporter, null, true, duplicate.Earlier);
        }
    }

    /// <summary>The registered reporter whose DKIM signature (RFC 6376) over the report verifies, with the registry's key only.</summary>
    private ReporterRow VerifiedReporter(string source, MimeMessage message)
    {
        var signatures = message.Headers.Where(h => h.Id == HeaderId.DkimSignature).ToList();
        if (signatures.Count == 0) throw new BadInputException(source, "report has no DKIM signature");
        string? refusal = null;
        foreach (var signature in signatures)
        {
            var tags = Tags(signature.Value);
            if (!tags.TryGetValue("d", out var domain) || !tags.TryGetValue("s", out var selector))
            {
                refusal ??= "DKIM signature without d= or s=";
                continue;
            }
            var reporter = store.Reporters.BySelector(domain, selector);
            if (reporter is null)
            {
                refusal ??= $"DKIM signature by {selector}._domainkey.{domain}, not a registered reporter";
                continue;
            }
            // RFC 6376 section 8.2: with l= anything may be appended below the signed part. The whole body or nothing.
            if (tags.ContainsKey("l")) throw new BadInputException(source, $"DKIM signature of reporter {reporter.Name} has a body length (l=): it must cover the whole body");
            var signed = (tags.GetValueOrDefault("h") ?? "").Split(':', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries)
                .Select(h => h.ToLowerInvariant()).ToHashSet();
            if (RequiredSigned.FirstOrDefault(h => !signed.Contains(h)) is { } missing)
                throw new BadInputException(source, $"DKIM signature of reporter {reporter.Name} does not cover the {missing} header");
            bool valid;
            try
            {
                var verifier = new DkimVerifier(new RegistryKeys(reporter)) { MinimumRsaKeyLength = 1024 };
                // RFC 8301 section 3.1: verifiers must not accept rsa-sha1.
                verifier.Disable(DkimSignatureAlgorithm.RsaSha1);
                valid = verifier.Verify(message, signature);
            }
            catch (Exception e) when (e is FormatException or NotSupportedException or ArgumentException or CryptoException)
            {
                throw new BadInputException(source, $"DKIM signature of reporter {reporter.Name} is malformed: {e.Message}");
            }
            if (!valid) throw new BadInputException(source, $"DKIM signature of reporter {reporter.Name} does not verify: the report was changed after signing or signed by another key");
            return reporter;
        }
        throw new BadInputException(source, refusal!);
    }

    /// <summary>The spam: the one message/rfc822 part of an ARF report (RFC 5965 section 2) or of a plain forward.</summary>
    private static MimeMessage AttachedMessage(string source, MimeMessage report)
    {
        var attached = new List<MessagePart>();
        void Walk(MimeEntity entity)
        {
            // Into multiparts only: a message attached inside the attached message is the spammer's content.
            if (entity is Multipart multipart) foreach (var part in multipart) Walk(part);
            else if (entity is MessagePart { Message: not null } message) attached.Add(message);
        }
        if (report.Body is not null) Walk(report.Body);
        if (report.Body is MultipartReport arf && !string.Equals(arf.ReportType, "feedback-report", StringComparison.OrdinalIgnoreCase))
            throw new BadInputException(source, $"a multipart/report of type {arf.ReportType}, not an ARF feedback-report");
        return attached.Count switch
        {
            0 => throw new BadInputException(source, "report has no attached message (message/rfc822)"),
            1 => attached[0].Message!,
            _ => throw new BadInputException(source, $"report attaches {attached.Count} messages; one report, one message"),
        };
    }

    /// <summary>The certificate in the topmost trace header, which must be the reporter's own MTA's.</summary>
    private byte[] StampedCertificate(string source, MimeMessage evidence, ReporterRow reporter)
    {
        // Topmost only: each MTA prepends, so the top one is the reporter's; anything below came with the message.
        var header = evidence.Headers.FirstOrDefault(h => string.Equals(h.Field, TraceHeader, StringComparison.OrdinalIgnoreCase))
            ?? throw new BadInputException(source, $"attached message has no {TraceHeader} header");
        var match = TraceForm().Match(header.Value.Trim());
        if (!match.Success) throw new BadInputException(source, $"topmost {TraceHeader} is not '<authserv-id>; sha256=<64 hex>[; spki-sha256=<64 hex>]' (hex, or octets joined by colons)");
        var host = match.Groups["host"].Value;
        if (!string.Equals(host, reporter.AuthservId, StringComparison.OrdinalIgnoreCase))
            throw new BadInputException(source, $"topmost {TraceHeader} was written by {host}, not by reporter {reporter.Name}'s {reporter.AuthservId}");
        var sha256 = Digest(match.Groups["sha"].Value);
        if (match.Groups["spki"].Success && store.Certificates.SpkiSha256(sha256) is { } spki && !spki.AsSpan().SequenceEqual(Digest(match.Groups["spki"].Value)))
            throw new BadInputException(source, $"topmost {TraceHeader}: spki-sha256 is not the key of certificate {Hex.Lower(sha256)}");
        return sha256;
    }

    /// <summary>A digest of the trace form: hex, with or without Sendmail's colons between octets.</summary>
    private static byte[] Digest(string text) => Convert.FromHexString(text.Replace(":", "", StringComparison.Ordinal));

    private static byte[] Bytes(MimeMessage message)
    {
        using var buffer = new MemoryStream();
        message.WriteTo(buffer);
        return buffer.ToArray();
    }

    /// <summary>A DKIM-Signature's tag list (RFC 6376 section 3.2), folding whitespace removed from values.</summary>
    private static Dictionary<string, string> Tags(string value)
    {
        var tags = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (var spec in value.Split(';'))
        {
            var eq = spec.IndexOf('=', StringComparison.Ordinal);
            if (eq <= 0) continue;
            tags.TryAdd(spec[..eq].Trim(), WhiteSpace().Replace(spec[(eq + 1)..], ""));
        }
        return tags;
    }

    /// <summary>Keys from the registry, never from DNS: the one reporter whose d= and s= the signature names.</summary>
    private sealed class RegistryKeys(ReporterRow reporter) : IDkimPublicKeyLocator
    {
        public AsymmetricKeyParameter LocatePublicKey(string methods, string domain, string selector, CancellationToken cancellationToken = default)
        {
            if (!string.Equals(domain, reporter.DkimDomain, StringComparison.OrdinalIgnoreCase) || !string.Equals(selector, reporter.DkimSelector, StringComparison.OrdinalIgnoreCase))
                throw new NotSupportedException($"no registered key for {selector}._domainkey.{domain}");
            return PublicKeyFactory.CreateKey(reporter.DkimKey);
        }

        public Task<AsymmetricKeyParameter> LocatePublicKeyAsync(string methods, string domain, string selector, CancellationToken cancellationToken = default) =>
            Task.FromResult(LocatePublicKey(methods, domain, selector, cancellationToken));
    }

    // Each digest is 64 hex digits, or 32 colon-separated octets as Sendmail's ${cert_fp} writes a SHA-256.
    [GeneratedRegex(@"^(?<host>[A-Za-z0-9.-]{1,253})\s*;\s*sha256=(?<sha>[0-9A-Fa-f]{64}|(?:[0-9A-Fa-f]{2}:){31}[0-9A-Fa-f]{2})(\s*;\s*spki-sha256=(?<spki>[0-9A-Fa-f]{64}|(?:[0-9A-Fa-f]{2}:){31}[0-9A-Fa-f]{2}))?\s*;?$")]
    private static partial Regex TraceForm();

    [GeneratedRegex(@"\s+")]
    private static partial Regex WhiteSpace();
}
