using System.Buffers.Binary;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using CertDns.Core;

namespace CertDns.Dns;

/// <summary>
/// The zone as one model: its apex, name servers, glue, SOA fields and TTLs, checked once and with their wire names
/// pre-encoded. Answers, transfers, NOTIFY and the exporter all take the zone's own records from here, and
/// <see cref="ZoneRecord"/> renders each as wire RDATA or as master-file text, so the SOA and NS are written one
/// way everywhere.
/// </summary>
public sealed class Zone
{
    /// <summary>The most name servers a zone may name: 13 NS fit a 512-octet answer, as the root's do.</summary>
    public const int MaxNameServers = 13;

    /// <summary>Checks <paramref name="options"/> and pre-encodes the zone's names.</summary>
    /// <exception cref="ArgumentException">
    /// A name is not a valid DNS name, the apex is the root, a time is negative, a name server is listed twice, an
    /// in-zone name server has no glue, or glue is given for a name that is not an in-zone name server.
    /// </exception>
    public Zone(ZoneOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        Options = options;
        Apex = options.Apex.TrimEnd('.');
        ApexLabels = Labels(options.Apex, nameof(options.Apex));
        if (ApexLabels.Length == 0) throw new ArgumentException("The apex must not be the root.", nameof(options));
        foreach (var (value, name) in new[]
        {
            (options.Refresh, nameof(options.Refresh)), (options.Retry, nameof(options.Retry)), (options.Expire, nameof(options.Expire)),
            (options.Minimum, nameof(options.Minimum)), (options.ApexTtl, nameof(options.ApexTtl)), (options.MaxTtl, nameof(options.MaxTtl)),
        })
        {
            if (value < 0) throw new ArgumentException($"{name} must not be negative.", nameof(options));
        }

        if (options.NameServers.Count is 0 or > MaxNameServers)
            throw new ArgumentException($"The zone needs between 1 and {MaxNameServers} name servers.", nameof(options));
        var glueByName = new Dictionary<string, IReadOnlyList<IPAddress>>(StringComparer.OrdinalIgnoreCase);
        foreach (var (name, addresses) in options.Glue) glueByName[name.TrimEnd('.')] = addresses;
        var nameServers = new List<NameServer>();
        var glue = new List<ZoneRecord>();
        foreach (var given in options.NameServers)
        {
            var ns = given.TrimEnd('.');
            var nsLabels = Labels(ns, "name server");
            if (nameServers.Any(n => n.Name.Equals(ns, StringComparison.OrdinalIgnoreCase)))
                throw new ArgumentException($"name server \"{ns}\" is listed twice", nameof(options));
            bool inZone = IsBelowApex(nsLabels) && nsLabels.Length > ApexLabels.Length;
            var records = new List<ZoneRecord>();
            if (glueByName.Remove(ns, out var addresses))
            {
                // Only an in-zone name server's address belongs in the zone (RFC 1034 section 4.2.1); one outside is the other zone's.
                if (!inZone) throw new ArgumentException($"glue for {ns}: the name is outside the zone {Apex}, its address is its own zone's", nameof(options));
                foreach (var address in addresses.Distinct()) records.Add(ZoneRecord.Address(ns, options.ApexTtl, address));
            }
            // A resolver cannot reach an in-zone name server whose address the zone does not give (RFC 1034 section 4.2.1).
            if (inZone && records.Count == 0) throw new ArgumentException($"name server {ns} is inside the zone {Apex} and has no glue address", nameof(options));
            nameServers.Add(new NameServer(ns, Encode(nsLabels), Wire(ns), inZone ? nsLabels[..^ApexLabels.Length] : null, records));
            glue.AddRange(records);
        }
        if (glueByName.Count > 0) throw new ArgumentException($"glue for {glueByName.Keys.First()}: not one of the zone's name servers", nameof(options));
        NameServers = nameServers;
        Hostmaster = options.Hostmaster.TrimEnd('.');
        HostmasterName = Encode(Labels(Hostmaster, "SOA contact"));
        HostmasterWire = Wire(Hostmaster);
        ApexWire = Wire(Apex);
        Glue = glue;
        // RFC 2308 section 3: the negative TTL is the lesser of the SOA's TTL and its MINIMUM.
        NegativeTtl = (uint)Math.Min(options.ApexTtl, options.Minimum);
    }

    /// <summary>The options the zone was made from.</summary>
    public ZoneOptions Options { get; }

    /// <summary>The apex, without the final dot, as given.</summary>
    public string Apex { get; }

    /// <summary>The name servers, the first of them the SOA MNAME.</summary>
    public IReadOnlyList<NameServer> NameServers { get; }

