using CertDns.Pki;
using CertDns.Store;

namespace CertDns.EndToEnd.Tests;

/// <summary>
/// Issue 12 case 6: the serial advances only when what is published changes. A command that changes nothing writes
/// nothing, so secondaries are not sent a full transfer of the same zone.
/// </summary>
public sealed class SerialNoOpTests : IDisposable
{
    private readonly TempDir _dir = new();
    private readonly TestAuthority _ca = new("No-op CA");

    public SerialNoOpTests()
    {
        var now = DateTimeOffset.UtcNow;
        File.WriteAllText(_dir.File("ca.pem"), _ca.CertificatePem);
        File.WriteAllText(_dir.File("leaf.pem"), TestAuthority.ToPem("CERTIFICATE", _ca.Issue("leaf", now.AddDays(-1), now.AddDays(30))));
        File.WriteAllBytes(_dir.File("ca.crl"), _ca.CreateCrl(1, now.AddMinutes(-5), now.AddDays(7), []));
        Ok("ca", "add", "ca.pem", "--crl-url", "http://crl.invalid/ca.crl");
        Ok("certs", "add", "leaf.pem");
        Ok("crl", "ingest", "ca.crl");
        Ok("block", "leaf.pem", "--reason", "spam run");
        Ok("ca", "distrust", "1", "--reason", "first distrust");
        Ok("ca", "trust", "1");
    }

    public void Dispose() => _dir.Dispose();

    private CertDnsProcess.Result Ok(params string[] args)
    {
        var result = CertDnsProcess.Run(_dir.Path, args);
        Assert.True(result.ExitCode == 0, $"certdns {string.Join(' ', args)}: {result.ExitCode} {result.Stdout} {result.Stderr}");
        return result;
    }

    private uint Serial()
    {
        using var store = CertStore.Open(_dir.File("certdns.db"), readOnly: true);
        return store.Serial;
    }

    [Theory]
    [InlineData("certs", "add", "leaf.pem")]
    [InlineData("ca", "add", "ca.pem", "--crl-url", "http://crl.invalid/ca.crl")]
    [InlineData("ca", "trust", "1")]
    [InlineData("block", "leaf.pem", "--reason", "spam run")]
    [InlineData("crl", "ingest", "ca.crl")]
    public void NoOpCommand_KeepsSerial(params string[] args)
    {
        var before = Serial();

        Ok(args);

        Assert.Equal(before, Serial());
    }

    [Fact]
    public void DistrustingADistrustedCa_KeepsSerial()
    {
        Ok("ca", "distrust", "1", "--reason", "again");
        var before = Serial();

        Ok("ca", "distrust", "1", "--reason", "and again");

        Assert.Equal(before, Serial());
    }

    [Fact]
    public void RealChange_StillAdvancesSerial()
    {
        var before = Serial();

        Ok("ca", "distrust", "1", "--reason", "a real change");

        Assert.True(Serial() > before);
    }
}
