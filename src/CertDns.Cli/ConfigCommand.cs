using System.CommandLine;
using CertDns.Server.Configuration;

namespace CertDns.Cli;

/// <summary><c>certdns config check FILE</c>: reads a certdns.toml as <c>serve --config</c> would, and says what it found.</summary>
internal sealed class ConfigCommand
{
    public static Command Create()
    {
        var file = new Argument<string>("file") { Description = "The certdns.toml to check" };
        var check = new Command("check", "Check a configuration file: unknown keys and bad values are refused with file, line and reason (exit 1)") { file };
        check.SetAction(r => Run.Guarded(() =>
        {
            var path = r.GetValue(file)!;
            var config = CertDnsConfigLoader.Load(path);
            int keys = typeof(CertDnsConfig).GetProperties().Count(p => p.Name is not (nameof(CertDnsConfig.Path) or nameof(CertDnsConfig.SecretReadableByOthers)) && p.GetValue(config) is not null);
            Console.WriteLine($"{path}: ok ({keys} settings)");
            if (config.SecretReadableByOthers == true)
                Console.Error.WriteLine($"{path}: warning: holds TSIG secrets ([[key]]) and others may read it: chmod 600 (or 640 root:certdns)");
            return ExitCodes.Ok;
        }));
        return new Command("config", "Work with certdns.toml") { check };
    }
}
