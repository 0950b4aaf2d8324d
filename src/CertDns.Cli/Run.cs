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
        catch (BadInputException e)
        {
            return Fail(e.Message, ExitCodes.BadInput);
        }
        catch (FileNotFoundException e)
        {
            return Fail($"{e.FileName}: no such file", ExitCodes.BadInput);
        }
        catch (DirectoryNotFoundException e)
        {
            return Fail($"{e.Message}", ExitCodes.BadInput);
        }
        catch (UnauthorizedAccessException e)
        {
            return Fail(e.Message, ExitCodes.BadInput);
        }
        catch (Exception e) when (e is SqliteException or IOException or System.Net.Sockets.SocketException)
        {
            return Fail($"failed: {e.Message}", ExitCodes.Failed);
        }
    }

    public static async Task<int> GuardedAsync(Func<Task<int>> body)
    {
        try
        {
            return await body().ConfigureAwait(false);
        }
        catch (Exception e) when (e is BadInputException or FileNotFoundException or DirectoryNotFoundException or UnauthorizedAccessException
                                  or SqliteException or IOException or System.Net.Sockets.SocketException)
        {
            return Guarded(() => throw e);
        }
    }

    public static int Fail(string message, int code)
    {
        Console.Error.WriteLine($"certdns: {message}");
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
