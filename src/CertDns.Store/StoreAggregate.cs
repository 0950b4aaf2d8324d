using Microsoft.Data.Sqlite;

namespace CertDns.Store;

/// <summary>
/// One aggregate of the store (<see cref="CaStore"/>, <see cref="CertificateStore"/>, ...): it reads through the store's
/// connection and writes through <see cref="CertStore.Write{T}(Func{System.Data.IDbTransaction, T})"/>, the one write path.
/// </summary>
public abstract class StoreAggregate
{
    private protected readonly CertStore _store;
    private protected readonly SqliteConnection _db;

    private protected StoreAggregate(CertStore store)
    {
        _store = store;
        _db = store.Db;
    }
}
