using System.CommandLine;
using System.Globalization;
using CertDns.Core;
using CertDns.Ingest;
using CertDns.Store;

namespace CertDns.Cli;

/// <summary><c>certdns settings [set KEY VALUE]</c>: the zone's complaint policy.</summary>
internal sealed class SettingsCommand
{
    private static readonly Dictionary<string, (string Description, int Min, int Max)> Known = new()
    {
        [ComplaintRegistry.ThresholdSetting] = ("distinct reporters that list a certificate as blocked (default 3)", 1, 1000),
        [ComplaintRegistry.WindowSetting] = ("days a complaint counts; 0 = never expires (default 0)", 0, 3650),
    };

    public static Command Create()
    {
        var command = new Command("settings", "Show or change the zone's complaint policy");
        command.SetAction(r => Run.Guarded(() =>
        {
            using var store = CertStore.Open(GlobalOptions.DatabasePath(r), readOnly: true);
            var policy = new ComplaintRegistry(store).Policy();
            Console.WriteLine($"{ComplaintRegistry.ThresholdSetting} = {policy.Threshold}");
            Console.WriteLine($"{ComplaintRegistry.WindowSetting} = {(policy.Window is { } w ? (int)w.TotalDays : 0)}");
            return ExitCodes.Ok;
        }));

        var key = new Argument<string>("key") { Description = string.Join("; ", Known.Select(k => $"{k.Key}: {k.Value.Description}")) };
        var value = new Argument<string>("value") { Description = "A whole number" };
        var set = new Command("set", "Change a setting; listings are recomputed at once") { key, value };
        set.SetAction(r => Run.Guarded(() =>
        {
            var name = r.GetValue(key)!;
            var text = r.GetValue(value)!;
            if (!Known.TryGetValue(name, out var spec)) throw new BadInputException(name, $"unknown setting; known: {string.Join(", ", Known.Keys)}");
            if (!int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var n) || n < spec.Min || n > spec.Max)
                throw new BadInputException(text, $"{name} takes a whole number from {spec.Min} to {spec.Max}");
            using var store = CertStore.Open(GlobalOptions.DatabasePath(r));
            new ComplaintRegistry(store).Set(name, n.ToString(CultureInfo.InvariantCulture));
            Console.WriteLine($"{name} = {n}; zone serial {store.Serial}");
            return ExitCodes.Ok;
        }));
        command.Add(set);
        return command;
    }
}
