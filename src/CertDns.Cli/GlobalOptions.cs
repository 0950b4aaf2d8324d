using System.CommandLine;
using CertDns.Server.Configuration;

namespace CertDns.Cli;

/// <summary>Options every verb understands.</summary>
internal static class GlobalOptions
{
    public static readonly Option<string> Database = new("--db")
    {
        Description = "The SQLite store",
        DefaultValueFactory = _ => "certdns.db",
        Recursive = true,
    };

    public static readonly Option<string> Zone = new("--zone")
    {
        Description = "The zone apex",
        DefaultValueFactory = _ => "status.example",
        Recursive = true,
    };

    public static readonly Option<string?> Config = new("--config")
    {
        Description = "A certdns.toml (e.g. /etc/certdns/certdns.toml): its store.path and zone.name stand in for --db and --zone, "
            + "and serve takes every key; a flag given overrides the file",
        Recursive = true,
    };

    private static readonly System.Runtime.CompilerServices.ConditionalWeakTable<ParseResult, CertDnsConfig> Loaded = [];

    /// <summary>The file <c>--config</c> names, read once per command line; null without <c>--config</c>.</summary>
    public static CertDnsConfig? ConfigFile(ParseResult r)
    {
        ArgumentNullException.ThrowIfNull(r);
        if (r.GetValue(Config) is not { } path) return null;
        return Loaded.GetValue(r, _ => CertDnsConfigLoader.Load(path));
    }

    /// <summary>Whether <paramref name="option"/> was typed (not its default), so it overrides the file.</summary>
    public static bool Given(ParseResult r, Option option) => r.GetResult(option) is { Implicit: false };

    /// <summary>The flag when typed, else the file's value when it has one, else the flag's default.</summary>
    public static T Pick<T>(ParseResult r, Option<T> option, T? fromFile)
        where T : class =>
        Given(r, option) || fromFile is null ? r.GetValue(option)! : fromFile;

    /// <summary>The flag when typed, else the file's value when it has one, else the flag's default.</summary>
    public static T Pick<T>(ParseResult r, Option<T> option, T? fromFile)
        where T : struct =>
        Given(r, option) || fromFile is not { } value ? r.GetValue(option) : value;

    /// <summary>The store: <c>--db</c>, else the file's <c>store.path</c>, else certdns.db.</summary>
    public static string DatabasePath(ParseResult r) => Pick(r, Database, ConfigFile(r)?.StorePath);

    /// <summary>The zone apex: <c>--zone</c>, else the file's <c>zone.name</c>, else status.example.</summary>
    public static string ZoneName(ParseResult r) => Pick(r, Zone, ConfigFile(r)?.ZoneName);

    /// <summary>The name forms a zone copy carries (export, and serve's zone transfers); read with <see cref="Core.PublishedNames.Parse"/>.</summary>
    public static Option<string> Forms(string copy) => new("--forms")
    {
        Description = $"Name forms {copy} carries besides the split SHA-256 (Exim) form, comma-separated: "
            + string.Join(", ", Core.PublishedNames.Words.Where(w => w.Form != Core.NameForms.Split).Select(w => w.Word))
            + ". Other DNS servers answer only the names they are given: Sendmail asks md5-bytes (or sha1-bytes), legacy Postfix md5 or sha1",
        DefaultValueFactory = _ => "split",
    };
}

/// <summary>Exit codes of docs/spec.md section 4.1.</summary>
internal static class ExitCodes
{
    public const int Ok = 0;
    public const int BadInput = 1;
    public const int Failed = 2;

    /// <summary><c>status</c>: a trusted CA's CRL is stale (monitoring's alert).</summary>
    public const int Stale = 2;
}
