using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;
using CertDns.Core;
using CertDns.Dns.Dnssec;

namespace CertDns.Dns;

/// <summary>How far back the zone journal reaches (the <c>[journal]</c> table).</summary>
/// <param name="MaxSize">The most octets of records it keeps (owner, type, class, TTL, RDATA each); 0 keeps none.</param>
/// <param name="MaxAge">The oldest change it keeps, by the time its serial was published.</param>
public sealed record JournalOptions(long MaxSize, TimeSpan MaxAge)
{
    /// <summary>16 MiB (about 100,000 changed records) and 7 days: longer than a secondary's SOA expire.</summary>
    public static JournalOptions Default { get; } = new(16L * 1024 * 1024, TimeSpan.FromDays(7));
}

/// <summary>
/// The differences between the serials the zone was published at, for IXFR (RFC 1995). Each step holds the records one
/// publication deleted and added, computed from the two snapshots at the moments they were published, for every name
/// form and view (<see cref="ZoneExporter.Entries"/>): so time-driven serial advances are differences too. Records compare
/// by owner, type and RDATA, not TTL (a TTL that only counts down is no change). Bounded by size and age, oldest dropped
/// first; a step that does not fit alone empties it. A client whose serial it does not reach gets the whole zone.
/// Kept in one file beside the store (written whole, renamed into place, checksummed); a file that does not end at the
/// serial served after a restart, or does not check, is dropped, never trusted. Thread-safe: readers see one state.
/// </summary>
public sealed class ZoneJournal
{
    private static readonly byte[] Magic = "CertDns journal 2\n"u8.ToArray();

    private volatile ZoneOptions _options;
    private readonly JournalOptions _limits;
    private readonly string? _path;
    private readonly Action<string>? _log;
    private State _state;
    // A folder the server cannot write fails every save: said once, until a save succeeds again.
    private bool _unwritable;

    /// <summary>An empty journal at serial 0, saved to <paramref name="path"/> when one is given.</summary>
    /// <param name="options">The zone whose names are journalled.</param>
    /// <param name="limits">Size and age bounds.</param>
    /// <param name="path">The journal file, or null to keep it in memory only.</param>
    /// <param name="log">One line when the journal is dropped or cannot be written.</param>
    public ZoneJournal(ZoneOptions options, JournalOptions limits, string? path = null, Action<string>? log = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(limits);
        (_options, _limits, _path, _log) = (options, limits, path, log);
        _state = new State(0, DateTimeOffset.MinValue, [], null);
    }

    /// <summary>
    /// For a signed zone, what each step adds to the changed names' records: their RRSIGs, the SOA's and the NSEC3
    /// records that changed (<see cref="TransferSigner.SignStep"/>); a step it cannot sign empties the journal. Set it
    /// before the first <see cref="Record"/>, with the signer transfers use.
    /// </summary>
    public TransferSigner? Signer { get; set; }

    /// <summary>The journal file beside a store.</summary>
    public static string PathBeside(string storePath) => storePath + ".journal";

    /// <summary>The newest serial the journal reaches.</summary>
    public uint Serial => Volatile.Read(ref _state).Newest;

    /// <summary>When <see cref="Serial"/> was published: the moment its snapshot's records were evaluated at.</summary>
    public DateTimeOffset PublishedAt => Volatile.Read(ref _state).NewestAt;

    /// <summary>The store's commit token (its change log) of the store state <see cref="Serial"/> was computed from, when known.</summary>
    public ulong? Commit => Volatile.Read(ref _state).Commit;

    /// <summary>The oldest serial a client may hold and still be sent differences.</summary>
    public uint OldestSerial => Volatile.Read(ref _state).Base;

    /// <summary>How many steps it holds.</summary>
    public int Steps => Volatile.Read(ref _state).Steps.Length;

    /// <summary>The octets of records it holds.</summary>
    public long Size => Volatile.Read(ref _state).Size;

