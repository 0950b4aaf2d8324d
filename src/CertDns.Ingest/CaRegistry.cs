using System.Globalization;
using CertDns.Core;
using CertDns.Pki;
using CertDns.Store;

namespace CertDns.Ingest;

/// <summary>One certificate given to <c>certdns ca add</c> and what became of it.</summary>
/// <param name="Source">File name and position in it.</param>
/// <param name="Subject">The certificate's subject.</param>
/// <param name="Refusal">Why it was refused, or null when it was accepted.</param>
/// <param name="Ca">The registered CA, once stored.</param>
/// <param name="Added">Whether it was new (false when it was already registered).</param>
public sealed record CaOutcome(string Source, string Subject, string? Refusal, CaRow? Ca, bool Added);

/// <summary>The result of one <c>ca add</c>: stored only when nothing was refused.</summary>
public sealed record CaAddResult(IReadOnlyList<CaOutcome> Outcomes, bool Stored)
{
    /// <summary>How many certificates were refused.</summary>
    public int Refused => Outcomes.Count(o => o.Refusal is not null);
}

/// <summary>
/// <c>certdns ca add|list|distrust|trust</c>: the CAs whose certificates and CRLs the store accepts. A CA is accepted
/// only as a CA certificate (RFC 5280 4.2.1.9 basicConstraints cA, 4.2.1.3 keyCertSign), within its validity, with a
/// key inside <see cref="KeyBounds"/>, and either as an anchor (self-signed, its self-signature verified; or the
/// operator's <c>--anchor</c>) or as an intermediate under the registered CA whose key verifies it, every CA on the
/// path trusted, within its validity and its pathLenConstraint honoured (RFC 5280 6.1.4 (l), (m)).
/// </summary>
public sealed class CaRegistry(CertStore store, TimeProvider? time = null)
{
    private readonly TimeProvider _time = time ?? TimeProvider.System;

    /// <summary>
    /// Registers every certificate in <paramref name="data"/> as a CA; throws the first refusal. For callers that
    /// register CAs they made (the demo, the benchmark, tests); <c>ca add</c> uses the batch overload.
    /// </summary>
    /// <exception cref="BadInputException">No certificate, a bad URL, or a certificate that is refused.</exception>
    public IReadOnlyList<(CaRow Ca, bool Added)> Add(string source, byte[] data, IReadOnlyList<string> crlUrls, string? abuseContact, bool anchor = false)
    {
        var result = Add([(source, data)], crlUrls, abuseContact, anchor);
        if (result.Outcomes.FirstOrDefault(o => o.Refusal is not null) is { } refused)
            throw new BadInputException(refused.Source, refused.Refusal!);
        return result.Outcomes.Select(o => (o.Ca!, o.Added)).ToList();
    }