    /// <summary>The SOA RNAME, without the final dot.</summary>
    public string Hostmaster { get; }

    /// <summary>The address records of in-zone name servers.</summary>
    public IReadOnlyList<ZoneRecord> Glue { get; }

    /// <summary>TTL of the SOA, NS and glue.</summary>
    public uint ApexTtl => (uint)Options.ApexTtl;

    /// <summary>The TTL of NXDOMAIN and NODATA answers' SOA.</summary>
    public uint NegativeTtl { get; }

    internal byte[][] ApexLabels { get; }

    internal byte[] ApexWire { get; }

    internal EncodedName HostmasterName { get; }

    internal byte[] HostmasterWire { get; }

    /// <summary>The apex's own records in transfer order: SOA, each NS, the glue.</summary>
    public IEnumerable<ZoneRecord> ApexRecords(uint serial)
    {
        yield return Soa(serial);
        foreach (var ns in NameServers) yield return new ZoneRecord(Apex, RecordType.Ns, (int)ApexTtl, ns.Wire);
        foreach (var glue in Glue) yield return glue;
    }

    /// <summary>The SOA record at <paramref name="serial"/>.</summary>
    public ZoneRecord Soa(uint serial) => new(Apex, RecordType.Soa, Options.ApexTtl, SoaRdata(serial));

    /// <summary>
    /// Every published name's A and TXT records, in <see cref="ZoneExporter.Entries"/> order. The TXT RDATA shares one
    /// buffer: each record is valid until the next is asked for (transfers and exports write it at once).
    /// </summary>
    public IEnumerable<ZoneRecord> EntryRecords(StatusSnapshot snapshot, DateTimeOffset now)
    {
        var text = new byte[1 + StatusEvaluator.MaxTextOctets];
        foreach (var entry in ZoneExporter.Entries(snapshot, Options, now))
        {
            var owner = entry.Owner + "." + Apex;
            yield return new ZoneRecord(owner, RecordType.A, entry.Ttl, StatusCodes.Address(entry.Status).ToArray());
            yield return ZoneRecord.Txt(owner, entry.Ttl, entry.Text, text);
        }
    }

    /// <summary>SOA RDATA with MNAME and RNAME in full (transfers, NOTIFY).</summary>
    private byte[] SoaRdata(uint serial)
    {
        var rdata = new byte[NameServers[0].Wire.Length + HostmasterWire.Length + 20];
        var w = new WireWriter(rdata);
        w.Bytes(NameServers[0].Wire);
        w.Bytes(HostmasterWire);
        WriteSoaNumbers(ref w, serial);
        return rdata;
    }

    /// <summary>SOA RDATA into an answer, MNAME and RNAME compressed against the apex at <paramref name="apexPointer"/>.</summary>
    internal void WriteSoaRdata(ref WireWriter w, uint serial, ushort apexPointer)
    {
        NameServers[0].Name_.Write(ref w, apexPointer);
        HostmasterName.Write(ref w, apexPointer);
        WriteSoaNumbers(ref w, serial);
    }

    private void WriteSoaNumbers(ref WireWriter w, uint serial)
    {
        w.U32(serial);
        w.U32((uint)Options.Refresh);
        w.U32((uint)Options.Retry);
        w.U32((uint)Options.Expire);
        w.U32((uint)Options.Minimum);
    }

    /// <summary>A name in uncompressed wire form, labels as given.</summary>
    internal static byte[] Wire(string name)
    {
        var bytes = new List<byte>();
        foreach (var label in SplitLabels(name))
        {
            bytes.Add((byte)label.Length);
            bytes.AddRange(label);
        }
        bytes.Add(0);
        return [.. bytes];
    }

    /// <summary>Master-file labels (RFC 1035 section 5.1): <c>\.</c> and <c>\\</c> are a dot and a backslash inside a label.</summary>
    internal static List<byte[]> SplitLabels(string name)
    {
        var labels = new List<byte[]>();
        var label = new List<byte>();
        for (int i = 0; i < name.Length; i++)
        {
            char c = name[i];
            if (c == '\\' && i + 1 < name.Length) label.Add((byte)name[++i]);
            else if (c == '.')
            {
                labels.Add([.. label]);
                label.Clear();
            }
            else label.Add((byte)c);
        }
        if (label.Count > 0) labels.Add([.. label]);
        return labels;
    }

    internal bool IsBelowApex(byte[][] labels)
    {
        if (labels.Length < ApexLabels.Length) return false;
        int offset = labels.Length - ApexLabels.Length;
        for (int i = 0; i < ApexLabels.Length; i++)
        {
            if (!labels[offset + i].AsSpan().SequenceEqual(ApexLabels[i])) return false;
        }
        return true;
    }