    /// <summary>
    /// Reads the journal file. It is kept only when it ends at <paramref name="serial"/> (the serial now served) and at the
    /// store commit <paramref name="commit"/> (the store's token for that serial: another means the store lost the commit
    /// the journal was computed from, a power loss, or is another file); any other (missing, damaged, from before a change
    /// made while the server was down) leaves an empty journal at that serial.
    /// </summary>
    /// <returns>Whether the file was kept.</returns>
    public bool Load(uint serial, DateTimeOffset now, ulong? commit = null)
    {
        State? read = null;
        if (_path is not null)
        {
            try
            {
                read = File.Exists(_path) ? Decode(File.ReadAllBytes(_path)) : null;
                if (read is null && File.Exists(_path)) _log?.Invoke($"{_path}: the journal is damaged: dropped, secondaries older than serial {serial} transfer the whole zone");
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                _log?.Invoke($"{_path}: cannot read the journal ({e.Message}): secondaries older than serial {serial} transfer the whole zone");
            }
        }
        if (read is not null && read.Newest == serial && read.Commit != commit)
            _log?.Invoke($"{_path}: the journal was computed from a store commit at serial {serial} the store does not hold (a power loss?): dropped, secondaries older than it transfer the whole zone");
        if (read is not null && read.Newest == serial && read.Commit == commit)
        {
            Volatile.Write(ref _state, Trim(read, now));
            return true;
        }
        Reset(serial, now, commit);
        return false;
    }

    /// <summary>
    /// Journals the names of <paramref name="options"/> from the next step on (a configuration reload changed the zone):
    /// the caller empties the journal at the serial that publishes the new zone, since records of the old zone's names
    /// and apex are no step of the new one.
    /// </summary>
    public void Use(ZoneOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        _options = options;
    }

    /// <summary>Empties the journal: it reaches back to <paramref name="serial"/>, published at <paramref name="at"/>, alone.</summary>
    /// <param name="serial">The serial served.</param>
    /// <param name="at">When it was published.</param>
    /// <param name="commit">The store's commit token of the data served under it, when known.</param>
    public void Reset(uint serial, DateTimeOffset at, ulong? commit = null) => Save(new State(serial, at, [], commit));

    /// <summary>
    /// Records the publication of <paramref name="now"/> at <paramref name="nowAt"/>, after <paramref name="before"/>
    /// (published at <paramref name="beforeAt"/>, the journal's newest serial). Same serial and same records: nothing is
    /// added. A difference that cannot be journalled (larger than the bound, a certificate no longer described, the
    /// same serial with other records) empties the journal at the new serial, so older clients get the whole zone.
    /// </summary>
    /// <param name="before">The snapshot served before, the journal's newest.</param>
    /// <param name="beforeAt">When it was published.</param>
    /// <param name="now">The snapshot published now.</param>
    /// <param name="nowAt">When it is published.</param>
    /// <param name="changed">The certificates the store's change log names between the two (no CA or CRL change among
    /// them): only those and the ones time moves are compared (<see cref="StatusSnapshot.ChangesAmong"/>); null compares all.</param>
    /// <param name="commit">The store's commit token of <paramref name="now"/>'s data, kept with the journal's newest serial.</param>
    /// <returns>The step's size in octets of records, or -1 when the journal was emptied.</returns>
    public long Record(StatusSnapshot before, DateTimeOffset beforeAt, StatusSnapshot now, DateTimeOffset nowAt,
        IReadOnlyCollection<byte[]>? changed = null, ulong? commit = null)
    {
        ArgumentNullException.ThrowIfNull(before);
        ArgumentNullException.ThrowIfNull(now);
        var state = Volatile.Read(ref _state);
        if (state.Newest != before.Serial)
        {
            Reset(now.Serial, nowAt, commit);
            return -1;
        }
        Step? step;
        try
        {
            step = Difference(before, beforeAt, now, nowAt, changed);
        }
        catch (DirectoryUnavailableException)
        {
            step = null;
        }
        if (now.Serial == before.Serial)
        {
            // The same serial must mean the same records (RFC 1995 section 3): other records under it cannot be a step.
            if (step is { Deleted.Length: 0, Added.Length: 0 })
            {
                if (commit != state.Commit) Save(state with { Commit = commit });
                return 0;
            }
            Reset(now.Serial, nowAt, commit);
            return -1;
        }
        if (step is null || !Newer(now.Serial, before.Serial))
        {
            if (step is null) _log?.Invoke($"journal: the change to serial {now.Serial} is larger than the journal's {_limits.MaxSize} octets: secondaries transfer the whole zone");
            Reset(now.Serial, nowAt, commit);
            return -1;
        }
        if (Signer is { } signer && (step = Signed(signer, step!, before, beforeAt, now, nowAt)) is null)
        {
            Reset(now.Serial, nowAt, commit);
            return -1;
        }
        Save(Trim(new State(state.Base, state.BaseAt, [.. state.Steps, step], commit), nowAt));
        return step.Size;
    }

