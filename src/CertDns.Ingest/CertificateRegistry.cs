using CertDns.Core;
using CertDns.Pki;
using CertDns.Store;

namespace CertDns.Ingest;

/// <summary>One input of <c>certdns certs add</c> and what became of it.</summary>
/// <param name="Source">File name and position in it.</param>
/// <param name="Subject">The certificate's subject.</param>
/// <param name="Sha256">Its fingerprint.</param>
/// <param name="Refusal">Why it was refused, or null when it verified.</param>
public sealed record CertificateOutcome(string Source, string Subject, byte[] Sha256, string? Refusal);

/// <summary>The result of one <c>certs add</c>.</summary>
public sealed record CertificateAddResult(IReadOnlyList<CertificateOutcome> Outcomes, int Added, bool Stored)
{
    public int Refused => Outcomes.Count(o => o.Refusal is not null);
    public int AlreadyKnown => Outcomes.Count - Refused - Added;
}

/// <summary>
/// <c>certdns certs add</c>: registers end-entity certificates whose signature verifies against a registered CA.
/// All or nothing: when any input is refused, nothing is stored and every refusal is reported.
/// </summary>
public sealed class CertificateRegistry(CertStore store)
{
    private readonly Dictionary<long, ParsedCertificate> _caCerts = [];

    /// <summary>
    /// Verifies and stores the certificates of every input. An input that is not a certificate file is one
    /// refusal among the others: every refusal is reported, and nothing is stored when there is any. Parsing and
    /// signature checks run on every core; the store is read and written on this thread only (its connection is
    /// not shared), and the outcomes come back in input order.
    /// </summary>
    public CertificateAddResult Add(IEnumerable<(string Source, byte[] Data)> inputs)
    {
        var list = inputs as IReadOnlyList<(string Source, byte[] Data)> ?? inputs.ToList();
        var files = new (IReadOnlyList<ParsedCertificate>? Certs, string? Refusal)[list.Count];
        Parallel.For(0, list.Count, i =>
        {
            try
            {
                files[i] = (CertificateFile.Read(list[i].Data, list[i].Source), null);
            }
            catch (BadInputException e)
            {
                files[i] = (null, e.Reason);
            }
        });

        // The registered CAs each certificate may be issued by: one store query per distinct issuer name.
        var issuers = new Dictionary<string, IReadOnlyList<(CaRow Row, ParsedCertificate Cert)>>(StringComparer.Ordinal);
        var jobs = new List<(string Where, ParsedCertificate Cert, IReadOnlyList<(CaRow Row, ParsedCertificate Cert)> Cas)>();
        for (int f = 0; f < list.Count; f++)
        {
            if (files[f].Certs is not { } certs) continue;
            for (int i = 0; i < certs.Count; i++)
            {
                var key = Convert.ToHexString(certs[i].IssuerDer);
                if (!issuers.TryGetValue(key, out var cas))
                    issuers[key] = cas = store.Cas.FindBySubject(certs[i].IssuerDer).Select(ca => (ca, CaCertificate(ca))).ToList();
                jobs.Add((certs.Count > 1 ? $"{list[f].Source}#{i + 1}" : list[f].Source, certs[i], cas));
            }
        }
        var verdicts = new (string? Refusal, long CaId)[jobs.Count];
        Parallel.For(0, jobs.Count, j =>
        {
            var refusal = Verify(jobs[j].Cert, jobs[j].Cas, out var caId);
            verdicts[j] = (refusal, caId);
        });

        var outcomes = new List<CertificateOutcome>(jobs.Count);
        var records = new List<CertRecord>(jobs.Count);
        var seen = new HashSet<string>(StringComparer.Ordinal);
        int next = 0;
        for (int f = 0; f < list.Count; f++)
        {
            if (files[f].Certs is not { } certs)
            {
                outcomes.Add(new CertificateOutcome(list[f].Source, "", [], files[f].Refusal));
                continue;
            }
            for (int i = 0; i < certs.Count; i++, next++)
            {
                var (where, cert, _) = jobs[next];
                var (refusal, caId) = verdicts[next];
                outcomes.Add(new CertificateOutcome(where, cert.Subject, cert.Sha256, refusal));
                if (refusal is null && seen.Add(Hex.Lower(cert.Sha256)))
                {
                    records.Add(new CertRecord(cert.Sha256, cert.Sha1, cert.Md5, cert.SpkiSha256, caId, cert.Serial, cert.Subject,
                        cert.NotBefore, cert.NotAfter, cert.Der, cert.IsCa, cert.CrlPoints));
                }
            }
        }
        if (outcomes.Any(o => o.Refusal is not null) || records.Count == 0)
            return new CertificateAddResult(outcomes, 0, Stored: false);
        var added = store.Certificates.Add(records);
        return new CertificateAddResult(outcomes, added, Stored: true);
    }

    /// <summary>Why <paramref name="cert"/> is refused, or null with the id of the CA whose key verifies it. Reads no store: safe on any thread.</summary>
    private static string? Verify(ParsedCertificate cert, IReadOnlyList<(CaRow Row, ParsedCertificate Cert)> candidates, out long caId)
    {
        caId = 0;
        // The same key bounds as for CAs and CRL signers (KeyBounds), checked before any arithmetic.
        if (cert.KeyRefusal is { } key) return $"key refused: {key}";
        if (candidates.Count == 0)
            return $"issuer \"{cert.Issuer}\" is not a registered CA (certdns ca add)";
        // Same-named CAs (a key rollover): the one the authority key identifier names first; the signature decides.
        var ordered = candidates.OrderByDescending(c => cert.AuthorityKeyId is not null && c.Row.KeyId is not null && c.Row.KeyId.AsSpan().SequenceEqual(cert.AuthorityKeyId));
        string? refusedKey = null;
        foreach (var (ca, parsed) in ordered)
        {
            if (parsed.KeyRefusal is { } caKey)
            {
                refusedKey ??= $"the key of registered CA {ca.Id} \"{ca.Subject}\" is refused: {caKey}";
                continue;
            }
            if (!parsed.IsCa || parsed.CanSignCertificates == false)
            {
                // A CRL signer, or a CA registered before CA checks that is none (RFC 5280 6.1.4 (k), (n)).
                refusedKey ??= $"registered CA {ca.Id} \"{ca.Subject}\" is not a CA certificate with keyCertSign: it issues no certificates";
                continue;
            }
            if (cert.IsIssuedBy(parsed))
            {
                caId = ca.Id;
                return null;
            }
        }
        return refusedKey ?? $"signature does not verify with the key of registered CA \"{cert.Issuer}\"";
    }

    private ParsedCertificate CaCertificate(CaRow ca)
    {
        if (!_caCerts.TryGetValue(ca.Id, out var parsed))
        {
            _caCerts[ca.Id] = parsed = CertificateFile.Read(ca.Der, $"CA {ca.Id}")[0];
            // Worked out here, once, before the verifying threads share it.
            _ = parsed.KeyRefusal;
        }
        return parsed;
    }
}
