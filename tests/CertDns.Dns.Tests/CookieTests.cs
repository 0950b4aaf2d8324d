using System.Buffers.Binary;
using System.Net;
using CertDns.Core;

namespace CertDns.Dns.Tests;

/// <summary>SipHash-2-4 against its paper, server cookies against RFC 9018, and the responder's COOKIE handling (RFC 7873 section 5).</summary>
public sealed class CookieTests
{
    private static readonly byte[] Client = Convert.FromHexString("2464c4abcf10c957");
    private static readonly byte[] Address = IPAddress.Parse("198.51.100.100").GetAddressBytes();
    private static readonly byte[] Secret = Convert.FromHexString("e5e973e5a6b2a43f48e7dc849e37bfcf");

    // SipHash paper, appendix A (and the reference implementation's vectors.h): key 00..0f, message 00..(n-1).
    [Theory]
    [InlineData(0, 0x726fdb47dd0e0e31UL)]
    [InlineData(1, 0x74f839c593dc67fdUL)]
    [InlineData(15, 0xa129ca6149be45e5UL)]
    public void SipHash_PaperVectors(int length, ulong expected)
    {
        var key = Enumerable.Range(0, 16).Select(i => (byte)i).ToArray();
        var message = Enumerable.Range(0, length).Select(i => (byte)i).ToArray();

        Assert.Equal(expected, SipHash.Hash(key, message));
    }

    [Fact]
    public void Check_Rfc9018AppendixA1_LearnsTheDocumentedServerCookie()
    {
        // RFC 9018 appendix A.1: timestamp 1559731985 (2019-06-05 10:53:05 UTC).
        var time = new FakeTimeProvider(DateTimeOffset.FromUnixTimeSeconds(1559731985));
        var cookies = new ServerCookies(Secret, default, time);
        var response = new byte[ServerCookies.ResponseLength];

        Assert.Equal(CookieOutcome.ClientOnly, cookies.Check(Client, Address, response));

        Assert.Equal("2464c4abcf10c957" + "010000005cf79f111f8130c3eee29480", Convert.ToHexStringLower(response));
    }

    private static (ServerCookies Cookies, FakeTimeProvider Time) Cookies()
    {
        var time = new FakeTimeProvider(TestZone.Now);
        return (new ServerCookies(Secret, default, time), time);
    }

    private static byte[] Learn(ServerCookies cookies, byte[]? address = null)
    {
        var response = new byte[ServerCookies.ResponseLength];
        Assert.Equal(CookieOutcome.ClientOnly, cookies.Check(Client, address ?? Address, response));
        return response;
    }

    [Fact]
    public void Check_OwnCookieBack_ValidAndKeptWhileFresh()
    {
        var (cookies, time) = Cookies();
        var learned = Learn(cookies);
        time.Advance(TimeSpan.FromMinutes(10));
        var again = new byte[ServerCookies.ResponseLength];

        Assert.Equal(CookieOutcome.Valid, cookies.Check(learned, Address, again));
        Assert.Equal(learned, again);
    }

    [Fact]
    public void Check_CookieOlderThanHalfAnHour_ValidAndRenewed()
    {
        var (cookies, time) = Cookies();
        var learned = Learn(cookies);
        time.Advance(TimeSpan.FromMinutes(40));
        var again = new byte[ServerCookies.ResponseLength];

        Assert.Equal(CookieOutcome.Valid, cookies.Check(learned, Address, again));
        Assert.NotEqual(learned, again);
        Assert.Equal(CookieOutcome.Valid, cookies.Check(again, Address, new byte[ServerCookies.ResponseLength]));
    }

