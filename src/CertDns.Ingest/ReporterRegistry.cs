using System.Text;
using System.Text.RegularExpressions;
using CertDns.Core;
using CertDns.Store;
using Org.BouncyCastle.Crypto;
using Org.BouncyCastle.Crypto.Parameters;
using Org.BouncyCastle.Security;

namespace CertDns.Ingest;

/// <summary>
/// <c>certdns reporters</c>: the abuse desks whose DKIM-signed reports count (issue #16). Every field is checked here;
/// the store refuses a second name for a key, a selector or an authserv-id.
/// </summary>
public sealed partial class ReporterRegistry(CertStore store)
{
    /// <summary>The largest weight a reporter may carry: more would let one reporter reach any threshold alone.</summary>
    public const int MaxWeight = 10;

    /// <summary>Registers a reporter from its DKIM public key (PEM SubjectPublicKeyInfo), audited.</summary>
    /// <exception cref="BadInputException">A field is malformed, the key is not a usable DKIM key, or something already belongs to another reporter.</exception>
    public ReporterRow Add(string name, string dkimDomain, string dkimSelector, string keySource, byte[] keyPem, string authservId, int weight = 1)
    {
        if (!NameForm().IsMatch(name)) throw new BadInputException(name, "a reporter name is 1 to 64 letters, digits, '.', '_', '-' or '@'");
        var domain = dkimDomain.TrimEnd('.');
        if (!DomainForm().IsMatch(domain) || domain.Length > 253) throw new BadInputException(dkimDomain, "--dkim-domain is not a domain name");
        if (!LabelForm().IsMatch(dkimSelector)) throw new BadInputException(dkimSelector, "--dkim-selector is not a DNS label");
        // The trace header is "<authserv-id>; sha256=...": the id is one token (RFC 8601 section 2.5's authserv-id).
        if (!DomainForm().IsMatch(authservId) || authservId.Length > 253) throw new BadInputException(authservId, "--authserv-id is not a host name");
        if (weight is < 1 or > MaxWeight) throw new BadInputException(weight.ToString(System.Globalization.CultureInfo.InvariantCulture), $"--weight is 1 to {MaxWeight}");
        var key = PublicKey(keySource, keyPem);
        return store.Reporters.Add(new ReporterRecord(name, domain.ToLowerInvariant(), dkimSelector.ToLowerInvariant(), key, authservId.ToLowerInvariant(), weight));
    }

    /// <summary>Removes a reporter, audited; its complaints stay. </summary>
    /// <exception cref="BadInputException">No reporter of that name.</exception>
    public void Remove(string name, string? reason)
    {
        if (!store.Reporters.Remove(name, reason)) throw new BadInputException(name, "no reporter of that name");
    }

    /// <summary>Reads a DKIM public key: PEM "PUBLIC KEY" (SubjectPublicKeyInfo), RSA of 1024 bits or more, or Ed25519 (RFC 8463).</summary>
    public static byte[] PublicKey(string source, byte[] pem)
    {
        var text = Encoding.ASCII.GetString(pem);
        if (!System.Security.Cryptography.PemEncoding.TryFind(text, out var fields) || text[fields.Label] != "PUBLIC KEY")
            throw new BadInputException(source, "not a PEM public key (-----BEGIN PUBLIC KEY-----)");
        var der = Convert.FromBase64String(text[fields.Base64Data]);
        AsymmetricKeyParameter key;
        try
        {
            key = PublicKeyFactory.CreateKey(der);
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException or IOException or SecurityUtilityException or InvalidCastException)
        {
            throw new BadInputException(source, "not a public key: " + e.Message);
        }
        return key switch
        {
            // RFC 8301 section 3.2: verifiers must not accept RSA keys under 1024 bits.
            RsaKeyParameters { IsPrivate: false } rsa when rsa.Modulus.BitLength >= 1024 => der,
            RsaKeyParameters => throw new BadInputException(source, "RSA key under 1024 bits (RFC 8301)"),
            Ed25519PublicKeyParameters => der,
            _ => throw new BadInputException(source, "not an RSA or Ed25519 key, the DKIM key types"),
        };
    }

    [GeneratedRegex(@"^[A-Za-z0-9._@-]{1,64}$")]
    private static partial Regex NameForm();

    [GeneratedRegex(@"^(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$")]
    private static partial Regex DomainForm();

    [GeneratedRegex(@"^[A-Za-z0-9]([A-Za-z0-9_-]{0,61}[A-Za-z0-9])?$")]
    private static partial Regex LabelForm();
}
