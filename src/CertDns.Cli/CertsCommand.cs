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
            var found = Expand(r.GetValue(inputs)!).ToList();
            using var store = CertStore.Open(GlobalOptions.DatabasePath(r));
            // Each file is read by the thread that verifies it, when its turn comes (a folder of 100,000 files is
            // seconds of system calls, and holding them all was most of the memory). A folder holds what it holds
            // (a CSR, a key, a README): those are passed over, each with a line. A file named on the command line
            // is meant as certificates and refused if it is not. The first file that cannot be read, in input
            // order, is the error, and nothing is stored.
            var result = ProgressDisplay.Run($"reading, verifying and storing {found.Count} files", step => new CertificateRegistry(store).Add(
                found.Select(f => f.Path).ToList(),
                i =>
                {
                    var data = Run.ReadInput(found[i].Path);
                    return found[i].InFolder && !CertificateFile.MayHoldCertificates(data) ? null : data;
                },
                (done, total) => step.Report(done, total)));
            // After the bar has cleared: these lines are stdout's, as they were without it.
            foreach (var path in result.Skipped) Console.WriteLine(SafeText.OneLine($"skipped {path}: not a certificate file"));
            if (result.Outcomes.Count == 0) throw new BadInputException(string.Join(' ', r.GetValue(inputs)!), "no certificate file found");
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
                // Named files are looked for before the store is opened (which creates it when absent); a file in a
                // folder that goes away meanwhile is still "no such file", from the read.
                if (input != "-" && !File.Exists(input)) throw new BadInputException(input, "no such file");
                yield return (input, false);
            }
        }
    }
}
