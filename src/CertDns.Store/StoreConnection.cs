using Microsoft.Data.Sqlite;

namespace CertDns.Store;

/// <summary>
/// The store's connection: a command given no transaction runs in the connection's open one, as Microsoft.Data.Sqlite's
/// own CreateCommand and runtime Dapper leave it. Dapper.AOT sets every command's Transaction, null included, and
/// SQLite's provider refuses a command without the pending transaction (a read made during a write, such as the
/// indirect CRL's issuer lookups of an ingest).
/// </summary>
internal sealed class StoreConnection(string connectionString) : SqliteConnection(connectionString)
{
    /// <summary>The open transaction, or null.</summary>
    internal SqliteTransaction? Current => Transaction;

    public override SqliteCommand CreateCommand() =>
        new StoreCommand { Connection = this, CommandTimeout = DefaultTimeout, Transaction = Transaction };

    private sealed class StoreCommand : SqliteCommand
    {
        public override SqliteTransaction? Transaction
        {
            get => base.Transaction;
            set => base.Transaction = value ?? (Connection as StoreConnection)?.Current;
        }
    }
}
