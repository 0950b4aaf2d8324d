using System.CommandLine;
using CertDns.Core;
using CertDns.Ingest;
using CertDns.Store;

namespace CertDns.Cli;

/// <summary>
/// <c>certdns report &lt;fingerprint|cert&gt; --evidence msg.eml [--reporter ID] [--arf out.eml]</c>, the operator's own
/// evidence; and <c>certdns report --mail</c>, a registered reporter's signed report on stdin (an MTA pipe transport).
/// </summary>
internal sealed class ReportCommand
{
    public static Command Create()
    {
        var input = new Argument<string?>("fingerprint") { Description = "The reported certificate: file or fingerprint", Arity = ArgumentArity.ZeroOrOne };
        var evidence = new Option<string?>("--evidence") { Description = "The abusive message (RFC 5322 .eml; - for stdin)" };
        var mail = new Option<bool>("--mail") { Description = "Read a registered reporter's DKIM-signed report (ARF or a forward) on stdin; exit codes per sysexits(3)" };
        var reporter = new Option<string>("--reporter") { Description = "Who reports (distinct reporters are what count)", DefaultValueFactory = _ => "local:" + Environment.UserName };
        var arf = new Option<string?>("--arf") { Description = "Also write an RFC 5965 abuse report for the issuing CA's abuse contact to this file" };
        var from = ForwardOptions.From();
        var sendmail = ForwardOptions.Sendmail();
        var command = new Command("report", "Record an abuse complaint against a certificate; at the threshold it is listed as blocked")
        {
            input, evidence, reporter, arf, from, sendmail, mail,
        };
        command.SetAction(r => r.GetValue(mail) ? ReportMail.Run(r, [input, evidence, reporter, arf], sendmail, from) : Run.Guarded(() =>
        {
            if (r.GetValue(input) is null) throw new BadInputException("report", "name the certificate (file or fingerprint), or give --mail");
            if (r.GetValue(evidence) is null) throw new BadInputException("report", "--evidence is required (or --mail)");
            using var store = CertStore.Open(GlobalOptions.DatabasePath(r));
            var zone = GlobalOptions.ZoneName(r);
            var cert = FingerprintArgument.Registered(store, r.GetValue(input)!, zone);
            var evidencePath = r.GetValue(evidence)!;
            var message = Run.ReadInput(evidencePath);
            var arfPath = r.GetValue(arf);
            var forward = ForwardOptions.Parse(r, sendmail, from);
            var sender = forward.From;
            // Everything that can refuse is checked before anything is stored.
            ComplaintRegistry.ParseEvidence(evidencePath, message);
            if (arfPath is not null)
            {
                var ca = store.Cas.Get(cert.CaId)!;
                if (string.IsNullOrEmpty(ca.AbuseContact))
                    throw new BadInputException(ca.Subject, "CA has no abuse contact for --arf (certdns ca add <ca> --abuse-contact ADDRESS)");
                if (Path.GetDirectoryName(Path.GetFullPath(arfPath)) is { } dir && !Directory.Exists(dir))
                    throw new BadInputException(arfPath, "folder does not exist");
            }

            var now = DateTimeOffset.UtcNow;
            var result = new ComplaintRegistry(store).Report(cert.Sha256, evidencePath, message, r.GetValue(reporter)!);
            var s = result.Standing;
            Console.WriteLine($"complaint {result.ComplaintId} against {SafeText.OneLine(cert.Subject)}: {s.DistinctReporters} of {s.Threshold} distinct reporters; " +
                (s.Listed ? $"blocked since {TimeText.Utc(s.Since!.Value)}" : "not blocked yet") + $"; zone serial {store.Serial}");
            if (arfPath is not null)
            {
                var report = ArfReport.Build(result, sender, now);
                AtomicFile.Write(arfPath, file =>
                {
                    report.WriteTo(file);
                    return 0;
                });
                Console.WriteLine($"ARF report for {result.Ca.AbuseContact} written to {arfPath}");
            }
            ForwardOptions.SendPending(store, forward, r);
            return ExitCodes.Ok;
        }));
        return command;
    }
}