    /// <summary>A zone name pre-encoded for answers: lower-case labels, then either a pointer to the apex or the root octet.</summary>
    private EncodedName Encode(byte[][] labels)
    {
        bool inZone = IsBelowApex(labels);
        int count = inZone ? labels.Length - ApexLabels.Length : labels.Length;
        var wire = new List<byte>();
        for (int i = 0; i < count; i++)
        {
            wire.Add((byte)labels[i].Length);
            wire.AddRange(labels[i]);
        }
        if (!inZone) wire.Add(0);
        return new EncodedName(wire.ToArray(), inZone);
    }

    private static byte[][] Labels(string name, string what)
    {
        var trimmed = name.TrimEnd('.');
        if (trimmed.Length == 0) return [];
        var labels = SplitLabels(trimmed).Select(l => Encoding.ASCII.GetBytes(Encoding.ASCII.GetString(l).ToLowerInvariant())).ToArray();
        if (labels.Any(l => l.Length is 0 or > QueryName.MaxLabelLength) || labels.Sum(l => l.Length + 1) + 1 > 255 || !Ascii.IsValid(trimmed)
            || trimmed.Any(c => c <= ' ' || c == 0x7F))
            throw new ArgumentException($"{what} \"{name}\" is not a valid DNS name.", nameof(name));
        return labels;
    }
}

/// <summary>One name server of the zone: its name as given, and its wire forms.</summary>
public sealed class NameServer
{
    internal NameServer(string name, EncodedName encoded, byte[] wire, byte[][]? labelsBelowApex, IReadOnlyList<ZoneRecord> glue) =>
        (Name, Name_, Wire, LabelsBelowApex, Glue) = (name, encoded, wire, labelsBelowApex, glue);

    /// <summary>The name, without the final dot.</summary>
    public string Name { get; }

    /// <summary>For answers: lower-case labels ending at the apex pointer when in zone.</summary>
    internal EncodedName Name_ { get; }

    /// <summary>Uncompressed, labels as given (transfers).</summary>
    internal byte[] Wire { get; }

    /// <summary>The labels below the apex when the name is in the zone (it then has glue), else null.</summary>
    internal byte[][]? LabelsBelowApex { get; }

    /// <summary>Its address records (in-zone name servers only), A and AAAA in the order given.</summary>
    public IReadOnlyList<ZoneRecord> Glue { get; }
}

/// <summary>A zone name pre-encoded: labels, then either a pointer to the apex (written per answer) or the root octet.</summary>
internal readonly record struct EncodedName(byte[] Wire, bool EndsAtApex)
{
    public void Write(ref WireWriter w, ushort apexPointer)
    {
        w.Bytes(Wire);
        if (EndsAtApex) w.U16(apexPointer);
    }
}

