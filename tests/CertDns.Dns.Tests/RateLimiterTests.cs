using System.Net;

namespace CertDns.Dns.Tests;

/// <summary>The response rate limiter on its own, its clock a fake one: every second is stepped, none slept.</summary>
public sealed class RateLimiterTests
{
    private static readonly byte[] Flooded = IPAddress.Parse("127.1.0.7").GetAddressBytes();
    private static readonly byte[] SamePrefix = IPAddress.Parse("127.1.0.200").GetAddressBytes();
    private static readonly byte[] Other = IPAddress.Parse("127.2.0.7").GetAddressBytes();

    private static (RateLimiter Limiter, FakeTimeProvider Time) Limiter(int rate = 5, int slip = 2, int window = 3)
    {
        var time = new FakeTimeProvider(TestZone.Now);
        return (new RateLimiter(new RateLimitOptions { ResponsesPerSecond = rate, Slip = slip, Window = window, TableSize = 1024 }, time), time);
    }

    private static List<RateDecision> Charge(RateLimiter limiter, byte[] address, int count, ResponseKind kind = ResponseKind.Answer) =>
        [.. Enumerable.Range(0, count).Select(_ => limiter.Check(address, kind))];

    [Fact]
    public void Check_OverTheRate_DropsAndSlipsEverySecond()
    {
        var (limiter, _) = Limiter(rate: 5, slip: 2);

        var decisions = Charge(limiter, Flooded, 11);

        Assert.Equal(Enumerable.Repeat(RateDecision.Send, 5), decisions[..5]);
        Assert.Equal([RateDecision.Drop, RateDecision.Slip, RateDecision.Drop, RateDecision.Slip, RateDecision.Drop, RateDecision.Slip], decisions[5..]);
    }

    [Fact]
    public void Check_OnePrefixFlooded_OtherPrefixUnaffectedSamePrefixShares()
    {
        var (limiter, _) = Limiter(rate: 5);
        Charge(limiter, Flooded, 100);

        Assert.All(Charge(limiter, Other, 5), d => Assert.Equal(RateDecision.Send, d));
        // The /24 is the client: another address in it is the same flood.
        Assert.DoesNotContain(RateDecision.Send, Charge(limiter, SamePrefix, 5));
    }

    [Fact]
    public void Check_KindsCountedApart()
    {
        var (limiter, _) = Limiter(rate: 5);
        Charge(limiter, Flooded, 100, ResponseKind.NxDomain);

        Assert.All(Charge(limiter, Flooded, 5, ResponseKind.Answer), d => Assert.Equal(RateDecision.Send, d));
        Assert.DoesNotContain(RateDecision.Send, Charge(limiter, Flooded, 5, ResponseKind.NxDomain));
    }

    [Fact]
    public void Check_SteadyFlood_NothingButSlipsAfterTheFirstSecond()
    {
        var (limiter, time) = Limiter(rate: 5, slip: 2, window: 3);
        Charge(limiter, Flooded, 50);
        for (int second = 0; second < 10; second++)
        {
            time.Advance(TimeSpan.FromSeconds(1));
            Assert.DoesNotContain(RateDecision.Send, Charge(limiter, Flooded, 50));
        }
    }

    [Fact]
    public void Check_FloodStops_AnsweredAgainWithinTheWindow()
    {
        var (limiter, time) = Limiter(rate: 5, window: 3);
        Charge(limiter, Flooded, 1000);

        // The debt is at most the window's worth (3 s x 5): two quiet seconds do not pay it off, two more do.
        time.Advance(TimeSpan.FromSeconds(2));
        Assert.NotEqual(RateDecision.Send, limiter.Check(Flooded, ResponseKind.Answer));
        time.Advance(TimeSpan.FromSeconds(2));
        Assert.Equal(RateDecision.Send, limiter.Check(Flooded, ResponseKind.Answer));
    }

    [Fact]
    public void Check_SlipZero_DropsEveryLimitedResponse()
    {
        var (limiter, _) = Limiter(rate: 1, slip: 0);
        Assert.Equal([RateDecision.Send, .. Enumerable.Repeat(RateDecision.Drop, 9)], Charge(limiter, Flooded, 10));
    }

    [Fact]
    public void Check_Ipv6_ClientsInOneSlash56Share()
    {
        var (limiter, _) = Limiter(rate: 3);
        Charge(limiter, IPAddress.Parse("2001:db8:0:1::1").GetAddressBytes(), 50);

        Assert.NotEqual(RateDecision.Send, limiter.Check(IPAddress.Parse("2001:db8:0:ff::9").GetAddressBytes(), ResponseKind.Answer));
        Assert.Equal(RateDecision.Send, limiter.Check(IPAddress.Parse("2001:db8:0:100::1").GetAddressBytes(), ResponseKind.Answer));
    }

    [Fact]
    public void Check_MillionSpoofedSources_FixedTableNoAllocation()
    {
        var (limiter, _) = Limiter(rate: 5);
        int capacity = limiter.Capacity;
        var address = new byte[4];
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 1_000_000; i++)
        {
            System.Buffers.Binary.BinaryPrimitives.WriteInt32BigEndian(address, i * 256);
            limiter.Check(address, ResponseKind.Answer);
        }
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.Equal(0, allocated);
        Assert.Equal(capacity, limiter.Capacity);
        // The flood of newcomers did not lock out a prefix seen for the first time.
        Assert.Equal(RateDecision.Send, limiter.Check(Other, ResponseKind.Answer));
    }
}