    [Theory]
    [InlineData("an hour and a minute old", 61 * 60, -1)]
    [InlineData("another client's address", 0, 100)]
    [InlineData("a hash octet changed", 0, 23)]
    [InlineData("another client cookie", 0, 0)]
    public void Check_NotOurs_Invalid(string fault, int ageSeconds, int flip)
    {
        _ = fault;
        var (cookies, time) = Cookies();
        var cookie = Learn(cookies);
        time.Advance(TimeSpan.FromSeconds(ageSeconds));
        var address = Address;
        if (flip == 100) address = IPAddress.Parse("198.51.100.101").GetAddressBytes();
        else if (flip >= 0) cookie[flip] ^= 1;

        Assert.Equal(CookieOutcome.Invalid, cookies.Check(cookie, address, new byte[ServerCookies.ResponseLength]));
    }

    [Fact]
    public void Rotate_PreviousSecretStillAccepted_TheOneBeforeNot()
    {
        var (cookies, _) = Cookies();
        var learned = Learn(cookies);

        cookies.Rotate(Convert.FromHexString("00112233445566778899aabbccddeeff"));
        var renewed = new byte[ServerCookies.ResponseLength];
        Assert.Equal(CookieOutcome.Valid, cookies.Check(learned, Address, renewed));
        // Accepted under the old secret, answered with one under the new.
        Assert.NotEqual(learned, renewed);
        Assert.Equal(CookieOutcome.Valid, cookies.Check(renewed, Address, new byte[ServerCookies.ResponseLength]));

        cookies.Rotate(Convert.FromHexString("ffeeddccbbaa99887766554433221100"));
        Assert.Equal(CookieOutcome.Invalid, cookies.Check(learned, Address, new byte[ServerCookies.ResponseLength]));
    }

    private static DnsResponder Responder() =>
        new(new ZoneOptions(), new SnapshotHolder(TestZone.Snapshot()), new FakeTimeProvider(TestZone.Now))
        {
            Cookies = new ServerCookies(Secret, default, new FakeTimeProvider(TestZone.Now)),
        };

    private static byte[] Ask(DnsResponder responder, byte[] query, byte[]? address = null)
    {
        var response = new byte[DnsResponder.MaxMessageSize];
        int length = responder.Respond(query, response, DnsResponder.MaxMessageSize, false, false, address ?? Address, null, out _);
        return response[..length];
    }

    private static readonly string Revoked = TestZone.Name(TestZone.Split(TestZone.Revoked.Sha256));

    [Fact]
    public void Respond_ClientCookie_AnsweredWithServerCookie_SentBackValid()
    {
        var responder = Responder();

        var first = Ask(responder, WireQuery.WithCookie(Revoked, WireQuery.A, Client));
        Assert.Equal(0, WireQuery.Rcode(first));
        Assert.Equal(1, WireQuery.Count(first, 1));
        var cookie = WireQuery.ReadOpt(first)!.Value.Cookie!;
        Assert.Equal(ServerCookies.ResponseLength, cookie.Length);
        Assert.Equal(Client, cookie[..8]);

        var second = Ask(responder, WireQuery.WithCookie(Revoked, WireQuery.A, cookie));
        Assert.Equal(1, WireQuery.Count(second, 1));
        Assert.Equal(cookie, WireQuery.ReadOpt(second)!.Value.Cookie);
        Assert.Equal(1, responder.Counters.Cookies(CookieOutcome.ClientOnly));
        Assert.Equal(1, responder.Counters.Cookies(CookieOutcome.Valid));
    }

