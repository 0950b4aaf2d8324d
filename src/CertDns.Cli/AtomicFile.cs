using System.Security.Cryptography;

namespace CertDns.Cli;

/// <summary>
/// Every file the CLI writes: written to a temporary file in the same folder, created exclusively under an
/// unpredictable name (FileMode.CreateNew is O_CREAT|O_EXCL, which never follows a symlink planted at that name),
/// then renamed into place. A reader never sees half a file, and when the target is a symlink the rename
/// replaces the link instead of writing through it.
/// </summary>
internal static class AtomicFile
{
    /// <summary>Writes <paramref name="path"/> through <paramref name="write"/>; on failure the target is untouched.</summary>
    public static T Write<T>(string path, Func<Stream, T> write)
    {
        var full = Path.GetFullPath(path);
        var temp = Path.Combine(Path.GetDirectoryName(full)!, $".{Path.GetFileName(full)}.{Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(8))}.tmp");
        try
        {
            T result;
            using (var file = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None))
            {
                result = write(file);
                file.Flush(flushToDisk: true);
            }
            File.Move(temp, full, overwrite: true);
            return result;
        }
        catch
        {
            try { File.Delete(temp); } catch (IOException) { } catch (UnauthorizedAccessException) { }
            throw;
        }
    }

    /// <summary>Writes several files, each aside; they are renamed into place only when all were written.</summary>
    public sealed class Batch : IDisposable
    {
        private readonly List<(string Temp, string Final, FileStream Stream)> _files = [];

        /// <summary>A new exclusive temporary file that becomes <paramref name="path"/> on <see cref="Commit"/>.</summary>
        public Stream Open(string path)
        {
            var full = Path.GetFullPath(path);
            var temp = Path.Combine(Path.GetDirectoryName(full)!, $".{Path.GetFileName(full)}.{Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(8))}.tmp");
            var stream = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None);
            _files.Add((temp, full, stream));
            return stream;
        }

        /// <summary>Flushes every file and renames each into place.</summary>
        public void Commit()
        {
            foreach (var (_, _, stream) in _files) stream.Flush(flushToDisk: true);
            foreach (var (_, _, stream) in _files) stream.Dispose();
            foreach (var (temp, final, _) in _files) File.Move(temp, final, overwrite: true);
            _files.Clear();
        }

        /// <summary>Removes what was not committed.</summary>
        public void Dispose()
        {
            foreach (var (temp, _, stream) in _files)
            {
                stream.Dispose();
                try { File.Delete(temp); } catch (IOException) { } catch (UnauthorizedAccessException) { }
            }
            _files.Clear();
        }
    }
}
