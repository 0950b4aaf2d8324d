using System.Diagnostics;
using System.Globalization;
using System.Numerics;
using System.Security.Cryptography;
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
/// <param name="DeltaBase">BaseCRLNumber when this is a delta CRL.</param>
/// <param name="Skipped">Entries of an indirect CRL naming a certificate issuer that is not a registered CA.</param>
/// <param name="Ignored">Entries of an indirect CRL for another issuer none of whose certificates names this CRL's issuer
/// as cRLIssuer: they revoke nothing (RFC 5280 6.3.3 (b)(1)); kept, for a certificate registered later that does.</param>
public sealed record CrlIngestResult(string Source, CaRow Ca, string? Number, DateTimeOffset ThisUpdate, DateTimeOffset? NextUpdate,
    int Entries, RevocationChange? Change, TimeSpan Duration, string? DeltaBase = null, int Skipped = 0, int Ignored = 0)
{
    /// <summary>One summary line for cron logs.</summary>
    public override string ToString()
    {
        var number = Number is null ? "without number" : $"{Number}";
        var kind = DeltaBase is null ? "CRL" : $"delta CRL (base {DeltaBase})";
        // RFC 5280 5.1.2.5 requires nextUpdate; without it the CRL stays current until a newer one arrives.
        var next = NextUpdate is { } n ? TimeText.Utc(n) : "none (current until replaced)";
        var what = Change is { } c ? $"{Entries} entries (+{c.Added} -{c.Removed})" : $"{Entries} entries, unchanged (already current)";
        var skipped = Skipped > 0 ? $", {Skipped} entries of unregistered issuers skipped" : "";
        if (Ignored > 0) skipped += $", {Ignored} entries of issuers whose certificates do not name it as cRLIssuer ignored";
        return $"{Source}: \"{Ca.Subject}\" {kind} {number}, {what}{skipped}, nextUpdate {next}, {Duration.TotalSeconds:0.000}s";
    }
}

/// <summary>
/// <c>certdns crl ingest</c>: accepts a CRL only when it parses completely, verifies with the issuing CA's key,
/// has no unknown critical extension and does not roll back what is stored (SPEC section 3); then replaces
/// the entries of its series (issuer and issuingDistributionPoint) in one transaction, or overlays a delta CRL
/// on its base. A refused CRL changes nothing.
/// </summary>
public sealed class CrlIngestor(CertStore store, TimeProvider? clock = null)
{
    private readonly TimeProvider _clock = clock ?? TimeProvider.System;

    /// <summary>Called every <see cref="ProgressStep"/> entries while storing, with the count so far and the total.</summary>
    public Action<int, int>? Progress { get; init; }

    /// <summary>How often <see cref="Progress"/> is called.</summary>
    public const int ProgressStep = 20_000;

    /// <summary>Ingests one CRL.</summary>
    /// <exception cref="BadInputException">The CRL was refused; the reason says why.</exception>
    public CrlIngestResult Ingest(string source, byte[] data)
    {
        ArgumentNullException.ThrowIfNull(data);
        var watch = Stopwatch.StartNew();
        // Same bytes as an accepted CRL: a no-op decided before parsing, so cron re-runs cost one hash.
        var sha256 = SHA256.HashData(data);
        if (store.Crls.FindBySha256(sha256) is { } same && store.Cas.Get(same.CaId) is { } sameCa)
        {
            return new CrlIngestResult(source, sameCa, same.Number, DateTimeOffset.FromUnixTimeSeconds(same.ThisUpdate),
                same.NextUpdate is { } sn ? DateTimeOffset.FromUnixTimeSeconds(sn) : null, (int)same.EntryCount, null, watch.Elapsed, same.DeltaBase);
        }

        // The entries are checked as they are stored (one DER walk, inside the transaction a bad one rolls back), and
        // the signature on another core meanwhile: both must pass before the transaction commits.
        var crl = CrlFile.ParseDeferred(data, source, sha256);
        var (ca, signature) = FindIssuer(crl, source);
        try
        {
            return Accept(crl, ca, signature, source, watch);
        }
        catch (BadInputException e) when (!ReferenceEquals(e, crl.EntryRefusal))
        {
            // As when the signature was checked before anything else: a CRL that does not verify is refused for that,
            // whatever else is wrong with it (a forged CRL is not reported as a roll-back); only a bad entry comes first.
            ((IAsyncResult)signature).AsyncWaitHandle.WaitOne();
            if (signature.Exception?.InnerException is BadInputException bad && !ReferenceEquals(bad, e)) throw bad;
            throw;
        }
        finally
        {
            // A refusal before the end never leaves the check running (its outcome is then not needed).
            if (!signature.IsCompleted) ((IAsyncResult)signature).AsyncWaitHandle.WaitOne();
        }
    }

