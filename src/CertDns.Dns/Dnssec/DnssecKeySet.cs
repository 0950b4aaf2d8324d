using System.Globalization;
using System.Text;
using System.Text.Json;
using CertDns.Core;

namespace CertDns.Dns.Dnssec;

/// <summary>
/// A zone's DNSSEC keys, kept in one file outside the store, mode 0600 (or 0640 for a group the service runs in):
/// JSON <c>{"zone": "bl.example.", "keys": [{"tag", "algorithm", "flags", "state", "created", "published",
/// "activated", "retired", "removed", "successor", "private"}]}</c>, times in ISO 8601 UTC, <c>private</c> the base64
/// private half (the P-256 scalar d or the Ed25519 seed, 32 octets). The tag is checked against the key on load.
/// <para>
/// A set is a view of its keys at one moment (<see cref="AtTime"/>): each key's state comes from its times
/// (<see cref="DnssecKey.StateAt"/>), so a rollover the file plans moves on by the clock alone. Active keys sign: the
/// DNSKEY RRset with every active KSK, the other RRsets with every active ZSK, or with the KSKs when there is none (a
/// combined signing key, as Knot's onlinesign uses). Several active keys of a kind sign side by side (the
/// double-signature phase of a rollover, RFC 6781 section 4.1.2); published and retired keys are in the DNSKEY RRset
/// and sign nothing (pre-publication, section 4.1.1.1).
/// </para>
/// </summary>
public sealed class DnssecKeySet : IDisposable
{
    /// <summary>File mode for a new key set: read and write for the owner only.</summary>
    public const UnixFileMode NewFileMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;

    private readonly DnssecKeyState[] _states;
    private readonly bool _ownsKeys;

    /// <summary>
    /// The keys of <paramref name="zone"/> as they are at <paramref name="at"/> (each key's state from its times), or,
    /// without a moment, as their <see cref="DnssecKey.State"/> says.
    /// </summary>
    public DnssecKeySet(string zone, IEnumerable<DnssecKey> keys, DateTimeOffset? at = null)
        : this(zone, [.. keys], at, ownsKeys: true)
    {
    }

    private DnssecKeySet(string zone, DnssecKey[] keys, DateTimeOffset? at, bool ownsKeys)
    {
        Zone = zone.EndsWith('.') ? zone.ToLowerInvariant() : zone.ToLowerInvariant() + ".";
        ZoneWire = CanonicalName.FromText(Zone);
        Keys = keys;
        ViewedAt = at;
        _ownsKeys = ownsKeys;
        _states = [.. keys.Select(k => at is { } t ? k.StateAt(t) : k.State)];
        Published = [.. keys.Where((k, i) => DnssecKey.InDnskeyRrset(_states[i]))];
        KeySigningKeys = [.. keys.Where((k, i) => _states[i] == DnssecKeyState.Active && k.IsKeySigningKey)];
        var zsks = keys.Where((k, i) => _states[i] == DnssecKeyState.Active && !k.IsKeySigningKey).ToArray();
        ZoneSigningKeys = zsks.Length > 0 ? zsks : KeySigningKeys;
        DnskeyRdatas = [.. Published.Select(k => (ReadOnlyMemory<byte>)k.DnskeyRdata)];
    }

    /// <summary>The moment this view is of; null when the keys' stored states were taken as they are.</summary>
    public DateTimeOffset? ViewedAt { get; }

    /// <summary>The same keys as they are at <paramref name="at"/>; the view shares them and disposing it disposes nothing.</summary>
    public DnssecKeySet AtTime(DateTimeOffset at) => new(Zone, [.. Keys], at, ownsKeys: false);

    /// <summary>The state of <paramref name="key"/> (one of <see cref="Keys"/>) in this view.</summary>
    public DnssecKeyState StateOf(DnssecKey key)
    {
        for (int i = 0; i < Keys.Count; i++) if (ReferenceEquals(Keys[i], key)) return _states[i];
        throw new ArgumentException($"key {key.KeyTag} is not in this key set", nameof(key));
    }

    /// <summary>
    /// What the zone publishes and signs with in this view, as one comparable text: the DNSKEY RRset's tags, the tags that
    /// sign it and those that sign the rest. Two views with the same text serve the same zone.
    /// </summary>
    public string Signature =>
        $"dnskey {string.Join(',', Published.Select(k => k.KeyTag))}; ksk {string.Join(',', KeySigningKeys.Select(k => k.KeyTag))}; zsk {string.Join(',', ZoneSigningKeys.Select(k => k.KeyTag))}";

    /// <summary>The zone apex, lower case with a trailing dot; <see cref="ZoneWire"/> in wire form (the RRSIG signer's name).</summary>
    public string Zone { get; }

    public byte[] ZoneWire { get; }

    public IReadOnlyList<DnssecKey> Keys { get; }

