using System.Diagnostics;
using CertDns.Core;
using CertDns.Store;
using MimeKit;

namespace CertDns.Ingest;

/// <summary>What became of one queued ARF report.</summary>
/// <param name="Id">The queue row.</param>
/// <param name="Recipient">The CA's abuse contact, when it has one.</param>
/// <param name="Sent">Handed to the MTA, which now owns delivery (its queue retries).</param>
/// <param name="Detail">Why not sent: still queued (a failure) or given up (the listing was lifted, no contact).</param>
/// <param name="StillQueued">Whether a later run tries it again.</param>
public sealed record ForwardOutcome(long Id, string? Recipient, bool Sent, string Detail, bool StillQueued);

/// <summary>
/// Submits a message to the local MTA as sendmail(8) does it, <c>sendmail -t -oi -f FROM</c>: the recipients are the
/// message's To header. Every MTA (Exim, Postfix, Sendmail) ships this interface, and once it exits 0 the message is in
/// the MTA's queue, which retries delivery for days: CertDns keeps no SMTP client of its own.
/// </summary>
/// <param name="command">The program and its first arguments (no shell): <c>/usr/sbin/sendmail</c>, or <c>exim4 -C FILE</c>.</param>
public sealed class SendmailSubmitter(IReadOnlyList<string> command)
{
    /// <summary>How long the MTA may take to accept one message.</summary>
    public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);

    public IReadOnlyList<string> Command { get; } = command.Count > 0 ? command : throw new ArgumentException("no sendmail command", nameof(command));

    /// <summary>Hands the message over; throws <see cref="IOException"/> with the MTA's words when it does not take it.</summary>
    public void Submit(byte[] message, string envelopeFrom)
    {
        var info = new ProcessStartInfo(Command[0])
        {
            UseShellExecute = false, RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true,
        };
        foreach (var a in Command.Skip(1)) info.ArgumentList.Add(a);
        foreach (var a in (string[])["-t", "-oi", "-f", envelopeFrom]) info.ArgumentList.Add(a);
        Process process;
        try
        {
            process = Process.Start(info) ?? throw new IOException($"{Command[0]}: did not start");
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new IOException($"{Command[0]}: {e.Message}", e);
        }
        using (process)
        {
            var stdout = process.StandardOutput.ReadToEndAsync();
            var stderr = process.StandardError.ReadToEndAsync();
            try
            {
                process.StandardInput.BaseStream.Write(message);
                process.StandardInput.Close();
            }
            catch (IOException)
            {
                // It quit before reading everything: its exit code and words below say why.
            }
            if (!process.WaitForExit(Timeout))
            {
                process.Kill(entireProcessTree: true);
                process.WaitForExit();
                throw new IOException($"{Command[0]}: still running after {Timeout.TotalSeconds:F0} s, killed");
            }
            if (process.ExitCode != 0)
            {
                var words = SafeText.OneLine((stderr.Result + " " + stdout.Result).Trim());
                throw new IOException($"{Command[0]} exited {process.ExitCode}{(words.Length > 0 ? ": " + (words.Length > 300 ? words[..300] : words) : "")}");
            }
        }
    }
}

/// <summary>
/// Issue #16: the ARF report (RFC 5965) of each complaint listing goes on to the issuing CA's abuse contact (the
/// operator's <c>ca add --abuse-contact</c>), with the evidence of the complaint that reached the threshold, once per
/// listing. The store queues it in the listing's transaction; this hands the queue to the MTA. A report the MTA does
/// not take stays queued for the next <c>report</c> or <c>complaints expire</c>; a listing lifted before it was sent
/// (unblocked, expired) is not reported.
/// </summary>
public sealed class AbuseForwarder(CertStore store, SendmailSubmitter? mta, string from, string zone, TimeProvider? clock = null)
{
    private readonly TimeProvider _clock = clock ?? TimeProvider.System;

