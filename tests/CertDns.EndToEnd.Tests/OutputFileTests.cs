using CertDns.Pki;

namespace CertDns.EndToEnd.Tests;

/// <summary>
/// Issue 12 item 8: files the CLI writes go through an exclusive temporary file with an unpredictable name and a
/// rename; a symlink planted at the old predictable name F.tmp, or at F itself, is never written through.
/// </summary>
public sealed class OutputFileTests : IDisposable
{
    private const string Secret = "victim: must stay as it is\n";
    private readonly TempDir _dir = new();

    public OutputFileTests()
    {
        var ca = new TestAuthority("Output CA");
        var now = DateTimeOffset.UtcNow;
        File.WriteAllText(_dir.File("ca.pem"), ca.CertificatePem);
        File.WriteAllText(_dir.File("cert.pem"), TestAuthority.ToPem("CERTIFICATE", ca.Issue("relay.example", now.AddDays(-1), now.AddDays(30))));
        File.WriteAllBytes(_dir.File("crl.der"), ca.CreateCrl(1, now.AddMinutes(-5), now.AddDays(7), []));
        File.WriteAllBytes(_dir.File("spam.eml"), Evidence.Spam(1));
        foreach (var args in new[] { new[] { "ca", "add", "ca.pem", "--abuse-contact", "abuse@output-ca.example" }, ["certs", "add", "cert.pem"], ["crl", "ingest", "crl.der"] })
            Assert.Equal(0, CertDnsProcess.Run(_dir.Path, args).ExitCode);
        File.WriteAllText(_dir.File("victim"), Secret);
    }

    public void Dispose() => _dir.Dispose();

    private void Plant(string link) => File.CreateSymbolicLink(_dir.File(link), _dir.File("victim"));

    private void AssertVictimUnchanged()
    {
        Assert.Equal(Secret, File.ReadAllText(_dir.File("victim")));
        // No temporary file is left behind (the planted links are not ours to remove).
        Assert.DoesNotContain(Directory.GetFiles(_dir.Path, "*.tmp"), f => new FileInfo(f).LinkTarget is null);
    }

    private void AssertRegularFile(string name)
    {
        var info = new FileInfo(_dir.File(name));
        Assert.True(info.Exists, name + " was not written");
        Assert.Null(info.LinkTarget);
        Assert.True(info.Length > 0);
    }

    [Fact]
    public void Export_SymlinkPlantedAtTmpName_VictimUnchanged()
    {
        Plant("zone.tmp");

        var result = CertDnsProcess.Run(_dir.Path, "export", "-o", "zone");

        Assert.True(result.ExitCode == 0, result.Stderr);
        AssertVictimUnchanged();
        AssertRegularFile("zone");
    }

    [Fact]
    public void Export_TargetIsSymlink_LinkReplacedNotWrittenThrough()
    {
        Plant("zone");

        Assert.Equal(0, CertDnsProcess.Run(_dir.Path, "export", "-o", "zone").ExitCode);

        AssertVictimUnchanged();
        AssertRegularFile("zone");
    }

    [Fact]
    public void ExportRbldnsd_SymlinksPlantedAtTmpNames_VictimUnchanged()
    {
        foreach (var view in new[] { "combined", "bl", "wl" }) Plant($"rbl.{view}.tmp");

        Assert.Equal(0, CertDnsProcess.Run(_dir.Path, "export", "--format", "rbldnsd", "-o", "rbl").ExitCode);

        AssertVictimUnchanged();
        foreach (var view in new[] { "combined", "bl", "wl" }) AssertRegularFile($"rbl.{view}");
    }

    [Fact]
    public void ReportArf_SymlinkPlantedAtTmpName_VictimUnchanged()
    {
        Plant("arf.eml.tmp");

        var result = CertDnsProcess.Run(_dir.Path, "report", "cert.pem", "--evidence", "spam.eml", "--reporter", "alice", "--arf", "arf.eml");

        Assert.True(result.ExitCode == 0, result.Stderr);
        AssertVictimUnchanged();
        AssertRegularFile("arf.eml");
    }
}
