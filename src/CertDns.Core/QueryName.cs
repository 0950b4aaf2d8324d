namespace CertDns.Core;

/// <summary>The kind of digest a query name carries (SPEC section 1).</summary>
public enum DigestKind
{
    /// <summary>SHA-256, 64 hex split over labels, or one 52-char base32 label.</summary>
    Sha256,
    /// <summary>SHA-256 truncated to its first 28 octets: one 56-hex label (RFC 7929 precedent).</summary>
    Sha256Prefix,
    /// <summary>SHA-1, 40 hex.</summary>
    Sha1,
    /// <summary>MD5, 32 hex.</summary>
    Md5,
}

/// <summary>How a name below the apex is to be answered before any data is consulted.</summary>
public enum NameKind
{
    /// <summary>The apex itself: SOA and NS.</summary>
    Apex,
    /// <summary>A name that exists only as a prefix of longer names: NOERROR, no records (NODATA + SOA).</summary>
    EmptyNonTerminal,
    /// <summary>A complete fingerprint to look up.</summary>
    Fingerprint,
    /// <summary>An RFC 5782 section 5 test entry.</summary>
    TestEntry,
    /// <summary>A name that can never exist: NXDOMAIN.</summary>
    NonExistent,
}

/// <summary>
/// A query name relative to the zone apex, decoded: <c>&lt;fingerprint&gt;[.key][.&lt;view&gt;]</c>.
/// </summary>
/// <param name="Kind">How to answer it.</param>
/// <param name="View">The view label, if any.</param>
/// <param name="IsKey">Whether <c>.key</c> marks a SubjectPublicKeyInfo fingerprint.</param>
/// <param name="Digest">The digest kind, for <see cref="NameKind.Fingerprint"/>.</param>
/// <param name="Value">The digest bytes, for <see cref="NameKind.Fingerprint"/>.</param>
/// <param name="UnknownIsNoData">
/// For a fingerprint that is not registered: true when the name may still be the right-hand part of a
/// longer split name (shorter than 64 hex), so it must answer NODATA, never NXDOMAIN (RFC 8020, RFC 9156).
/// </param>
/// <param name="TestStatus">The status a test entry stands for.</param>
public sealed record QueryName(
    NameKind Kind,
    ZoneView View = ZoneView.Combined,
    bool IsKey = false,
    DigestKind Digest = DigestKind.Sha256,
    byte[]? Value = null,
    bool UnknownIsNoData = false,
    CertStatus TestStatus = CertStatus.Unknown)
{
    /// <summary>RFC 1035 section 2.3.4: a label is at most 63 octets.</summary>
    public const int MaxLabelLength = 63;

    /// <summary>The RFC 5782 section 5 test entries and the status each shows.</summary>
    public static IReadOnlyDictionary<string, CertStatus> TestEntries { get; } = new Dictionary<string, CertStatus>(StringComparer.OrdinalIgnoreCase)
    {
        ["test"] = CertStatus.Revoked,
        ["test-blocked"] = CertStatus.Blocked,
        ["test-hold"] = CertStatus.Hold,
        ["test-valid"] = CertStatus.Valid,
        ["test-stale"] = CertStatus.Stale,
        ["test-untrusted"] = CertStatus.Untrusted,
        ["test-expired"] = CertStatus.Expired,
    };

    /// <summary>Parses a name given as text, relative to the apex (<c>""</c> is the apex).</summary>
    /// <exception cref="BadInputException">A label is empty or longer than 63 octets.</exception>
    public static QueryName Parse(string relativeName)
    {
        var labels = relativeName.Length == 0 ? [] : relativeName.TrimEnd('.').Split('.');
        return Parse(labels);
    }

    /// <summary>Decodes the labels below the apex, leftmost first.</summary>
    /// <exception cref="BadInputException">A label is empty or longer than 63 octets.</exception>
    public static QueryName Parse(IReadOnlyList<string> labels)
    {
        int wireLength = 0;
        foreach (var label in labels)
        {
            if (label.Length == 0) throw new BadInputException(string.Join('.', labels), "empty label");
            int octets = System.Text.Encoding.UTF8.GetByteCount(label);
            if (octets > MaxLabelLength)
                throw new BadInputException(string.Join('.', labels), $"label of {label.Length} octets; DNS labels are at most {MaxLabelLength}");
            wireLength += octets + 1;
        }

        // Text goes through the same wire decoder as DNS queries, so the CLI and the server cannot disagree.
        var wire = new byte[wireLength];
        int pos = 0;
        foreach (var label in labels)
        {
            int octets = System.Text.Encoding.UTF8.GetBytes(label, wire.AsSpan(pos + 1));
            wire[pos] = (byte)octets;
            pos += octets + 1;
        }
        Span<byte> digest = stackalloc byte[NameCodec.MaxDigestLength];
        var d = NameCodec.Decode(wire, digest);
        return new QueryName(d.Kind, d.View, d.IsKey, d.Digest,
            d.Kind == NameKind.Fingerprint ? digest[..d.DigestLength].ToArray() : null, d.UnknownIsNoData, d.TestStatus);
    }

}
