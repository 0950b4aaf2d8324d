using CertDns.Core;

namespace CertDns.Policy;

/// <summary>
/// The trace header a reporter's Postfix writes (issue #16): <c>X-CertDns-Client-Cert: HOST; sha256=&lt;hex&gt;[;
/// spki-sha256=&lt;hex&gt;]</c> from <c>ccert_fingerprint</c> and <c>ccert_pubkey_fingerprint</c>. Abuse reports by mail
/// count against the certificate this header names, and only when the topmost one is the reporter's host.
/// </summary>
public static class PolicyStamp
{
    /// <summary>The header's name.</summary>
    public const string Header = "X-CertDns-Client-Cert";

    /// <summary>
    /// <c>PREPEND X-CertDns-Client-Cert: ...</c> for a client that presented a certificate with SHA-256 fingerprints
    /// (Postfix's <c>smtpd_tls_fingerprint_digest = sha256</c>), else <c>DUNNO</c>: a stamp with another digest would name
    /// no certificate that reports can count against.
    /// </summary>
    /// <paramref name="header"/> is the name written (default <see cref="Header"/>): a Postfix site prepends under a
    /// name of its own that its <c>header_checks</c> renames, because header_checks inspects smtpd's PREPEND too and a
    /// rule dropping incoming X-CertDns-Client-Cert copies would drop the stamp with them.
    public static string Action(string host, string? certFingerprint, string? keyFingerprint, Action<string>? log = null, string header = Header)
    {
        if (string.IsNullOrWhiteSpace(certFingerprint)) return "DUNNO";
        var cert = Sha256(certFingerprint);
        if (cert is null)
        {
            log?.Invoke(SafeText.OneLine($"not stamped: ccert_fingerprint {certFingerprint} is not SHA-256 (set smtpd_tls_fingerprint_digest = sha256)"));
            return "DUNNO";
        }
        var key = string.IsNullOrWhiteSpace(keyFingerprint) ? null : Sha256(keyFingerprint);
        return $"PREPEND {header}: {host}; sha256={Hex.Lower(cert)}{(key is null ? "" : $"; spki-sha256={Hex.Lower(key)}")}";
    }

    private static byte[]? Sha256(string fingerprint)
    {
        var hex = fingerprint.Trim().Replace(":", "", StringComparison.Ordinal);
        return hex.Length == 64 && Hex.IsHex(hex) ? Convert.FromHexString(hex) : null;
    }
}
