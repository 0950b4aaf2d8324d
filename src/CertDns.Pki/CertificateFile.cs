using CertDns.Core;

namespace CertDns.Pki;

/// <summary>Reads certificate files: DER, PEM (one block or a bundle), or bare base64.</summary>
public static class CertificateFile
{
    private static readonly string[] Labels = ["CERTIFICATE", "X509 CERTIFICATE"];

    /// <summary>
    /// Every certificate in <paramref name="data"/>. PEM text around blocks and blocks of other types are
    /// ignored; DER may hold several certificates one after another.
    /// </summary>
    /// <param name="data">The file's bytes.</param>
    /// <param name="source">The file name or URL, for error messages.</param>
    /// <exception cref="BadInputException">Nothing usable, or a block that is not a certificate.</exception>
    public static IReadOnlyList<ParsedCertificate> Read(byte[] data, string source) => Read(data, source, bouncyCastleOnly: false);

    /// <summary><see cref="Read(byte[], string)"/>, with every field read the BouncyCastle way when asked (the tests' oracle).</summary>
    internal static IReadOnlyList<ParsedCertificate> Read(byte[] data, string source, bool bouncyCastleOnly)
    {
        ArgumentNullException.ThrowIfNull(data);
        var blobs = InputText.Decode(data, source, Labels, "certificate", out var kind);
        if (blobs.Count == 0)
        {
            throw new BadInputException(source, kind == InputText.Kind.Pem
                ? "no certificate found (no CERTIFICATE block in the PEM text)"
                : "no certificate found (neither DER, PEM nor base64)");
        }
        var result = new List<ParsedCertificate>();
        foreach (var blob in blobs)
        {
            foreach (var der in SplitDer(blob, source))
            {
                result.Add(ParsedCertificate.Parse(der, source, bouncyCastleOnly));
            }
        }
        return result;
    }

    /// <summary>
    /// Whether a file found in a folder is meant as certificates: false for text that is neither PEM, DER nor
    /// base64 (a README) and for PEM without a CERTIFICATE block (a CSR, a key). A broken certificate block or
    /// DER that does not parse still counts, so <see cref="Read(byte[], string)"/> refuses it rather than it being skipped.
    /// </summary>
    public static bool MayHoldCertificates(byte[] data)
    {
        ArgumentNullException.ThrowIfNull(data);
        try
        {
            return InputText.Decode(data, "", Labels, "certificate", out _).Count > 0;
        }
        catch (BadInputException)
        {
            return true;
        }
    }

    /// <summary>Splits concatenated DER elements; a cut-off last element is "truncated DER".</summary>
    private static List<byte[]> SplitDer(byte[] blob, string source)
    {
        var parts = new List<byte[]>();
        int pos = 0;
        while (pos < blob.Length)
        {
            var rest = blob.AsSpan(pos);
            if (rest[0] != 0x30)
            {
                throw new BadInputException(source, parts.Count == 0
                    ? "not a certificate: does not start with a DER SEQUENCE"
                    : $"not a certificate: {rest.Length} bytes after certificate {parts.Count} are not a certificate");
            }
            if (!DerUtil.TryReadHeader(rest, out _, out int header, out long length))
            {
                throw new BadInputException(source, rest.Length < 6 ? "truncated DER" : "not a certificate: bad DER length");
            }
            if (header + length > rest.Length)
            {
                throw new BadInputException(source, $"truncated DER: the certificate claims {header + length} bytes, {rest.Length} present");
            }
            // A file of one certificate (the common case) is its own DER: no copy of each.
            parts.Add(pos == 0 && header + length == blob.Length ? blob : rest[..(header + (int)length)].ToArray());
            pos += header + (int)length;
        }
        return parts;
    }
}
