using System.Globalization;
using CertDns.Core;

namespace CertDns.Dns.Dnssec;

/// <summary>
/// The times a rollover is planned with (RFC 7583 section 3): <see cref="DnskeyTtl"/> (TTLkey, the zone's apex TTL),
/// <see cref="SignedTtl"/> (TTLsig, the largest original TTL of any signed RRset: the apex TTL, the entries' TTL cap,
/// the negative TTL), <see cref="Propagation"/> (Dprp: until every server of the zone answers with the change, the
/// server's check of the key set file plus the SOA refresh a secondary that missed the NOTIFY waits) and
/// <see cref="DsTtl"/> (TTLds, the parent's DS TTL, which the parent sets).
/// </summary>
public sealed record RolloverTiming(TimeSpan DnskeyTtl, TimeSpan SignedTtl, TimeSpan Propagation, TimeSpan DsTtl)
{
    /// <summary>The DS TTL assumed when the operator gives none: a day, as .com and most TLDs publish theirs.</summary>
    public static readonly TimeSpan DefaultDsTtl = TimeSpan.FromDays(1);

    /// <summary>The timing of a zone served with <paramref name="zone"/>, the key set checked every <paramref name="check"/>.</summary>
    public static RolloverTiming For(ZoneOptions zone, TimeSpan check, TimeSpan? dsTtl = null)
    {
        ArgumentNullException.ThrowIfNull(zone);
        int negative = Math.Min(zone.ApexTtl, zone.Minimum);
        return new RolloverTiming(TimeSpan.FromSeconds(zone.ApexTtl), TimeSpan.FromSeconds(Math.Max(zone.ApexTtl, Math.Max(zone.MaxTtl, negative))),
            check + TimeSpan.FromSeconds(zone.Refresh), dsTtl ?? DefaultDsTtl);
    }

    /// <summary>From publication until every validator that holds the DNSKEY RRset holds it with the new key: Dprp + TTLkey.</summary>
    public TimeSpan KeyPropagates => Propagation + DnskeyTtl;

    /// <summary>From the last signature made by a key until no cache holds one: Dprp + TTLsig.</summary>
    public TimeSpan SignaturesExpire => Propagation + SignedTtl;
}

/// <summary>
/// Key rollovers (RFC 6781 section 4.1, timed as RFC 7583 section 3): planned into the key set's times when they start,
/// so the server moves through the phases by the clock and only the parent's DS change waits for the operator.
/// <list type="bullet">
/// <item>A ZSK by pre-publication: the new key is published at once and signs nothing; after Dprp + TTLkey every
/// cached DNSKEY RRset holds it, and it starts signing as the old one stops (retires); the old one stays published
/// until its signatures have left the caches (Dprp + TTLsig) and is then removed.</item>
/// <item>A KSK or a combined signing key (CSK) by double signature: the new key is published and signs at once, beside
/// the old one (a validator checks one signature of the ones it has a key for, so both keys' signatures validate
/// under either DNSKEY RRset); its DS may go to the parent from Dprp + TTLkey on, when every cached DNSKEY RRset
/// holds it. When the parent serves the new DS alone the operator says so (<see cref="DsChanged"/>) and the old key
/// goes after the old DS has left the caches (Dprp + TTLds).</item>
/// </list>
/// One rollover runs at a time; keys removed by an earlier one leave the file when the next starts.
/// </summary>
public static class KeyRollover
{
    /// <summary>The rollover running at <paramref name="at"/>: the key being replaced and its successor, or null.</summary>
    public static (DnssecKey Old, DnssecKey New)? Running(DnssecKeySet keys, DateTimeOffset at)
    {
        ArgumentNullException.ThrowIfNull(keys);
        foreach (var old in keys.Keys)
        {
            if (old.Successor is not { } tag || (old.Removed is { } removed && at >= removed)) continue;
            if (keys.Keys.FirstOrDefault(k => k.KeyTag == tag) is { } successor) return (old, successor);
        }
        return null;
    }

