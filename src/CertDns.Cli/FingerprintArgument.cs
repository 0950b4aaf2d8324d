using CertDns.Core;
using CertDns.Pki;
using CertDns.Store;

namespace CertDns.Cli;

/// <summary>
/// Reads what an operator types for a certificate: a certificate file, a digest in any form of docs/spec.md section 1 (hex with or
/// without colons, 64/56/40/32 hex, 52 base32) or a query name, decoded by the same codec DNS uses.
/// </summary>
internal static class FingerprintArgument
{
    public static QueryName Parse(string input, string apex, bool isKey)
    {
        if (File.Exists(input))
        {
            var cert = CertificateFile.Read(File.ReadAllBytes(input), input)[0];
            var digest = isKey ? cert.SpkiSha256 : cert.Sha256;
            return new QueryName(NameKind.Fingerprint, IsKey: isKey, Digest: DigestKind.Sha256, Value: digest);
        }

        var text = input.Trim().TrimEnd('.').Replace(":", "", StringComparison.Ordinal);
        if (text.EndsWith("." + apex, StringComparison.OrdinalIgnoreCase)) text = text[..^(apex.Length + 1)];
        List<string> labels = text.Contains('.', StringComparison.Ordinal)
            ? [.. text.Split('.')]
            : text.Length == 64 ? [text[..32], text[32..]] : [text];
        if (isKey) labels.Add("key");
        var name = QueryName.Parse(labels);
        if (name.Kind != NameKind.Fingerprint)
            throw new BadInputException(input, "not a fingerprint: expected a certificate file, 64, 56, 40 or 32 hex digits, or 52 base32 characters");
        return name;
    }

    /// <summary>The registered certificate an operator names (file or certificate fingerprint).</summary>
    /// <exception cref="BadInputException">Not a fingerprint, or no registered certificate has it.</exception>
    public static CertRow Registered(CertStore store, string input, string apex)
    {
        var name = Parse(input, apex, isKey: false);
        var cert = store.Certificates.Find(name.Digest, name.Value!)
            ?? throw new BadInputException(input, "no registered certificate with that fingerprint");
        // Blocking or reporting one of two colliding certificates by chance would leave the other as it was.
        if (store.Certificates.Ambiguous(name.Digest, name.Value!))
            throw new BadInputException(input, "more than one registered certificate has that fingerprint (a SHA-1 or MD5 collision): name it by its SHA-256");
        return cert;
    }
}
