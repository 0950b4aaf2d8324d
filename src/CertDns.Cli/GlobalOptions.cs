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
}

/// <summary>Exit codes of SPEC section 4.</summary>
internal static class ExitCodes
{
    public const int Ok = 0;
    public const int BadInput = 1;
    public const int Failed = 2;
}
