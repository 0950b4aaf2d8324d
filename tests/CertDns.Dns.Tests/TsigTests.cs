using System.Diagnostics;
using CertDns.Core;
using System.Globalization;
using System.Net;
using System.Security.Cryptography;

namespace CertDns.Dns.Tests;

/// <summary>
/// TSIG (RFC 8945) as BIND's dig and Knot's kdig check it: signed answers and transfers verify with the right key; an
/// unknown key, a wrong secret, an unsigned transfer where a key is required and a clock outside the fudge are NOTAUTH
/// with the TSIG error each client prints.
/// </summary>
public sealed class TsigTests : IAsyncDisposable
{
    private const string KeyName = "xfr.status.example";
    private readonly SnapshotHolder _holder = new(TestZone.Snapshot());
    private readonly List<DnsServer> _servers = [];

    public async ValueTask DisposeAsync()
    {
        foreach (var server in _servers) await server.DisposeAsync();
    }

    private static byte[] Secret(int length = 32) => RandomNumberGenerator.GetBytes(length);

    private async Task<int> Serve(DnsServerOptions options)
    {
        var server = await DnsServer.StartAsync(new IPEndPoint(IPAddress.Loopback, 0), TestZone.Responder(_holder), options with { UdpReceiveLoops = 1 });
        _servers.Add(server);
        return server.LocalEndPoint.Port;
    }

    private static string Spec(TsigKey key, byte[] secret) => $"{TsigKey.AlgorithmName(key.Algorithm)}:{key.Name}:{Convert.ToBase64String(secret)}";

    private static async Task<string> Run(string program, params string[] args)
    {
        var info = new ProcessStartInfo(Peer.Path(program)) { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args) info.ArgumentList.Add(a);
        using var process = Process.Start(info)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        return await output + await error;
    }

    private static Task<string> DigY(int port, string spec, string name, string type, params string[] more) =>
        Run(Peer.Dig, ["@127.0.0.1", "-p", port.ToString(CultureInfo.InvariantCulture), "-y", spec, name, type, "+tries=1", "+time=3", .. more]);

    private static Task<string> KdigY(int port, string spec, string name, string type, params string[] more) =>
        Run(Peer.Kdig, ["@127.0.0.1", "-p", port.ToString(CultureInfo.InvariantCulture), "-y", spec, name, type, "+retry=0", "+time=3", .. more]);

    private static string ValidName => TestZone.Name(TestZone.Split(TestZone.Revoked.Sha256));

    [PeerTheory(Peer.Dig)]
    [InlineData(TsigAlgorithm.HmacSha1)]
    [InlineData(TsigAlgorithm.HmacSha256)]
    [InlineData(TsigAlgorithm.HmacSha384)]
    [InlineData(TsigAlgorithm.HmacSha512)]
    public async Task DigY_SignedQueryWithKnownKey_AnswerSignedAndVerifies(TsigAlgorithm algorithm)
    {
        var secret = Secret(TsigKey.MinimumSecretLength(algorithm));
        var key = new TsigKey(KeyName, algorithm, secret);
        int port = await Serve(new DnsServerOptions { TsigKeys = [key] });

        foreach (var transport in new[] { "+notcp", "+tcp" })
        {
            var output = await DigY(port, Spec(key, secret), ValidName, "A", transport);

            Assert.Contains("status: NOERROR", output);
            Assert.Contains("127.0.0.2", output);
            Assert.Contains(";; TSIG PSEUDOSECTION:", output);
            Assert.Matches($@"{KeyName}\.\s+0\s+ANY\s+TSIG\s+{TsigKey.AlgorithmName(algorithm)}\. \d+ 300 {key.MacLength} \S+", output);
            Assert.DoesNotContain("Couldn't verify", output);
            Assert.DoesNotContain("could not be validated", output);
        }
    }

    [PeerTheory(Peer.Kdig)]
    [InlineData(TsigAlgorithm.HmacSha1)]
    [InlineData(TsigAlgorithm.HmacSha256)]
    [InlineData(TsigAlgorithm.HmacSha512)]
    public async Task KdigY_SignedQueryWithKnownKey_AnswerVerifies(TsigAlgorithm algorithm)
    {
        var secret = Secret(TsigKey.MinimumSecretLength(algorithm));
        var key = new TsigKey(KeyName, algorithm, secret);
        int port = await Serve(new DnsServerOptions { TsigKeys = [key] });

        var output = await KdigY(port, Spec(key, secret), ValidName, "A");

        Assert.Contains("status: NOERROR", output);
        Assert.Contains(";; TSIG PSEUDOSECTION:", output);
        Assert.Contains("127.0.0.2", output);
        // kdig warns "reply verification ... failed" when the MAC does not verify.
        Assert.DoesNotContain("WARNING", output);
    }

