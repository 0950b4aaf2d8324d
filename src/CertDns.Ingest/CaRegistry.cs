using CertDns.Core;
using CertDns.Pki;
using CertDns.Store;

namespace CertDns.Ingest;

/// <summary><c>certdns ca add|list|distrust|trust</c>: the CAs whose certificates and CRLs the store accepts.</summary>
public sealed class CaRegistry(CertStore store)
{
    /// <summary>Registers every certificate in <paramref name="data"/> as a trusted CA.</summary>
    /// <exception cref="BadInputException">No certificate, or a URL that is not http(s), file or ldap.</exception>
    public IReadOnlyList<(CaRow Ca, bool Added)> Add(string source, byte[] data, IReadOnlyList<string> crlUrls, string? abuseContact)
    {
        foreach (var url in crlUrls)
        {
            if (!Uri.TryCreate(url, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https" or "file" or "ldap"))
                throw new BadInputException(url, "not an absolute http, https, file or ldap URL");
        }
        if (abuseContact is not null && !abuseContact.Contains('@'))
            throw new BadInputException(abuseContact, "an abuse contact is an e-mail address");

        var certs = CertificateFile.Read(data, source);
        var records = certs.Select(c => new CaRecord(c.Sha256, c.Subject, c.SubjectDer, c.SubjectKeyId, c.SpkiSha256,
            c.NotBefore, c.NotAfter, c.CanSignCrl ?? true, c.Der, abuseContact)).ToList();
        var result = new List<(CaRow, bool)>();
        foreach (var record in records)
        {
            var (id, added) = store.Cas.Add(record, crlUrls);
            result.Add((store.Cas.Get(id)!, added));
        }
        return result;
    }

    /// <summary>Finds a CA by id (as typed by the operator) or throws a one-line error.</summary>
    public CaRow Get(string id) =>
        long.TryParse(id, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var n) && store.Cas.Get(n) is { } ca
            ? ca
            : throw new BadInputException(id, "no CA with that id (see `certdns ca list`)");
}
