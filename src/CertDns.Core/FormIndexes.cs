namespace CertDns.Core;

/// <summary>
/// A snapshot's in-memory indexes of the SHA-1, MD5 and key forms (issue #17), each built the first time its form is
/// asked, in the background, in one scan of the store's certificates in table order; until it is built (or when it
/// cannot be) the form is looked up in the store as before. A form nobody asks costs no memory; one that is asked costs
/// 16 octets a certificate and a third more slots of 4 (about 21 MB at 1M), and a lookup is a hash probe, not an index
/// descent with a read of a 4 KB page (a quarter of the server's CPU in the profile of the SHA-1 form).
/// <para>
/// Each certificate is kept as the first 16 octets of its digest (all of an MD5). A lookup answers from memory only
/// when exactly one certificate of the snapshot has the asked digest's 16 octets, or none: none means not registered
/// (a certificate the snapshot holds always has its octets here), and two or more (renewals carrying one key, or
/// two digests alike in 128 bits) go to the store, which compares whole digests and applies the key rule. So an
/// answer from memory is another certificate's only if some certificate's digest agrees with a registered one's in
/// its first 128 bits without being it: a second preimage of 128 bits, about 2^128 / N digests of work for N
/// registered certificates, against SHA-1's 160 and far beyond the collisions that already weaken the SHA-1 and MD5
/// forms themselves.
/// </para>
/// </summary>
internal sealed class FormIndexes
{
    private const int NotAsked = 0, Building = 1, Built = 2, Failed = 3;
    private readonly DigestTable<Digest16>?[] _tables = new DigestTable<Digest16>?[3];
    private readonly int[] _states = new int[3];

    /// <summary>The answer when memory cannot say (not built yet, or the store must decide).</summary>
    public const int AskTheStore = -2;

    /// <summary>
    /// The record of the one certificate <paramref name="digest"/> names, -1 when it names none, or
    /// <see cref="AskTheStore"/>; the first call for a form starts its build on the thread pool.
    /// </summary>
    public int Find(DigestKind kind, ReadOnlySpan<byte> digest, bool isKey, StatusSnapshot snapshot)
    {
        int form = Form(kind, isKey);
        var table = Volatile.Read(ref _tables[form]);
        if (table is null)
        {
            if (Interlocked.CompareExchange(ref _states[form], Building, NotAsked) == NotAsked)
                ThreadPool.UnsafeQueueUserWorkItem(static s => s.Indexes.Build(s.Form, s.Snapshot), (Indexes: this, Form: form, Snapshot: snapshot), preferLocal: false);
            return AskTheStore;
        }
        var key = Digest16.Read(digest);
        // Certificates the store had no row for hold a tag whose first four octets are zero (below): such digests are
        // asked of the store, so no query meets those tags.
        if (key.A >> 32 == 0) return AskTheStore;
        int position = -1;
        int record = table.NextEqual(key, ref position);
        if (record < 0) return -1;
        return table.NextEqual(key, ref position) < 0 ? record : AskTheStore;
    }

    /// <summary>
    /// The indexes built so far, for a snapshot of the same certificates in the same records (a patch that added none):
    /// a certificate's digests never change, so each record's tag still holds. A form still building or failed here
    /// starts afresh there when asked.
    /// </summary>
    public FormIndexes Carried()
    {
        var next = new FormIndexes();
        for (int form = 0; form < _tables.Length; form++)
        {
            if (Volatile.Read(ref _tables[form]) is not { } table) continue;
            next._tables[form] = table;
            next._states[form] = Built;
        }
        return next;
    }

    /// <summary>Whether a form's index is built (tests and metrics).</summary>
    public bool IsBuilt(DigestKind kind, bool isKey) => Volatile.Read(ref _tables[Form(kind, isKey)]) is not null;

    /// <summary>Builds one form's index now, on this thread; false when the store could not be read.</summary>
    public bool BuildNow(DigestKind kind, bool isKey, StatusSnapshot snapshot)
    {
        int form = Form(kind, isKey);
        Interlocked.CompareExchange(ref _states[form], Building, NotAsked);
        Build(form, snapshot);
        return Volatile.Read(ref _tables[form]) is not null;
    }

    /// <summary>The slot of a form: 0 SHA-1, 1 MD5, 2 the key's SHA-256 (whole or its 28-octet prefix).</summary>
    private static int Form(DigestKind kind, bool isKey) => isKey ? 2 : kind == DigestKind.Md5 ? 1 : 0;

    private void Build(int form, StatusSnapshot snapshot)
    {
        try
        {
            var tags = new Digest16[snapshot.Count];
            // Until the store names a record's digest its tag is its record number with the first four octets zero:
            // distinct heads, so no long probe run, and never met by a query (Find sends those to the store).
            for (int r = 0; r < tags.Length; r++) tags[r] = new Digest16((ulong)(r + 1), 0);
            snapshot.DigestsByRecord(form == 2 ? DigestKind.Sha256 : form == 1 ? DigestKind.Md5 : DigestKind.Sha1, form == 2, (record, digest) =>
            {
                if (digest.Length >= 16) tags[record] = Digest16.Read(digest);
            });
            ulong seed = (ulong)Random.Shared.NextInt64() ^ ((ulong)Random.Shared.NextInt64() << 1);
            Volatile.Write(ref _tables[form], new DigestTable<Digest16>(tags, seed, unique: false));
            Volatile.Write(ref _states[form], Built);
        }
#pragma warning disable CA1031 // A background build that fails leaves the form to the store, which reports its own failures per query.
        catch (Exception)
#pragma warning restore CA1031
        {
            Volatile.Write(ref _states[form], Failed);
        }
    }
}
