using System.Data;
using Microsoft.Data.Sqlite;

namespace CertDns.Store;

/// <summary>
/// Rows read by column position, for the queries whose rows are tuples: Dapper binds tuple fields by position at run
/// time through generated IL, which Dapper.AOT does not generate and NativeAOT cannot run (issue #17).
/// </summary>
internal static class SqlRows
{
    /// <summary>Each row of <paramref name="sql"/> as <paramref name="row"/> reads it; parameters are (name, value).</summary>
    public static IEnumerable<T> Read<T>(SqliteConnection db, IDbTransaction? tx, string sql, Func<SqliteDataReader, T> row,
        params ReadOnlySpan<(string Name, object? Value)> parameters)
    {
        var cmd = Command(db, tx, sql, parameters);
        return Rows(cmd, row);
    }

    /// <summary>The first row of <paramref name="sql"/> as <paramref name="row"/> reads it, or null when there is none.</summary>
    public static T? First<T>(SqliteConnection db, IDbTransaction? tx, string sql, Func<SqliteDataReader, T> row,
        params ReadOnlySpan<(string Name, object? Value)> parameters) where T : struct
    {
        using var cmd = Command(db, tx, sql, parameters);
        using var reader = cmd.ExecuteReader();
        return reader.Read() ? row(reader) : null;
    }

    /// <summary>
    /// A buffered query's rows as the list they already are (Dapper's AsList without touching SqlMapper, whose static
    /// set-up makes generic types at run time).
    /// </summary>
    public static List<T> Listed<T>(this IEnumerable<T> rows) => rows as List<T> ?? [.. rows];

    /// <summary>The blob in column <paramref name="i"/>, or null for SQL NULL.</summary>
    public static byte[]? BlobOrNull(this SqliteDataReader r, int i) => r.IsDBNull(i) ? null : (byte[])r.GetValue(i);

    /// <summary>The blob in column <paramref name="i"/>.</summary>
    public static byte[] Blob(this SqliteDataReader r, int i) => (byte[])r.GetValue(i);

    private static SqliteCommand Command(SqliteConnection db, IDbTransaction? tx, string sql, ReadOnlySpan<(string Name, object? Value)> parameters)
    {
        var cmd = db.CreateCommand();
        cmd.CommandText = sql;
        if (tx is not null) cmd.Transaction = (SqliteTransaction)tx;
        foreach (var (name, value) in parameters) cmd.Parameters.AddWithValue(name, value ?? DBNull.Value);
        return cmd;
    }

    private static IEnumerable<T> Rows<T>(SqliteCommand cmd, Func<SqliteDataReader, T> row)
    {
        using (cmd)
        {
            using var reader = cmd.ExecuteReader();
            while (reader.Read()) yield return row(reader);
        }
    }
}
