namespace CertDns.Core;

/// <summary>
/// The query-name forms (SPEC section 1) a zone file or zone transfer carries for each certificate. CertDns answers
/// every form itself; a copy of the zone in NSD, Knot, BIND or rbldnsd has only the names written into it, so a
/// secondary serving Sendmail (MD5 or SHA-1, one label per byte) needs those forms published.
/// </summary>
[Flags]
public enum NameForms
{
    /// <summary>SHA-256 split 32.32 (Exim, the Postfix policy service): always published.</summary>
    Split = 1,
    /// <summary>SHA-256 truncated to 56 hex, one label.</summary>
    Sha256Prefix = 2,
    /// <summary>SHA-256 in base32, one 52-character label.</summary>
    Base32 = 4,
    /// <summary>SHA-1, 40 hex in one label.</summary>
    Sha1 = 8,
    /// <summary>MD5, 32 hex in one label.</summary>
    Md5 = 16,
    /// <summary>SHA-1, one label per byte (Sendmail's <c>${cert_fp}</c> with confCERT_FINGERPRINT_ALGORITHM=sha1).</summary>
    Sha1Bytes = 32,
    /// <summary>MD5, one label per byte (Sendmail's default <c>${cert_fp}</c>).</summary>
    Md5Bytes = 64,
    /// <summary>SHA-256 of the public key, split, under <c>key</c> (Postfix <c>ccert_pubkey_fingerprint</c>); one name per key.</summary>
    Key = 128,
    /// <summary>Every form above.</summary>
    All = 255,
}

/// <summary>The names of a certificate in each <see cref="NameForms"/>, relative to the view and apex.</summary>
public static class PublishedNames
{
    /// <summary>How the command line spells each form.</summary>
    public static IReadOnlyList<(string Word, NameForms Form)> Words { get; } =
    [
        ("split", NameForms.Split), ("sha256-56", NameForms.Sha256Prefix), ("base32", NameForms.Base32), ("sha1", NameForms.Sha1),
        ("md5", NameForms.Md5), ("sha1-bytes", NameForms.Sha1Bytes), ("md5-bytes", NameForms.Md5Bytes), ("key", NameForms.Key), ("all", NameForms.All),
    ];

    /// <summary>
    /// Reads a comma-separated list such as <c>md5-bytes,sha1</c>; the split SHA-256 form is always included.
    /// </summary>
    /// <exception cref="BadInputException">A word is not a form; the message lists the forms.</exception>
    public static NameForms Parse(string list, string input = "--forms")
    {
        ArgumentNullException.ThrowIfNull(list);
        var forms = NameForms.Split;
        foreach (var word in list.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var match = Words.FirstOrDefault(w => string.Equals(w.Word, word, StringComparison.OrdinalIgnoreCase));
            if (match.Word is null) throw new BadInputException(input, $"'{word}' is not a name form (one or more of {string.Join(", ", Words.Select(w => w.Word))})");
            forms |= match.Form;
        }
        return forms;
    }

    /// <summary>The command-line words for <paramref name="forms"/>, as <see cref="Parse"/> reads them.</summary>
    public static string Describe(NameForms forms) =>
        string.Join(',', Words.Where(w => w.Form != NameForms.All && (forms & w.Form) != 0).Select(w => w.Word));

    /// <summary>The certificate's names in <paramref name="forms"/>, key form excepted (a key may be shared: see <see cref="Key"/>).</summary>
    public static IEnumerable<string> Of(CertFacts cert, NameForms forms)
    {
        ArgumentNullException.ThrowIfNull(cert);
        yield return Split(cert.Sha256);
        if ((forms & NameForms.Sha256Prefix) != 0) yield return Hex.Lower(cert.Sha256.AsSpan(0, 28));
        if ((forms & NameForms.Base32) != 0) yield return Hex.Base32(cert.Sha256);
        if ((forms & NameForms.Sha1) != 0) yield return Hex.Lower(cert.Sha1);
        if ((forms & NameForms.Md5) != 0) yield return Hex.Lower(cert.Md5);
        if ((forms & NameForms.Sha1Bytes) != 0) yield return PerByte(cert.Sha1);
        if ((forms & NameForms.Md5Bytes) != 0) yield return PerByte(cert.Md5);
    }

    /// <summary>SHA-256 split 32.32: a 64-character label is illegal in DNS.</summary>
    public static string Split(ReadOnlySpan<byte> sha256)
    {
        var hex = Hex.Lower(sha256);
        return $"{hex[..32]}.{hex[32..]}";
    }

    /// <summary>One label per byte, as Sendmail's fingerprint with its colons turned into dots.</summary>
    public static string PerByte(ReadOnlySpan<byte> digest) => Hex.Colons(digest).Replace(':', '.').ToLowerInvariant();

    /// <summary>The name of a public key: its SPKI SHA-256 split, under <c>key</c>.</summary>
    public static string Key(ReadOnlySpan<byte> spkiSha256) => Split(spkiSha256) + ".key";
}