    /// <summary>Keys in the DNSKEY RRset, and that RRset's RDATAs.</summary>
    public IReadOnlyList<DnssecKey> Published { get; }

    public IReadOnlyList<ReadOnlyMemory<byte>> DnskeyRdatas { get; }

    /// <summary>Active KSKs: they sign the DNSKEY RRset.</summary>
    public IReadOnlyList<DnssecKey> KeySigningKeys { get; }

    /// <summary>Active ZSKs, or the active KSKs when there is no ZSK: they sign every other RRset.</summary>
    public IReadOnlyList<DnssecKey> ZoneSigningKeys { get; }

    /// <summary>The keys that sign an RRset of <paramref name="type"/>.</summary>
    public IReadOnlyList<DnssecKey> SignersFor(ushort type) => type == DnssecType.Dnskey ? KeySigningKeys : ZoneSigningKeys;

    /// <summary>A new key set: one combined signing key (flags 257), or a KSK and a ZSK when <paramref name="split"/>.</summary>
    public static DnssecKeySet Generate(string zone, DnssecAlgorithm algorithm, bool split, DateTimeOffset now)
    {
        var keys = new List<DnssecKey> { DnssecKey.Generate(algorithm, keySigningKey: true, now) };
        if (split) keys.Add(DnssecKey.Generate(algorithm, keySigningKey: false, now));
        return new DnssecKeySet(zone, keys);
    }

    /// <summary>
    /// Reads a key set file. Refuses (with <see cref="BadInputException"/> naming the file and the reason) a file that
    /// others may read or anyone but its owner may write, a malformed one, a tag that does not match its key, or a set
    /// with no active key.
    /// </summary>
    public static DnssecKeySet Load(string path) => Load(path, DateTimeOffset.UtcNow);

    /// <summary>Reads a key set file, as it is at <paramref name="at"/> (see <see cref="Load(string)"/>).</summary>
    public static DnssecKeySet Load(string path, DateTimeOffset at)
    {
        if (!File.Exists(path)) throw new BadInputException(path, "no such key set file (certdns dnssec keygen creates one)");
        if (!OperatingSystem.IsWindows())
        {
            var mode = File.GetUnixFileMode(path);
            if ((mode & (UnixFileMode.OtherRead | UnixFileMode.OtherWrite | UnixFileMode.OtherExecute | UnixFileMode.GroupWrite)) != 0)
                throw new BadInputException(path, $"key set file is mode {ModeText(mode)}: private keys must not be readable by others (chmod 0600, or 0640 for the service's group)");
        }
        try
        {
            using var doc = JsonDocument.Parse(File.ReadAllBytes(path));
            var root = doc.RootElement;
            string zone = root.GetProperty("zone").GetString() ?? throw new FormatException("zone is null");
            CanonicalName.FromText(zone);
            var keys = new List<DnssecKey>();
            foreach (var k in root.GetProperty("keys").EnumerateArray())
            {
                var algorithm = (DnssecAlgorithm)k.GetProperty("algorithm").GetByte();
                ushort flags = k.GetProperty("flags").GetUInt16();
                var key = DnssecKey.FromPrivate(algorithm, flags, Convert.FromBase64String(k.GetProperty("private").GetString() ?? ""));
                if (k.TryGetProperty("tag", out var tag) && tag.GetUInt16() != key.KeyTag)
                    throw new FormatException($"key tag {tag.GetUInt16()} does not match its key (tag {key.KeyTag})");
                key.State = (k.GetProperty("state").GetString() ?? "") switch
                {
                    "published" => DnssecKeyState.Published,
                    "active" => DnssecKeyState.Active,
                    "retired" => DnssecKeyState.Retired,
                    var s => throw new FormatException($"key {key.KeyTag}: state '{s}' is not published, active or retired"),
                };
                key.Created = Time(k, "created") ?? throw new FormatException($"key {key.KeyTag}: no created time");
                key.Published = Time(k, "published");
                key.Activated = Time(k, "activated");
                key.Retired = Time(k, "retired");
                key.Removed = Time(k, "removed");
                if (k.TryGetProperty("successor", out var successor) && successor.ValueKind == JsonValueKind.Number) key.Successor = successor.GetUInt16();
                if (keys.Any(other => other.KeyTag == key.KeyTag))
                    throw new FormatException($"two keys with key tag {key.KeyTag}");
                keys.Add(key);
            }
            var set = new DnssecKeySet(zone, keys, at);
            if (set.ZoneSigningKeys.Count == 0 || set.KeySigningKeys.Count == 0)
                throw new FormatException($"no active key-signing key (flags 257) at {at.UtcDateTime:yyyy-MM-dd'T'HH:mm:ss'Z'}");
            return set;
        }
        catch (Exception e) when (e is JsonException or FormatException or KeyNotFoundException or InvalidOperationException or System.Security.Cryptography.CryptographicException)
        {
            throw new BadInputException(path, $"not a valid key set: {e.Message}");
        }
    }

