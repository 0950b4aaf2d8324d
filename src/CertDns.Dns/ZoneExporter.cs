using System.Buffers.Binary;
using System.Globalization;
using System.Text;
using CertDns.Core;

namespace CertDns.Dns;

/// <summary>One published name below the apex: its owner (relative, view label included), status, TTL and TXT.</summary>
public readonly record struct ZoneEntry(string Owner, ZoneView View, CertStatus Status, int Ttl, string Text);

/// <summary>
/// Writes the zone as standard DNS software loads it, evaluated at one moment: SOA, NS, the RFC 5782 test entries,
/// and for every certificate its names in <see cref="ZoneOptions.Forms"/> (the Exim split SHA-256 name unless more
/// are asked for) with A and TXT in each view that publishes its status.
/// </summary>
public static class ZoneExporter
{
    /// <summary>Writes an RFC 1035 master file for the whole zone (all three views).</summary>
    public static int WriteZoneFile(TextWriter output, StatusSnapshot snapshot, ZoneOptions options, DateTimeOffset now)
    {
        var zone = new Zone(options);
        output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"$ORIGIN {zone.Apex}."));
        output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"$TTL {options.MaxTtl}"));
        foreach (var record in zone.ApexRecords(snapshot.Serial))
        {
            // The apex's own records are written as "@"; glue with its absolute owner.
            var owner = string.Equals(record.Owner, zone.Apex, StringComparison.Ordinal) ? "@" : record.Owner + ".";
            Write(output, owner, record);
        }
        int records = 0;
        int suffix = zone.Apex.Length + 1;
        foreach (var record in zone.EntryRecords(snapshot, now))
        {
            // Owners relative to $ORIGIN; a name's A and TXT count as one published name.
            Write(output, record.Owner[..^suffix], record);
            if (record.Type == RecordType.A) records++;
        }
        return records;
    }

    private static void Write(TextWriter output, string owner, ZoneRecord record) =>
        output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{owner} {record.Ttl} IN {record.TypeName} {record.RdataText()}"));

    /// <summary>
    /// Every name the zone publishes below the apex, as of <paramref name="now"/>: the RFC 5782 test entries and,
    /// for every certificate, its names in <see cref="ZoneOptions.Forms"/> in each view that publishes its status.
    /// A public key (key form) is written once, with the status its certificates give it together. The zone file,
    /// rbldnsd data and zone transfers are all written from this one list.
    /// </summary>
    public static IEnumerable<ZoneEntry> Entries(StatusSnapshot snapshot, ZoneOptions options, DateTimeOffset now)
    {
        foreach (var (view, suffix) in Views)
        {
            foreach (var (label, status) in QueryName.TestEntries)
            {
                if (StatusCodes.VisibleIn(status, view)) yield return new ZoneEntry(label + suffix, view, status, options.MaxTtl, DnsResponder.TestEntryText(status));
            }
        }
        var maxTtl = TimeSpan.FromSeconds(options.MaxTtl);
        var keys = (options.Forms & NameForms.Key) != 0 ? new HashSet<(UInt128, UInt128)>() : null;
        foreach (var cert in snapshot.Certificates)
        {
            var verdict = StatusEvaluator.Evaluate(cert, now, maxTtl);
            foreach (var name in PublishedNames.Of(cert, options.Forms))
            {
                foreach (var entry in InViews(name, verdict)) yield return entry;
            }
            // A key shared by several certificates has one status from them all (SPEC section 1), as the server answers it.
            if (keys is not null && keys.Add((BinaryPrimitives.ReadUInt128BigEndian(cert.SpkiSha256), BinaryPrimitives.ReadUInt128BigEndian(cert.SpkiSha256.AsSpan(16))))
                && snapshot.Evaluate(DigestKind.Sha256, cert.SpkiSha256, isKey: true, now, maxTtl) is { } key)
            {
                foreach (var entry in InViews(PublishedNames.Key(cert.SpkiSha256), key)) yield return entry;
            }
        }
    }

    internal static IEnumerable<ZoneEntry> InViews(string name, Verdict verdict)
    {
        foreach (var (view, suffix) in Views)
        {
            if (StatusCodes.VisibleIn(verdict.Status, view)) yield return new ZoneEntry(name + suffix, view, verdict.Status, (int)verdict.Ttl.TotalSeconds, verdict.Text);
        }
    }

    /// <summary>
    /// Writes one rbldnsd dnset per view (combined, bl, wl): rbldnsd serves each as its own zone
    /// (<c>status.example:dnset:combined bl.status.example:dnset:bl ...</c>).
    /// </summary>
    public static int WriteRbldnsd(Func<ZoneView, TextWriter> outputFor, StatusSnapshot snapshot, ZoneOptions options, DateTimeOffset now)
    {
        int records = 0;
        var writers = Views.ToDictionary(v => v.View, v => outputFor(v.View));
        var zone = new Zone(options);
        var soa = zone.Soa(snapshot.Serial);
        foreach (var (view, writer) in writers)
        {
            // rbldnsd's own SOA and NS lines; its negative TTL is the SOA minimum as in CertDns.
            writer.WriteLine(string.Create(CultureInfo.InvariantCulture, $"$SOA {soa.Ttl} {soa.RdataText()}"));
            foreach (var ns in zone.ApexRecords(snapshot.Serial).Where(r => r.Type == RecordType.Ns))
                writer.WriteLine(string.Create(CultureInfo.InvariantCulture, $"$NS {ns.Ttl} {ns.RdataText()}"));
            writer.WriteLine(string.Create(CultureInfo.InvariantCulture, $"$TTL {options.MaxTtl}"));
        }
        foreach (var entry in Entries(snapshot, options, now))
        {
            // Each view is its own rbldnsd zone: the view label is the zone's, not the entry's.
            var owner = entry.View == ZoneView.Combined ? entry.Owner : entry.Owner[..entry.Owner.LastIndexOf('.')];
            writers[entry.View].WriteLine($"{owner} :{Address(entry.Status)}:{RbldnsdText(entry.Text)}");
            records++;
        }
        return records;
    }

    internal static readonly (ZoneView View, string Suffix)[] Views = [(ZoneView.Combined, ""), (ZoneView.Block, ".bl"), (ZoneView.Allow, ".wl")];

    internal static string Address(CertStatus status) => string.Join('.', StatusCodes.Address(status).ToArray());

    /// <summary>
    /// rbldnsd takes the rest of the line as TXT and expands '$' to the queried name: escape none, drop '$'. Its data is
    /// line-based, so no control character may stay (CR, NUL): the verdicts are one line already, this holds for any text.
    /// </summary>
    private static string RbldnsdText(string text) => SafeText.OneLine(text).Replace("$", "", StringComparison.Ordinal);
}