    private CrlIngestResult Accept(ParsedCrl crl, CaRow ca, Task signature, string source, Stopwatch watch)
    {
        if (crl.ThisUpdate > _clock.GetUtcNow().AddMinutes(10))
            throw new BadInputException(source, $"thisUpdate {Time(crl.ThisUpdate)} is in the future");

        var idp = crl.DistributionPoint;
        // RFC 5280 5.2.5: at most one of onlyContainsUserCerts, onlyContainsCACerts, onlyContainsAttributeCerts is TRUE.
        if (idp is not null && (idp.OnlyUserCerts ? 1 : 0) + (idp.OnlyCaCerts ? 1 : 0) + (idp.OnlyAttributeCerts ? 1 : 0) > 1)
            throw new BadInputException(source, "issuingDistributionPoint sets more than one of onlyContainsUserCerts, onlyContainsCACerts, onlyContainsAttributeCerts");
        bool indirect = idp?.IndirectCrl == true;
        var scope = idp is null ? CrlScope.Complete : new CrlScope(idp.Der, idp.PointNames, idp.OnlyUserCerts, idp.OnlyCaCerts,
            idp.OnlyAttributeCerts, idp.OnlySomeReasons?.Aggregate(0, (mask, r) => mask | (1 << (int)r)), indirect);

        string? number = crl.Number?.ToString(CultureInfo.InvariantCulture);
        string? deltaBase = crl.DeltaBaseNumber?.ToString(CultureInfo.InvariantCulture);
        CrlIngestResult Current() => new(source, ca, number, crl.ThisUpdate, crl.NextUpdate, crl.EntryCount, null, watch.Elapsed, deltaBase);
        // What is accepted without storing (already current) or before storing (an indirect CRL's issuers) is checked whole first.
        void CheckWhole()
        {
            crl.CheckEntries();
            CheckIssuerEntries(crl, indirect, source);
            signature.GetAwaiter().GetResult();
        }
        bool current = crl.DeltaBaseNumber is { } baseNumber ? CheckDelta(crl, ca, scope, baseNumber, source) : CheckFull(crl, ca, scope, source);
        if (current)
        {
            CheckWhole();
            return Current();
        }

        Dictionary<string, long>? issuers = null;
        if (indirect)
        {
            CheckWhole();
            issuers = ResolveIssuers(crl);
        }
        int skipped = 0, ignored = 0;
        // An entry for another issuer's certificate counts only where that certificate delegates to this CRL issuer
        // (RFC 5280 6.3.3 (b)(1)): the registered ones that do not are counted here (the snapshot ignores the entry).
        var delegation = new Dictionary<string, bool>(StringComparer.Ordinal);
        void Named(byte[] issuerDer, byte[] serial)
        {
            if (issuerDer.AsSpan().SequenceEqual(crl.IssuerDer)) return;
            foreach (var set in store.Certificates.PointSets(issuerDer, serial))
            {
                var key = Convert.ToHexString(set);
                if (!delegation.TryGetValue(key, out var delegates))
                    delegation[key] = delegates = set.Length > 0 && CrlPointCodec.DecodePoints(set).Any(p => p.CrlIssuers?.Any(n => n.AsSpan().SequenceEqual(crl.IssuerDer)) == true);
                if (!delegates) ignored++;
            }
        }
        var record = new CrlRecord(ca.Id, number, crl.ThisUpdate, crl.NextUpdate, crl.Sha256, source, deltaBase, scope);
        // An indirect CRL's entries look up the store as they go, so on this thread; any other CRL's are walked, checked
        // and put in key order on another core (the insert then appends to the B-tree instead of touching random pages).
        var entries = indirect
            ? Revocations(crl, crl.Entries(), issuers, () => skipped++, Named)
            : EntryPipeline.Ahead(Revocations(crl, crl.EntriesInKeyOrder(), null, () => { }, (_, _) => { }));
        var change = store.Crls.Apply(record, Finished(WithProgress(crl, entries), crl, indirect, signature, source));
        return Current() with { Change = change, Duration = watch.Elapsed, Skipped = skipped, Ignored = ignored };
    }

