using System.CommandLine;
using System.Globalization;
using CertDns.Core;
using CertDns.Ingest;
using CertDns.Store;

namespace CertDns.Cli;

/// <summary><c>certdns reporters add|list|remove</c>: the abuse desks whose signed reports by mail count (issue #16).</summary>
internal sealed class ReportersCommand
{
    public static Command Create()
    {
        var command = new Command("reporters", "Register the reporters whose DKIM-signed complaints by mail count");

        var name = new Argument<string>("name") { Description = "The reporter's name (distinct reporters are what count)" };
        var domain = new Option<string>("--dkim-domain") { Description = "The d= of the reporter's DKIM signatures", Required = true };
        var selector = new Option<string>("--dkim-selector") { Description = "The s= of the reporter's DKIM signatures", Required = true };
        var key = new Option<string>("--dkim-key") { Description = "The reporter's DKIM public key (PEM; no DNS lookup is ever made)", Required = true };
        var authserv = new Option<string>("--authserv-id") { Description = "The host its receiving MTA names in X-CertDns-Client-Cert", Required = true };
        var weight = new Option<int>("--weight") { Description = $"How much its complaints count (1 to {ReporterRegistry.MaxWeight})", DefaultValueFactory = _ => 1 };
        var add = new Command("add", "Register a reporter (audited); a key belongs to one reporter") { name, domain, selector, key, authserv, weight };
        add.SetAction(r => Run.Guarded(() =>
        {
            var keyPath = r.GetValue(key)!;
            var pem = Run.ReadInput(keyPath);
            using var store = CertStore.Open(GlobalOptions.DatabasePath(r));
            var row = new ReporterRegistry(store).Add(r.GetValue(name)!, r.GetValue(domain)!, r.GetValue(selector)!, keyPath, pem, r.GetValue(authserv)!, r.GetValue(weight));
            Console.WriteLine($"added: reporter {row.Name} (dkim {row.DkimSelector}._domainkey.{row.DkimDomain}, authserv-id {row.AuthservId}, weight {row.Weight})");
            return ExitCodes.Ok;
        }));

        var list = new Command("list", "Registered reporters");
        list.SetAction(r => Run.Guarded(() =>
        {
            using var store = CertStore.Open(GlobalOptions.DatabasePath(r), readOnly: true);
            Output.Table(["name", "dkim", "authserv-id", "weight", "key sha256", "added"],
                store.Reporters.List().Select(p => new[]
                {
                    p.Name, $"{p.DkimSelector}._domainkey.{p.DkimDomain}", p.AuthservId, p.Weight.ToString(CultureInfo.InvariantCulture),
                    Hex.Lower(System.Security.Cryptography.SHA256.HashData(p.DkimKey))[..16], TimeText.Utc(DateTimeOffset.FromUnixTimeSeconds(p.AddedAt)),
                }));
            return ExitCodes.Ok;
        }));

        var removeName = new Argument<string>("name") { Description = "The reporter to remove" };
        var reason = new Option<string?>("--reason") { Description = "Why (kept in the audit log)" };
        var remove = new Command("remove", "Remove a reporter (audited): its later reports are refused, its complaints stay") { removeName, reason };
        remove.SetAction(r => Run.Guarded(() =>
        {
            if (r.GetValue(reason) is { } why) SafeText.RequireOneLine(why, "--reason");
            using var store = CertStore.Open(GlobalOptions.DatabasePath(r));
            new ReporterRegistry(store).Remove(r.GetValue(removeName)!, r.GetValue(reason));
            Console.WriteLine($"removed: reporter {r.GetValue(removeName)}");
            return ExitCodes.Ok;
        }));

        command.Add(add);
        command.Add(list);
        command.Add(remove);
        return command;
    }
}
