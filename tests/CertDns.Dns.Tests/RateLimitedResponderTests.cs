using System.Net;
using CertDns.Core;

namespace CertDns.Dns.Tests;

/// <summary>The responder's answers charged to a rate limiter: what a limited client gets, and who is exempt.</summary>
public sealed class RateLimitedResponderTests
{
    private static readonly byte[] Address = IPAddress.Parse("192.0.2.10").GetAddressBytes();
    private static readonly string Revoked = TestZone.Name(TestZone.Split(TestZone.Revoked.Sha256));

    private static (DnsResponder Responder, RateLimiter Limiter) Setup(int slip = 1)
    {
        var time = new FakeTimeProvider(TestZone.Now);
        var responder = new DnsResponder(new ZoneOptions(), new SnapshotHolder(TestZone.Snapshot()), time)
        {
            Cookies = new ServerCookies(new byte[16], default, time),
        };
        return (responder, new RateLimiter(new RateLimitOptions { ResponsesPerSecond = 3, Slip = slip, TableSize = 64 }, time));
    }

    private static byte[] Ask(DnsResponder responder, RateLimiter limiter, byte[] query, bool tcp = false)
    {
        var response = new byte[DnsResponder.MaxMessageSize];
        int length = responder.Respond(query, response, DnsResponder.MaxMessageSize, tcp, false, Address, limiter, out _);
        return response[..length];
    }

    [Theory]
    [InlineData(WireQuery.Txt, 2)]
    [InlineData(WireQuery.A, 2)]
    [InlineData(WireQuery.A, 3)]
    public void Respond_OverTheRate_SlipIsTruncatedServFailNoLongerThanTheQuery(ushort type, int nameLabel)
    {
        _ = nameLabel;
        var (responder, limiter) = Setup(slip: 1);
        var query = WireQuery.Build(Revoked, type, ednsSize: 1232);
        for (int i = 0; i < 3; i++) Assert.False(WireQuery.Truncated(Ask(responder, limiter, query)));

        var slipped = Ask(responder, limiter, query);

        Assert.True(WireQuery.Truncated(slipped));
        Assert.True(slipped.Length <= query.Length, $"{slipped.Length} octets slipped for a {query.Length}-octet query");
        Assert.Equal(0, WireQuery.Count(slipped, 1));
        // Fail closed: a client that ignores TC must not take a listed certificate's slip for "not listed".
        Assert.Equal(2, WireQuery.Rcode(slipped));
        Assert.Equal(1, responder.Counters.SlippedResponses);
    }

    [Fact]
    public void Respond_OverTheRateNxDomain_SlipStaysNxDomain()
    {
        var (responder, limiter) = Setup(slip: 1);
        var query = WireQuery.Build(TestZone.Name("not-a-fingerprint"), WireQuery.A);
        for (int i = 0; i < 3; i++) Ask(responder, limiter, query);

        var slipped = Ask(responder, limiter, query);

        Assert.True(WireQuery.Truncated(slipped));
        Assert.Equal(3, WireQuery.Rcode(slipped));
    }

    [Fact]
    public void Respond_SlipZero_DroppedAndCounted()
    {
        var (responder, limiter) = Setup(slip: 0);
        var query = WireQuery.Build(Revoked, WireQuery.A);
        for (int i = 0; i < 3; i++) Assert.NotEmpty(Ask(responder, limiter, query));

        Assert.Empty(Ask(responder, limiter, query));
        Assert.Equal(1, responder.Counters.RateLimitedResponses);
    }

    [Fact]
    public void Respond_Tcp_NeverLimited()
    {
        var (responder, limiter) = Setup();
        var query = WireQuery.Build(Revoked, WireQuery.A);

        for (int i = 0; i < 20; i++) Assert.Equal(1, WireQuery.Count(Ask(responder, limiter, query, tcp: true), 1));
    }

    [Fact]
    public void Respond_ValidServerCookie_Exempt()
    {
        var (responder, limiter) = Setup();
        var first = Ask(responder, limiter, WireQuery.WithCookie(Revoked, WireQuery.A, [1, 2, 3, 4, 5, 6, 7, 8]));
        var cookie = WireQuery.ReadOpt(first)!.Value.Cookie!;
        var query = WireQuery.WithCookie(Revoked, WireQuery.A, cookie);

        for (int i = 0; i < 50; i++)
        {
            var response = Ask(responder, limiter, query);
            Assert.False(WireQuery.Truncated(response));
            Assert.Equal(1, WireQuery.Count(response, 1));
        }
        // A client cookie alone proves nothing: that client is limited as any other.
        var unproven = WireQuery.WithCookie(Revoked, WireQuery.A, [9, 9, 9, 9, 9, 9, 9, 9]);
        Assert.Contains(Enumerable.Range(0, 10).Select(_ => Ask(responder, limiter, unproven)), r => WireQuery.Truncated(r));
    }
}