    /// <summary>RFC 5280 5.3.3: certificateIssuer belongs to indirect CRLs only.</summary>
    private static void CheckIssuerEntries(ParsedCrl crl, bool indirect, string source)
    {
        if (crl.HasCertificateIssuer && !indirect)
            throw new BadInputException(source, "certificateIssuer entry extension in a CRL that is not indirect (RFC 5280 5.3.3)");
    }

    /// <summary>
    /// The entries, then the checks that need all of them: thrown from inside the store's transaction, so a refused CRL
    /// rolls back whatever was inserted. A bad entry (raised by the walk) is reported before a bad signature, as a full
    /// parse before the signature check would.
    /// </summary>
    private static IEnumerable<RevocationRecord> Finished(IEnumerable<RevocationRecord> entries, ParsedCrl crl, bool indirect, Task signature, string source)
    {
        foreach (var e in entries) yield return e;
        CheckIssuerEntries(crl, indirect, source);
        signature.GetAwaiter().GetResult();
    }

    private IEnumerable<RevocationRecord> WithProgress(ParsedCrl crl, IEnumerable<RevocationRecord> entries)
    {
        int done = 0;
        foreach (var e in entries)
        {
            // Until the walk has counted them, the total is estimated from the octets walked so far.
            if (Progress is { } progress && ++done % ProgressStep == 0)
                progress(done, crl.EntriesChecked ? crl.EntryCount : (int)Math.Max(done, (long)done * crl.EntriesLength / Math.Max(1, crl.EntriesWalked)));
            yield return e;
        }
        Progress?.Invoke(crl.EntryCount, crl.EntryCount);
    }

    /// <summary>Roll-back and no-op checks for a full CRL of a series; true when it is already current.</summary>
    private bool CheckFull(ParsedCrl crl, CaRow ca, CrlScope scope, string source)
    {
        var latest = store.Crls.Latest(ca.Id, scope.Idp, delta: false);
        if (latest is null) return false;
        var stored = Number(latest);
        if (crl.Number is { } n && stored is { } s)
        {
            if (n == s) return true;
            if (n < s) throw new BadInputException(source, $"roll-back refused: CRL number {n} is older than the stored {s}");
        }
        var storedThisUpdate = DateTimeOffset.FromUnixTimeSeconds(latest.ThisUpdate);
        if (crl.ThisUpdate < storedThisUpdate || (crl.Number is null && crl.ThisUpdate == storedThisUpdate))
            throw new BadInputException(source, $"roll-back refused: thisUpdate {Time(crl.ThisUpdate)} is not newer than the stored {Time(storedThisUpdate)}");
        return false;
    }

    /// <summary>RFC 5280 5.2.4: a delta needs a number, a stored base at least as new as its BaseCRLNumber, and must be newer than both.</summary>
    private bool CheckDelta(ParsedCrl crl, CaRow ca, CrlScope scope, BigInteger baseNumber, string source)
    {
        if (crl.Number is not { } n)
            throw new BadInputException(source, "delta CRL without cRLNumber (RFC 5280 5.2.4 requires one)");
        var full = store.Crls.Latest(ca.Id, scope.Idp, delta: false);
        if (full is null || Number(full) is not { } fullNumber || fullNumber < baseNumber)
            throw new BadInputException(source, $"delta CRL needs its base: CRL number {baseNumber} or newer of the same scope is not stored{(full is null ? "" : $" (stored: {full.Number ?? "without number"})")}");
        if (n <= fullNumber)
            throw new BadInputException(source, $"roll-back refused: delta CRL number {n} is not newer than the stored base {fullNumber}");
        var lastDelta = store.Crls.Latest(ca.Id, scope.Idp, delta: true);
        if (lastDelta is not null && lastDelta.Id > full.Id && Number(lastDelta) is { } d)
        {
            if (n == d) return true;
            if (n < d) throw new BadInputException(source, $"roll-back refused: delta CRL number {n} is older than the stored delta {d}");
        }
        return false;
    }

