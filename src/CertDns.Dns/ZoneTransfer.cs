using System.Buffers.Binary;
using System.Net;
using System.Text;
using CertDns.Core;
using CertDns.Dns.Dnssec;

namespace CertDns.Dns;

/// <summary>
/// AXFR (RFC 5936) of the zone generated from the snapshot, so NSD, Knot or BIND secondaries can carry it: SOA, NS, the
/// name server's address, every published name with its A and TXT, and the SOA again; and IXFR (RFC 1995) from the
/// <see cref="ZoneJournal"/>'s differences, or as AXFR when the journal does not reach the client's serial. Messages are
/// at most about 16 KB, written one at a time (<see cref="TransferMessages"/>); only the first carries the question.
/// </summary>
public static class ZoneTransfer
{
    /// <summary>
    /// Starts a transfer of <paramref name="zone"/>'s apex. The messages are written one at a time as the
    /// connection takes them, so a transfer of millions of names holds one message in memory, not the zone.
    /// </summary>
    /// <param name="id">The query's ID.</param>
    /// <param name="question">The question section as received (the apex, AXFR or IXFR, the class).</param>
    /// <param name="snapshot">The data as served now.</param>
    /// <param name="zone">The zone.</param>
    /// <param name="now">The moment statuses are evaluated at.</param>
    /// <param name="clientSerial">
    /// For IXFR, the serial the client has. A client already at the zone's serial or past it gets one SOA (RFC 1995
    /// section 4); one the journal reaches gets the condensed differences from its serial (section 5); any other gets
    /// the whole zone as AXFR sends it.
    /// </param>
    /// <param name="journal">The differences between published serials, or null when none are kept.</param>
    /// <param name="signer">For a signed zone, the signer of its transfer form (the journal's differences are signed by it too).</param>
    internal static TransferMessages Start(ushort id, ReadOnlySpan<byte> question, StatusSnapshot snapshot, Zone zone, DateTimeOffset now, uint? clientSerial,
        ZoneJournal? journal = null, TransferSigner? signer = null)
    {
        IEnumerable<ZoneRecord> records;
        var kind = TransferKind.Axfr;
        if (signer is not null) journal = journal?.Signer == signer ? journal : null;
        if (clientSerial is not { } serial) records = Records(snapshot, zone, now, signer);
        else if (NotOlder(serial, snapshot.Serial)) (records, kind) = ([zone.Soa(snapshot.Serial)], TransferKind.IxfrCurrent);
        else if (journal?.Differences(serial, snapshot.Serial, zone) is { } differences) (records, kind) = (differences, TransferKind.IxfrIncremental);
        else (records, kind) = (Records(snapshot, zone, now, signer), TransferKind.IxfrWhole);
        return new TransferMessages(id, question.ToArray(), records) { Kind = kind };
    }

    /// <summary>Serial number arithmetic (RFC 1982): whether <paramref name="serial"/> is <paramref name="current"/> or later.</summary>
    private static bool NotOlder(uint serial, uint current) => (int)(serial - current) >= 0;

    /// <summary>
    /// Every record of the transfer in order: SOA, NS, the name server's address, each name's A and TXT, the SOA again;
    /// for a signed zone its signed form (<see cref="TransferSigner.Axfr"/>).
    /// </summary>
    private static IEnumerable<ZoneRecord> Records(StatusSnapshot snapshot, Zone zone, DateTimeOffset now, TransferSigner? signer = null)
    {
        if (signer is not null) return signer.Axfr(snapshot, now);
        return Unsigned(snapshot, zone, now);
    }

    private static IEnumerable<ZoneRecord> Unsigned(StatusSnapshot snapshot, Zone zone, DateTimeOffset now)
    {
        foreach (var record in zone.ApexRecords(snapshot.Serial)) yield return record;
        foreach (var record in zone.EntryRecords(snapshot, now)) yield return record;
        yield return zone.Soa(snapshot.Serial);
    }

    /// <summary>
    /// A NOTIFY (RFC 1996) for the zone to a secondary, over UDP, unsigned, retried until acknowledged (<see cref="Notify"/>
    /// checks the acknowledgement): the secondary then checks our SOA and transfers the zone when the serial moved.
    /// </summary>
    public static async Task<bool> NotifyAsync(IPEndPoint secondary, Zone zone, uint serial, CancellationToken cancel = default) =>
        (await Notify.SendAsync(new NotifyTarget(secondary, null), zone, serial, cancel: cancel).ConfigureAwait(false)).Acknowledged;
}

