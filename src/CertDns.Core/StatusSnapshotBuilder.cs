namespace CertDns.Core;

/// <summary>
/// Fills the arrays of a <see cref="StatusSnapshot"/> one certificate at a time, with no object per certificate:
/// the store streams its rows in here. Not thread-safe; build once, then publish the result.
/// </summary>
public sealed class StatusSnapshotBuilder
{
    private readonly List<CaFacts> _cas = [];
    private readonly List<(int Record, RevocationFacts Facts)> _revocations = [];
    private readonly List<(int Record, BlockFacts Facts)> _blocks = [];
    private readonly List<(Digest32 Sha256, BlockFacts Facts)> _lateBlocks = [];
    // Made by the first build; from then on nothing more may be added.
    private SnapshotColumns? _columns;

    /// <summary>Prepares room for <paramref name="capacity"/> certificates (more may be added, at the cost of copies).</summary>
    public StatusSnapshotBuilder(int capacity)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(capacity);
        Sha256 = new Digest32[capacity];
        Validity = new uint[2 * capacity];
        CaOf = new ushort[capacity];
        Flags = new byte[capacity];
    }

    /// <summary>Certificates added so far.</summary>
    public int Count { get; private set; }

    internal Digest32[] Sha256 { get; private set; }
    internal uint[] Validity { get; private set; }
    internal ushort[] CaOf { get; private set; }
    internal byte[] Flags { get; private set; }

    /// <summary>Registers a CA; certificates refer to it by the number returned.</summary>
    /// <exception cref="InvalidOperationException">More than 65,536 CAs.</exception>
    public int AddCa(CaFacts ca)
    {
        ArgumentNullException.ThrowIfNull(ca);
        if (_cas.Count > ushort.MaxValue) throw new InvalidOperationException("A snapshot holds at most 65,536 CAs.");
        _cas.Add(ca);
        return _cas.Count - 1;
    }

    /// <summary>
    /// Adds one certificate by its SHA-256 (its other digests and serial are the directory's); the span is read, not
    /// kept. Validity is kept to the second between 1970 and 2106 and clamped outside it, for status and TTL; the
    /// directory has the exact dates.
    /// </summary>
    /// <exception cref="ArgumentException">The digest has the wrong length or the CA number is unknown.</exception>
    /// <exception cref="InvalidOperationException">The snapshot was built already.</exception>
    public void Add(ReadOnlySpan<byte> sha256, long notBefore, long notAfter, int ca, RevocationFacts? revocation, BlockFacts? block)
    {
        if (_columns is not null) throw new InvalidOperationException("The snapshot was built already.");
        if (sha256.Length != 32) throw new ArgumentException("A SHA-256 digest is 32 octets.", nameof(sha256));
        if ((uint)ca >= (uint)_cas.Count) throw new ArgumentException($"No CA number {ca}.", nameof(ca));
        if (Count == Sha256.Length) Grow();
        int r = Count++;
        Sha256[r] = Digest32.Read(sha256);
        // 32-bit Unix seconds halve the column. A date before 1970 or after 2106 (RFC 5280's 99991231235959Z "no
        // expiry") is clamped to the range's end: every comparison with a present-day clock and every TTL come out
        // the same; texts take the exact dates from the directory.
        Validity[2 * r] = Seconds(notBefore);
        Validity[2 * r + 1] = Seconds(notAfter);
        CaOf[r] = (ushort)ca;
        // The reason and the block mark fit one octet: status needs nothing else.
        Flags[r] = StatusFlags.Encode(revocation?.Reason, block is not null);
        if (revocation is not null) _revocations.Add((r, revocation));
        if (block is not null) _blocks.Add((r, block));
    }

    /// <summary>Unix seconds as a snapshot keeps them (see <see cref="Add"/>).</summary>
    internal static uint Seconds(long unixSeconds) => (uint)Math.Clamp(unixSeconds, 0, uint.MaxValue);

    /// <summary>
    /// Marks a certificate blocked by local policy by its SHA-256, before or after it is added: the store reads
    /// listings apart from certificates. An unknown SHA-256 is ignored at <see cref="Build"/>.
    /// </summary>
    public void Block(ReadOnlySpan<byte> sha256, BlockFacts block)
    {
        ArgumentNullException.ThrowIfNull(block);
        if (_columns is not null) throw new InvalidOperationException("The snapshot was built already.");
        _lateBlocks.Add((Digest32.Read(sha256), block));
    }

    /// <summary>Finishes the arrays and builds the snapshot (its SHA-256 index).</summary>
    /// <param name="serial">The zone's SOA serial for this data.</param>
    /// <param name="directory">Where the certificates' other digests are found; null answers those forms as unknown.</param>
    /// <exception cref="ArgumentException">Two certificates have the same SHA-256.</exception>
    public StatusSnapshot Build(uint serial, ICertificateDirectory? directory) => new(this, serial, directory);

    internal static StatusSnapshotBuilder From(IReadOnlyCollection<CertFacts> list)
    {
        var builder = new StatusSnapshotBuilder(list.Count);
        var cas = new Dictionary<CaFacts, int>(ReferenceEqualityComparer.Instance);
        foreach (var c in list)
        {
            if (!cas.TryGetValue(c.Ca, out int ca)) cas[c.Ca] = ca = builder.AddCa(c.Ca);
            builder.Add(c.Sha256, c.NotBefore.ToUnixTimeSeconds(), c.NotAfter.ToUnixTimeSeconds(), ca, c.Revocation, c.Block);
        }
        return builder;
    }

    /// <summary>The arrays of the snapshot, made once: a second build gets the same ones.</summary>
    internal SnapshotColumns Finish()
    {
        if (_columns is not null) return _columns;
        Trim();
        if (_lateBlocks.Count > 0)
        {
            // Listings are few: one pass over the records against a small map finds theirs.
            var blocks = new Dictionary<Digest32, BlockFacts>();
            foreach (var (sha256, facts) in _lateBlocks) blocks[sha256] = facts;
            for (int r = 0; r < Count; r++)
            {
                if (!blocks.TryGetValue(Sha256[r], out var facts)) continue;
                Flags[r] = StatusFlags.WithBlock(Flags[r]);
                _blocks.Add((r, facts));
            }
            _lateBlocks.Clear();
        }
        // Revocation details as columns (time, CRL number by index; the reason is in Flags), not an object per entry:
        // a tenth of ten million certificates would otherwise be a million objects.
        _revocations.Sort((x, y) => x.Record.CompareTo(y.Record));
        var numbers = new CrlNumbers([]);
        var revokedRecords = new int[_revocations.Count];
        var revokedAt = new long[_revocations.Count];
        var revokedCrl = new int[_revocations.Count];
        for (int i = 0; i < _revocations.Count; i++)
        {
            var (record, facts) = _revocations[i];
            revokedRecords[i] = record;
            revokedAt[i] = facts.RevokedAt.ToUnixTimeSeconds();
            revokedCrl[i] = numbers.IndexOf(facts.CrlNumber);
        }
        _revocations.Clear();
        var blockedRecords = _blocks.Select(x => x.Record).ToArray();
        var blocked = _blocks.Select(x => x.Facts).ToArray();
        Array.Sort(blockedRecords, blocked);
        return _columns = new SnapshotColumns(Sha256, Validity, CaOf, Flags, [.. _cas], revokedRecords, revokedAt, revokedCrl, numbers.ToArray(), blockedRecords, blocked);
    }

    private void Grow()
    {
        int size = Math.Max(16, Sha256.Length * 2);
        Resize(size);
    }

    private void Trim()
    {
        if (Sha256.Length != Count) Resize(Count);
    }

    private void Resize(int size)
    {
        var sha256 = Sha256; Array.Resize(ref sha256, size); Sha256 = sha256;
        var validity = Validity; Array.Resize(ref validity, 2 * size); Validity = validity;
        var caOf = CaOf; Array.Resize(ref caOf, size); CaOf = caOf;
        var flags = Flags; Array.Resize(ref flags, size); Flags = flags;
    }
}

