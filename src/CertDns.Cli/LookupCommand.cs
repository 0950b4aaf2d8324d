using System.CommandLine;
using CertDns.Core;
using CertDns.Store;

namespace CertDns.Cli;

/// <summary><c>certdns lookup &lt;fingerprint|cert file&gt;</c>: the status the zone publishes, from the store.</summary>
internal sealed class LookupCommand
{
    public static Command Create()
    {
        var input = new Argument<string>("fingerprint") { Description = "A certificate file or a fingerprint in any query-name form (see docs/spec.md)" };
        var key = new Option<bool>("--key") { Description = "The fingerprint is of the SubjectPublicKeyInfo (Postfix ccert_pubkey_fingerprint)" };
        var command = new Command("lookup", "Show the status the zone publishes for a certificate") { input, key };
        command.SetAction(r => Run.Guarded(() =>
        {
            var name = FingerprintArgument.Parse(r.GetValue(input)!, GlobalOptions.ZoneName(r), r.GetValue(key));
            using var store = CertStore.Open(GlobalOptions.DatabasePath(r), readOnly: true);
            var snapshot = store.Snapshots.Load();
            var verdict = snapshot.Evaluate(name, DateTimeOffset.UtcNow);
            if (verdict is null)
            {
                Console.WriteLine("status: unknown (NXDOMAIN): fingerprint not registered");
                return ExitCodes.Ok;
            }
            Console.WriteLine($"status: {StatusCodes.Name(verdict.Status)} ({string.Join('.', StatusCodes.Address(verdict.Status).ToArray())})");
            Console.WriteLine($"txt: {verdict.Text}");
            Console.WriteLine($"ttl: {(int)verdict.Ttl.TotalSeconds}");
            foreach (var cert in snapshot.Find(name.Digest, name.Value!, name.IsKey))
                Console.WriteLine($"certificate: sha256 {Hex.Lower(cert.Sha256)} issuer \"{SafeText.OneLine(cert.Ca.Name)}\" serial {Hex.Lower(cert.Serial)}");
            return ExitCodes.Ok;
        }));
        return command;
    }
}