    /// <summary>
    /// Checks every CA certificate of every input and stores them all, or none when any is refused (every refusal
    /// is in the result). Certificates of one batch may be each other's parents, in any order.
    /// </summary>
    /// <param name="inputs">Files and their bytes.</param>
    /// <param name="crlUrls">CRL URLs for every CA of the batch.</param>
    /// <param name="abuseContact">Abuse e-mail address for every CA of the batch.</param>
    /// <param name="anchor">Trust a CA whose issuer is not registered as an anchor of its own.</param>
    /// <exception cref="BadInputException">An input is not a certificate file, a bad URL or abuse contact.</exception>
    public CaAddResult Add(IEnumerable<(string Source, byte[] Data)> inputs, IReadOnlyList<string> crlUrls, string? abuseContact, bool anchor)
    {
        foreach (var url in crlUrls)
        {
            if (!Uri.TryCreate(url, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https" or "file" or "ldap"))
                throw new BadInputException(url, "not an absolute http, https, file or ldap URL");
        }
        if (abuseContact is not null && !abuseContact.Contains('@'))
            throw new BadInputException(abuseContact, "an abuse contact is an e-mail address");

        var candidates = new List<Candidate>();
        foreach (var (source, data) in inputs)
        {
            var certs = CertificateFile.Read(data, source);
            for (int i = 0; i < certs.Count; i++)
                candidates.Add(new Candidate(certs.Count > 1 ? $"{source}#{i + 1}" : source, certs[i]));
        }

        var now = _time.GetUtcNow();
        var known = store.Cas.List().Select(ca => new Known(ca, Parse(ca), null)).ToList();
        var digests = known.Select(k => Hex.Lower(k.Cert.Sha256)).ToHashSet();
        foreach (var c in candidates)
        {
            // Already registered, or twice in the batch: nothing to check, nothing new.
            c.Repeat = !digests.Add(Hex.Lower(c.Cert.Sha256));
            c.Refusal = c.Repeat ? null : OwnRefusal(c.Cert, now);
        }

        // A fixed point: each pass places the certificates whose parent is known by now, so a bundle may list an
        // intermediate before its root. With --anchor, a certificate whose issuer cannot be found becomes an anchor.
        var accepted = new List<CaRecord>();
        var pending = candidates.Where(c => !c.Repeat && c.Refusal is null).ToList();
        while (pending.Count > 0)
        {
            bool progress = false;
            foreach (var c in pending.ToList())
            {
                var (parent, selfSigned, refusal) = FindParent(c.Cert, known, now);
                if (parent is null && !selfSigned && refusal is null) continue;
                pending.Remove(c);
                progress = true;
                if (refusal is not null)
                {
                    c.Refusal = refusal;
                    continue;
                }
                accepted.Add(Record(c.Cert, abuseContact, parent, CaAnchor.SelfSigned));
                known.Add(new Known(null, c.Cert, parent));
            }
            if (progress) continue;
            var orphan = pending[0];
            pending.RemoveAt(0);
            if (IsCrlSigner(orphan.Cert))
            {
                orphan.Refusal = $"a CRL signer that is not a CA is trusted only under the registered CA that issued it, and \"{orphan.Cert.Issuer}\" is not one";
                continue;
            }
            if (orphan.Cert.IsSelfIssued)
            {
                // Even --anchor does not take a self-signed certificate whose self-signature fails: it is damaged or forged.
                orphan.Refusal = "its self-signature does not verify, and no registered CA of that name signed it";
                continue;
            }
            if (!anchor)
            {
                orphan.Refusal = $"issuer \"{orphan.Cert.Issuer}\" is not a registered CA: register it first, or trust this CA on its own with --anchor";
                continue;
            }
            accepted.Add(Record(orphan.Cert, abuseContact, null, CaAnchor.Operator));
            known.Add(new Known(null, orphan.Cert, null));
        }

        if (candidates.Any(c => c.Refusal is not null))
            return new CaAddResult(candidates.Select(c => new CaOutcome(c.Source, c.Cert.Subject, c.Refusal, null, false)).ToList(), Stored: false);

        // Every parent before its intermediates, then the CAs already registered, whose CRL URLs and abuse contact
        // the same call updates.
        var records = accepted.Concat(candidates.Where(c => c.Repeat).Select(c => Record(c.Cert, abuseContact, null, CaAnchor.Operator))).ToList();
        var ids = store.Cas.Add(records, crlUrls);
        var stored = new Dictionary<string, (long Id, bool Added)>();
        foreach (var (record, id) in records.Zip(ids)) stored.TryAdd(Hex.Lower(record.Sha256), id);
        var outcomes = new List<CaOutcome>();
        var reported = new HashSet<string>();
        foreach (var c in candidates)
        {
            var digest = Hex.Lower(c.Cert.Sha256);
            var (id, added) = stored[digest];
            outcomes.Add(new CaOutcome(c.Source, c.Cert.Subject, null, store.Cas.Get(id), added && reported.Add(digest)));
        }
        return new CaAddResult(outcomes, Stored: true);
    }

    /// <summary>Finds a CA by id (as typed by the operator) or throws a one-line error.</summary>
    public CaRow Get(string id) =>
        long.TryParse(id, NumberStyles.None, CultureInfo.InvariantCulture, out var n) && store.Cas.Get(n) is { } ca
            ? ca
            : throw new BadInputException(id, "no CA with that id (see `certdns ca list`)");

    /// <summary>What the certificate must be on its own to be a CA: no issuer needed to say so.</summary>
    private static string? OwnRefusal(ParsedCertificate cert, DateTimeOffset now)
    {
        if (cert.KeyRefusal is { } key) return $"key refused: {key}";
        if (IsCrlSigner(cert)) return ValidityRefusal("it", cert, now);
        if (!cert.HasBasicConstraints) return "not a CA certificate: no basicConstraints extension (RFC 5280 4.2.1.9)";
        if (!cert.IsCa) return "not a CA certificate: basicConstraints cA is FALSE (RFC 5280 4.2.1.9)";
        if (cert.CanSignCertificates == false) return "keyUsage lacks keyCertSign: it may not sign certificates (RFC 5280 4.2.1.3)";
        return ValidityRefusal("it", cert, now);
    }

    /// <summary>
    /// A certificate that is not a CA but may sign CRLs (keyUsage cRLSign without keyCertSign): the separate CRL key
    /// of RFC 5280 5.1.1.2 and 6.3.3 (f), or an indirect CRL's issuer (5.2.5; PKITS 4.4.19, 4.14.28). It is
    /// registered only under the CA that issued it, never as an anchor, and no certificate verifies against it.
    /// </summary>
    public static bool IsCrlSigner(ParsedCertificate cert) =>
        !cert.IsCa && cert.CanSignCrl == true && cert.CanSignCertificates != true;

    private static string? ValidityRefusal(string who, ParsedCertificate cert, DateTimeOffset now)
    {
        if (now < cert.NotBefore) return $"{who} is not valid before {TimeText.Utc(cert.NotBefore)}";
        if (now > cert.NotAfter) return $"{who} expired on {TimeText.Utc(cert.NotAfter)}";
        return null;
    }

    /// <summary>
    /// The CA that issued <paramref name="cert"/>: itself when its self-signature verifies, else a known CA of its
    /// issuer name whose key verifies its signature (the authority key identifier's CA tried first; the signature
    /// decides). Null and null when no known CA signed it (yet); a refusal when the path above is not sound.
    /// </summary>
    private static (Known? Parent, bool SelfSigned, string? Refusal) FindParent(ParsedCertificate cert, List<Known> known, DateTimeOffset now)
    {
        if (cert.IsSelfIssued && cert.IsIssuedBy(cert))
            return IsCrlSigner(cert) ? (null, false, "a CRL signer that is not a CA is trusted only under the registered CA that issued it") : (null, true, null);
        // Only a CA issues certificates (RFC 5280 6.1.4 (k), (n)); IsIssuedBy compares names before any arithmetic.
        var ordered = known.Where(k => k.Cert.IsCa && k.Cert.CanSignCertificates != false).OrderByDescending(k => cert.AuthorityKeyId is not null && k.Cert.SubjectKeyId is not null
                                                   && k.Cert.SubjectKeyId.AsSpan().SequenceEqual(cert.AuthorityKeyId));
        foreach (var parent in ordered)
        {
            if (cert.IsIssuedBy(parent.Cert)) return (parent, false, PathRefusal(cert, parent, known, now));
        }
        return (null, false, null);
    }

    /// <summary>Every CA from the parent to its anchor: trusted, within validity, and its pathLenConstraint kept.</summary>
    private static string? PathRefusal(ParsedCertificate cert, Known parent, List<Known> known, DateTimeOffset now)
    {
        // Non-self-issued intermediates below the CA being looked at, the new one included (RFC 5280 6.1.4 (l)).
        int below = cert.IsSelfIssued || IsCrlSigner(cert) ? 0 : 1;
        var seen = new HashSet<Known>(ReferenceEqualityComparer.Instance);
        for (var ca = parent; ca is not null; ca = Up(ca, known))
        {
            if (!seen.Add(ca)) return "the registered CA hierarchy has a loop";
            var who = ca.Row is { } row ? $"issuing CA {row.Id.ToString(CultureInfo.InvariantCulture)} \"{row.Subject}\"" : $"issuing CA \"{ca.Cert.Subject}\"";
            if (ca.Row is { Trusted: false }) return $"{who} is distrusted";
            if (ValidityRefusal(who, ca.Cert, now) is { } validity) return validity;
            if (ca.Cert.PathLengthConstraint is { } max && below > max)
                return $"{who} allows {max} intermediate CA(s) below it (pathLenConstraint, RFC 5280 4.2.1.9); this would be {below}";
            if (!ca.Cert.IsSelfIssued) below++;
        }
        return null;
    }

    private static Known? Up(Known ca, List<Known> known)
    {
        if (ca.Row is { ParentId: { } parentId }) return known.FirstOrDefault(k => k.Row?.Id == parentId);
        return ca.Parent;
    }

    private static CaRecord Record(ParsedCertificate c, string? abuseContact, Known? parent, string anchor) =>
        new(c.Sha256, c.Subject, c.SubjectDer, c.SubjectKeyId, c.SpkiSha256, c.NotBefore, c.NotAfter, c.CanSignCrl ?? true, c.Der,
            abuseContact, parent?.Cert.Sha256, anchor,
            // Stored as a certificate of its parent when it has one: the parent's CRLs then give the CA its own status.
            new CertRecord(c.Sha256, c.Sha1, c.Md5, c.SpkiSha256, 0, c.Serial, c.Subject, c.NotBefore, c.NotAfter, c.Der, c.IsCa, c.CrlPoints));

    private static ParsedCertificate Parse(CaRow ca) => CertificateFile.Read(ca.Der, $"CA {ca.Id}")[0];

    /// <summary>A CA that can be a parent: registered (<see cref="Row"/>) or accepted earlier in this batch.</summary>
    private sealed class Known(CaRow? row, ParsedCertificate cert, Known? parent)
    {
        public CaRow? Row { get; } = row;
        public ParsedCertificate Cert { get; } = cert;
        public Known? Parent { get; } = parent;
    }

    private sealed class Candidate(string source, ParsedCertificate cert)
    {
        public string Source { get; } = source;
        public ParsedCertificate Cert { get; } = cert;
        public string? Refusal { get; set; }
        public bool Repeat { get; set; }
    }
}
