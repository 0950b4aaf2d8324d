using System.CommandLine;
using CertDns.Core;
using CertDns.Ingest;
using CertDns.Store;
using Microsoft.Data.Sqlite;

namespace CertDns.Cli;

/// <summary>
/// <c>certdns report --mail</c>: one report on stdin, as an MTA's pipe transport or an aliases <c>|command</c> hands it
/// over. Exit codes are sysexits(3)'s, which MTAs read: 0 counted (or counted before), 65 refused evidence (the MTA
/// bounces it with the line on stderr), 75 temporary (the MTA retries), 64 a command line that cannot be one.
/// </summary>
internal static class ReportMail
{
    /// <summary>sysexits(3) codes.</summary>
    public const int Counted = 0, Usage = 64, DataError = 65, Software = 70, TempFail = 75;

    public static int Run(ParseResult r, IReadOnlyList<Symbol> operatorOnly, Option<string?> sendmail, Option<string?> from)
    {
        foreach (var symbol in operatorOnly)
        {
            var given = symbol switch
            {
                Argument a => r.GetResult(a) is { Tokens.Count: > 0 },
                Option o => r.GetResult(o) is { Implicit: false },
                _ => false,
            };
            if (given)
                return Cli.Run.Fail($"report --mail: {symbol.Name} is the operator's; a mailed report names its certificate and reporter itself", Usage);
        }
        (SendmailSubmitter?, string) forward;
        try
        {
            forward = ForwardOptions.Parse(r, sendmail, from);
        }
        catch (BadInputException e)
        {
            return Cli.Run.Fail(e.Message, Usage);
        }
        try
        {
            var path = GlobalOptions.DatabasePath(r);
            // A pipe transport must never create a store: a missing one is a mistake in the MTA's setup, retried.
            if (!File.Exists(path)) return Cli.Run.Fail($"{path}: no such store", TempFail);
            byte[] report;
            using (var stdin = Console.OpenStandardInput()) report = MailComplaints.ReadCapped(stdin, "stdin");
            using var store = CertStore.Open(path);
            var outcome = new MailComplaints(store).Receive("stdin", report);
            if (outcome.AlreadyCounted)
            {
                Console.WriteLine($"already counted: complaint {outcome.Earlier} (reporter {outcome.Reporter.Name})");
                Forward(store, forward, r);
                return Counted;
            }
            var result = outcome.Result!;
            var s = result.Standing;
            Console.WriteLine($"counted: complaint {result.ComplaintId} by reporter {outcome.Reporter.Name} against {SafeText.OneLine(result.Certificate.Subject)}: " +
                $"weight {s.Weight} of {s.Threshold}; " + (s.Listed ? $"blocked since {TimeText.Utc(s.Since!.Value)}" : "not blocked yet"));
            Forward(store, forward, r);
            return Counted;
        }
        catch (BadInputException e)
        {
            return Cli.Run.Fail(e.Message, DataError);
        }
        catch (SqliteException e) when (e.SqliteErrorCode is 5 /* SQLITE_BUSY */ or 6 /* SQLITE_LOCKED */)
        {
            return Cli.Run.Fail($"store busy, try again later: {e.Message}", TempFail);
        }
        catch (Exception e) when (e is SqliteException or IOException or UnauthorizedAccessException)
        {
            // The store or the disk, not the report: the MTA keeps the message and retries.
            return Cli.Run.Fail($"temporary failure: {e.Message}", TempFail);
        }
        catch (Exception e)
        {
            return Cli.Run.Fail($"failed: {e.GetType().Name}: {e.Message}", Software);
        }
    }

    /// <summary>
    /// The queued ARF reports go on to the CAs once the complaint is counted. Whatever happens here the report's exit code
    /// stays 0: the complaint is stored, and a forward that did not go stays queued for the next run.
    /// </summary>
    private static void Forward(CertStore store, (SendmailSubmitter?, string) forward, ParseResult r)
    {
        try
        {
            ForwardOptions.SendPending(store, forward, r);
        }
        catch (Exception e) when (e is SqliteException or IOException)
        {
            Console.Error.WriteLine($"certdns: {SafeText.OneLine($"forwards stay queued: {e.Message}")}");
        }
    }
}
