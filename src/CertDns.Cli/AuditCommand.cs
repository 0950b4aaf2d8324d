using System.CommandLine;
using System.Globalization;
using CertDns.Core;
using CertDns.Store;

namespace CertDns.Cli;

/// <summary><c>certdns audit</c>: the append-only log of every policy change (who, when, why).</summary>
internal sealed class AuditCommand
{
    public static Command Create()
    {
        var command = new Command("audit", "Print the audit log: CA trust, blocks, complaints, settings");
        command.SetAction(r => Run.Guarded(() =>
        {
            using var store = CertStore.Open(GlobalOptions.DatabasePath(r), readOnly: true);
            Output.Table(["id", "when", "who", "what", "subject", "why"], store.AuditLog().Select(a => new[]
            {
                a.Id.ToString(CultureInfo.InvariantCulture), TimeText.Utc(DateTimeOffset.FromUnixTimeSeconds(a.At)), a.Actor, a.Action, a.Subject, a.Reason ?? "",
            }));
            return ExitCodes.Ok;
        }));
        return command;
    }
}