    private static DateTimeOffset? Time(JsonElement key, string name) =>
        key.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String
            ? DateTimeOffset.Parse(v.GetString()!, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal)
            : null;

    private static string ModeText(UnixFileMode mode) => "0" + Convert.ToString((int)mode, 8);

    /// <summary>The file's text (private keys included).</summary>
    public byte[] ToJson()
    {
        using var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = true }))
        {
            w.WriteStartObject();
            w.WriteString("zone", Zone);
            w.WriteStartArray("keys");
            foreach (var k in Keys)
            {
                w.WriteStartObject();
                w.WriteNumber("tag", k.KeyTag);
                w.WriteNumber("algorithm", (byte)k.Algorithm);
                w.WriteNumber("flags", k.Flags);
                w.WriteString("state", StateOf(k).ToString().ToLowerInvariant());
                WriteTime(w, "created", k.Created);
                WriteTime(w, "published", k.Published);
                WriteTime(w, "activated", k.Activated);
                WriteTime(w, "retired", k.Retired);
                WriteTime(w, "removed", k.Removed);
                if (k.Successor is { } successor) w.WriteNumber("successor", successor);
                else w.WriteNull("successor");
                w.WriteString("private", Convert.ToBase64String(k.ExportPrivate()));
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteEndObject();
        }
        buffer.WriteByte((byte)'\n');
        return buffer.ToArray();
    }

    private static void WriteTime(Utf8JsonWriter w, string name, DateTimeOffset? time)
    {
        if (time is { } t) w.WriteString(name, t.ToUniversalTime().ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture));
        else w.WriteNull(name);
    }

    /// <summary>
    /// Writes the key set to <paramref name="path"/> atomically (a temporary file beside it, renamed), mode 0600, or
    /// the mode the file had if it was 0640. Refuses to replace an existing file unless <paramref name="overwrite"/>.
    /// </summary>
    public void Save(string path, bool overwrite)
    {
        var mode = NewFileMode;
        if (File.Exists(path))
        {
            if (!overwrite) throw new BadInputException(path, "key set file exists already (refusing to replace keys a parent's DS may point at)");
            if (!OperatingSystem.IsWindows() && File.GetUnixFileMode(path) == (NewFileMode | UnixFileMode.GroupRead)) mode |= UnixFileMode.GroupRead;
        }
        string full = Path.GetFullPath(path);
        string temp = Path.Combine(Path.GetDirectoryName(full)!, "." + Path.GetFileName(full) + "." + Environment.ProcessId + ".tmp");
        try
        {
            var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write };
            if (!OperatingSystem.IsWindows()) options.UnixCreateMode = mode;
            using (var f = new FileStream(temp, options))
            {
                f.Write(ToJson());
                f.Flush(flushToDisk: true);
            }
            File.Move(temp, full, overwrite: true);
        }
        catch
        {
            try { File.Delete(temp); } catch (IOException) { } catch (UnauthorizedAccessException) { }
            throw;
        }
    }

    /// <summary>The DNSKEY RRset in zone-file form (what Unbound's <c>trust-anchor-file</c> reads), one line per published key.</summary>
    public string DnskeyText(uint ttl)
    {
        var sb = new StringBuilder();
        foreach (var k in Published)
        {
            sb.Append(CultureInfo.InvariantCulture, $"{Zone}\t{ttl}\tIN\tDNSKEY\t{k.Flags} {DnssecType.Protocol} {(byte)k.Algorithm} {Convert.ToBase64String(k.PublicKey)}");
            sb.Append(CultureInfo.InvariantCulture, $" ; {RoleOf(k)} key tag {k.KeyTag}, {StateOf(k).ToString().ToLowerInvariant()}\n");
        }
        return sb.ToString();
    }

    /// <summary>DS records (SHA-256) for the parent, one line per published KSK.</summary>
    public string DsText(uint ttl)
    {
        var sb = new StringBuilder();
        foreach (var k in Published.Where(k => k.IsKeySigningKey))
        {
            var ds = k.DsRdata(ZoneWire);
            sb.Append(CultureInfo.InvariantCulture, $"{Zone}\t{ttl}\tIN\tDS\t{k.KeyTag} {(byte)k.Algorithm} {DnssecType.DigestSha256} {Convert.ToHexString(ds.AsSpan(4))}\n");
        }
        return sb.ToString();
    }

    /// <summary>
    /// A key's role: CSK, a combined signing key (flags 257 in a set with no ZSK: it signs everything); KSK (257 beside
    /// ZSKs: the DNSKEY RRset alone); ZSK (256: the rest).
    /// </summary>
    public string RoleOf(DnssecKey key) => !key.IsKeySigningKey ? "ZSK" : Keys.Any(k => !k.IsKeySigningKey) ? "KSK" : "CSK";

    public void Dispose()
    {
        if (!_ownsKeys) return;
        foreach (var k in Keys) k.Dispose();
    }
}
