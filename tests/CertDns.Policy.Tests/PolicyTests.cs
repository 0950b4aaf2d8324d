using System.Net;
using System.Net.Sockets;
using System.Text;
using CertDns.Core;
using CertDns.Pki;
using CertDns.Policy;

namespace CertDns.Policy.Tests;

/// <summary>
/// The Postfix policy service and socketmap, speaking Postfix's wire protocols over loopback and asking a
/// running certdns server over real DNS.
/// </summary>
public sealed class PolicyTests : IDisposable
{
    private readonly TempDir _dir = new();
    private readonly TestAuthority _ca = new("Policy CA");
    private readonly Dictionary<string, ParsedCertificate> _certs = [];
    private readonly CertDnsProcess.Server _certdns;

    public PolicyTests()
    {
        var now = DateTimeOffset.UtcNow;
        var compromisedKey = TestKeyPair.Create();
        File.WriteAllText(_dir.File("ca.pem"), _ca.CertificatePem);
        Directory.CreateDirectory(_dir.File("certs"));
        foreach (var (name, key) in new[] { ("valid", (TestKeyPair?)null), ("revoked", compromisedKey), ("renewed", compromisedKey), ("held", null) })
        {
            var der = _ca.Issue($"{name}.policy.example", now.AddDays(-1), now.AddDays(90), key: key);
            _certs[name] = CertificateFile.Read(der, name)[0];
            File.WriteAllText(_dir.File($"certs/{name}.pem"), TestAuthority.ToPem("CERTIFICATE", der));
        }
        File.WriteAllBytes(_dir.File("crl.der"), _ca.CreateCrl(1, now.AddMinutes(-5), now.AddDays(7),
        [
            (_certs["revoked"].Serial, now.AddHours(-1), RevocationReason.KeyCompromise),
            (_certs["held"].Serial, now.AddHours(-1), RevocationReason.CertificateHold),
        ]));
        foreach (var args in new[] { new[] { "ca", "add", "ca.pem" }, ["certs", "add", "certs"], ["crl", "ingest", "crl.der"] })
            Assert.Equal(0, CertDnsProcess.Run(_dir.Path, args).ExitCode);
        _certdns = CertDnsProcess.Serve(_dir.Path);
    }

    public void Dispose()
    {
        _certdns.Dispose();
        _dir.Dispose();
    }

    private PolicyDecision Decision(int? port = null, FailureMode failure = FailureMode.Open) =>
        new(new ZoneClient(IPAddress.Loopback, port ?? _certdns.Port, "status.example", TimeSpan.FromSeconds(1)), failure);

    private static string Colons(byte[] digest) => Hex.Colons(digest);

    private static async Task<string> AskPolicy(IPEndPoint server, params string[] attributes)
    {
        using var client = new TcpClient();
        await client.ConnectAsync(server);
        var stream = client.GetStream();
        var request = "request=smtpd_access_policy\nprotocol_state=RCPT\nclient_address=127.0.0.9\n" + string.Join("", attributes.Select(a => a + "\n")) + "\n";
        await stream.WriteAsync(Encoding.UTF8.GetBytes(request));
        using var reader = new StreamReader(stream);
        var reply = await reader.ReadLineAsync();
        Assert.Equal("", await reader.ReadLineAsync());
        return reply!;
    }

    [Fact]
    public async Task PolicyService_RevokedCertificate_RejectQuotesTxt()
    {
        await using var policy = new PolicyServer(new IPEndPoint(IPAddress.Loopback, 0), Decision(), TimeSpan.FromSeconds(30));

        var revoked = await AskPolicy(policy.LocalEndPoint, "ccert_fingerprint=" + Colons(_certs["revoked"].Sha256));
        var held = await AskPolicy(policy.LocalEndPoint, "ccert_fingerprint=" + Colons(_certs["held"].Sha1));
        var valid = await AskPolicy(policy.LocalEndPoint, "ccert_fingerprint=" + Colons(_certs["valid"].Sha256));
        var none = await AskPolicy(policy.LocalEndPoint);

        Assert.StartsWith("action=REJECT 5.7.1 TLS client certificate revoked: revoked keyCompromise ", revoked);
        Assert.StartsWith("action=REJECT 5.7.1 TLS client certificate hold: hold certificateHold", held);
        Assert.Equal("action=DUNNO", valid);
        Assert.Equal("action=DUNNO", none);
    }

