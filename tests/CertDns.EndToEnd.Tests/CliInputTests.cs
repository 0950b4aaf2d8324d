using CertDns.Pki;

namespace CertDns.EndToEnd.Tests;

/// <summary>Bad input gets one clear line naming the input and the reason, exit code 1, and changes nothing stored.</summary>
public sealed class CliInputTests : IDisposable
{
    private readonly TempDir _dir = new();
    private readonly TestAuthority _ca = new("CLI Test CA");
    private readonly TestAuthority _stranger = new("Unregistered CA");

    public CliInputTests()
    {
        File.WriteAllText(_dir.File("ca.pem"), _ca.CertificatePem);
        Assert.Equal(0, CertDnsProcess.Run(_dir.Path, "ca", "add", "ca.pem").ExitCode);
    }

    public void Dispose() => _dir.Dispose();

    private byte[] Db() => File.ReadAllBytes(_dir.File("certdns.db"));

    private void AssertRefused(string input, string reason, params string[] args)
    {
        var before = Db();
        var result = CertDnsProcess.Run(_dir.Path, args);

        Assert.Equal(1, result.ExitCode);
        var line = Assert.Single(result.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Contains(input, line);
        Assert.Contains(reason, line);
        Assert.DoesNotContain("   at ", result.Stderr + result.Stdout);
        Assert.Equal(before, Db());
    }

    [Theory]
    [InlineData("ca", "list")]
    [InlineData("audit")]
    [InlineData("status")]
    [InlineData("complaints", "list")]
    [InlineData("reporters", "list")]
    [InlineData("settings")]
    public void ReadingVerb_NoStore_OneLineExit1_CreatesNothing(params string[] verb)
    {
        using var empty = new TempDir();

        var result = CertDnsProcess.Run(empty.Path, verb);

        Assert.True(result.ExitCode == 1, $"certdns {string.Join(' ', verb)} exited {result.ExitCode}: {result.Stdout}{result.Stderr}");
        Assert.Equal("certdns: certdns.db: no such store", Assert.Single(result.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries)));
        // A verb that only reads must not leave an empty store behind (a typo in --db would otherwise look like a fresh zone).
        Assert.Empty(Directory.GetFileSystemEntries(empty.Path));
    }

    [Fact]
    public void CertsAdd_CertificateFromUnregisteredCa_RefusedNothingStored()
    {
        var now = DateTimeOffset.UtcNow;
        File.WriteAllText(_dir.File("good.pem"), TestAuthority.ToPem("CERTIFICATE", _ca.Issue("good", now.AddDays(-1), now.AddDays(30))));
        File.WriteAllText(_dir.File("stranger.pem"), TestAuthority.ToPem("CERTIFICATE", _stranger.Issue("bad", now.AddDays(-1), now.AddDays(30))));

        AssertRefused("stranger.pem", "not a registered CA", "certs", "add", "good.pem", "stranger.pem");
    }

    [Fact]
    public void CertsAdd_CertificateWithForgedIssuerName_RefusedAsSignatureFails()
    {
        // Same subject name as the registered CA, different key: the name matches, the signature does not.
        var impostor = new TestAuthority("CLI Test CA");
        var now = DateTimeOffset.UtcNow;
        File.WriteAllText(_dir.File("forged.pem"), TestAuthority.ToPem("CERTIFICATE", impostor.Issue("forged", now.AddDays(-1), now.AddDays(30))));

        AssertRefused("forged.pem", "signature does not verify", "certs", "add", "forged.pem");
    }

    [Theory]
    [InlineData("export", "--output", "zone", "--forms", "md5,sha512")]
    [InlineData("serve", "--forms", "bytes")]
    public void Forms_UnknownForm_Refused(params string[] args)
    {
        AssertRefused("--forms", "is not a name form", args);
        Assert.False(File.Exists(_dir.File("zone")));
    }

    [Fact]
    public void Serve_RrlNeitherAutoOnNorOff_Refused()
    {
        AssertRefused("--rrl", "must be auto, on or off", "serve", "--listen", "127.0.0.1:0", "--rrl", "sometimes");
    }

    [Fact]
    public void CertsAdd_NotACertificate_Refused()
    {
        File.WriteAllText(_dir.File("junk.pem"), "hello, this is not a certificate\n");

        AssertRefused("junk.pem", "", "certs", "add", "junk.pem");
    }

    [Fact]
    public void CrlIngest_MissingFile_Refused()
    {
        AssertRefused("nope.crl", "no such file", "crl", "ingest", "nope.crl");
    }

    [Fact]
    public void CrlIngest_AbsolutePath_ReadAsAFileNotAUrl()
    {
        // Regression: Uri.TryCreate takes "/x/y.crl" for a file URI on Unix, which sent paths to the fetcher.
        var path = _dir.File("absent.crl");

        AssertRefused(path, "no such file", "crl", "ingest", path);
    }

