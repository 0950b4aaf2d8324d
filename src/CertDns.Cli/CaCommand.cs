using System.CommandLine;
using System.Globalization;
using CertDns.Core;
using CertDns.Ingest;
using CertDns.Store;

namespace CertDns.Cli;

/// <summary><c>certdns ca add|list|distrust|trust</c>.</summary>
internal sealed class CaCommand
{
    public static Command Create()
    {
        var command = new Command("ca", "Register CAs and decide which are trusted");

        var files = new Argument<string[]>("files") { Description = "CA certificates (PEM, DER or PEM bundle; - for stdin)", Arity = ArgumentArity.OneOrMore };
        var urls = new Option<string[]>("--crl-url") { Description = "A URL the CA publishes its CRL at (repeatable)", AllowMultipleArgumentsPerToken = false };
        var abuse = new Option<string?>("--abuse-contact") { Description = "E-mail address for abuse reports about this CA's certificates" };
        var anchor = new Option<bool>("--anchor") { Description = "Trust a CA whose issuer is not registered as an anchor on its own (audited)" };
        var add = new Command("add", "Register CA certificates: self-signed anchors, intermediates under a registered CA; all or nothing") { files, urls, abuse, anchor };
        add.SetAction(r => Run.Guarded(() =>
        {
            using var store = CertStore.Open(GlobalOptions.DatabasePath(r));
            var inputs = r.GetValue(files)!.Select(f => (f, Run.ReadInput(f))).ToList();
            var result = new CaRegistry(store).Add(inputs, r.GetValue(urls) ?? [], r.GetValue(abuse), r.GetValue(anchor));
            foreach (var refused in result.Outcomes.Where(o => o.Refusal is not null))
                Console.Error.WriteLine(Core.SafeText.OneLine($"certdns: {refused.Source}: {refused.Refusal}"));
            if (!result.Stored)
            {
                Console.WriteLine($"{result.Outcomes.Count} CA certificates read, {result.Refused} refused: nothing stored");
                return ExitCodes.BadInput;
            }
            foreach (var ca in result.Outcomes.Select(o => (o.Ca!, o.Added)))
                Console.WriteLine($"{(ca.Added ? "added" : "already registered")}: CA {ca.Item1.Id} \"{Core.SafeText.OneLine(ca.Item1.Subject)}\" {Parent(ca.Item1)}{(ca.Item1.CanSignCrl ? "" : " (keyUsage lacks cRLSign: its CRLs will be refused)")}");
            return ExitCodes.Ok;
        }));

        var list = new Command("list", "List registered CAs with trust and CRL freshness");
        list.SetAction(r => Run.Guarded(() =>
        {
            // Read-only, as every reading verb: read access suffices, and a missing store is "no such store", exit 1,
            // not an empty one created behind a mistyped --db.
            using var store = CertStore.Open(GlobalOptions.DatabasePath(r), readOnly: true);
            var coverage = store.Snapshots.LoadCoverage();
            var snapshot = store.Snapshots.Load();
            var rows = store.Cas.List().Select(ca => Describe(store, coverage, snapshot, ca)).ToList();
            Output.Table(["id", "trust", "status", "parent", "subject", "crl", "next update", "revoked", "crl urls"], rows);
            return ExitCodes.Ok;
        }));

        command.Add(add);
        command.Add(list);
        command.Add(Trust("distrust", "Stop trusting a CA: its certificates answer untrusted at once", trusted: false));
        command.Add(Trust("trust", "Trust a CA again", trusted: true));
        return command;
    }

    private static string[] Describe(CertStore store, CrlCoverage coverage, StatusSnapshot snapshot, CaRow ca)
    {
        // The CA's OWN status: an intermediate's certificate as its parent's CRLs and the chain above judge it (what the
        // zone answers for it); an anchor's from its trust and validity alone.
        var now = DateTimeOffset.UtcNow;
        var own = snapshot.Evaluate(DigestKind.Sha256, ca.Sha256, isKey: false, now)?.Status
            ?? (!ca.Trusted ? CertStatus.Untrusted
                : now < DateTimeOffset.FromUnixTimeSeconds(ca.NotBefore) || now > DateTimeOffset.FromUnixTimeSeconds(ca.NotAfter) ? CertStatus.Expired
                : ca.ParentId is null ? CertStatus.Valid : CertStatus.Stale);
        // The CA's series as the snapshot judges them: the one that goes stale first speaks for the CA.
        var crl = coverage.Freshness(ca.Id);
        var next = crl?.NextUpdate is { } n ? Output.Time(n) : crl is null ? "-" : "none";
        if (crl is not null && crl.StaleAt(DateTimeOffset.UtcNow)) next += " (stale)";
        var trust = ca.Trusted ? "trusted" : $"distrusted {Output.Time(DateTimeOffset.FromUnixTimeSeconds(ca.DistrustedAt ?? 0))}: {ca.DistrustReason}";
        return
        [
            ca.Id.ToString(CultureInfo.InvariantCulture), trust, StatusCodes.Name(own), Parent(ca), ca.Subject,
            crl is null ? "none" : crl.Number ?? "(no number)", next,
            store.Crls.RevocationCount(ca.Id).ToString(CultureInfo.InvariantCulture), string.Join(' ', store.Cas.CrlUrls(ca.Id)),
        ];
    }

    /// <summary>"under CA 3", or "anchor (self-signed)", "anchor (operator)", "anchor (migrated)".</summary>
    private static string Parent(CaRow ca) =>
        ca.ParentId is { } parent ? $"under CA {parent.ToString(CultureInfo.InvariantCulture)}" : $"anchor ({ca.Anchor ?? CaAnchor.Operator})";

    private static Command Trust(string name, string description, bool trusted)
    {
        var id = new Argument<string>("id") { Description = "The CA's id (certdns ca list)" };
        var reason = new Option<string?>("--reason") { Description = "Why (kept in the audit log)", Required = !trusted };
        var command = new Command(name, description) { id, reason };
        command.SetAction(r => Run.Guarded(() =>
        {
            if (r.GetValue(reason) is { } why) Core.SafeText.RequireOneLine(why, "--reason");
            using var store = CertStore.Open(GlobalOptions.DatabasePath(r));
            var ca = new CaRegistry(store).Get(r.GetValue(id)!);
            var changed = store.Cas.SetTrust(ca.Id, trusted, r.GetValue(reason));
            Console.WriteLine(changed
                ? $"CA {ca.Id} \"{Core.SafeText.OneLine(ca.Subject)}\" is now {(trusted ? "trusted" : "distrusted")}; zone serial {store.Serial}"
                : $"CA {ca.Id} \"{Core.SafeText.OneLine(ca.Subject)}\" was already {(trusted ? "trusted" : "distrusted")}");
            return ExitCodes.Ok;
        }));
        return command;
    }
}
