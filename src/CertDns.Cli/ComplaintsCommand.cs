using System.CommandLine;
using System.Globalization;
using System.Text;
using CertDns.Core;
using CertDns.Ingest;
using CertDns.Store;

namespace CertDns.Cli;

/// <summary><c>certdns complaints [list|show|withdraw|expire]</c>.</summary>
internal sealed class ComplaintsCommand
{
    public static Command Create()
    {
        var command = new Command("complaints", "Review abuse complaints");

        var all = new Option<bool>("--all") { Description = "Include withdrawn and expired complaints" };
        var list = new Command("list", "Complaints that still count (newest first)") { all };
        list.SetAction(r => List(r, r.GetValue(all)));
        // `certdns complaints` alone lists what is pending.
        command.SetAction(r => List(r, all: false));

        var id = new Argument<string>("id") { Description = "Complaint id (certdns complaints list)" };
        var show = new Command("show", "One complaint with the headers of its evidence") { id };
        show.SetAction(r => Run.Guarded(() =>
        {
            using var store = CertStore.Open(GlobalOptions.DatabasePath(r), readOnly: true);
            var (row, evidence) = store.Listings.Complaint(ParseId(r.GetValue(id)!)) ?? throw new BadInputException(r.GetValue(id)!, "no complaint with that id");
            foreach (var cell in Row(store, new ComplaintRegistry(store), row).Zip(new[] { "id", "received", "reporter", "certificate", "state", "evidence" }))
                Console.WriteLine($"{cell.Second + ":",-13}{cell.First}");
            Console.WriteLine($"{"sha256:",-13}{Hex.Lower(row.Sha256)}");
            Console.WriteLine($"{"evidence:",-13}sha256 {Hex.Lower(row.EvidenceSha256)}, {row.EvidenceSize} bytes{(evidence.Length < row.EvidenceSize ? $" ({evidence.Length} kept)" : "")}");
            Console.WriteLine();
            // The header block of the evidence: what an operator reads to judge it.
            var text = Encoding.UTF8.GetString(evidence);
            var end = text.IndexOf("\n\n", StringComparison.Ordinal) is var i and >= 0 ? i : text.IndexOf("\r\n\r\n", StringComparison.Ordinal);
            Console.WriteLine(end >= 0 ? text[..end] : text);
            return ExitCodes.Ok;
        }));

        var reason = new Option<string>("--reason") { Description = "Why (kept in the audit log)", Required = true };
        var withdraw = new Command("withdraw", "Withdraw a complaint: it no longer counts toward the threshold") { id, reason };
        withdraw.SetAction(r => Run.Guarded(() =>
        {
            SafeText.RequireOneLine(r.GetValue(reason)!, "--reason");
            using var store = CertStore.Open(GlobalOptions.DatabasePath(r));
            var complaintId = ParseId(r.GetValue(id)!);
            var row = store.Listings.Complaint(complaintId)?.Row ?? throw new BadInputException(r.GetValue(id)!, "no complaint with that id");
            var subject = SafeText.OneLine(store.Certificates.Find(row.Sha256)?.Subject ?? Hex.Lower(row.Sha256));
            var standing = new ComplaintRegistry(store).Withdraw(complaintId, r.GetValue(reason)!, subject);
            Console.WriteLine($"complaint {complaintId} withdrawn; {subject}: {standing.DistinctReporters} of {standing.Threshold} distinct reporters, {(standing.Listed ? "still blocked" : "not blocked")}");
            return ExitCodes.Ok;
        }));

        var quiet = new Option<bool>("--quiet") { Description = "Print only when a listing changed (so cron mails nobody otherwise)" };
        var sendmail = ForwardOptions.Sendmail();
        var from = ForwardOptions.From();
        var expire = new Command("expire", "Apply the complaint window (run from cron): lift listings whose complaints expired; send queued ARF reports") { quiet, sendmail, from };
        expire.SetAction(r => Run.Guarded(() =>
        {
            var forward = ForwardOptions.Parse(r, sendmail, from);
            using var store = CertStore.Open(GlobalOptions.DatabasePath(r));
            var changed = new ComplaintRegistry(store).Expire();
            if (changed > 0 || !r.GetValue(quiet)) Console.WriteLine($"{changed} listings changed; zone serial {store.Serial}");
            ForwardOptions.SendPending(store, forward, r, r.GetValue(quiet));
            return ExitCodes.Ok;
        }));

        command.Add(list);
        command.Add(show);
        command.Add(withdraw);
        command.Add(expire);
        return command;
    }

    private static int List(ParseResult r, bool all) => Run.Guarded(() =>
    {
        using var store = CertStore.Open(GlobalOptions.DatabasePath(r), readOnly: true);
        var registry = new ComplaintRegistry(store);
        Output.Table(["id", "received", "reporter", "certificate", "state", "evidence"],
            registry.Complaints(all).Select(c => Row(store, registry, c)));
        return ExitCodes.Ok;
    });

    private static long ParseId(string text) =>
        long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var id) ? id : throw new BadInputException(text, "not a complaint id");

    private static string[] Row(CertStore store, ComplaintRegistry registry, ComplaintRow c)
    {
        var state = c.WithdrawnAt is { } w ? $"withdrawn {TimeText.Utc(DateTimeOffset.FromUnixTimeSeconds(w))}: {c.WithdrawnReason}"
            : registry.Counting(c) ? "counting" : "expired";
        return
        [
            c.Id.ToString(CultureInfo.InvariantCulture), TimeText.Utc(DateTimeOffset.FromUnixTimeSeconds(c.ReceivedAt)), c.Reporter,
            store.Certificates.Find(c.Sha256)?.Subject ?? Hex.Lower(c.Sha256), state, c.Summary ?? "",
        ];
    }
}
