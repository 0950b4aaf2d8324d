using System.CommandLine;
using CertDns.Core;
using CertDns.Store;

namespace CertDns.Cli;

/// <summary><c>certdns block|unblock &lt;fingerprint|cert&gt; --reason</c>: local-policy listings by the operator.</summary>
internal sealed class BlockCommand
{
    public static Command Create(bool block)
    {
        var input = new Argument<string>("fingerprint") { Description = "A registered certificate: file or fingerprint" };
        var reason = new Option<string>("--reason") { Description = "Why (shown in TXT and kept in the audit log)", Required = true };
        var command = new Command(block ? "block" : "unblock", block ? "List a certificate as blocked (127.0.0.3) by local policy" : "Lift an operator's block") { input, reason };
        command.SetAction(r => Run.Guarded(() =>
        {
            var text = r.GetValue(input)!;
            var why = r.GetValue(reason)!;
            if (string.IsNullOrWhiteSpace(why)) throw new BadInputException("--reason", "must not be empty");
            SafeText.RequireOneLine(why, "--reason");
            using var store = CertStore.Open(GlobalOptions.DatabasePath(r));
            var cert = FingerprintArgument.Registered(store, text, GlobalOptions.ZoneName(r));
            var subject = cert.Subject ?? Hex.Lower(cert.Sha256);
            var changed = block ? store.Listings.Block(cert.Sha256, why, "operator", subject) : store.Listings.Unblock(cert.Sha256, why, subject);
            subject = SafeText.OneLine(subject);
            Console.WriteLine(changed
                ? $"{(block ? "blocked" : "unblocked")}: {subject} ({Hex.Lower(cert.Sha256)}); zone serial {store.Serial}"
                : $"{subject} was {(block ? "already blocked" : "not blocked")}");
            return ExitCodes.Ok;
        }));
        return command;
    }
}
