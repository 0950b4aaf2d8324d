using System.CommandLine;

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
