using System.CommandLine;
using CertDns.Core;
using CertDns.Ingest;
using CertDns.Store;

namespace CertDns.Cli;

/// <summary><c>certdns crl ingest &lt;file&gt;...</c>.</summary>
internal sealed class CrlCommand
{
    public static Command Create()
    {
        var command = new Command("crl", "Ingest CA CRLs");
        var files = new Argument<string[]>("files") { Description = "CRL files (DER, PEM or base64; - for stdin)", Arity = ArgumentArity.OneOrMore };
        var ingest = new Command("ingest", "Verify each CRL against its CA and replace that CA's revocations; a refused CRL changes nothing") { files };
        ingest.SetAction(r => Run.Guarded(() =>
        {
            using var store = CertStore.Open(r.GetValue(GlobalOptions.Database)!);
            var ingestor = new CrlIngestor(store);
            int exit = ExitCodes.Ok;
            // Each CRL stands alone: one refused file does not hold back the others, but the exit code says so.
            foreach (var file in r.GetValue(files)!)
            {
                try
                {
                    Console.WriteLine(ingestor.Ingest(file, Run.ReadInput(file)));
                }
                catch (BadInputException e)
                {
                    exit = Run.Fail(e.Message, ExitCodes.BadInput);
                }
            }
            return exit;
        }));
        command.Add(ingest);
        return command;
    }
}
