namespace CertDns.Core;

/// <summary>
/// What a <see cref="StatusSnapshot"/> does not keep in memory: certificates by their other digests (SHA-1, MD5, the
/// key's SHA-256) and each certificate's details for TXT strings. The snapshot holds what an A answer needs (SHA-256,
/// validity, issuer, reason); a served zone asks the store's own indexes for the rest: holding every form would triple
/// the memory per certificate, so a snapshot indexes a form in memory only once it is asked (from
/// <see cref="Digests"/>, see FormIndexes) and asks here until then. Snapshots built from facts use <see cref="InMemory"/>. Implementations are safe for concurrent use;
/// <see cref="Find"/> allocates nothing: it is on the per-query path.
/// </summary>
public interface ICertificateDirectory
{
    /// <summary>
    /// Writes the SHA-256 of each certificate <paramref name="digest"/> names into <paramref name="sha256s"/>, 32 octets
    /// each, as many as fit, and returns how many it names: call again with more room when that is more.
    /// </summary>
    /// <param name="kind"><see cref="DigestKind.Sha1"/> or <see cref="DigestKind.Md5"/> of a certificate, or with
    /// <paramref name="isKey"/> the SHA-256 of its SubjectPublicKeyInfo (<see cref="DigestKind.Sha256"/>, or its first
    /// 28 octets as <see cref="DigestKind.Sha256Prefix"/>); any other form names nothing.</param>
    /// <param name="digest">The digest octets.</param>
    /// <param name="isKey">Whether the digest is of the key rather than the certificate.</param>
    /// <param name="sha256s">Room for the answers.</param>
    /// <exception cref="DirectoryUnavailableException">The directory cannot be read now (the query should fail, not answer unknown).</exception>
    int Find(DigestKind kind, ReadOnlySpan<byte> digest, bool isKey, Span<byte> sha256s);

    /// <summary>The other digests, serial and validity of the certificate whose SHA-256 this is, or null when it is not known.</summary>
    /// <exception cref="DirectoryUnavailableException">The directory cannot be read now.</exception>
    CertificateDetails? Details(ReadOnlySpan<byte> sha256);

    /// <summary>
    /// Every certificate's SHA-256 and details, in the order a snapshot over the same source holds them (the store's
    /// table order; certificates added after a snapshot was loaded come last): for exports and transfers, one pass.
    /// </summary>
    /// <exception cref="DirectoryUnavailableException">The directory cannot be read now.</exception>
    IEnumerable<(byte[] Sha256, CertificateDetails Details)> InOrder();

    /// <summary>
    /// Calls <paramref name="row"/> with every certificate's SHA-256 and its digest of one form (the SHA-1 or MD5 of the
    /// certificate, or with <paramref name="isKey"/> the SHA-256 of its key), best in <see cref="InOrder"/>'s order (the
    /// snapshot places a row in step with its records without a hash lookup; any other order is still right): one
    /// pass, for the snapshot's in-memory index of that form.
    /// </summary>
    /// <exception cref="DirectoryUnavailableException">The directory cannot be read now.</exception>
    void Digests(DigestKind kind, bool isKey, DigestRow row)
    {
        ArgumentNullException.ThrowIfNull(row);
        foreach (var (sha256, details) in InOrder())
            row(sha256, isKey ? details.SpkiSha256 : kind == DigestKind.Md5 ? details.Md5 : details.Sha1);
    }

    /// <summary>Whether a digest form is looked up here rather than in the snapshot's own SHA-256 index.</summary>
    public static bool Serves(DigestKind kind, int length, bool isKey) => (kind, length, isKey) switch
    {
        (DigestKind.Sha1, 20, false) or (DigestKind.Md5, 16, false) => true,
        (DigestKind.Sha256, 32, true) or (DigestKind.Sha256Prefix, 28, true) => true,
        _ => false,
    };

