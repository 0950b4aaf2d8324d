using System.Globalization;

namespace CertDns.Core;

/// <summary>How times read in TXT strings, logs and tables: RFC 3339 in UTC, to the second.</summary>
public static class TimeText
{
    /// <summary><c>2025-11-01T00:00:00Z</c>.</summary>
    public static string Utc(DateTimeOffset t) => t.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture);

    /// <summary><c>2025-11-01</c>.</summary>
    public static string Date(DateTimeOffset t) => t.UtcDateTime.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture);
}
