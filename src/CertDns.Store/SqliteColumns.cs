using System.Runtime.InteropServices;
using SQLitePCL;

namespace CertDns.Store;

/// <summary>
/// Steps and column reads for the snapshot scans, straight into the SQLite library Microsoft.Data.Sqlite bundles. SQLitePCL's
/// own calls take a SafeHandle (a reference count up and down per call) and a GC transition: at a million rows of five
/// columns that was 0.24 s of a 0.6 s scan. The column reads only copy out of a row SQLite already holds, never block and
/// never call back, which is what <see cref="SuppressGCTransitionAttribute"/> requires. Where SQLitePCL runs on
/// another library than the bundled e_sqlite3 (the statement would be that library's), SQLitePCL's calls are used.
/// </summary>
internal static unsafe partial class SqliteColumns
{
    private const string Library = "e_sqlite3";

    /// <summary>Whether the direct calls reach the library SQLitePCL uses.</summary>
    private static readonly bool Direct = Probe();

    /// <summary>Throws SQLite's error for a result code that is not OK, ROW or DONE.</summary>
    public static void Check(sqlite3 db, int rc)
    {
        if (rc is not (raw.SQLITE_OK or raw.SQLITE_ROW or raw.SQLITE_DONE))
            throw new Microsoft.Data.Sqlite.SqliteException(raw.sqlite3_errmsg(db).utf8_to_string(), rc);
    }

    /// <summary>The current row of <paramref name="statement"/>, which must stay open while the row is read.</summary>
    public static Row Of(sqlite3_stmt statement) => new(statement, statement.DangerousGetHandle());

    /// <summary>One statement's current row.</summary>
    public readonly struct Row(sqlite3_stmt statement, nint handle)
    {
        /// <summary>
        /// sqlite3_step on the statement: the next row (ROW), the end (DONE) or an error code. Directly too: SQLitePCL's
        /// call raises and lowers the SafeHandle's count on every row, 6% of a start's samples at 100k certificates.
        /// It keeps the GC transition (a step reads the file and may wait for a lock).
        /// </summary>
        public int Step() => Direct ? StepDirect(handle) : raw.sqlite3_step(statement);

        public long Int64(int column) => Direct ? ColumnInt64(handle, column) : raw.sqlite3_column_int64(statement, column);

        /// <summary>A blob column's octets, valid until the next step (empty for NULL).</summary>
        public ReadOnlySpan<byte> Blob(int column)
        {
            if (!Direct) return raw.sqlite3_column_blob(statement, column);
            byte* data = ColumnBlob(handle, column);
            return data is null ? default : new ReadOnlySpan<byte>(data, ColumnBytes(handle, column));
        }
    }

    private static bool Probe()
    {
        try
        {
            return raw.GetNativeLibraryName() == Library && ColumnBytes(0, 0) == 0;
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            return false;
        }
    }

    [LibraryImport(Library, EntryPoint = "sqlite3_step")]
    private static partial int StepDirect(nint statement);

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
