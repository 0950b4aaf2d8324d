using CertDns.Core;
using Microsoft.Data.Sqlite;

namespace CertDns.Cli;

/// <summary>Runs a verb's body and turns failures into one line and an exit code: no stack traces for users.</summary>
internal static class Run
{
    public static int Guarded(Func<int> body)
    {
        try
        {
            return body();
        }
        catch (Exception e) when (Report(e) is { } code)
        {
            return code;
        }
    }

    public static async Task<int> GuardedAsync(Func<Task<int>> body)
    {
        try
        {
            return await body().ConfigureAwait(false);
        }
        catch (Exception e) when (Report(e) is { } code)
        {
            return code;
        }
    }

    /// <summary>Prints a failure as one line and returns its exit code.</summary>
    private static int? Report(Exception e) => e switch
    {
        BadInputException => Fail(e.Message, ExitCodes.BadInput),
        FileNotFoundException f => Fail($"{f.FileName}: no such file", ExitCodes.BadInput),
        DirectoryNotFoundException or UnauthorizedAccessException => Fail(e.Message, ExitCodes.BadInput),
        SqliteException or IOException or System.Net.Sockets.SocketException => Fail($"failed: {e.Message}", ExitCodes.Failed),
        OperationCanceledException => Fail("interrupted", ExitCodes.Failed),
        // No input ever prints a stack trace: whatever else escapes a verb is one line and exit 2.
        _ => Fail($"failed: {e.GetType().Name}: {e.Message}", ExitCodes.Failed),
    };

    public static int Fail(string message, int code)
    {
        // Messages quote untrusted text (CA subjects, URLs, reasons): one line whatever it holds.
        Console.Error.WriteLine($"certdns: {SafeText.OneLine(message)}");
        return code;
    }

    /// <summary>Reads a file named on the command line, or standard input for <c>-</c>.</summary>
    public static byte[] ReadInput(string path)
    {
        if (path == "-")
        {
            using var stdin = Console.OpenStandardInput();
            using var buffer = new MemoryStream();
            stdin.CopyTo(buffer);
            return buffer.ToArray();
        }
        if (Directory.Exists(path)) throw new BadInputException(path, "is a folder, expected a file");
        if (!File.Exists(path)) throw new BadInputException(path, "no such file");
        return File.ReadAllBytes(path);
    }
}
