using CertDns.Pki;

namespace CertDns.EndToEnd.Tests;

/// <summary>
/// Issue 12 case 10, as cron runs it: after `crl ingest file.crl`, fetching the same CRL by URL is current (the 304 is
/// judged by the series, not by where the CRL was first stored from), and --quiet prints nothing when all is well.
/// </summary>
public sealed class CronFetchTests : IDisposable
{
    private readonly TempDir _dir = new();
    private readonly CrlWebServer _web = new();
    private readonly TestAuthority _ca = new("Cron CA");

    public void Dispose()
    {
        _web.Dispose();
        _dir.Dispose();
    }

    [Fact]
    public void CrlFetch_AfterIngestOfTheSameCrlFromAFile_304IsCurrent_QuietPrintsNothing()
    {
        var now = DateTimeOffset.UtcNow;
        var crl = _ca.CreateCrl(1, now.AddMinutes(-5), now.AddDays(7), []);
        File.WriteAllBytes(_dir.File("ca.crl"), crl);
        File.WriteAllText(_dir.File("ca.pem"), _ca.CertificatePem);
        _web.Files["/ca.crl"] = (crl, "\"v1\"", null);
        Assert.Equal(0, CertDnsProcess.Run(_dir.Path, "ca", "add", "ca.pem", "--crl-url", _web.Url("/ca.crl")).ExitCode);
        Assert.Equal(0, CertDnsProcess.Run(_dir.Path, "crl", "ingest", "ca.crl").ExitCode);

        var first = CertDnsProcess.Run(_dir.Path, "crl", "fetch", "--quiet");
        var second = CertDnsProcess.Run(_dir.Path, "crl", "fetch", "--quiet");
        var third = CertDnsProcess.Run(_dir.Path, "crl", "fetch");

        Assert.Contains(_web.Requests, r => r.Status == 304);
        Assert.True(first.ExitCode == 0, first.Stdout + first.Stderr);
        Assert.True(second.ExitCode == 0, second.Stdout + second.Stderr);
        Assert.Equal("", first.Stdout + first.Stderr);
        Assert.Equal("", second.Stdout + second.Stderr);
        Assert.Equal(0, third.ExitCode);
        Assert.Contains("not modified", third.Stdout);
    }

    [Fact]
    public void CrlFetchQuiet_StaleCrl_StillPrintedAndExit2()
    {
        var now = DateTimeOffset.UtcNow;
        var crl = _ca.CreateCrl(1, now.AddDays(-8), now.AddDays(-1), []);
        File.WriteAllText(_dir.File("ca.pem"), _ca.CertificatePem);
        _web.Files["/ca.crl"] = (crl, "\"v1\"", null);
        Assert.Equal(0, CertDnsProcess.Run(_dir.Path, "ca", "add", "ca.pem", "--crl-url", _web.Url("/ca.crl")).ExitCode);

        var result = CertDnsProcess.Run(_dir.Path, "crl", "fetch", "--quiet");

        Assert.Equal(2, result.ExitCode);
        Assert.Contains("stale", result.Stdout + result.Stderr);
    }

    [Fact]
    public void ComplaintsExpireQuiet_NothingChanged_PrintsNothing()
    {
        File.WriteAllText(_dir.File("ca.pem"), _ca.CertificatePem);
        Assert.Equal(0, CertDnsProcess.Run(_dir.Path, "ca", "add", "ca.pem").ExitCode);

        var quiet = CertDnsProcess.Run(_dir.Path, "complaints", "expire", "--quiet");
        var loud = CertDnsProcess.Run(_dir.Path, "complaints", "expire");

        Assert.Equal(0, quiet.ExitCode);
        Assert.Equal("", quiet.Stdout + quiet.Stderr);
        Assert.Contains("0 listings changed", loud.Stdout);
    }
}
