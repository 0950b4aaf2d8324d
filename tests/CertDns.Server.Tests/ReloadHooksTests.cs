using CertDns.Core;
using Microsoft.Extensions.Time.Testing;

namespace CertDns.Server.Tests;

/// <summary>SIGHUP's reload hooks: a refusal keeps the old state and does not stop the next hook; outcomes are kept for the page.</summary>
public sealed class ReloadHooksTests
{
    private sealed class Hook(string name, Func<string> reload) : IReloadable
    {
        public int Calls { get; private set; }
        public string Name => name;
        public string Reload()
        {
            Calls++;
            return reload();
        }
    }

    [Fact]
    public void ReloadAll_FirstRefuses_SecondStillRuns_BothRecorded()
    {
        var clock = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var logged = new List<ReloadEvent>();
        var hooks = new ReloadHooks(clock, logged.Add);
        var bad = new Hook("configuration", () => throw new BadInputException("certdns.toml", "line 3: unknown key 'zone.nme'"));
        var good = new Hook("store", () => "reloaded: serial 7");
        hooks.Add(bad);
        hooks.Add(good);

        Assert.False(hooks.ReloadAll());

        Assert.Equal(1, good.Calls);
        Assert.Equal(2, logged.Count);
        var newest = hooks.Recent;
        Assert.Equal(("store", false, "reloaded: serial 7"), (newest[0].What, newest[0].Refused, newest[0].Text));
        Assert.Equal(("configuration", true, "certdns.toml: line 3: unknown key 'zone.nme'"), (newest[1].What, newest[1].Refused, newest[1].Text));
    }

    [Fact]
    public void Recent_KeepsOnlyTheLatest()
    {
        var hooks = new ReloadHooks(new FakeTimeProvider());
        for (int i = 0; i < ReloadHooks.Kept + 5; i++) hooks.Record("store", false, $"reload {i}");

        Assert.Equal(ReloadHooks.Kept, hooks.Recent.Count);
        Assert.Equal($"reload {ReloadHooks.Kept + 4}", hooks.Recent[0].Text);
    }

    [Fact]
    public void LogThrottle_SameLineWithinTheWindow_WrittenOnceThenCounted()
    {
        var clock = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var written = new List<string>();
        var throttle = new LogThrottle(written.Add, clock, TimeSpan.FromMinutes(1));

        for (int i = 0; i < 30; i++)
        {
            throttle.Write("reload failed, still serving serial 1: database is locked");
            clock.Advance(TimeSpan.FromSeconds(1));
        }
        clock.Advance(TimeSpan.FromMinutes(1));
        throttle.Write("reload failed, still serving serial 1: database is locked");
        throttle.Write("reloaded: serial 2");

        Assert.Equal(3, written.Count);
        Assert.Equal("reload failed, still serving serial 1: database is locked", written[0]);
        Assert.StartsWith("reload failed, still serving serial 1: database is locked (and 29 times more since ", written[1], StringComparison.Ordinal);
        Assert.Equal("reloaded: serial 2", written[2]);
    }
}
