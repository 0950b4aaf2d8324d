using System.Diagnostics;
using System.Globalization;
using CertDns.Core;
using CertDns.Pki;
using CertDns.Store;

namespace CertDns.Ingest;

/// <summary>What one <c>crl ingest</c> did.</summary>
/// <param name="Source">The file or URL.</param>
/// <param name="Ca">The issuing CA.</param>
/// <param name="Number">The CRL number, or null when it has none.</param>
/// <param name="ThisUpdate">thisUpdate.</param>
/// <param name="NextUpdate">nextUpdate.</param>
/// <param name="Entries">Entries on the CRL.</param>
/// <param name="Change">What changed in the store; null when the CRL was already current (a no-op).</param>
/// <param name="Duration">Wall time of parse, verify and store.</param>
public sealed record CrlIngestResult(string Source, CaRow Ca, string? Number, DateTimeOffset ThisUpdate, DateTimeOffset? NextUpdate,
    int Entries, RevocationChange? Change, TimeSpan Duration)
{
    /// <summary>One summary line for cron logs.</summary>
    public override string ToString()
    {
        var number = Number is null ? "without number" : $"{Number}";
        var next = NextUpdate is { } n ? TimeText.Utc(n) : "none";
        var what = Change is { } c ? $"{Entries} entries (+{c.Added} -{c.Removed})" : $"{Entries} entries, unchanged (already current)";
        return $"{Source}: \"{Ca.Subject}\" CRL {number}, {what}, nextUpdate {next}, {Duration.TotalSeconds:0.000}s";
    }
}

/// <summary>
/// <c>certdns crl ingest</c>: accepts a CRL only when it parses completely, verifies with the issuing CA's key,
/// has no unknown critical extension and does not roll back what is stored (SPEC section 3); then replaces
/// that issuer's revocations in one transaction. A refused CRL changes nothing.
/// </summary>
public sealed class CrlIngestor(CertStore store, TimeProvider? clock = null)
{
    private readonly TimeProvider _clock = clock ?? TimeProvider.System;

    /// <summary>Ingests one CRL.</summary>
    /// <exception cref="BadInputException">The CRL was refused; the reason says why.</exception>
    public CrlIngestResult Ingest(string source, byte[] data)
    {
        var watch = Stopwatch.StartNew();
        var crl = CrlFile.Parse(data, source);
        var ca = FindIssuer(crl, source);

        if (crl.DeltaBaseNumber is not null)
            throw new BadInputException(source, "delta CRLs (deltaCRLIndicator) are not supported yet; ingest the full CRL");
        if (crl.DistributionPoint is { } idp)
        {
            // A CRL that covers only part of the certificates must not make the rest look current.
            if (idp.IndirectCrl) throw new BadInputException(source, "indirect CRLs are not supported yet");
            if (idp.OnlyCaCerts) throw new BadInputException(source, "CRL scope is CA certificates only (onlyContainsCACerts); it cannot vouch for end-entity certificates");
            if (idp.OnlyAttributeCerts) throw new BadInputException(source, "CRL scope is attribute certificates only (onlyContainsAttributeCerts)");
            if (idp.OnlySomeReasons is not null) throw new BadInputException(source, "CRLs partitioned by reason (onlySomeReasons) are not supported yet");
        }
        if (crl.ThisUpdate > _clock.GetUtcNow().AddMinutes(10))
            throw new BadInputException(source, $"thisUpdate {Time(crl.ThisUpdate)} is in the future");

        // Checked before the write transaction opens, so a refusal leaves the file untouched.
        if (crl.Entries().Any(e => e.CertificateIssuerDer is not null))
            throw new BadInputException(source, "certificateIssuer entry extension in a CRL that is not indirect");

        string? number = crl.Number?.ToString(CultureInfo.InvariantCulture);
        var latest = store.LatestCrl(ca.Id);
        if (latest is not null)
        {
            if (latest.Sha256.AsSpan().SequenceEqual(crl.Sha256) ||
                (crl.Number is { } n && latest.Number is not null && n == System.Numerics.BigInteger.Parse(latest.Number, CultureInfo.InvariantCulture)))
            {
                return new CrlIngestResult(source, ca, number, crl.ThisUpdate, crl.NextUpdate, crl.EntryCount, null, watch.Elapsed);
            }
            if (crl.Number is { } newer && latest.Number is not null && newer < System.Numerics.BigInteger.Parse(latest.Number, CultureInfo.InvariantCulture))
                throw new BadInputException(source, $"roll-back refused: CRL number {newer} is older than the stored {latest.Number}");
            var storedThisUpdate = DateTimeOffset.FromUnixTimeSeconds(latest.ThisUpdate);
            if (crl.ThisUpdate < storedThisUpdate || (crl.Number is null && crl.ThisUpdate == storedThisUpdate))
                throw new BadInputException(source, $"roll-back refused: thisUpdate {Time(crl.ThisUpdate)} is not newer than the stored {Time(storedThisUpdate)}");
        }

        var record = new CrlRecord(ca.Id, number, crl.ThisUpdate, crl.NextUpdate, crl.Sha256, source, null);
        var change = store.ReplaceRevocations(record, Revocations(crl, source));
        return new CrlIngestResult(source, ca, number, crl.ThisUpdate, crl.NextUpdate, crl.EntryCount, change, watch.Elapsed);
    }

    private static IEnumerable<RevocationRecord> Revocations(ParsedCrl crl, string source)
    {
        foreach (var entry in crl.Entries())
        {
            // removeFromCRL belongs to delta CRLs (RFC 5280 5.3.1); on a full CRL it revokes nothing.
            if (entry.Reason == RevocationReason.RemoveFromCrl) continue;
            yield return new RevocationRecord(entry.Serial, entry.RevokedAt, entry.Reason);
        }
    }

    private CaRow FindIssuer(ParsedCrl crl, string source)
    {
        var candidates = store.FindCasBySubject(crl.IssuerDer);
        if (candidates.Count == 0)
            throw new BadInputException(source, $"issuer \"{crl.Issuer}\" is not a registered CA (certdns ca add)");
        // After a key rollover several CAs share a name: prefer the one the authority key identifier names.
        var ordered = candidates.OrderByDescending(c => crl.AuthorityKeyId is not null && c.KeyId is not null && c.KeyId.AsSpan().SequenceEqual(crl.AuthorityKeyId)).ToList();
        BadInputException? first = null;
        foreach (var ca in ordered)
        {
            try
            {
                crl.VerifySignedBy(CertificateFile.Read(ca.Der, $"CA {ca.Id}")[0]);
                return ca;
            }
            catch (BadInputException e)
            {
                first ??= e;
            }
        }
        throw first!;
    }

    private static string Time(DateTimeOffset t) => TimeText.Utc(t);
}