    /// <summary>Sends what is queued; without an MTA, says what waits.</summary>
    public IReadOnlyList<ForwardOutcome> SendPending()
    {
        var outcomes = new List<ForwardOutcome>();
        foreach (var forward in store.Forwards.Pending(_clock.GetUtcNow()))
            outcomes.Add(Send(forward));
        return outcomes;
    }

    private ForwardOutcome Send(ForwardRow forward)
    {
        var cert = store.Certificates.Find(forward.Sha256);
        var ca = cert is null ? null : store.Cas.Get(cert.CaId);
        var subject = SafeText.OneLine(cert?.Subject ?? Hex.Lower(forward.Sha256));
        var now = _clock.GetUtcNow();
        if (cert is null || ca is null) return GiveUp(forward, null, subject, "the certificate is no longer registered");
        if (string.IsNullOrEmpty(ca.AbuseContact))
            return GiveUp(forward, null, subject, $"CA {SafeText.OneLine(ca.Subject)} has no abuse contact (certdns ca add CA --abuse-contact ADDRESS)");
        if (!store.Forwards.StillListed(forward))
            return GiveUp(forward, ca.AbuseContact, subject, "the listing was lifted before the report was sent");
        if (mta is null)
            return new ForwardOutcome(forward.Id, ca.AbuseContact, false, "queued: no --sendmail (complaints.sendmail) given to hand it to an MTA", true);
        if (!store.Forwards.Claim(forward.Id, now))
            return new ForwardOutcome(forward.Id, ca.AbuseContact, false, "another run is sending it", true);

        byte[] message;
        try
        {
            message = Message(forward, cert, ca, now);
        }
        catch (Exception e) when (e is FormatException or BadInputException or ParseException)
        {
            store.Forwards.Failed(forward.Id, e.Message);
            return new ForwardOutcome(forward.Id, ca.AbuseContact, false, $"queued: cannot build the report: {e.Message}", true);
        }
        try
        {
            mta.Submit(message, from);
        }
        catch (IOException e)
        {
            store.Forwards.Failed(forward.Id, e.Message);
            return new ForwardOutcome(forward.Id, ca.AbuseContact, false, $"queued, the MTA did not take it: {e.Message}", true);
        }
        store.Forwards.Done(forward.Id, $"ARF report of the listing since {TimeText.Utc(DateTimeOffset.FromUnixTimeSeconds(forward.ListedSince))} handed to {mta.Command[0]} for {ca.AbuseContact}", subject, _clock.GetUtcNow());
        return new ForwardOutcome(forward.Id, ca.AbuseContact, true, $"ARF report sent to {ca.AbuseContact}", false);
    }

    private ForwardOutcome GiveUp(ForwardRow forward, string? recipient, string subject, string why)
    {
        store.Forwards.Done(forward.Id, "not sent: " + why, subject, _clock.GetUtcNow());
        return new ForwardOutcome(forward.Id, recipient, false, "not sent: " + why, false);
    }

    private byte[] Message(ForwardRow forward, CertRow cert, CaRow ca, DateTimeOffset now)
    {
        var (_, evidence) = store.Listings.Complaint(forward.ComplaintId) ?? throw new FormatException($"complaint {forward.ComplaintId} is gone");
        MimeMessage spam;
        using (var stream = new MemoryStream(evidence, writable: false)) spam = MimeMessage.Load(stream);
        var standing = new ComplaintStanding(forward.Reporters, forward.Threshold, true, DateTimeOffset.FromUnixTimeSeconds(forward.ListedSince));
        // The same Message-ID on every attempt: were a send to succeed and its bookkeeping fail, the CA sees a duplicate, not two reports.
        var messageId = $"certdns-forward-{forward.Id}-{Hex.Lower(forward.Sha256)[..16]}-{forward.ListedSince}@{zone}";
        var report = ArfReport.Build(new ReportResult(forward.ComplaintId, cert, ca, standing, spam), from, now, messageId);
        using var buffer = new MemoryStream();
        report.WriteTo(buffer);
        return buffer.ToArray();
    }
}