/// <summary>
/// The messages of one AXFR, each written into the same buffer when asked for: owner names compressed against the
/// names already in that message (RFC 1035 section 4.1.4), so a name's A and TXT share one owner and every owner
/// shares the apex. Dispose it to end the pass over the store early.
/// </summary>
public sealed class TransferMessages : IDisposable
{
    private const int MessageTarget = 16 * 1024;
    // A compression pointer holds a 14-bit offset.
    private const int PointerLimit = 0x3FFF;

    private readonly ushort _id;
    private readonly byte[] _question;
    private readonly IEnumerator<ZoneRecord> _records;
    // Two octets of TCP length, then the message; a record is far smaller than the room left past the target.
    private readonly byte[] _buffer = new byte[2 + 65535];
    private readonly Dictionary<string, int> _names = new(StringComparer.OrdinalIgnoreCase);
    private readonly Dictionary<string, int>.AlternateLookup<ReadOnlySpan<char>> _lookup;
    private bool _first = true;
    private bool _done;

    internal TransferMessages(ushort id, byte[] question, IEnumerable<ZoneRecord> records)
    {
        _id = id;
        _question = question;
        _records = records.GetEnumerator();
        _lookup = _names.GetAlternateLookup<ReadOnlySpan<char>>();
    }

    /// <summary>
    /// Writes the next message, with its two-octet TCP length in front; false when the transfer is complete. The
    /// frame is valid until the next call.
    /// </summary>
    public bool Next(out ReadOnlyMemory<byte> frame)
    {
        frame = default;
        if (_done) return false;
        _names.Clear();
        int at = 2 + 12;
        if (_first)
        {
            _question.CopyTo(_buffer, at);
            at += _question.Length;
        }
        int count = 0;
        while (count < 60000 && at - 2 < MessageTarget)
        {
            if (!_records.MoveNext())
            {
                _done = true;
                break;
            }
            var record = _records.Current;
            at = WriteName(record.Owner, at);
            at = record.WriteAfterOwner(_buffer, at);
            count++;
        }
        if (count == 0) return false;

        var header = _buffer.AsSpan(2, 12);
        header.Clear();
        BinaryPrimitives.WriteUInt16BigEndian(header, _id);
        header[2] = 0x84; // QR, opcode QUERY, AA
        BinaryPrimitives.WriteUInt16BigEndian(header[4..], (ushort)(_first ? 1 : 0));
        BinaryPrimitives.WriteUInt16BigEndian(header[6..], (ushort)count);
        BinaryPrimitives.WriteUInt16BigEndian(_buffer, (ushort)(at - 2));
        _first = false;
        frame = _buffer.AsMemory(0, at);
        return true;
    }

    /// <summary>Writes <paramref name="name"/> at <paramref name="at"/>, ending in a pointer to the longest suffix already in this message.</summary>
    private int WriteName(string name, int at)
    {
        var rest = name.AsSpan();
        while (!rest.IsEmpty)
        {
            if (_lookup.TryGetValue(rest, out int offset))
            {
                BinaryPrimitives.WriteUInt16BigEndian(_buffer.AsSpan(at), (ushort)(0xC000 | offset));
                return at + 2;
            }
            // Offsets count from the message's first octet, after the TCP length.
            if (at - 2 <= PointerLimit) _names[rest.ToString()] = at - 2;
            int dot = rest.IndexOf('.');
            var label = dot < 0 ? rest : rest[..dot];
            _buffer[at] = (byte)label.Length;
            at += 1 + Encoding.ASCII.GetBytes(label, _buffer.AsSpan(at + 1));
            rest = dot < 0 ? [] : rest[(dot + 1)..];
        }
        _buffer[at] = 0;
        return at + 1;
    }

    /// <summary>What the transfer sends.</summary>
    public TransferKind Kind { get; init; }

    /// <summary>Ends the pass over the store.</summary>
    public void Dispose() => _records.Dispose();
}

/// <summary>What a transfer answers with (counted for the metrics: an IXFR answered whole is a journal that fell short).</summary>
public enum TransferKind
{
    /// <summary>An AXFR: the whole zone.</summary>
    Axfr,
    /// <summary>An IXFR from a client at the current serial or past it: one SOA.</summary>
    IxfrCurrent,
    /// <summary>An IXFR answered with the journal's differences.</summary>
    IxfrIncremental,
    /// <summary>An IXFR from a serial the journal does not reach: the whole zone.</summary>
    IxfrWhole,
}