/// <summary>
/// One resource record of the zone, its owner an absolute name without the final dot, its RDATA in wire form (names
/// uncompressed): written as is into transfers and NOTIFY, and rendered by <see cref="RdataText"/> for master files.
/// </summary>
/// <param name="Owner">The owner name.</param>
/// <param name="Type">The RR type.</param>
/// <param name="Ttl">The TTL in seconds.</param>
/// <param name="Rdata">The RDATA.</param>
public readonly record struct ZoneRecord(string Owner, ushort Type, int Ttl, ReadOnlyMemory<byte> Rdata)
{
    /// <summary>The record's type as a master file names it.</summary>
    public string TypeName => Type switch
    {
        RecordType.A => "A",
        RecordType.Ns => "NS",
        RecordType.Soa => "SOA",
        RecordType.Txt => "TXT",
        RecordType.Aaaa => "AAAA",
        _ => "TYPE" + Type.ToString(CultureInfo.InvariantCulture),
    };

    /// <summary>An A or AAAA record for <paramref name="address"/>.</summary>
    public static ZoneRecord Address(string owner, int ttl, IPAddress address)
    {
        ArgumentNullException.ThrowIfNull(address);
        return new ZoneRecord(owner, address.AddressFamily == AddressFamily.InterNetworkV6 ? RecordType.Aaaa : RecordType.A, ttl, address.GetAddressBytes());
    }

    /// <summary>
    /// TXT RDATA: one character-string of at most 255 octets (RFC 1035 section 3.3.14), the evaluator keeps texts that
    /// short. The one encoding of a status text, for answers and transfers alike.
    /// </summary>
    internal static void WriteTxtRdata(ref WireWriter w, string text)
    {
        int octets = Math.Min(Encoding.UTF8.GetByteCount(text), StatusEvaluator.MaxTextOctets);
        w.U8((byte)octets);
        var target = w.Take(octets);
        if (target.Length == octets) Encoding.UTF8.GetBytes(text.AsSpan(), target);
    }

    /// <summary>A TXT record of <paramref name="text"/> (at most 255 UTF-8 octets are kept).</summary>
    public static ZoneRecord Txt(string owner, int ttl, string text) => Txt(owner, ttl, text, new byte[1 + StatusEvaluator.MaxTextOctets]);

    /// <summary>A TXT record of <paramref name="text"/>, its RDATA written into <paramref name="buffer"/> (256 octets).</summary>
    internal static ZoneRecord Txt(string owner, int ttl, string text, byte[] buffer)
    {
        var w = new WireWriter(buffer);
        WriteTxtRdata(ref w, text);
        return new ZoneRecord(owner, RecordType.Txt, ttl, buffer.AsMemory(0, w.Position));
    }

    /// <summary>The RDATA in master-file form (RFC 1035 section 5.1), read from the wire form.</summary>
    public string RdataText()
    {
        var rdata = Rdata.Span;
        switch (Type)
        {
            case RecordType.A or RecordType.Aaaa:
                return new IPAddress(rdata).ToString();
            case RecordType.Ns:
                int at = 0;
                return NameText(rdata, ref at);
            case RecordType.Soa:
                int pos = 0;
                var mname = NameText(rdata, ref pos);
                var rname = NameText(rdata, ref pos);
                var n = rdata[pos..];
                return string.Create(CultureInfo.InvariantCulture,
                    $"{mname} {rname} {BinaryPrimitives.ReadUInt32BigEndian(n)} {BinaryPrimitives.ReadInt32BigEndian(n[4..])} {BinaryPrimitives.ReadInt32BigEndian(n[8..])} {BinaryPrimitives.ReadInt32BigEndian(n[12..])} {BinaryPrimitives.ReadInt32BigEndian(n[16..])}");
            case RecordType.Txt:
                var sb = new StringBuilder();
                for (int i = 0; i < rdata.Length; i += 1 + rdata[i])
                {
                    if (sb.Length > 0) sb.Append(' ');
                    Quoted(sb, rdata.Slice(i + 1, rdata[i]));
                }
                return sb.ToString();
            default:
                // RFC 3597 section 5: the generic form.
                return string.Create(CultureInfo.InvariantCulture, $"\\# {rdata.Length} {Convert.ToHexString(rdata)}");
        }
    }

    /// <summary>An uncompressed wire name as absolute text.</summary>
    private static string NameText(ReadOnlySpan<byte> wire, ref int at)
    {
        var sb = new StringBuilder();
        while (wire[at] != 0)
        {
            // RFC 1035 section 5.1: a dot or backslash inside a label (an RNAME's local part) is escaped.
            foreach (var b in wire.Slice(at + 1, wire[at]))
            {
                if (b is (byte)'.' or (byte)'\\') sb.Append('\\');
                sb.Append((char)b);
            }
            sb.Append('.');
            at += 1 + wire[at];
        }
        at++;
        return sb.Length == 0 ? "." : sb.ToString();
    }

    /// <summary>RFC 1035 section 5.1 character-string: quotes and backslashes escaped, other octets outside printable ASCII as \DDD.</summary>
    private static void Quoted(StringBuilder sb, ReadOnlySpan<byte> octets)
    {
        sb.Append('"');
        foreach (var b in octets)
        {
            if (b is (byte)'"' or (byte)'\\') sb.Append('\\').Append((char)b);
            else if (b is < 0x20 or >= 0x7F) sb.Append('\\').Append(b.ToString("D3", CultureInfo.InvariantCulture));
            else sb.Append((char)b);
        }
        sb.Append('"');
    }

    /// <summary>Writes the record after its owner into a message buffer at <paramref name="at"/>; returns the end.</summary>
    internal int WriteAfterOwner(Span<byte> buffer, int at)
    {
        BinaryPrimitives.WriteUInt16BigEndian(buffer[at..], Type);
        BinaryPrimitives.WriteUInt16BigEndian(buffer[(at + 2)..], 1);
        BinaryPrimitives.WriteInt32BigEndian(buffer[(at + 4)..], Ttl);
        BinaryPrimitives.WriteUInt16BigEndian(buffer[(at + 8)..], (ushort)Rdata.Length);
        Rdata.Span.CopyTo(buffer[(at + 10)..]);
        return at + 10 + Rdata.Length;
    }
}