    private static BigInteger? Number(CrlRow row) => row.Number is null ? null : BigInteger.Parse(row.Number, CultureInfo.InvariantCulture);

    /// <summary>Maps each certificateIssuer of an indirect CRL to a registered CA (RFC 5280 5.3.3); unknown names map to -1.</summary>
    private Dictionary<string, long> ResolveIssuers(ParsedCrl crl)
    {
        var result = new Dictionary<string, long>(StringComparer.Ordinal);
        byte[]? last = null;
        foreach (var entry in crl.Entries())
        {
            if (entry.CertificateIssuerDer is not { } der || ReferenceEquals(der, last)) continue;
            last = der;
            var key = Convert.ToHexString(der);
            if (!result.ContainsKey(key)) result[key] = store.Cas.FindBySubject(der) is { Count: > 0 } cas ? cas[0].Id : -1;
        }
        return result;
    }

    private static IEnumerable<RevocationRecord> Revocations(ParsedCrl crl, IEnumerable<CrlEntry> walk, Dictionary<string, long>? issuers, Action skip, Action<byte[], byte[]> named)
    {
        bool delta = crl.DeltaBaseNumber is not null;
        byte[]? lastDer = null;
        long lastId = 0;
        foreach (var entry in walk)
        {
            // removeFromCRL belongs to delta CRLs (RFC 5280 5.3.1); on a full CRL it revokes nothing.
            if (!delta && entry.Reason == RevocationReason.RemoveFromCrl) continue;
            long issuer = 0;
            if (entry.CertificateIssuerDer is { } der)
            {
                if (issuers is null)
                    throw new BadInputException(crl.Source, "certificateIssuer entry extension in a CRL that is not indirect (RFC 5280 5.3.3)");
                if (!ReferenceEquals(der, lastDer))
                {
                    lastDer = der;
                    lastId = issuers[Convert.ToHexString(der)];
                }
                if (lastId < 0)
                {
                    skip();
                    continue;
                }
                named(der, entry.Serial.ToArray());
                issuer = lastId;
            }
            yield return new RevocationRecord(entry.Serial, entry.RevokedAt, entry.Reason, issuer);
        }
    }

    /// <summary>
    /// The registered CA that issued the CRL, and its signature check: started on another core when one CA has the
    /// name (the common case; the caller must observe the task), done here when several do and the key decides.
    /// </summary>
    private (CaRow Ca, Task Signature) FindIssuer(ParsedCrl crl, string source)
    {
        var candidates = store.Cas.FindBySubject(crl.IssuerDer);
        if (candidates.Count == 0)
            throw new BadInputException(source, $"issuer \"{crl.Issuer}\" is not a registered CA (certdns ca add)");
        if (candidates.Count == 1)
        {
            var only = CertificateFile.Read(candidates[0].Der, $"CA {candidates[0].Id}")[0];
            _ = only.KeyRefusal;
            return (candidates[0], Task.Run(() => crl.VerifySignedBy(only)));
        }
        // After a key rollover several CAs share a name: prefer the one the authority key identifier names.
        var ordered = candidates.OrderByDescending(c => crl.AuthorityKeyId is not null && c.KeyId is not null && c.KeyId.AsSpan().SequenceEqual(crl.AuthorityKeyId)).ToList();
        BadInputException? first = null;
        foreach (var ca in ordered)
        {
            try
            {
                crl.VerifySignedBy(CertificateFile.Read(ca.Der, $"CA {ca.Id}")[0]);
                return (ca, Task.CompletedTask);
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
