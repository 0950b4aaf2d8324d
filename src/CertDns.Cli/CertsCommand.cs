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
                var (read, errors) = ProgressDisplay.Run("reading certificate files", step => ReadAll(found, step));
                for (int i = 0; i < found.Count; i++)
                {
                    if (errors[i] is { } error) System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(error);
                    // A folder holds what it holds (a CSR, a key, a README): those are passed over, each with a line.
                    // A file named on the command line is meant as certificates and refused if it is not.
                    if (read[i] is { } data) files.Add((found[i].Path, data));
                    else skipped.Add(found[i].Path);
                }
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

    /// <summary>
    /// The contents of every input, read on every core (a folder of 100,000 files is most of a second of system calls
    /// on one), in input order; null for a file found in a folder that holds no certificate. An input that cannot be
    /// read has its error instead, which the caller throws in input order, as when they were read one by one.
    /// </summary>
    private static (byte[]?[] Read, Exception?[] Errors) ReadAll(List<(string Path, bool InFolder)> found, ProgressDisplay.Step step)
    {
        var read = new byte[]?[found.Count];
        var errors = new Exception?[found.Count];
        var gate = new object();
        int done = 0;
        Parallel.For(0, found.Count, i =>
        {
            try
            {
                var data = Run.ReadInput(found[i].Path);
                read[i] = found[i].InFolder && !CertificateFile.MayHoldCertificates(data) ? null : data;
            }
            catch (Exception e) when (e is BadInputException or IOException or UnauthorizedAccessException)
            {
                errors[i] = e;
            }
            if (Interlocked.Increment(ref done) % 1024 == 0)
            {
                lock (gate) step.Report(Volatile.Read(ref done), found.Count);
            }
        });
        return (read, errors);
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