    /// <summary>
    /// Starts a rollover at <paramref name="at"/> of the key <paramref name="tag"/>, or of the key of <paramref name="role"/>
    /// (CSK, KSK or ZSK; null: the CSK, or in a split set the ZSK): returns the new key set (the old one's keys with
    /// the new key's, the removed ones left out) and the new key.
    /// </summary>
    /// <exception cref="BadInputException">A rollover is running, no active key has that tag or role, or the role does not fit the set.</exception>
    public static (DnssecKeySet Keys, DnssecKey New) Start(DnssecKeySet keys, string source, ushort? tag, string? role, RolloverTiming timing, DateTimeOffset at)
    {
        ArgumentNullException.ThrowIfNull(keys);
        ArgumentNullException.ThrowIfNull(timing);
        at = Seconds(at);
        var view = keys.AtTime(at);
        if (Running(keys, at) is { } running)
            throw new BadInputException(source, $"a rollover of key {running.Old.KeyTag} to {running.New.KeyTag} is running ({Next(keys, timing, at)})");
        var active = keys.Keys.Where(k => view.StateOf(k) == DnssecKeyState.Active).ToList();
        DnssecKey old;
        if (tag is { } t)
        {
            old = active.FirstOrDefault(k => k.KeyTag == t)
                ?? throw new BadInputException(source, $"no active key with key tag {t} (active: {string.Join(", ", active.Select(k => $"{keys.RoleOf(k)} {k.KeyTag}"))})");
        }
        else
        {
            string wanted = role?.ToUpperInvariant() ?? (active.Any(k => !k.IsKeySigningKey) ? "ZSK" : "CSK");
            var candidates = active.Where(k => keys.RoleOf(k) == wanted).ToList();
            if (candidates.Count != 1)
                throw new BadInputException(source, candidates.Count == 0
                    ? $"no active {wanted} in the key set (it has {string.Join(", ", active.Select(k => $"{keys.RoleOf(k)} {k.KeyTag}"))})"
                    : $"{candidates.Count} active {wanted}s: name the one to roll with --key");
            old = candidates[0];
        }
        // The new key gets a tag no key in the file has: a validator picks keys by tag, and the file is keyed by it.
        DnssecKey fresh;
        do
        {
            fresh = DnssecKey.Generate(old.Algorithm, old.IsKeySigningKey, at);
        }
        while (keys.Keys.Any(k => k.KeyTag == fresh.KeyTag));
        var kept = keys.Keys.Where(k => view.StateOf(k) != DnssecKeyState.Removed).ToList();
        if (old.IsKeySigningKey)
        {
            // Double signature: published and signing at once; the old key waits for the parent's DS (DsChanged).
            fresh.Published = at;
            fresh.Activated = at;
        }
        else
        {
            // Pre-publication: signs once every cached DNSKEY RRset holds it, as the old key stops.
            fresh.Published = at;
            fresh.Activated = at + timing.KeyPropagates;
            old.Retired = fresh.Activated;
            old.Removed = fresh.Activated + timing.SignaturesExpire;
        }
        old.Successor = fresh.KeyTag;
        kept.Add(fresh);
        return (new DnssecKeySet(keys.Zone, kept, at), fresh);
    }

    /// <summary>When the successor's DS may be given to the parent: once every cached DNSKEY RRset holds the successor.</summary>
    public static DateTimeOffset DsReady(DnssecKey successor, RolloverTiming timing) => (successor.Published ?? successor.Created) + timing.KeyPropagates;

    /// <summary>
    /// The operator says the parent serves the new key's DS alone (from <paramref name="at"/>): the old key is planned to go
    /// once the old DS has left the caches (Dprp + TTLds). Returns the old key.
    /// </summary>
    /// <exception cref="BadInputException">No KSK or CSK rollover waits for the parent, or its new key is not ready for the DS yet.</exception>
    public static DnssecKey DsChanged(DnssecKeySet keys, string source, RolloverTiming timing, DateTimeOffset at)
    {
        ArgumentNullException.ThrowIfNull(keys);
        ArgumentNullException.ThrowIfNull(timing);
        at = Seconds(at);
        if (Running(keys, at) is not { } running || !running.Old.IsKeySigningKey || running.Old.Removed is not null)
            throw new BadInputException(source, "no KSK or CSK rollover is waiting for the parent's DS (certdns dnssec status shows where it is)");
        var ready = DsReady(running.New, timing);
        if (at < ready)
            throw new BadInputException(source, $"key {running.New.KeyTag} is not in every cached DNSKEY RRset before {Text(ready)}: a parent that serves its DS alone before then makes the zone bogus for some resolvers; give the parent its DS from then on");
        running.Old.Retired = at + timing.Propagation + timing.DsTtl;
        running.Old.Removed = running.Old.Retired;
        return running.Old;
    }

    /// <summary>One line saying where a rollover is at <paramref name="at"/> and what comes next, and when.</summary>
    public static string Next(DnssecKeySet keys, RolloverTiming timing, DateTimeOffset at)
    {
        ArgumentNullException.ThrowIfNull(keys);
        ArgumentNullException.ThrowIfNull(timing);
        if (Running(keys, at) is not { } r) return "no rollover running";
        string what = $"{keys.RoleOf(r.Old)} rollover {r.Old.KeyTag} -> {r.New.KeyTag}";
        if (!r.Old.IsKeySigningKey)
        {
            if (at < r.New.Activated) return $"{what}: pre-publication, {r.New.KeyTag} published; at {Text(r.New.Activated!.Value)} it starts signing and {r.Old.KeyTag} retires";
            return $"{what}: {r.New.KeyTag} signs, {r.Old.KeyTag} retired; at {Text(r.Old.Removed!.Value)} {r.Old.KeyTag} is removed";
        }
        if (r.Old.Removed is { } removed) return $"{what}: the parent has the new DS; at {Text(removed)} {r.Old.KeyTag} is removed and stops signing";
        var ready = DsReady(r.New, timing);
        if (at < ready) return $"{what}: double signature; at {Text(ready)} give the parent the DS of {r.New.KeyTag} (certdns dnssec ds), not before";
        return $"{what}: double signature; now give the parent the DS of {r.New.KeyTag} in place of {r.Old.KeyTag}'s (certdns dnssec ds), and once it serves it run certdns dnssec rollover --ds-changed";
    }

    /// <summary>The file keeps whole seconds: a plan made with fractions would move a phase by a fraction on reading.</summary>
    private static DateTimeOffset Seconds(DateTimeOffset t) => DateTimeOffset.FromUnixTimeSeconds(t.ToUnixTimeSeconds());

    private static string Text(DateTimeOffset t) => t.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture);
}
