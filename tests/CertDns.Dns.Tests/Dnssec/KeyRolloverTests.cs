using CertDns.Core;
using CertDns.Dns.Dnssec;

namespace CertDns.Dns.Tests.Dnssec;

/// <summary>
/// The phase arithmetic of rollovers (RFC 7583 section 3): the times <see cref="KeyRollover"/> plans from the zone's
/// TTLs, the states they give by the clock, the refusals, and a model of a validator's caches that checks, at every
/// moment of the rollover, that every signature a cache may still hold meets a key of every DNSKEY RRset (and every DS)
/// a cache may hold beside it.
/// </summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed class KeyRolloverTests
{
    private static readonly DateTimeOffset Start = new(2026, 12, 2, 8, 0, 0, TimeSpan.Zero);

    // TTLkey 1 h, TTLsig max(1 h apex, 5 min entries, 1 min negative) = 1 h, Dprp 1 h refresh + 1 s poll, TTLds 1 day.
    private static readonly RolloverTiming Timing = RolloverTiming.For(new ZoneOptions(), TimeSpan.FromSeconds(1));

    [Fact]
    public void Timing_ComesFromTheZonesTtls()
    {
        var timing = RolloverTiming.For(new ZoneOptions { ApexTtl = 7200, MaxTtl = 86400, Minimum = 300, Refresh = 1800 }, TimeSpan.FromSeconds(5), TimeSpan.FromHours(2));
        Assert.Equal(TimeSpan.FromHours(2), timing.DnskeyTtl);
        Assert.Equal(TimeSpan.FromDays(1), timing.SignedTtl);
        Assert.Equal(TimeSpan.FromSeconds(1805), timing.Propagation);
        Assert.Equal(TimeSpan.FromHours(2), timing.DsTtl);
        Assert.Equal(TimeSpan.FromSeconds(1805 + 7200), timing.KeyPropagates);
        Assert.Equal(TimeSpan.FromSeconds(1805 + 86400), timing.SignaturesExpire);
    }

    [Fact]
    public void ZskRollover_PrePublication_PublishesThenSwapsSignersThenRemoves()
    {
        using var keys = DnssecKeySet.Generate(TestZone.Apex, DnssecAlgorithm.EcdsaP256Sha256, split: true, Start.AddDays(-30));
        var oldZsk = keys.Keys.Single(k => !k.IsKeySigningKey);
        var ksk = keys.Keys.Single(k => k.IsKeySigningKey);
        var (rolled, fresh) = KeyRollover.Start(keys, "keys", null, null, Timing, Start);
        using var _ = rolled;

        Assert.False(fresh.IsKeySigningKey);
        Assert.Equal(Start, fresh.Published);
        Assert.Equal(Start + Timing.Propagation + Timing.DnskeyTtl, fresh.Activated);
        Assert.Equal(fresh.Activated, oldZsk.Retired);
        Assert.Equal(fresh.Activated + Timing.Propagation + Timing.SignedTtl, oldZsk.Removed);
        Assert.Equal(fresh.KeyTag, oldZsk.Successor);

        var published = rolled.AtTime(Start);
        Assert.Equal([ksk.KeyTag, oldZsk.KeyTag, fresh.KeyTag], published.Published.Select(k => k.KeyTag));
        Assert.Equal([oldZsk.KeyTag], published.ZoneSigningKeys.Select(k => k.KeyTag));
        var swapped = rolled.AtTime(fresh.Activated!.Value);
        Assert.Equal([fresh.KeyTag], swapped.ZoneSigningKeys.Select(k => k.KeyTag));
        Assert.Equal(DnssecKeyState.Retired, swapped.StateOf(oldZsk));
        Assert.Contains(oldZsk, swapped.Published);
        var done = rolled.AtTime(oldZsk.Removed!.Value);
        Assert.Equal([ksk.KeyTag, fresh.KeyTag], done.Published.Select(k => k.KeyTag));
        Assert.Equal([ksk.KeyTag], done.KeySigningKeys.Select(k => k.KeyTag));
        Assert.Null(KeyRollover.Running(rolled, oldZsk.Removed.Value));
        Assert.NotNull(KeyRollover.Running(rolled, oldZsk.Removed.Value.AddSeconds(-1)));
        AssertEveryCachedSignatureValidates(rolled, Start, oldZsk.Removed.Value, dsChanged: null);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void KskOrCskRollover_DoubleSignature_WaitsForTheParentThenRemovesAfterTheDsTtl(bool split)
    {
        using var keys = DnssecKeySet.Generate(TestZone.Apex, DnssecAlgorithm.EcdsaP256Sha256, split, Start.AddDays(-30));
        var old = keys.Keys.Single(k => k.IsKeySigningKey);
        var (rolled, fresh) = KeyRollover.Start(keys, "keys", null, split ? "KSK" : null, Timing, Start);
        using var _ = rolled;
        Assert.True(fresh.IsKeySigningKey);
        Assert.Equal(split ? "KSK" : "CSK", rolled.RoleOf(fresh));
        var both = rolled.AtTime(Start);
        Assert.Equal([old.KeyTag, fresh.KeyTag], both.KeySigningKeys.Select(k => k.KeyTag));
        if (!split) Assert.Equal([old.KeyTag, fresh.KeyTag], both.ZoneSigningKeys.Select(k => k.KeyTag));
        Assert.Equal(2, both.DsText(3600).Split('\n', StringSplitOptions.RemoveEmptyEntries).Length);

        // Nothing goes by the clock alone: the old key signs until the operator says the parent changed its DS.
        Assert.Equal(DnssecKeyState.Active, rolled.AtTime(Start.AddYears(1)).StateOf(old));
        var ready = KeyRollover.DsReady(fresh, Timing);
        Assert.Equal(Start + Timing.Propagation + Timing.DnskeyTtl, ready);
        var early = Assert.Throws<BadInputException>(() => KeyRollover.DsChanged(rolled, "keys", Timing, ready.AddSeconds(-1)));
        Assert.Contains("not in every cached DNSKEY RRset", early.Message);
        Assert.Null(old.Removed);

        var changedAt = ready.AddHours(3);
        Assert.Same(old, KeyRollover.DsChanged(rolled, "keys", Timing, changedAt));
        Assert.Equal(changedAt + Timing.Propagation + Timing.DsTtl, old.Removed);
        Assert.Equal(old.Removed, old.Retired);
        Assert.Throws<BadInputException>(() => KeyRollover.DsChanged(rolled, "keys", Timing, changedAt));
        var done = rolled.AtTime(old.Removed!.Value);
        Assert.Equal([fresh.KeyTag], done.KeySigningKeys.Select(k => k.KeyTag));
        Assert.DoesNotContain(old, done.Published);
        AssertEveryCachedSignatureValidates(rolled, Start, old.Removed.Value, changedAt);
    }

    [Fact]
    public void Model_CatchesAPlanThatSignsBeforeTheKeyPropagated()
    {
        // The check below could fail: a ZSK that signs the moment it is published is bogus for a validator that
        // holds the DNSKEY RRset from before.
        using var keys = DnssecKeySet.Generate(TestZone.Apex, DnssecAlgorithm.EcdsaP256Sha256, split: true, Start.AddDays(-30));
        var (rolled, fresh) = KeyRollover.Start(keys, "keys", null, null, Timing, Start);
        using var _ = rolled;
        var old = rolled.Keys.Single(k => k.Successor == fresh.KeyTag);
        fresh.Activated = Start;
        old.Retired = Start;
        Assert.ThrowsAny<Xunit.Sdk.XunitException>(() => AssertEveryCachedSignatureValidates(rolled, Start, old.Removed!.Value, null));
    }

    [Fact]
    public void Start_Refuses_WhileOneRuns_UnknownTag_OrAMissingRole()
    {
        using var keys = DnssecKeySet.Generate(TestZone.Apex, DnssecAlgorithm.EcdsaP256Sha256, split: false, Start.AddDays(-30));
        var unknown = Assert.Throws<BadInputException>(() => KeyRollover.Start(keys, "keys", 1, null, Timing, Start));
        Assert.Contains("no active key with key tag 1", unknown.Message);
        var zsk = Assert.Throws<BadInputException>(() => KeyRollover.Start(keys, "keys", null, "ZSK", Timing, Start));
        Assert.Contains("no active ZSK", zsk.Message);
        var (rolled, _) = KeyRollover.Start(keys, "keys", null, null, Timing, Start);
        using (rolled)
        {
            var running = Assert.Throws<BadInputException>(() => KeyRollover.Start(rolled, "keys", null, null, Timing, Start.AddDays(3)));
            Assert.Contains("is running", running.Message);
        }
    }

    [Fact]
    public void NextRollover_LeavesTheRemovedKeysOut_AndTheFileKeepsEveryTime()
    {
        using var dir = new TempDir();
        var path = dir.File("keys");
        using var keys = DnssecKeySet.Generate(TestZone.Apex, DnssecAlgorithm.EcdsaP256Sha256, split: true, Start.AddDays(-30));
        var (first, fresh) = KeyRollover.Start(keys, path, null, null, Timing, Start);
        first.Save(path, overwrite: false);
        var old = first.Keys.Single(k => k.Successor == fresh.KeyTag);
        using var loaded = DnssecKeySet.Load(path, Start);
        Assert.Equal(first.Keys.Select(k => (k.KeyTag, k.Published, k.Activated, k.Retired, k.Removed, k.Successor)),
            loaded.Keys.Select(k => (k.KeyTag, k.Published, k.Activated, k.Retired, k.Removed, k.Successor)));
        Assert.Equal([DnssecKeyState.Active, DnssecKeyState.Active, DnssecKeyState.Published], loaded.Keys.Select(loaded.StateOf));

        var later = old.Removed!.Value.AddDays(1);
        var (second, _) = KeyRollover.Start(loaded, path, null, null, Timing, later);
        using (second)
        {
            Assert.DoesNotContain(second.Keys, k => k.KeyTag == old.KeyTag);
            Assert.Equal(3, second.Keys.Count);
        }
        first.Dispose();
    }

    [Fact]
    public void Watcher_RefusesABadFileOnce_KeepsTheKeys_AndTakesTheNextGoodOne()
    {
        using var dir = new TempDir();
        var path = dir.File("keys");
        var time = new FakeTimeProvider(Start);
        using (var generated = DnssecKeySet.Generate(TestZone.Apex, DnssecAlgorithm.EcdsaP256Sha256, split: false, Start.AddDays(-1)))
            generated.Save(path, overwrite: false);
        var loaded = DnssecKeySet.Load(path, Start);
        var log = new List<string>();
        var changes = new List<DnssecKeySet>();
        var watcher = new KeySetWatcher(path, loaded, time, (keys, _) => changes.Add(keys), log.Add);
        var served = watcher.Current.Signature;
        Assert.False(watcher.Check());

        var good = File.ReadAllBytes(path);
        File.WriteAllText(path, "{\"zone\": ");
        Assert.False(watcher.Check());
        Assert.False(watcher.Check());
        var line = Assert.Single(log);
        Assert.StartsWith(path + ": not a valid key set", line, StringComparison.Ordinal);
        Assert.Equal(served, watcher.Current.Signature);

        // The operator's next rollover, written whole: taken at the next check.
        File.WriteAllBytes(path, good);
        File.SetUnixFileMode(path, DnssecKeySet.NewFileMode);
        var (rolled, fresh) = KeyRollover.Start(DnssecKeySet.Load(path, Start), path, null, null, Timing, Start);
        rolled.Save(path, overwrite: true);
        Assert.True(watcher.Check());
        Assert.Contains(fresh.KeyTag, Assert.Single(changes).KeySigningKeys.Select(k => k.KeyTag));
        Assert.False(watcher.Check());
        // Nothing more happens by the clock until the operator's DS change.
        time.Advance(TimeSpan.FromDays(30));
        Assert.False(watcher.Check());
    }

    /// <summary>
    /// A validator's caches over [<paramref name="from"/>, <paramref name="until"/>]: at each moment t it may hold an
    /// RRset with its signatures served at any s in [t - Dprp - TTLsig, t], the DNSKEY RRset served at any v in
    /// [t - Dprp - TTLkey, t] and, for the DNSKEY RRset's signatures, the parent's DS as served at any p in
    /// [t - Dprp - TTLds, t] (the old key's DS before <paramref name="dsChanged"/>, the new one's after). Every pair must
    /// share a key. Each time is also taken back to the plan's boundaries, where a mistake shows first.
    /// </summary>
    private static void AssertEveryCachedSignatureValidates(DnssecKeySet keys, DateTimeOffset from, DateTimeOffset until, DateTimeOffset? dsChanged)
    {
        var boundaries = keys.Keys.SelectMany(k => new[] { k.Published, k.Activated, k.Retired, k.Removed }).OfType<DateTimeOffset>()
            .Concat(dsChanged is { } c ? [c] : []).Where(t => t >= from.AddDays(-1)).Distinct().ToList();
        var oldKsk = keys.Keys.First(k => k.IsKeySigningKey && keys.AtTime(from.AddSeconds(-1)).KeySigningKeys.Contains(k));
        var newKsk = keys.Keys.Where(k => k.IsKeySigningKey).Last();
        IEnumerable<DateTimeOffset> Moments(DateTimeOffset a, DateTimeOffset b)
        {
            for (int i = 0; i <= 40; i++) yield return a + (b - a) * i / 40;
            foreach (var t in boundaries)
            {
                foreach (var d in new[] { -1, 0, 1 })
                    if (t.AddSeconds(d) >= a && t.AddSeconds(d) <= b) yield return t.AddSeconds(d);
            }
        }
        DateTimeOffset span = until.AddHours(1);
        int pairs = 0;
        foreach (var t in Moments(from.AddSeconds(-1), span))
        {
            foreach (var s in Moments(t - Timing.SignaturesExpire, t))
            {
                var signed = keys.AtTime(s);
                foreach (var v in Moments(t - Timing.KeyPropagates, t))
                {
                    var dnskey = keys.AtTime(v);
                    Assert.True(signed.ZoneSigningKeys.Any(dnskey.Published.Contains),
                        $"at {t:u} a cached RRset signed at {s:u} by {string.Join(',', signed.ZoneSigningKeys.Select(k => k.KeyTag))} meets no key of the DNSKEY RRset of {v:u} ({string.Join(',', dnskey.Published.Select(k => k.KeyTag))})");
                    pairs++;
                }
            }
            foreach (var v in Moments(t - Timing.KeyPropagates, t))
            {
                var dnskeyKeys = keys.AtTime(v).KeySigningKeys;
                foreach (var p in Moments(t - Timing.Propagation - Timing.DsTtl, t))
                {
                    var ds = dsChanged is { } changed && p >= changed ? newKsk : oldKsk;
                    Assert.True(dnskeyKeys.Contains(ds), $"at {t:u} the DNSKEY RRset of {v:u} is signed by {string.Join(',', dnskeyKeys.Select(k => k.KeyTag))}, the DS cached from {p:u} is {ds.KeyTag}'s");
                    pairs++;
                }
            }
        }
        Assert.True(pairs > 1000, $"{pairs} pairs checked");
    }
}
