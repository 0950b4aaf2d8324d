using Spectre.Console;

namespace CertDns.Cli;

/// <summary>Tables on a terminal, tab-separated lines for cron and pipes.</summary>
internal static class Output
{
    public static void Table(string[] headers, IEnumerable<string[]> rows)
    {
        // Cells quote untrusted text (CA subjects, reasons): a line break or a tab would shift every column after it.
        rows = rows.Select(row => row.Select(c => Core.SafeText.OneLine(c)).ToArray());
        if (Console.IsOutputRedirected)
        {
            Console.WriteLine(string.Join('\t', headers));
            foreach (var row in rows) Console.WriteLine(string.Join('\t', row));
            return;
        }
        var table = new Table().Border(TableBorder.Simple);
        foreach (var h in headers) table.AddColumn(Markup.Escape(h));
        foreach (var row in rows) table.AddRow(row.Select(c => new Text(c)).ToArray<Spectre.Console.Rendering.IRenderable>());
        AnsiConsole.Write(table);
    }

    public static string Time(DateTimeOffset t) => CertDns.Core.TimeText.Utc(t);
}
