using System.Diagnostics;
using System.Globalization;
using System.Text;
using CertDns.Store;

namespace CertDns.EndToEnd.Tests;

/// <summary>kill -9 in the middle of storing a large CRL leaves the store as it was before that CRL.</summary>
public sealed class CrlKillTests : IDisposable
{
    private readonly StoreFile _store = new();

    public void Dispose() => _store.Dispose();

    private void Openssl(params string[] args)
    {
        var info = new ProcessStartInfo("openssl") { WorkingDirectory = _store.Dir.Path, RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (var a in args) info.ArgumentList.Add(a);
        using var p = Process.Start(info)!;
        var err = p.StandardError.ReadToEndAsync();
        p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        Assert.True(p.ExitCode == 0, $"openssl {string.Join(' ', args)}: {err.Result}");
    }

    /// <summary>A CRL signed by openssl ca -gencrl over an index of <paramref name="count"/> revoked serials.</summary>
    private string MakeCrl(string name, int count, int number)
    {
        var dir = _store.Dir.Path;
        var index = new StringBuilder();
        for (int i = 1; i <= count; i++) index.Append(CultureInfo.InvariantCulture, $"R\t301231000000Z\t250101000000Z,keyCompromise\t7A{i:X30}\tunknown\t/CN=c{i}\n");
        File.WriteAllText(Path.Combine(dir, "index.txt"), index.ToString());
        File.WriteAllText(Path.Combine(dir, "crlnumber"), number.ToString("X4", CultureInfo.InvariantCulture) + "\n");
        File.WriteAllText(Path.Combine(dir, "ca.cnf"),
            $"[ca]\ndefault_ca = t\n[t]\ndatabase = {dir}/index.txt\ncrlnumber = {dir}/crlnumber\ncertificate = {dir}/ca.pem\nprivate_key = {dir}/ca.key\ndefault_md = sha256\ndefault_crl_days = 7\n");
        Openssl("ca", "-gencrl", "-config", "ca.cnf", "-out", name + ".pem");
        Openssl("crl", "-in", name + ".pem", "-outform", "DER", "-out", name);
        return Path.Combine(dir, name);
    }

    [Fact]
    public void Ingest_KilledMidway_StoreKeepsThePreviousCrl()
    {
        Openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "ca.key", "-subj", "/CN=kill test",
            "-days", "30", "-addext", "keyUsage=critical,keyCertSign,cRLSign", "-out", "ca.pem");
        var small = MakeCrl("small.crl", 3, 1);
        var large = MakeCrl("large.crl", 400_000, 2);
        Assert.Equal(0, CertDnsProcess.Run(_store.Dir.Path, "--db", _store.Path, "ca", "add", "ca.pem").ExitCode);
        Assert.Equal(0, CertDnsProcess.Run(_store.Dir.Path, "--db", _store.Path, "crl", "ingest", small).ExitCode);

        using var process = CertDnsProcess.Start(_store.Dir.Path, "--db", _store.Path, "crl", "ingest", large);
        var wal = _store.Path + "-wal";
        var watch = Stopwatch.StartNew();
        // The write transaction is under way once the WAL grows past a few pages of entries.
        while (!process.HasExited && (!File.Exists(wal) || new FileInfo(wal).Length < 2_000_000) && watch.Elapsed < TimeSpan.FromSeconds(60)) Thread.Sleep(5);
        Assert.False(process.HasExited, "the ingest finished before it could be killed; nothing was tested");
        process.Kill(entireProcessTree: true); // SIGKILL on Unix
        process.WaitForExit();

        using var store = _store.Open();
        var ca = Assert.Single(store.Cas.List());
        Assert.Equal(3, store.Crls.RevocationCount(ca.Id));
        Assert.Equal("1", store.Crls.Latest(ca.Id)!.Number);
    }
}
