using System.Security.Cryptography;
using CertDns.Core;

namespace CertDns.Pki;

/// <summary>Reads CRL files: DER, PEM (<c>-----BEGIN X509 CRL-----</c>), or bare base64.</summary>
public static class CrlFile
{
    private static readonly string[] Labels = ["X509 CRL"];

    /// <summary>
    /// Parses and validates the structure of one CRL without building an object per entry; entries are read
    /// again lazily by <see cref="ParsedCrl.Entries"/>. The signature is not checked here: see
    /// <see cref="ParsedCrl.VerifySignedBy"/>.
    /// </summary>
    /// <param name="data">The file's bytes.</param>
    /// <param name="source">The file name or URL, for error messages.</param>
    /// <exception cref="BadInputException">The input is not exactly one well-formed v1/v2 CRL.</exception>
    public static ParsedCrl Parse(byte[] data, string source) => Read(data, source, deferEntries: false);

    /// <summary>
    /// As <see cref="Parse"/>, but the revokedCertificates entries are checked as <see cref="ParsedCrl.Entries"/> first
    /// walks them (or by <see cref="ParsedCrl.CheckEntries"/>): ingestion stores them in the same walk, inside a
    /// transaction that a bad entry rolls back. Until then <see cref="ParsedCrl.EntryCount"/> is 0.
    /// </summary>
    /// <param name="data">The file's bytes.</param>
    /// <param name="source">The file name or URL, for error messages.</param>
    /// <param name="sha256">SHA-256 of <paramref name="data"/> when the caller has it (a 50 MB CRL is not hashed twice).</param>
    /// <exception cref="BadInputException">Anything but the entries is not one well-formed v1/v2 CRL.</exception>
    public static ParsedCrl ParseDeferred(byte[] data, string source, byte[]? sha256 = null) => Read(data, source, deferEntries: true, sha256);

    private static ParsedCrl Read(byte[] data, string source, bool deferEntries, byte[]? sha256 = null)
    {
        ArgumentNullException.ThrowIfNull(data);
        var blobs = InputText.Decode(data, source, Labels, "CRL", out var kind);
        if (blobs.Count == 0)
        {
            throw new BadInputException(source, kind == InputText.Kind.Pem
                ? "not a CRL: no X509 CRL block in the PEM text"
                : "not a CRL: neither DER, PEM nor base64");
        }
        if (blobs.Count > 1)
        {
            throw new BadInputException(source, $"{blobs.Count} CRLs in one file; give one CRL per file");
        }
        return ParsedCrl.Parse(blobs[0], sha256 ?? SHA256.HashData(data), source, deferEntries);
    }
}