    [PeerFact(Peer.Dig)]
    public async Task DigY_SignedAxfrFromKeyedRule_EveryMessageSignedAndVerified()
    {
        var secret = Secret();
        var key = new TsigKey(KeyName, TsigAlgorithm.HmacSha256, secret);
        // Enough certificates for several transfer messages: section 5.3.1 chains each MAC to the one before.
        var many = Enumerable.Range(0, 3000).Select(i => TestZone.Valid with { Sha256 = SHA256.HashData(BitConverter.GetBytes(i)) }).ToList();
        _holder.Publish(new StatusSnapshot(7, [.. TestZone.All, .. many]));
        int port = await Serve(new DnsServerOptions { TsigKeys = [key], TransferRules = [new TransferRule(IPNetwork.Parse("127.0.0.0/8"), key)] });

        var output = await DigY(port, Spec(key, secret), TestZone.Apex, "AXFR");

        Assert.DoesNotContain("failed", output);
        Assert.DoesNotContain("Couldn't verify", output);
        var messages = int.Parse(System.Text.RegularExpressions.Regex.Match(output, @"XFR size: \d+ records \(messages (\d+)").Groups[1].Value, CultureInfo.InvariantCulture);
        Assert.True(messages > 1, output[^400..]);
        // dig prints each message's TSIG record: one per message.
        Assert.Equal(messages, output.Split('\n').Count(l => l.Contains("\tTSIG\thmac-sha256.", StringComparison.Ordinal)));
    }

    [PeerFact(Peer.Kdig)]
    public async Task KdigY_SignedAxfr_Verifies()
    {
        var secret = Secret();
        var key = new TsigKey(KeyName, TsigAlgorithm.HmacSha256, secret);
        int port = await Serve(new DnsServerOptions { TsigKeys = [key], TransferRules = [new TransferRule(IPNetwork.Parse("127.0.0.1/32"), key)] });

        var output = await KdigY(port, Spec(key, secret), TestZone.Apex, "AXFR");

        Assert.Matches(@";; Received \d+ B \(\d+ messages, \d+ records\)", output);
        Assert.DoesNotContain("WARNING", output);
        Assert.DoesNotContain("failed", output);
    }

    [PeerFact(Peer.Dig)]
    public async Task DigY_SignedAxfrWithUnknownKeyFromAllowedAddress_NotAuthBadKeyNotTheZone()
    {
        // Regression: the address alone let the zone out, unsigned, to a request signed with a key nobody configured.
        int port = await Serve(new DnsServerOptions { TransferClients = [IPAddress.Loopback] });

        var output = await DigY(port, $"hmac-sha256:nobody.example:{Convert.ToBase64String(Secret())}", TestZone.Apex, "AXFR");

        // dig prints no header for a transfer: the unsigned TSIG with the error, and the failure.
        Assert.DoesNotContain("\tSOA\t", output);
        Assert.Matches(@"nobody\.example\.\s+0\s+ANY\s+TSIG\s+hmac-sha256\. \d+ 300 0 \d+ BADKEY 0", output);
        Assert.Contains("Transfer failed", output);
    }

    [PeerTheory(Peer.Kdig)]
    [InlineData("+notcp")]
    [InlineData("+tcp")]
    public async Task KdigY_UnknownKey_NotAuthBadKey(string transport)
    {
        var key = new TsigKey(KeyName, TsigAlgorithm.HmacSha256, Secret());
        int port = await Serve(new DnsServerOptions { TsigKeys = [key] });

        var output = await KdigY(port, $"hmac-sha256:other.example:{Convert.ToBase64String(Secret())}", ValidName, "A", transport);

        // kdig shows NOTAUTH with its TSIG error as the status.
        Assert.Contains("status: BADKEY", output);
        Assert.Matches(@"other\.example\.\s+0\s+ANY\s+TSIG\s+hmac-sha256\. \d+ 300 0 \d+ BADKEY", output);
        Assert.DoesNotContain("127.0.0.2", output);
    }

    [PeerFact(Peer.Dig)]
    public async Task DigY_WrongSecret_NotAuthBadSig()
    {
        var key = new TsigKey(KeyName, TsigAlgorithm.HmacSha256, Secret());
        int port = await Serve(new DnsServerOptions { TsigKeys = [key], TransferRules = [new TransferRule(IPNetwork.Parse("127.0.0.1/32"), key)] });

        var query = await DigY(port, Spec(key, Secret()), ValidName, "A");
        var axfr = await DigY(port, Spec(key, Secret()), TestZone.Apex, "AXFR");

        Assert.Contains("status: NOTAUTH", query);
        Assert.Matches(@"TSIG\s+hmac-sha256\. \d+ 300 0 \d+ BADSIG 0", query);
        Assert.DoesNotContain("127.0.0.2", query);
        Assert.Matches(@"TSIG\s+hmac-sha256\. \d+ 300 0 \d+ BADSIG 0", axfr);
        Assert.Contains("Transfer failed", axfr);
        Assert.DoesNotContain("\tSOA\t", axfr);
    }