    [Fact]
    public async Task PolicyService_RenewedCertificateWithCompromisedKey_RejectedByPubkeyFingerprint()
    {
        await using var policy = new PolicyServer(new IPEndPoint(IPAddress.Loopback, 0), Decision(), TimeSpan.FromSeconds(30));

        // The renewed certificate is itself valid, but carries the key revoked for keyCompromise.
        var reply = await AskPolicy(policy.LocalEndPoint,
            "ccert_fingerprint=" + Colons(_certs["renewed"].Sha256),
            "ccert_pubkey_fingerprint=" + Colons(_certs["renewed"].SpkiSha256));

        Assert.StartsWith("action=REJECT 5.7.1 TLS client key revoked:", reply);
    }

    [Fact]
    public async Task PolicyService_SeveralRequestsOnOneConnection_EachAnswered()
    {
        await using var policy = new PolicyServer(new IPEndPoint(IPAddress.Loopback, 0), Decision(), TimeSpan.FromSeconds(30));
        using var client = new TcpClient();
        await client.ConnectAsync(policy.LocalEndPoint);
        var stream = client.GetStream();
        using var reader = new StreamReader(stream);

        foreach (var (cert, expected) in new[] { ("valid", "action=DUNNO"), ("revoked", "action=REJECT"), ("valid", "action=DUNNO") })
        {
            await stream.WriteAsync(Encoding.UTF8.GetBytes($"request=smtpd_access_policy\nccert_fingerprint={Colons(_certs[cert].Sha256)}\n\n"));
            Assert.StartsWith(expected, await reader.ReadLineAsync());
            Assert.Equal("", await reader.ReadLineAsync());
        }
    }

    [Theory]
    [InlineData(FailureMode.Open, "action=DUNNO")]
    [InlineData(FailureMode.Closed, "action=DEFER_IF_PERMIT 4.7.0 certificate status temporarily unavailable")]
    public async Task PolicyService_ZoneUnreachable_FailsAsConfigured(FailureMode mode, string expected)
    {
        var silent = CertDnsProcess.FreePort();
        await using var policy = new PolicyServer(new IPEndPoint(IPAddress.Loopback, 0), Decision(silent, mode), TimeSpan.FromSeconds(30));

        Assert.Equal(expected, await AskPolicy(policy.LocalEndPoint, "ccert_fingerprint=" + Colons(_certs["revoked"].Sha256)));
    }

    private static async Task<string> AskSocketmap(IPEndPoint server, string request)
    {
        using var client = new TcpClient();
        await client.ConnectAsync(server);
        var stream = client.GetStream();
        var bytes = Encoding.UTF8.GetBytes(request);
        await stream.WriteAsync(Encoding.ASCII.GetBytes($"{bytes.Length}:"));
        await stream.WriteAsync(bytes);
        await stream.WriteAsync(","u8.ToArray());
        // Read one netstring back by its length: the reply itself may contain commas.
        var length = new StringBuilder();
        var one = new byte[1];
        while (await stream.ReadAsync(one) == 1 && one[0] != ':') length.Append((char)one[0]);
        var body = new byte[int.Parse(length.ToString(), System.Globalization.CultureInfo.InvariantCulture) + 1];
        await stream.ReadExactlyAsync(body);
        return $"{length}:{Encoding.UTF8.GetString(body)}";
    }

    [Fact]
    public async Task Socketmap_CertAndPubkeyMaps_AnswerAsPostfixExpects()
    {
        await using var map = new SocketmapServer(new IPEndPoint(IPAddress.Loopback, 0), Decision(), TimeSpan.FromSeconds(1));

        var revoked = await AskSocketmap(map.LocalEndPoint, "cert " + Colons(_certs["revoked"].Sha256));
        var valid = await AskSocketmap(map.LocalEndPoint, "cert " + Colons(_certs["valid"].Sha256));
        var key = await AskSocketmap(map.LocalEndPoint, "pubkey " + Colons(_certs["renewed"].SpkiSha256));
        var unknownMap = await AskSocketmap(map.LocalEndPoint, "sender someone@example.com");

        var body = revoked[(revoked.IndexOf(':') + 1)..^1];
        Assert.Equal(body.Length.ToString(System.Globalization.CultureInfo.InvariantCulture), revoked[..revoked.IndexOf(':')]);
        Assert.StartsWith("OK REJECT 5.7.1 TLS client certificate revoked:", body);
        Assert.Equal("9:NOTFOUND ,", valid);
        Assert.Contains("OK REJECT 5.7.1 TLS client key revoked:", key);
        Assert.Contains("PERM unknown map", unknownMap);
    }