    /// <summary><paramref name="step"/> with the signed zone's changes added, or null when it cannot be signed or outgrows the bound.</summary>
    private Step? Signed(TransferSigner signer, Step step, StatusSnapshot before, DateTimeOffset beforeAt, StatusSnapshot now, DateTimeOffset nowAt)
    {
        var deleted = new List<ZoneRecord>(step.Deleted);
        var added = new List<ZoneRecord>(step.Added);
        if (!signer.SignStep(before, beforeAt, now, nowAt, deleted, added)) return null;
        long size = deleted.Sum(SizeOf) + added.Sum(SizeOf);
        if (size > _limits.MaxSize)
        {
            _log?.Invoke($"journal: the signed change to serial {now.Serial} is larger than the journal's {_limits.MaxSize} octets: secondaries transfer the whole zone");
            return null;
        }
        return step with { Deleted = [.. deleted], Added = [.. added], Size = size };
    }

    /// <summary>RFC 1982 serial arithmetic: whether <paramref name="a"/> is newer than <paramref name="b"/>.</summary>
    private static bool Newer(uint a, uint b) => a != b && a - b < 0x8000_0000u;

    /// <summary>
    /// The IXFR answer records from <paramref name="from"/> to <paramref name="current"/> (RFC 1995 section 4), condensed
    /// into one deletion and one addition sequence (section 5): the current SOA, the client's SOA, the records deleted, the
    /// current SOA, the records added, the current SOA. Null when the journal does not reach from there to there.
    /// </summary>
    internal List<ZoneRecord>? Differences(uint from, uint current, Zone zone)
    {
        var state = Volatile.Read(ref _state);
        if (state.Newest != current) return null;
        int first = Array.FindIndex(state.Steps, s => s.From == from);
        if (first < 0) return null;
        // Net count per record: a record deleted then added again is unchanged (and the reverse); only the ends differ.
        var net = new Dictionary<RecordKey, (int Count, ZoneRecord Record)>();
        for (int i = first; i < state.Steps.Length; i++)
        {
            foreach (var record in state.Steps[i].Deleted) Count(net, record, -1);
            foreach (var record in state.Steps[i].Added) Count(net, record, +1);
        }
        var records = new List<ZoneRecord> { zone.Soa(current), zone.Soa(from) };
        records.AddRange(net.Values.Where(v => v.Count < 0).Select(v => v.Record));
        records.Add(zone.Soa(current));
        records.AddRange(net.Values.Where(v => v.Count > 0).Select(v => v.Record));
        records.Add(zone.Soa(current));
        return records;
    }

    private static void Count(Dictionary<RecordKey, (int Count, ZoneRecord Record)> net, ZoneRecord record, int by)
    {
        var key = RecordKey.Of(record);
        var count = (net.TryGetValue(key, out var was) ? was.Count : 0) + by;
        // A deletion keeps the record the client holds; an addition the newest (its TTL).
        if (count == 0) net.Remove(key);
        else net[key] = (count, by > 0 || !net.ContainsKey(key) ? record : was.Record);
    }

    /// <summary>The records <paramref name="now"/> publishes differently from <paramref name="before"/>, or null past the size bound.</summary>
    private Step? Difference(StatusSnapshot before, DateTimeOffset beforeAt, StatusSnapshot now, DateTimeOffset nowAt, IReadOnlyCollection<byte[]>? changed)
    {
        var zone = new Zone(_options);
        var maxTtl = TimeSpan.FromSeconds(_options.MaxTtl);
        var deleted = new List<ZoneRecord>();
        var added = new List<ZoneRecord>();
        var keys = (_options.Forms & NameForms.Key) != 0 ? new HashSet<string>(StringComparer.Ordinal) : null;
        long size = 0;
        var changes = changed is null ? now.ChangesSince(before, beforeAt, nowAt) : now.ChangesAmong(before, beforeAt, nowAt, changed);
        foreach (var (was, isNow) in changes)
        {
            var old = was is null ? [] : Records(zone, was, beforeAt, maxTtl);
            var @new = isNow is null ? [] : Records(zone, isNow, nowAt, maxTtl);
            size += Compare(old, @new, deleted, added);
            if (keys is not null)
            {
                if (was is not null) keys.Add(Convert.ToHexString(was.SpkiSha256));
                if (isNow is not null) keys.Add(Convert.ToHexString(isNow.SpkiSha256));
            }
            if (size > _limits.MaxSize) return null;
        }
        // A key's one status comes from all its certificates (SPEC section 1): evaluated again wherever one of them changed.
        foreach (var hex in keys ?? [])
        {
            var spki = Convert.FromHexString(hex);
            var name = PublishedNames.Key(spki);
            var old = KeyRecords(zone, name, before.Evaluate(DigestKind.Sha256, spki, isKey: true, beforeAt, maxTtl));
            var @new = KeyRecords(zone, name, now.Evaluate(DigestKind.Sha256, spki, isKey: true, nowAt, maxTtl));
            size += Compare(old, @new, deleted, added);
            if (size > _limits.MaxSize) return null;
        }
        return new Step(before.Serial, now.Serial, nowAt, [.. deleted], [.. added], size);
    }

