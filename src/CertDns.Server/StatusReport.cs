using System.Text.Json;
using CertDns.Core;

namespace CertDns.Server;

/// <summary>One CA as the status page, <c>certdns status --json</c> and the metrics show it.</summary>
/// <param name="Id">The store's id.</param>
/// <param name="Subject">Its subject, as registered (untrusted text: escape it wherever it is shown).</param>
/// <param name="Trusted">Whether the CA is trusted.</param>
/// <param name="ParentId">The CA that issued its certificate, when that certificate is registered under another CA.</param>
/// <param name="CrlNumber">The CRL that speaks for it (the series that goes stale first), or null without one.</param>
/// <param name="NextUpdate">That CRL's nextUpdate, or null (no CRL, or one without nextUpdate).</param>
/// <param name="Stale">Whether its revocation data is stale (no CRL, or past nextUpdate).</param>
public sealed record CaReport(long Id, string Subject, bool Trusted, long? ParentId, string? CrlNumber, DateTimeOffset? NextUpdate, bool Stale);

/// <summary>What the server holds and what waits for the operator, at one moment.</summary>
/// <param name="Zone">The zone's apex.</param>
/// <param name="Serial">The store's serial.</param>
/// <param name="Cas">Every CA.</param>
/// <param name="Counts">Certificates per status now (every status but Unknown).</param>
/// <param name="ComplaintsPending">Complaints still counting against certificates.</param>
/// <param name="At">When it was taken.</param>
public sealed record StatusReport(string Zone, uint Serial, IReadOnlyList<CaReport> Cas, IReadOnlyDictionary<CertStatus, int> Counts, int ComplaintsPending, DateTimeOffset At)
{
    /// <summary>Whether a trusted CA's CRL is stale: what monitoring alerts on.</summary>
    public bool AnyTrustedStale => Cas.Any(c => c.Trusted && c.Stale);

    /// <summary>The report as one JSON object (UTF-8), for <c>certdns status --json</c>.</summary>
    public byte[] ToJson()
    {
        using var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = true }))
        {
            w.WriteStartObject();
            w.WriteString("zone", Zone);
            w.WriteNumber("serial", Serial);
            w.WriteString("at", At.UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ssZ", System.Globalization.CultureInfo.InvariantCulture));
            w.WriteBoolean("trusted_stale", AnyTrustedStale);
            w.WriteStartArray("cas");
            foreach (var ca in Cas)
            {
                w.WriteStartObject();
                w.WriteNumber("id", ca.Id);
                w.WriteString("subject", ca.Subject);
                w.WriteBoolean("trusted", ca.Trusted);
                if (ca.ParentId is { } parent) w.WriteNumber("parent", parent); else w.WriteNull("parent");
                w.WriteString("crl_number", ca.CrlNumber);
                if (ca.NextUpdate is { } next)
                {
                    w.WriteString("next_update", next.UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ssZ", System.Globalization.CultureInfo.InvariantCulture));
                    w.WriteNumber("seconds_to_next_update", (long)(next - At).TotalSeconds);
                }
                else
                {
                    w.WriteNull("next_update");
                    w.WriteNull("seconds_to_next_update");
                }
                w.WriteBoolean("stale", ca.Stale);
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteStartObject("certificates");
            foreach (var (status, count) in Counts.OrderBy(p => p.Key)) w.WriteNumber(StatusCodes.Name(status), count);
            w.WriteEndObject();
            w.WriteNumber("complaints_pending", ComplaintsPending);
            w.WriteEndObject();
        }
        return buffer.ToArray();
    }
}