    [Fact]
    public async Task Socketmap_ZoneUnreachableFailClosed_Temp()
    {
        await using var map = new SocketmapServer(new IPEndPoint(IPAddress.Loopback, 0), Decision(CertDnsProcess.FreePort(), FailureMode.Closed), TimeSpan.FromSeconds(1));

        Assert.Contains("TEMP certificate status temporarily unavailable", await AskSocketmap(map.LocalEndPoint, "cert " + Colons(_certs["revoked"].Sha256)));
    }

    [Fact]
    public async Task PolicyVerb_RunsAndAnswers()
    {
        var info = new System.Diagnostics.ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false, WorkingDirectory = _dir.Path };
        foreach (var a in new[] { Path.Combine(AppContext.BaseDirectory, "certdns.dll"), "policy", "--listen", "127.0.0.1:0", "--port", _certdns.Port.ToString(System.Globalization.CultureInfo.InvariantCulture) })
            info.ArgumentList.Add(a);
        using var process = System.Diagnostics.Process.Start(info)!;
        try
        {
            // Port 0: the service reports the port it was given.
            var banner = System.Text.RegularExpressions.Regex.Match(process.StandardOutput.ReadLine() ?? "", @"^policy service on 127\.0\.0\.1:(\d+)");
            Assert.True(banner.Success, "no 'policy service on 127.0.0.1:PORT' line");
            var port = int.Parse(banner.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
            Assert.NotEqual(0, port);
            var reply = await AskPolicy(new IPEndPoint(IPAddress.Loopback, port), "ccert_fingerprint=" + Colons(_certs["revoked"].Sha256));
            Assert.StartsWith("action=REJECT", reply);
        }
        finally
        {
            process.Kill(entireProcessTree: true);
            process.WaitForExit(5000);
        }
    }

    [Fact]
    public async Task Stamp_ClientCertificate_PrependsTraceHeaderWithoutAskingTheZone()
    {
        // Issue #16: a reporter's Postfix stamps the certificate it saw; the zone port is closed, so any lookup would
        // show as DUNNO (fail open) instead of the stamp.
        await using var policy = new PolicyServer(new IPEndPoint(IPAddress.Loopback, 0), Decision(port: 9), LineServerLimits.Default(TimeSpan.FromSeconds(30)), null, "mx1.example");
        var cert = _certs["revoked"];

        var stamped = await AskPolicy(policy.LocalEndPoint, "ccert_fingerprint=" + Colons(cert.Sha256), "ccert_pubkey_fingerprint=" + Colons(cert.SpkiSha256));
        var sha1 = await AskPolicy(policy.LocalEndPoint, "ccert_fingerprint=" + Colons(cert.Sha1));
        var none = await AskPolicy(policy.LocalEndPoint);

        Assert.Equal($"action=PREPEND X-CertDns-Client-Cert: mx1.example; sha256={Hex.Lower(cert.Sha256)}; spki-sha256={Hex.Lower(cert.SpkiSha256)}", stamped);
        // Another digest names no certificate a report could count against: no stamp.
        Assert.Equal("action=DUNNO", sha1);
        Assert.Equal("action=DUNNO", none);
    }

    [Fact]
    public async Task Stamp_PrivateHeaderName_PrependsUnderThatName()
    {
        // Postfix's header_checks inspects prepended headers too: a site prepends under a private name that its
        // header_checks renames after dropping incoming X-CertDns-Client-Cert copies (README, PostfixStampTests).
        await using var policy = new PolicyServer(new IPEndPoint(IPAddress.Loopback, 0), Decision(port: 9), LineServerLimits.Default(TimeSpan.FromSeconds(30)), null, "mx1.example", "X-CertDns-Stamp-abc123");
        var cert = _certs["revoked"];

        var stamped = await AskPolicy(policy.LocalEndPoint, "ccert_fingerprint=" + Colons(cert.Sha256));

        Assert.Equal($"action=PREPEND X-CertDns-Stamp-abc123: mx1.example; sha256={Hex.Lower(cert.Sha256)}", stamped);
    }
}