    [PeerFact(Peer.Kdig)]
    public async Task KdigY_WrongSecret_NotAuthBadSig()
    {
        var key = new TsigKey(KeyName, TsigAlgorithm.HmacSha256, Secret());
        int port = await Serve(new DnsServerOptions { TsigKeys = [key] });

        var output = await KdigY(port, Spec(key, Secret()), ValidName, "A");

        Assert.Contains("status: BADSIG", output);
        Assert.DoesNotContain("127.0.0.2", output);
    }

    [PeerFact(Peer.Dig, Peer.Kdig)]
    public async Task Dig_UnsignedAxfrWhereKeyRequired_NotAuthEvenThoughAddressAllowed()
    {
        var secret = Secret();
        var key = new TsigKey(KeyName, TsigAlgorithm.HmacSha256, secret);
        // server.allow-transfer lists the address without a key; a [[transfer]] rule with a key covers it: the key wins.
        int port = await Serve(new DnsServerOptions
        {
            TsigKeys = [key], TransferClients = [IPAddress.Loopback], TransferRules = [new TransferRule(IPNetwork.Parse("127.0.0.0/8"), key)],
        });

        var unsigned = await Run(Peer.Kdig, "@127.0.0.1", "-p", port.ToString(CultureInfo.InvariantCulture), TestZone.Apex, "AXFR", "+retry=0", "+time=3");
        var signed = await DigY(port, Spec(key, secret), TestZone.Apex, "AXFR");

        Assert.DoesNotContain("\tSOA\t", unsigned);
        Assert.Contains("server replied with error 'NOTAUTH'", unsigned);
        Assert.Contains("\tSOA\t", signed);
        Assert.DoesNotContain("Transfer failed", signed);
    }

    [PeerFact(Peer.Kdig)]
    public async Task Kdig_AddressOutsideKeyedPrefix_RefusedEvenWithTheKey()
    {
        var secret = Secret();
        var key = new TsigKey(KeyName, TsigAlgorithm.HmacSha256, secret);
        int port = await Serve(new DnsServerOptions { TsigKeys = [key], TransferRules = [new TransferRule(IPNetwork.Parse("192.0.2.0/24"), key)] });

        var output = await KdigY(port, Spec(key, secret), TestZone.Apex, "AXFR");

        Assert.DoesNotContain("\tSOA\t", output);
        Assert.Contains("server replied with error 'REFUSED'", output);
    }

    [PeerTheory(Peer.Dig)]
    [InlineData(3600)]
    [InlineData(-3600)]
    public async Task DigY_ServerClockOutsideFudge_NotAuthBadTimeSigned(int skewSeconds)
    {
        var secret = Secret();
        var key = new TsigKey(KeyName, TsigAlgorithm.HmacSha256, secret);
        int port = await Serve(new DnsServerOptions { TsigKeys = [key], Time = new FakeTimeProvider(DateTimeOffset.UtcNow.AddSeconds(skewSeconds)) });

        var output = await DigY(port, Spec(key, secret), ValidName, "A");

        Assert.Contains("status: NOTAUTH", output);
        Assert.Matches(@"TSIG\s+hmac-sha256\. \d+ 300 32 \S+ \d+ BADTIME 6 ", output);
        Assert.DoesNotContain("127.0.0.2", output);
        // Section 5.2.3: the BADTIME answer is signed (a 32-octet MAC above); dig then reports the clocks, not a bad MAC.
        Assert.Contains("clocks are unsynchronized", output);
    }

    [PeerFact(Peer.Kdig)]
    public async Task KdigY_ServerClockOutsideFudge_BadTime()
    {
        var secret = Secret();
        var key = new TsigKey(KeyName, TsigAlgorithm.HmacSha256, secret);
        int port = await Serve(new DnsServerOptions { TsigKeys = [key], Time = new FakeTimeProvider(DateTimeOffset.UtcNow.AddHours(2)) });

        var output = await KdigY(port, Spec(key, secret), ValidName, "A");

        Assert.Contains("status: BADTIME", output);
        Assert.DoesNotContain("127.0.0.2", output);
        // kdig verifies the MAC first: a bad one would be "failed to verify TSIG", a good one out of window is this.
        Assert.Contains("TSIG out of time window", output);
    }

    [PeerFact(Peer.Dig)]
    public async Task Dig_ClockWithinFudge_Valid()
    {
        var secret = Secret();
        var key = new TsigKey(KeyName, TsigAlgorithm.HmacSha256, secret);
        int port = await Serve(new DnsServerOptions { TsigKeys = [key], Time = new FakeTimeProvider(DateTimeOffset.UtcNow.AddSeconds(200)) });

        var output = await DigY(port, Spec(key, secret), ValidName, "A");

        Assert.Contains("status: NOERROR", output);
        Assert.DoesNotContain("Couldn't verify", output);
    }

    [Fact]
    public void TsigKey_SecretShorterThanHash_Refused()
    {
        var e = Assert.Throws<ArgumentException>(() => new TsigKey(KeyName, TsigAlgorithm.HmacSha256, new byte[16]));

        Assert.Contains("at least 32", e.Message);
        Assert.DoesNotContain("AAAA", new TsigKey(KeyName, TsigAlgorithm.HmacSha256, new byte[32]).ToString());
    }
}