    [Fact]
    public void CrlIngest_TruncatedCrl_Refused()
    {
        var crl = _ca.CreateCrl(1, DateTimeOffset.UtcNow.AddHours(-1), DateTimeOffset.UtcNow.AddDays(1), []);
        File.WriteAllBytes(_dir.File("cut.crl"), crl[..(crl.Length / 2)]);

        AssertRefused("cut.crl", "", "crl", "ingest", "cut.crl");
    }

    [Fact]
    public void Lookup_FingerprintOfWrongLength_Refused()
    {
        AssertRefused("abc123", "not a fingerprint", "lookup", "abc123");
    }

    [Fact]
    public void CaDistrust_UnknownId_Refused()
    {
        AssertRefused("42", "no CA with that id", "ca", "distrust", "42", "--reason", "test");
    }

    [Fact]
    public void Block_UnregisteredFingerprint_Refused()
    {
        AssertRefused(new string('a', 64), "no registered certificate", "block", new string('a', 64), "--reason", "spam");
    }

    [Fact]
    public void Serve_BadListenAddress_Refused()
    {
        AssertRefused("nonsense", "expected address:port", "serve", "--listen", "nonsense");
    }

    [Theory]
    [InlineData("127.0.0.1")]
    [InlineData("::1")]
    [InlineData("::1:0")]
    public void Serve_ListenWithoutPort_Refused(string listen)
    {
        AssertRefused(listen, "expected address:port", "serve", "--listen", listen);
    }

    [Fact]
    public void Serve_NotifyPortZero_Refused()
    {
        AssertRefused("127.0.0.1:0", "expected address:port", "serve", "--listen", "127.0.0.1:0", "--notify", "127.0.0.1:0");
    }

    [Fact]
    public async Task Serve_ListenPortZero_ServesOnThePortItPrints()
    {
        using var server = CertDnsProcess.Serve(_dir.Path);

        Assert.NotEqual(0, server.Port);
        using var udp = new System.Net.Sockets.UdpClient();
        udp.Connect(System.Net.IPAddress.Loopback, server.Port);
        await udp.SendAsync(WireQuery.Build("test.status.example", WireQuery.A, id: 0x0707));
        using var patience = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        var reply = await udp.ReceiveAsync(patience.Token);
        Assert.Equal(0x0707, WireQuery.Id(reply.Buffer));
        Assert.Equal(1, WireQuery.Count(reply.Buffer, 1));
    }

    [Fact]
    public void Serve_PortInUse_OneLineExit2()
    {
        using var first = CertDnsProcess.Serve(_dir.Path);

        var second = CertDnsProcess.Run(_dir.Path, "serve", "--listen", $"127.0.0.1:{first.Port}");

        Assert.Equal(2, second.ExitCode);
        Assert.Contains($"127.0.0.1:{first.Port}: cannot listen", Assert.Single(second.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries)));
    }

    [Fact]
    public void Lookup_CertificateFile_ShowsStatusFromStore()
    {
        var now = DateTimeOffset.UtcNow;
        var der = _ca.Issue("lookup", now.AddDays(-1), now.AddDays(30));
        File.WriteAllText(_dir.File("c.pem"), TestAuthority.ToPem("CERTIFICATE", der));
        Assert.Equal(0, CertDnsProcess.Run(_dir.Path, "certs", "add", "c.pem").ExitCode);

        var stale = CertDnsProcess.Run(_dir.Path, "lookup", "c.pem");
        Assert.Contains("status: stale (127.0.2.2)", stale.Stdout);

        File.WriteAllBytes(_dir.File("crl.der"), _ca.CreateCrl(1, now.AddMinutes(-1), now.AddDays(1), []));
        Assert.Equal(0, CertDnsProcess.Run(_dir.Path, "crl", "ingest", "crl.der").ExitCode);
        var sha1 = Convert.ToHexString(CertificateFile.Read(der, "c")[0].Sha1);
        var valid = CertDnsProcess.Run(_dir.Path, "lookup", sha1);
        Assert.Contains("status: valid (127.0.1.2)", valid.Stdout);

        Assert.Equal(0, CertDnsProcess.Run(_dir.Path, "ca", "distrust", "1", "--reason", "ignores abuse").ExitCode);
        Assert.Contains("status: untrusted (127.0.2.3)", CertDnsProcess.Run(_dir.Path, "lookup", "c.pem").Stdout);
    }

    [Fact]
    public void Fp_Certificate_PrintsSplitNameAndNeverA64CharLabel()
    {
        var der = _ca.Issue("fp", DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(30));
        File.WriteAllText(_dir.File("c.pem"), TestAuthority.ToPem("CERTIFICATE", der));
        var hex = Convert.ToHexStringLower(CertificateFile.Read(der, "c")[0].Sha256);

        var output = CertDnsProcess.Run(_dir.Path, "fp", "c.pem").Stdout;

        Assert.Contains($"{hex[..32]}.{hex[32..]}.status.example", output);
        Assert.Contains($"{hex[..56]}.status.example", output);
        Assert.DoesNotContain(hex + ".", output);
        Assert.Contains("substr_32_32", output);
    }
}