/// <summary>
/// The arrays a <see cref="StatusSnapshot"/> is made of, one entry per record in the first four (SHA-256, validity as
/// two entries, CA number, status octet); revocation details and listings as side columns sorted by record.
/// </summary>
internal sealed record SnapshotColumns(Digest32[] Sha256, uint[] Validity, ushort[] CaOf, byte[] Flags, CaFacts[] Cas,
    int[] RevokedRecords, long[] RevokedAt, int[] RevokedCrl, string[] CrlNumbers, int[] BlockedRecords, BlockFacts[] Blocks);

/// <summary>The distinct CRL numbers revocations cite, each by its index (-1 for none): a few per snapshot.</summary>
internal sealed class CrlNumbers
{
    private readonly List<string> _numbers;
    private readonly Dictionary<string, int> _index = new(StringComparer.Ordinal);

    public CrlNumbers(string[] held)
    {
        _numbers = [.. held];
        for (int i = 0; i < held.Length; i++) _index.TryAdd(held[i], i);
    }

    public int IndexOf(string? number)
    {
        if (number is null) return -1;
        if (!_index.TryGetValue(number, out int index))
        {
            _index[number] = index = _numbers.Count;
            _numbers.Add(number);
        }
        return index;
    }

    public string[] ToArray() => [.. _numbers];
}
