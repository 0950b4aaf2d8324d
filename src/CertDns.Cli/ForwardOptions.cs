using System.CommandLine;
using CertDns.Core;
using CertDns.Ingest;
using CertDns.Store;

namespace CertDns.Cli;

/// <summary>
/// <c>--sendmail COMMAND</c> and <c>--from ADDRESS</c>: how <c>report</c>, <c>report --mail</c> and <c>complaints
/// expire</c> hand the queued ARF reports of complaint listings to the local MTA (issue #16, docs/spec.md 3.11.2).
/// </summary>
internal static class ForwardOptions
{
    public static Option<string?> Sendmail() => new("--sendmail")
    {
        Description = "Hand queued ARF reports of new listings to the CA's abuse contact through this sendmail(8) command "
            + "(e.g. /usr/sbin/sendmail; split at spaces, no shell; run with -t -oi -f FROM). Without it they stay queued",
    };

    public static Option<string?> From() => new("--from") { Description = "From address of the ARF reports (default abuse-reports@<zone>)" };

    /// <summary>The MTA to hand reports to, or null when none was given: the flags, else the file's <c>[complaints]</c>.</summary>
    /// <exception cref="BadInputException">The command is empty or the From address is not one.</exception>
    public static (SendmailSubmitter? Mta, string From) Parse(ParseResult r, Option<string?> sendmail, Option<string?> from)
    {
        var file = GlobalOptions.ConfigFile(r);
        var (sender, fromName) = GlobalOptions.Given(r, from) ? (r.GetValue(from), "--from")
            : file?.ComplaintsFrom is { } f ? (f, "complaints.from") : (null, "--from");
        sender ??= "abuse-reports@" + GlobalOptions.ZoneName(r);
        if (!MimeKit.MailboxAddress.TryParse(sender, out var parsed) || parsed.Address.Contains(' ', StringComparison.Ordinal) || !parsed.Address.Contains('@', StringComparison.Ordinal))
            throw new BadInputException(sender, $"{fromName}: not an e-mail address");
        var (command, name) = GlobalOptions.Given(r, sendmail) ? (r.GetValue(sendmail), "--sendmail")
            : file?.ComplaintsSendmail is { } c ? (c, "complaints.sendmail") : (null, "--sendmail");
        if (command is null) return (null, parsed.Address);
        var words = command.Split(' ', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        if (words.Length == 0) throw new BadInputException(name, "empty command");
        if (!Path.IsPathRooted(words[0])) throw new BadInputException(words[0], $"{name}: give the program's absolute path");
        if (!File.Exists(words[0])) throw new BadInputException(words[0], $"{name}: no such program");
        return (new SendmailSubmitter(words), parsed.Address);
    }

    /// <summary>Sends what is queued and prints one line per report; a failure leaves it queued and never fails the verb.</summary>
    public static void SendPending(CertStore store, (SendmailSubmitter? Mta, string From) forward, ParseResult r, bool quiet = false)
    {
        foreach (var outcome in new AbuseForwarder(store, forward.Mta, forward.From, GlobalOptions.ZoneName(r)).SendPending())
        {
            // A report the MTA refused needs the operator's eye (stderr); the rest is news (stdout), quiet for cron.
            var line = $"forward {outcome.Id}: {outcome.Detail}";
            if (outcome.StillQueued && forward.Mta is not null) Console.Error.WriteLine($"certdns: {SafeText.OneLine(line)}");
            else if (!quiet) Console.WriteLine(line);
        }
    }
}
