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
    private bool _finished;

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
    internal CaFacts[] Cas => [.. _cas];
    internal int[] RevokedRecords { get; private set; } = [];
    internal long[] RevokedAt { get; private set; } = [];
    internal int[] RevokedCrl { get; private set; } = [];
    internal string[] CrlNumbers { get; private set; } = [];
    internal int[] BlockedRecords { get; private set; } = [];
    internal BlockFacts[] Blocks { get; private set; } = [];

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
        if (_finished) throw new InvalidOperationException("The snapshot was built already.");
        if (sha256.Length != 32) throw new ArgumentException("A SHA-256 digest is 32 octets.", nameof(sha256));
        if ((uint)ca >= (uint)_cas.Count) throw new ArgumentException($"No CA number {ca}.", nameof(ca));
        if (Count == Sha256.Length) Grow();
        int r = Count++;
        Sha256[r] = Digest32.Read(sha256);
        // 32-bit Unix seconds halve the column. A date before 1970 or after 2106 (RFC 5280's 99991231235959Z "no
        // expiry") is clamped to the range's end: every comparison with a present-day clock and every TTL come out
        // the same; texts take the exact dates from the directory.
        Validity[2 * r] = (uint)Math.Clamp(notBefore, 0, uint.MaxValue);
        Validity[2 * r + 1] = (uint)Math.Clamp(notAfter, 0, uint.MaxValue);
        CaOf[r] = (ushort)ca;
        // The reason and the block mark fit one octet: status needs nothing else.
        Flags[r] = StatusFlags.Encode(revocation?.Reason, block is not null);
        if (revocation is not null) _revocations.Add((r, revocation));
        if (block is not null) _blocks.Add((r, block));
    }

    /// <summary>
    /// Marks a certificate blocked by local policy by its SHA-256, before or after it is added: the store reads
    /// listings apart from certificates. An unknown SHA-256 is ignored at <see cref="Build"/>.
    /// </summary>
    public void Block(ReadOnlySpan<byte> sha256, BlockFacts block)
    {
        ArgumentNullException.ThrowIfNull(block);
        if (_finished) throw new InvalidOperationException("The snapshot was built already.");
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

    internal void Finish()
    {
        // Building is once: the side lists are moved into arrays and cleared here.
        if (_finished) return;
        _finished = true;
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
        var numbers = new Dictionary<string, int>(StringComparer.Ordinal);
        RevokedRecords = new int[_revocations.Count];
        RevokedAt = new long[_revocations.Count];
        RevokedCrl = new int[_revocations.Count];
        for (int i = 0; i < _revocations.Count; i++)
        {
            var (record, facts) = _revocations[i];
            RevokedRecords[i] = record;
            RevokedAt[i] = facts.RevokedAt.ToUnixTimeSeconds();
            if (facts.CrlNumber is null) RevokedCrl[i] = -1;
            else if (!numbers.TryGetValue(facts.CrlNumber, out RevokedCrl[i])) numbers[facts.CrlNumber] = RevokedCrl[i] = numbers.Count;
        }
        CrlNumbers = new string[numbers.Count];
        foreach (var (number, index) in numbers) CrlNumbers[index] = number;
        _revocations.Clear();
        BlockedRecords = [.. _blocks.Select(x => x.Record)];
        Blocks = [.. _blocks.Select(x => x.Facts)];
        Array.Sort(BlockedRecords, Blocks);
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