    /// <summary>Adds what only <paramref name="old"/> has to the deletions and what only <paramref name="new"/> has to the additions.</summary>
    private static long Compare(List<ZoneRecord> old, List<ZoneRecord> @new, List<ZoneRecord> deleted, List<ZoneRecord> added)
    {
        long size = 0;
        var newKeys = @new.Select(RecordKey.Of).ToHashSet();
        var oldKeys = old.Select(RecordKey.Of).ToHashSet();
        foreach (var record in old.Where(r => !newKeys.Contains(RecordKey.Of(r))))
        {
            deleted.Add(record);
            size += SizeOf(record);
        }
        foreach (var record in @new.Where(r => !oldKeys.Contains(RecordKey.Of(r))))
        {
            added.Add(record);
            size += SizeOf(record);
        }
        return size;
    }

    private static long SizeOf(ZoneRecord record) => record.Owner.Length + 2 + 10 + record.Rdata.Length;

    /// <summary>A certificate's records (every name form and view) as the zone publishes them at <paramref name="at"/>.</summary>
    private List<ZoneRecord> Records(Zone zone, CertFacts cert, DateTimeOffset at, TimeSpan maxTtl)
    {
        var verdict = StatusEvaluator.Evaluate(cert, at, maxTtl);
        var records = new List<ZoneRecord>();
        foreach (var name in PublishedNames.Of(cert, _options.Forms)) AddEntries(zone, records, name, verdict);
        return records;
    }

    private static List<ZoneRecord> KeyRecords(Zone zone, string name, Verdict? verdict)
    {
        var records = new List<ZoneRecord>();
        if (verdict is not null) AddEntries(zone, records, name, verdict);
        return records;
    }

    private static void AddEntries(Zone zone, List<ZoneRecord> records, string name, Verdict verdict)
    {
        foreach (var entry in ZoneExporter.InViews(name, verdict))
        {
            var owner = entry.Owner + "." + zone.Apex;
            records.Add(new ZoneRecord(owner, RecordType.A, entry.Ttl, StatusCodes.Address(entry.Status).ToArray()));
            records.Add(ZoneRecord.Txt(owner, entry.Ttl, entry.Text));
        }
    }

    /// <summary>Drops the oldest steps past the age bound, then past the size bound.</summary>
    private State Trim(State state, DateTimeOffset now)
    {
        int drop = 0;
        long size = state.Size;
        while (drop < state.Steps.Length && (now - state.Steps[drop].At > _limits.MaxAge || size > _limits.MaxSize))
        {
            size -= state.Steps[drop].Size;
            drop++;
        }
        if (drop == 0) return state;
        var last = state.Steps[drop - 1];
        return new State(last.To, last.At, state.Steps[drop..], state.Commit);
    }

    /// <summary>Publishes <paramref name="state"/>: the file first (renamed into place), then the state readers see.</summary>
    private void Save(State state)
    {
        if (_path is not null)
        {
            var temp = $"{_path}.{Guid.NewGuid():N}.tmp";
            try
            {
                File.WriteAllBytes(temp, Encode(state));
                File.Move(temp, _path, overwrite: true);
                _unwritable = false;
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // A read-only folder: the journal lives in memory; after a restart secondaries transfer the whole zone.
                try { File.Delete(temp); } catch (Exception d) when (d is IOException or UnauthorizedAccessException) { }
                if (!_unwritable) _log?.Invoke($"{_path}: cannot write the journal ({e.Message}): kept in memory only");
                _unwritable = true;
            }
        }
        Volatile.Write(ref _state, state);
    }

