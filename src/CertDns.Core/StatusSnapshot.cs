namespace CertDns.Core;

/// <summary>
/// An immutable view of everything the zone publishes, indexed by every fingerprint form. Built off to the side
/// and published by one reference swap; readers never see a half-applied change.
/// </summary>
public sealed class StatusSnapshot
{
    private readonly Dictionary<string, CertFacts> _bySha256 = new(StringComparer.Ordinal);
    private readonly Dictionary<string, CertFacts> _bySha1 = new(StringComparer.Ordinal);
    private readonly Dictionary<string, CertFacts> _byMd5 = new(StringComparer.Ordinal);
    private readonly Dictionary<string, CertFacts> _bySha256Prefix = new(StringComparer.Ordinal);
    private readonly Dictionary<string, List<CertFacts>> _bySpki = new(StringComparer.Ordinal);
    private readonly Dictionary<string, List<CertFacts>> _bySpkiPrefix = new(StringComparer.Ordinal);

    /// <summary>An empty snapshot with serial 0.</summary>
    public static StatusSnapshot Empty { get; } = new(0, []);

    /// <summary>Builds the index.</summary>
    /// <param name="serial">The zone's SOA serial for this data.</param>
    /// <param name="certificates">Every registered certificate.</param>
    public StatusSnapshot(uint serial, IEnumerable<CertFacts> certificates)
    {
        Serial = serial;
        foreach (var cert in certificates)
        {
            _bySha256[Hex.Lower(cert.Sha256)] = cert;
            _bySha1[Hex.Lower(cert.Sha1)] = cert;
            _byMd5[Hex.Lower(cert.Md5)] = cert;
            _bySha256Prefix[Hex.Lower(cert.Sha256.AsSpan(0, 28))] = cert;
            var spki = Hex.Lower(cert.SpkiSha256);
            Add(_bySpki, spki, cert);
            Add(_bySpkiPrefix, spki[..56], cert);
        }
        Count = _bySha256.Count;
    }

    /// <summary>The SOA serial of this data.</summary>
    public uint Serial { get; }

    /// <summary>How many certificates it holds.</summary>
    public int Count { get; }

    /// <summary>Every certificate (for export and status reports).</summary>
    public IEnumerable<CertFacts> Certificates => _bySha256.Values;

    /// <summary>The certificates a fingerprint names: one for a certificate digest, all carrying the key for a key digest.</summary>
    public IReadOnlyList<CertFacts> Find(DigestKind kind, ReadOnlySpan<byte> digest, bool isKey)
    {
        var hex = Hex.Lower(digest);
        if (isKey)
        {
            // Postfix's ccert_pubkey_fingerprint: only full SHA-256 of the SPKI is registered; other digests name no key.
            var keys = kind switch
            {
                DigestKind.Sha256 => _bySpki,
                DigestKind.Sha256Prefix => _bySpkiPrefix,
                _ => null,
            };
            return keys is not null && keys.TryGetValue(hex, out var certs) ? certs : [];
        }
        var index = kind switch
        {
            DigestKind.Sha256 => _bySha256,
            DigestKind.Sha256Prefix => _bySha256Prefix,
            DigestKind.Sha1 => _bySha1,
            _ => _byMd5,
        };
        return index.TryGetValue(hex, out var cert) ? [cert] : [];
    }

    private static void Add(Dictionary<string, List<CertFacts>> index, string key, CertFacts cert)
    {
        if (!index.TryGetValue(key, out var list)) index[key] = list = [];
        list.Add(cert);
    }

    /// <summary>The verdict for a name, or null when the fingerprint is not registered.</summary>
    public Verdict? Evaluate(QueryName name, DateTimeOffset now, TimeSpan? maxTtl = null)
    {
        if (name.Kind != NameKind.Fingerprint || name.Value is null) return null;
        var certs = Find(name.Digest, name.Value, name.IsKey);
        if (certs.Count == 0) return null;
        return name.IsKey ? StatusEvaluator.EvaluateKey(certs, now, maxTtl) : StatusEvaluator.Evaluate(certs[0], now, maxTtl);
    }
}
