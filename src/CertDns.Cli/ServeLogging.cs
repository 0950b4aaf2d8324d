using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Console;

namespace CertDns.Cli;

/// <summary>
/// serve's log: every line to stderr with its time (UTC) and level. Under systemd (JOURNAL_STREAM or INVOCATION_ID
/// set) in the journal's format (a &lt;N&gt; priority prefix, no time: the journal adds its own); JSON when asked.
/// The hosting framework's own chatter is off: serve says what it does itself.
/// </summary>
internal static class ServeLogging
{
    public const string Text = "text", Json = "json", Journal = "journal";

    /// <summary>The format when none is asked: the journal's under systemd, plain text elsewhere.</summary>
    public static string Default =>
        Environment.GetEnvironmentVariable("JOURNAL_STREAM") is { Length: > 0 } || Environment.GetEnvironmentVariable("INVOCATION_ID") is { Length: > 0 }
            ? Journal : Text;

    public static void Configure(ILoggingBuilder logging, string format)
    {
        logging.ClearProviders();
        logging.SetMinimumLevel(LogLevel.Information);
        logging.AddFilter("Microsoft", LogLevel.None);
        logging.AddConsole(o => o.LogToStandardErrorThreshold = LogLevel.Trace);
        switch (format)
        {
            case Json:
                logging.AddJsonConsole(o =>
                {
                    o.TimestampFormat = "yyyy-MM-dd'T'HH:mm:ss.fff'Z'";
                    o.UseUtcTimestamp = true;
                });
                break;
            case Journal:
                logging.AddSystemdConsole(o => o.UseUtcTimestamp = true);
                break;
            default:
                logging.AddSimpleConsole(o =>
                {
                    o.SingleLine = true;
                    o.TimestampFormat = "yyyy-MM-dd'T'HH:mm:ss.fff'Z' ";
                    o.UseUtcTimestamp = true;
                    o.ColorBehavior = LoggerColorBehavior.Disabled;
                });
                break;
        }
    }
}