    private static byte[] Encode(State state)
    {
        using var stream = new MemoryStream();
        using (var w = new BinaryWriter(stream, Encoding.UTF8, leaveOpen: true))
        {
            w.Write(Magic);
            w.Write(state.Commit.HasValue);
            w.Write(state.Commit ?? 0);
            w.Write(state.Base);
            w.Write(state.BaseAt.ToUnixTimeMilliseconds());
            w.Write(state.Steps.Length);
            foreach (var step in state.Steps)
            {
                w.Write(step.From);
                w.Write(step.To);
                w.Write(step.At.ToUnixTimeMilliseconds());
                foreach (var list in new[] { step.Deleted, step.Added })
                {
                    w.Write(list.Length);
                    foreach (var record in list)
                    {
                        w.Write(record.Owner);
                        w.Write(record.Type);
                        w.Write(record.Ttl);
                        w.Write((ushort)record.Rdata.Length);
                        w.Write(record.Rdata.Span);
                    }
                }
            }
        }
        // A checksum over the rest: a damaged or cut file is dropped rather than turned into wrong differences.
        var body = stream.ToArray();
        return [.. body, .. SHA256.HashData(body)];
    }

    /// <summary>The state a journal file holds, or null when it is not one or does not check.</summary>
    private static State? Decode(byte[] file)
    {
        if (file.Length < Magic.Length + 32) return null;
        var body = file.AsSpan(0, file.Length - 32);
        if (!SHA256.HashData(body).AsSpan().SequenceEqual(file.AsSpan(file.Length - 32)) || !body.StartsWith(Magic)) return null;
        try
        {
            using var r = new BinaryReader(new MemoryStream(file, Magic.Length, body.Length - Magic.Length), Encoding.UTF8);
            bool hasCommit = r.ReadBoolean();
            ulong commit = r.ReadUInt64();
            var baseSerial = r.ReadUInt32();
            var baseAt = DateTimeOffset.FromUnixTimeMilliseconds(r.ReadInt64());
            var steps = new Step[r.ReadInt32()];
            for (int i = 0; i < steps.Length; i++)
            {
                uint from = r.ReadUInt32(), to = r.ReadUInt32();
                var at = DateTimeOffset.FromUnixTimeMilliseconds(r.ReadInt64());
                var lists = new ZoneRecord[2][];
                long size = 0;
                for (int l = 0; l < 2; l++)
                {
                    lists[l] = new ZoneRecord[r.ReadInt32()];
                    for (int k = 0; k < lists[l].Length; k++)
                    {
                        var owner = r.ReadString();
                        var type = r.ReadUInt16();
                        var ttl = r.ReadInt32();
                        var rdata = r.ReadBytes(r.ReadUInt16());
                        lists[l][k] = new ZoneRecord(owner, type, ttl, rdata);
                        size += SizeOf(lists[l][k]);
                    }
                }
                steps[i] = new Step(from, to, at, lists[0], lists[1], size);
            }
            return new State(baseSerial, baseAt, steps, hasCommit ? commit : null);
        }
        catch (Exception e) when (e is EndOfStreamException or ArgumentException or OverflowException or IOException)
        {
            return null;
        }
    }

    /// <summary>The records one publication deleted and added, from serial <paramref name="From"/> to <paramref name="To"/>.</summary>
    private sealed record Step(uint From, uint To, DateTimeOffset At, ZoneRecord[] Deleted, ZoneRecord[] Added, long Size);

    /// <summary>
    /// What the journal holds: it reaches back to <paramref name="Base"/>, then one step per publication; <paramref name="Commit"/>
    /// is the store's commit token of the data its newest serial was computed from, when known.
    /// </summary>
    private sealed record State(uint Base, DateTimeOffset BaseAt, Step[] Steps, ulong? Commit)
    {
        public uint Newest => Steps.Length == 0 ? Base : Steps[^1].To;

        public DateTimeOffset NewestAt => Steps.Length == 0 ? BaseAt : Steps[^1].At;

        public long Size { get; } = Steps.Sum(s => s.Size);
    }

    /// <summary>A record's identity for IXFR: owner (case-insensitive, RFC 4343), type and RDATA; the TTL is not part of it.</summary>
    private readonly record struct RecordKey(string Owner, ushort Type, string Rdata)
    {
        public static RecordKey Of(ZoneRecord record) => new(record.Owner.ToLowerInvariant(), record.Type, Convert.ToHexString(record.Rdata.Span));
    }
}
