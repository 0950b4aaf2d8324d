using System.CommandLine;
using CertDns.Core;
using CertDns.Ingest;
using CertDns.Pki;
using CertDns.Store;

namespace CertDns.Cli;

/// <summary><c>certdns certs add &lt;files|folders|-&gt;</c>.</summary>
internal sealed class CertsCommand
{
    public static Command Create()
    {
        var command = new Command("certs", "Register end-entity certificates");
        var inputs = new Argument<string[]>("inputs") { Description = "Certificate files (PEM, DER, bundles), folders, or - for stdin", Arity = ArgumentArity.OneOrMore };
        var add = new Command("add", "Register certificates whose signature verifies against a registered CA; all or nothing") { inputs };
        add.SetAction(r => Run.Guarded(() =>
        {
            var files = new List<(string Path, byte[] Data)>();
            var skipped = new List<string>();
            var found = Expand(r.GetValue(inputs)!).ToList();
            try
            {
                ProgressDisplay.Run("reading certificate files", step =>
                {
                    foreach (var (path, inFolder) in found)
                    {
                        step.Report(files.Count + skipped.Count, found.Count);
                        var data = Run.ReadInput(path);
                        // A folder holds what it holds (a CSR, a key, a README): those are passed over, each with a line.
                        // A file named on the command line is meant as certificates and refused if it is not.
                        if (inFolder && !CertificateFile.MayHoldCertificates(data))
                        {
                            skipped.Add(path);
                            continue;
                        }
                        files.Add((path, data));
                    }
                    return 0;
                });
            }
            finally
            {
                // After the bar has cleared: these lines are stdout's, as they were without it.
                foreach (var path in skipped) Console.WriteLine(SafeText.OneLine($"skipped {path}: not a certificate file"));
            }
            if (files.Count == 0) throw new BadInputException(string.Join(' ', r.GetValue(inputs)!), "no certificate file found");
            using var store = CertStore.Open(GlobalOptions.DatabasePath(r));
            var result = ProgressDisplay.Run($"verifying and storing {files.Count} files", _ => new CertificateRegistry(store).Add(files));
            foreach (var refused in result.Outcomes.Where(o => o.Refusal is not null))
                Console.Error.WriteLine($"certdns: {SafeText.OneLine($"{refused.Source}: {refused.Refusal}")}");
            if (!result.Stored && result.Refused > 0)
            {
                Console.WriteLine($"{result.Outcomes.Count} certificates read, {result.Refused} refused: nothing stored");
                return ExitCodes.BadInput;
            }
            Console.WriteLine($"{result.Outcomes.Count} certificates read: {result.Added} added, {result.AlreadyKnown} already registered; zone serial {store.Serial}");
            return ExitCodes.Ok;
        }));
        command.Add(add);
        return command;
    }

    /// <summary>Files as named; folders by every file below them, in a stable order, marked as found in a folder.</summary>
    private static IEnumerable<(string Path, bool InFolder)> Expand(IEnumerable<string> inputs)
    {
        foreach (var input in inputs)
        {
            if (Directory.Exists(input))
            {
                var found = Directory.EnumerateFiles(input, "*", SearchOption.AllDirectories).Order(StringComparer.Ordinal).ToList();
                if (found.Count == 0) throw new BadInputException(input, "folder holds no files");
                foreach (var f in found) yield return (f, true);
            }
            else
            {
                yield return (input, false);
            }
        }
    }
}