    /// <summary>A directory over arrays, for snapshots built from <see cref="CertFacts"/> (tests, small data).</summary>
    public static ICertificateDirectory InMemory(IEnumerable<CertFacts> certificates)
    {
        ArgumentNullException.ThrowIfNull(certificates);
        return new MemoryCertificateDirectory(certificates.ToList());
    }
}

/// <summary>One certificate of <see cref="ICertificateDirectory.Digests"/>: its SHA-256 and its digest of the form asked.</summary>
public delegate void DigestRow(ReadOnlySpan<byte> sha256, ReadOnlySpan<byte> digest);

/// <summary>A certificate's digests other than SHA-256, its serial number and its exact validity.</summary>
public sealed record CertificateDetails(byte[] Sha1, byte[] Md5, byte[] SpkiSha256, byte[] Serial, DateTimeOffset NotBefore, DateTimeOffset NotAfter);

/// <summary>The directory could not be read (the store file is gone, locked past the timeout, or damaged).</summary>
public sealed class DirectoryUnavailableException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>The other digests of a set of certificates in hash indexes, the same kind the snapshot uses for SHA-256.</summary>
internal sealed class MemoryCertificateDirectory : ICertificateDirectory
{
    private readonly IReadOnlyList<CertFacts> _certs;
    private readonly DigestTable<Digest32> _sha256;
    private readonly DigestTable<Digest20> _sha1;
    private readonly DigestTable<Digest16> _md5;
    private readonly DigestTable<Digest32> _spki;

    public MemoryCertificateDirectory(IReadOnlyList<CertFacts> certs)
    {
        _certs = certs;
        ulong seed = (ulong)Random.Shared.NextInt64();
        _sha256 = new([.. certs.Select(c => Digest32.Read(c.Sha256))], seed, unique: false);
        _sha1 = new([.. certs.Select(c => Digest20.Read(c.Sha1))], seed, unique: false);
        _md5 = new([.. certs.Select(c => Digest16.Read(c.Md5))], seed, unique: false);
        _spki = new([.. certs.Select(c => Digest32.Read(c.SpkiSha256))], seed, unique: false);
    }

    public int Find(DigestKind kind, ReadOnlySpan<byte> digest, bool isKey, Span<byte> sha256s)
    {
        if (!ICertificateDirectory.Serves(kind, digest.Length, isKey)) return 0;
        int count = 0, position = -1, r;
        switch (kind)
        {
            case DigestKind.Sha1:
                var sha1 = Digest20.Read(digest);
                while ((r = _sha1.NextEqual(sha1, ref position)) >= 0) Put(r, ref count, sha256s);
                break;
            case DigestKind.Md5:
                var md5 = Digest16.Read(digest);
                while ((r = _md5.NextEqual(md5, ref position)) >= 0) Put(r, ref count, sha256s);
                break;
            default:
                bool prefix = kind == DigestKind.Sha256Prefix;
                var key = prefix ? Digest32.ReadPrefix(digest) : Digest32.Read(digest);
                while ((r = _spki.Next(key.Head, ref position)) >= 0)
                {
                    if (prefix ? _spki[r].HasPrefix(key) : _spki[r].Equals(key)) Put(r, ref count, sha256s);
                }
                break;
        }
        return count;
    }

    public CertificateDetails? Details(ReadOnlySpan<byte> sha256)
    {
        int position = -1;
        int r = _sha256.NextEqual(Digest32.Read(sha256), ref position);
        return r < 0 ? null : DetailsOf(_certs[r]);
    }

    public IEnumerable<(byte[] Sha256, CertificateDetails Details)> InOrder() => _certs.Select(c => (c.Sha256, DetailsOf(c)));

    private static CertificateDetails DetailsOf(CertFacts c) => new(c.Sha1, c.Md5, c.SpkiSha256, c.Serial, c.NotBefore, c.NotAfter);

    private void Put(int record, ref int count, Span<byte> sha256s)
    {
        if ((count + 1) * 32 <= sha256s.Length) _sha256[record].Write(sha256s[(count * 32)..]);
        count++;
    }
}
