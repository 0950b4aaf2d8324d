using CertDns.Store;

namespace CertDns.TestInfrastructure;

/// <summary>A real SQLite store file in a scratch folder, with byte-level snapshots of it.</summary>
public sealed class StoreFile : IDisposable
{
    private readonly TempDir _dir = new();

    public string Path => _dir.File("certdns.db");

    public TempDir Dir => _dir;

    public CertStore Open() => CertStore.Open(Path);

    /// <summary>The file's bytes (and any WAL left behind) while no connection is open.</summary>
    public byte[] Bytes()
    {
        var wal = Path + "-wal";
        var db = File.ReadAllBytes(Path);
        return File.Exists(wal) ? [.. db, .. File.ReadAllBytes(wal)] : db;
    }

    public void Dispose() => _dir.Dispose();
}