    [Fact]
    public void Respond_BadServerCookie_AnsweredAsIfNoneWithAFreshOne()
    {
        var responder = Responder();
        var bad = Client.Concat(Convert.FromHexString("0100000000000000deadbeefdeadbeef")).ToArray();

        var response = Ask(responder, WireQuery.WithCookie(Revoked, WireQuery.A, bad));

        // RFC 7873 section 5.2.4: processed as if the server cookie were absent (5.2.3), a valid one returned.
        Assert.Equal(0, WireQuery.Rcode(response));
        Assert.Equal(1, WireQuery.Count(response, 1));
        var cookie = WireQuery.ReadOpt(response)!.Value.Cookie!;
        Assert.NotEqual(bad[8..], cookie[8..]);
        Assert.Equal(1, responder.Counters.Cookies(CookieOutcome.Invalid));
        Ask(responder, WireQuery.WithCookie(Revoked, WireQuery.A, cookie));
        Assert.Equal(1, responder.Counters.Cookies(CookieOutcome.Valid));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(7)]
    [InlineData(12)]
    [InlineData(41)]
    public void Respond_CookieOfNoCookieLength_FormErrWithoutCookie(int length)
    {
        var response = Ask(Responder(), WireQuery.WithCookie(Revoked, WireQuery.A, new byte[length]));

        // RFC 7873 section 5.2.2.
        Assert.Equal(1, WireQuery.Rcode(response));
        Assert.Null(WireQuery.ReadOpt(response)!.Value.Cookie);
    }

    [Fact]
    public void Respond_NoQuestionClientCookie_NoErrorWithServerCookie()
    {
        var response = Ask(Responder(), WireQuery.CookieOnly(Client));

        // RFC 7873 section 5.4.
        Assert.Equal(0, WireQuery.Rcode(response));
        Assert.Equal(0, WireQuery.Count(response, 0));
        Assert.Equal(0, WireQuery.Count(response, 1));
        var opt = WireQuery.ReadOpt(response)!.Value;
        Assert.Equal(0, opt.ExtendedRcode);
        Assert.Equal(Client, opt.Cookie![..8]);
    }

    [Fact]
    public void Respond_NoQuestionBadServerCookie_BadCookie()
    {
        var responder = Responder();
        var valid = WireQuery.ReadOpt(Ask(responder, WireQuery.CookieOnly(Client)))!.Value.Cookie!;
        var bad = (byte[])valid.Clone();
        bad[^1] ^= 0x80;

        var refused = Ask(responder, WireQuery.CookieOnly(bad));
        var accepted = Ask(responder, WireQuery.CookieOnly(valid));

        // RFC 7873 section 5.4: BADCOOKIE (23: 7 in the header, 1 in the OPT's extended rcode), with a valid cookie.
        Assert.Equal(7, WireQuery.Rcode(refused));
        Assert.Equal(1, WireQuery.ReadOpt(refused)!.Value.ExtendedRcode);
        Assert.Equal(valid[..8], WireQuery.ReadOpt(refused)!.Value.Cookie![..8]);
        Assert.Equal(0, WireQuery.Rcode(accepted));
        Assert.Equal(0, WireQuery.ReadOpt(accepted)!.Value.ExtendedRcode);
    }

    [Fact]
    public void Respond_NoQuestionNoCookie_StillFormErr()
    {
        var query = WireQuery.CookieOnly([]);
        // The same message without the option: an OPT alone, no question.
        var bare = query[..^4];
        bare[^1] = 0;

        Assert.Equal(1, WireQuery.Rcode(Ask(Responder(), bare)));
    }

    [Fact]
    public void Respond_CookiesOff_OptionIgnored()
    {
        var responder = TestZone.Responder(new SnapshotHolder(TestZone.Snapshot()));

        var response = Ask(responder, WireQuery.WithCookie(Revoked, WireQuery.A, Client));

        Assert.Equal(1, WireQuery.Count(response, 1));
        Assert.Null(WireQuery.ReadOpt(response)!.Value.Cookie);
    }

    [Fact]
    public void Respond_CookieInTxtAnswer_LengthsAddUp()
    {
        var response = Ask(Responder(), WireQuery.WithCookie(Revoked, WireQuery.Txt, Client));

        Assert.Equal(1, WireQuery.Count(response, 1));
        Assert.Equal(1, BinaryPrimitives.ReadUInt16BigEndian(response.AsSpan(10)));
        Assert.NotNull(WireQuery.ReadOpt(response)!.Value.Cookie);
    }
}
