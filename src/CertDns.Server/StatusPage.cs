using System.Globalization;
using System.Net;
using System.Text;
using CertDns.Core;

namespace CertDns.Server;

/// <summary>
/// The status page for people (<c>/</c> on the monitoring listener): CAs with their chain and CRL freshness, counts per
/// status, queries per second over the last hour, recent reloads and refusals, complaints pending. One HTML document
/// with inline CSS and SVG, no external assets; every text from the store is HTML-escaped (CA names are untrusted).
/// </summary>
public static class StatusPage
{
    private static readonly TimeSpan FullBar = TimeSpan.FromDays(7);

    /// <summary>Renders the page.</summary>
    public static string Render(StatusReport report, IReadOnlyList<ReloadEvent> events, IReadOnlyList<double> queriesPerSecond, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(report);
        ArgumentNullException.ThrowIfNull(events);
        ArgumentNullException.ThrowIfNull(queriesPerSecond);
        var h = new StringBuilder();
        var ci = CultureInfo.InvariantCulture;
        h.Append("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>CertDns ").Append(E(report.Zone)).Append("</title><style>")
            .Append("body{font-family:sans-serif;margin:1.5em;color:#222}table{border-collapse:collapse;margin-bottom:1.5em}")
            .Append("th,td{border-bottom:1px solid #ddd;padding:.3em .8em;text-align:left}th{background:#f4f4f4}")
            .Append(".stale{color:#b00020;font-weight:bold}.ok{color:#1b5e20}.num{text-align:right}h2{margin-top:1.2em}")
            .Append("</style></head><body>");
        h.Append("<h1>CertDns: ").Append(E(report.Zone)).Append("</h1>");
        h.Append(ci, $"<p>serial <b>{report.Serial}</b>, as of {E(TimeText.Utc(now))}; ");
        h.Append(report.AnyTrustedStale ? "<span class=\"stale\">a trusted CA's CRL is stale</span>" : "<span class=\"ok\">every trusted CA's CRL is current</span>").Append("</p>");

        h.Append("<h2>Certificate authorities</h2><table><tr><th>id</th><th>CA</th><th>issued by</th><th>trust</th><th>CRL</th><th>next update</th><th>freshness</th></tr>");
        var byId = report.Cas.ToDictionary(c => c.Id);
        foreach (var ca in report.Cas)
        {
            var parent = ca.ParentId is { } p ? byId.TryGetValue(p, out var pc) ? pc.Subject : $"CA {p}" : "(root or not registered)";
            h.Append(ci, $"<tr><td>{ca.Id}</td><td>{E(ca.Subject)}</td><td>{E(parent)}</td><td>{(ca.Trusted ? "trusted" : "<span class=\"stale\">distrusted</span>")}</td>");
            h.Append("<td>").Append(E(ca.CrlNumber ?? "-")).Append("</td><td>").Append(ca.NextUpdate is { } n ? E(TimeText.Utc(n)) : "-").Append("</td><td>");
            h.Append(Freshness(ca, now)).Append("</td></tr>");
        }
        h.Append("</table>");

        h.Append("<h2>Certificates per status</h2><table><tr><th>status</th><th>code</th><th class=\"num\">certificates</th></tr>");
        foreach (var (status, count) in report.Counts.OrderBy(p => p.Key))
            h.Append(ci, $"<tr><td>{StatusCodes.Name(status)}</td><td>{string.Join('.', StatusCodes.Address(status).ToArray())}</td><td class=\"num\">{count}</td></tr>");
        h.Append("</table>");

        h.Append(ci, $"<h2>Complaints pending</h2><p><b>{report.ComplaintsPending}</b> complaints counting against certificates.</p>");

        h.Append("<h2>Queries per second, last hour</h2>").Append(Rates(queriesPerSecond));

        h.Append("<h2>Recent reloads and refusals</h2>");
        if (events.Count == 0) h.Append("<p>none since start</p>");
        else
        {
            h.Append("<table><tr><th>when</th><th>what</th><th>outcome</th></tr>");
            foreach (var e in events)
                h.Append("<tr><td>").Append(E(TimeText.Utc(e.At))).Append("</td><td>").Append(E(e.What)).Append("</td><td")
                    .Append(e.Refused ? " class=\"stale\">refused: " : ">").Append(E(e.Text)).Append("</td></tr>");
            h.Append("</table>");
        }
        h.Append("</body></html>");
        return h.ToString();
    }

    /// <summary>Time to nextUpdate as words and a bar (full at a week; red when stale).</summary>
    private static string Freshness(CaReport ca, DateTimeOffset now)
    {
        if (ca.NextUpdate is not { } next) return ca.Stale ? "<span class=\"stale\">stale: no CRL</span>" : "no nextUpdate";
        var left = next - now;
        double fraction = Math.Clamp(left / FullBar, 0, 1);
        var colour = ca.Stale || left <= TimeSpan.Zero ? "#b00020" : left < TimeSpan.FromDays(1) ? "#f9a825" : "#2e7d32";
        var words = ca.Stale || left <= TimeSpan.Zero ? $"<span class=\"stale\">stale for {Span(-left)}</span>" : $"{Span(left)} left";
        return string.Create(CultureInfo.InvariantCulture,
            $"<svg width=\"120\" height=\"12\" role=\"img\" aria-label=\"freshness\"><rect width=\"120\" height=\"12\" fill=\"#eee\"/><rect width=\"{fraction * 120:F1}\" height=\"12\" fill=\"{colour}\"/></svg> {words}");
    }

    private static string Rates(IReadOnlyList<double> rates)
    {
        if (rates.Count == 0) return "<p>no samples yet</p>";
        double peak = rates.Max(), max = Math.Max(peak, 1);
        const int width = 600, height = 80;
        double step = width / 61.0;
        var svg = new StringBuilder(string.Create(CultureInfo.InvariantCulture, $"<svg width=\"{width}\" height=\"{height + 14}\" role=\"img\" aria-label=\"queries per second\"><rect width=\"{width}\" height=\"{height}\" fill=\"#f7f7f7\"/>"));
        for (int i = 0; i < rates.Count; i++)
        {
            double bar = rates[i] / max * height;
            svg.Append(CultureInfo.InvariantCulture, $"<rect x=\"{(61 - rates.Count + i) * step:F1}\" y=\"{height - bar:F1}\" width=\"{step - 1:F1}\" height=\"{bar:F1}\" fill=\"#1565c0\"><title>{rates[i]:F1} q/s</title></rect>");
        }
        svg.Append(CultureInfo.InvariantCulture, $"<text x=\"0\" y=\"{height + 12}\" font-size=\"11\">peak {peak:F1} q/s; now {rates[^1]:F1} q/s</text></svg>");
        return svg.ToString();
    }

    private static string Span(TimeSpan span) => span.TotalDays >= 1 ? $"{(int)span.TotalDays} d {span.Hours} h"
        : span.TotalHours >= 1 ? $"{(int)span.TotalHours} h {span.Minutes} min" : $"{(int)span.TotalMinutes} min";

    private static string E(string text) => WebUtility.HtmlEncode(text);
}
