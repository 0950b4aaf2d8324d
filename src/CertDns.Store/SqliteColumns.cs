using System.Runtime.InteropServices;
using SQLitePCL;

namespace CertDns.Store;

/// <summary>
/// Column reads for the snapshot scans, straight into the SQLite library Microsoft.Data.Sqlite bundles. SQLitePCL's
/// own calls take a SafeHandle (a reference count up and down per call) and a GC transition: at a million rows of five
/// columns that was 0.24 s of a 0.6 s scan. These reads only copy out of a row SQLite already holds, never block and
/// never call back, which is what <see cref="SuppressGCTransitionAttribute"/> requires. The statement must stay open
/// (its SafeHandle referenced) while they are used.
/// </summary>
internal static unsafe partial class SqliteColumns
{
    private const string Library = "e_sqlite3";

    public static nint Of(sqlite3_stmt statement) => statement.DangerousGetHandle();

    public static long Int64(nint statement, int column) => ColumnInt64(statement, column);

    /// <summary>A blob column's octets, valid until the next step (empty for NULL).</summary>
    public static ReadOnlySpan<byte> Blob(nint statement, int column)
    {
        byte* data = ColumnBlob(statement, column);
        return data is null ? default : new ReadOnlySpan<byte>(data, ColumnBytes(statement, column));
    }

    [LibraryImport(Library, EntryPoint = "sqlite3_column_int64")]
    [SuppressGCTransition]
    private static partial long ColumnInt64(nint statement, int column);

    [LibraryImport(Library, EntryPoint = "sqlite3_column_blob")]
    [SuppressGCTransition]
    private static partial byte* ColumnBlob(nint statement, int column);

    [LibraryImport(Library, EntryPoint = "sqlite3_column_bytes")]
    [SuppressGCTransition]
    private static partial int ColumnBytes(nint statement, int column);
}
