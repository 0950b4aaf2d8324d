using System.Globalization;
using CertDns.Core;
using CertDns.Pki;
using Microsoft.Data.Sqlite;

namespace CertDns.EndToEnd.Tests;

/// <summary>
/// Issue 12 case 1 through the real binary: serve never creates a store, refuses bad options before touching one,
/// keeps the last good data under its serial while the store is gone, and never serves a serial that goes backwards.
/// </summary>
public sealed class ServeFailsClosedTests : IDisposable
{
    private readonly TempDir _dir = new();

    public void Dispose()
    {
        SqliteConnection.ClearAllPools();
        _dir.Dispose();
    }

    private string Db => _dir.File("certdns.db");

    private static void AssertOneLine(CertDnsProcess.Result result, params string[] parts)
    {
        Assert.Equal(1, result.ExitCode);
        var line = Assert.Single(result.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        foreach (var part in parts) Assert.Contains(part, line);
        Assert.DoesNotContain("   at ", result.Stderr + result.Stdout);
    }

    [Fact]
    public void Serve_MissingStore_OneLineWithHint_NothingCreated()
    {
        var result = CertDnsProcess.Run(_dir.Path, "serve", "--listen", "127.0.0.1:0", "--db", "typo.db");

        AssertOneLine(result, "typo.db", "no such store", "--demo", "ca add");
        Assert.Empty(Directory.GetFileSystemEntries(_dir.Path));
    }

    [Theory]
    [InlineData("--ttl", "-5")]
    [InlineData("--negative-ttl", "-1")]
    [InlineData("--ns", "bad..name")]
    public void Serve_BadOption_OneLine_NothingCreated(string option, string value)
    {
        var result = CertDnsProcess.Run(_dir.Path, "serve", "--listen", "127.0.0.1:0", "--demo", option, value);

        AssertOneLine(result, option);
        Assert.Empty(Directory.GetFileSystemEntries(_dir.Path));
    }

    [Fact]
    public void ServeDemo_StoreWithOtherCas_RefusedUnchanged()
    {
        File.WriteAllText(_dir.File("ca.pem"), new TestAuthority("Real CA").CertificatePem);
        Assert.Equal(0, CertDnsProcess.Run(_dir.Path, "ca", "add", "ca.pem").ExitCode);
        var before = CertDnsProcess.Run(_dir.Path, "ca", "list").Stdout;

        var result = CertDnsProcess.Run(_dir.Path, "serve", "--listen", "127.0.0.1:0", "--demo");

        AssertOneLine(result, "certdns.db", "--demo", "other CAs");
        Assert.Equal(before, CertDnsProcess.Run(_dir.Path, "ca", "list").Stdout);
    }

    private static uint Serial(DigResult soa) => uint.Parse(soa.SingleAnswer("SOA")[4].Split(' ')[2], CultureInfo.InvariantCulture);

    private static async Task<DigResult> WaitFor(int port, string name, string type, Func<DigResult, bool> done, string what)
    {
        var until = DateTime.UtcNow.AddSeconds(30);
        DigResult last;
        do
        {
            last = await Dig.RunAsync(port, name, type);
            if (done(last)) return last;
            await Task.Delay(100);
        }
        while (DateTime.UtcNow < until);
        throw new TimeoutException($"{what}: {last.Output}");
    }

    private static void Restore(string backup, string db)
    {
        // As an operator restores: the old WAL files go, the copy is renamed into place (a new file under the name).
        File.Delete(db + "-wal");
        File.Delete(db + "-shm");
        File.Copy(backup, db + ".restoring", overwrite: true);
        File.Move(db + ".restoring", db, overwrite: true);
    }

    private static void Backup(string db, string backup)
    {
        using var from = new SqliteConnection($"Data Source={db};Mode=ReadOnly;Pooling=False");
        using var to = new SqliteConnection($"Data Source={backup};Pooling=False");
        from.Open();
        to.Open();
        from.BackupDatabase(to);
    }

    [PeerFact(Peer.Dig)]
    public async Task Serve_StoreVanishesAndReturns_KeepsDataAndSerial_LogsOnce_Recovers()
    {
        var scenario = StatusScenario.Register(_dir, "Vanishing Store CA");
        var revoked = Hex.Lower(scenario.Clients["revoked"].Parsed.Sha256);
        var name = $"{revoked[..32]}.{revoked[32..]}.status.example";
        using var server = CertDnsProcess.Serve(_dir.Path, "--poll", "0.1");
        var serial = Serial(await Dig.RunAsync(server.Port, "status.example", "SOA"));
        Backup(Db, _dir.File("backup.db"));

        foreach (var suffix in new[] { "", "-wal", "-shm" }) File.Delete(Db + suffix);
        server.WaitFor("reload failed", TimeSpan.FromSeconds(20));
        // Twenty polls' worth of answers while the store is gone: the same data under the same serial.
        var until = DateTime.UtcNow.AddSeconds(2);
        while (DateTime.UtcNow < until)
        {
            Assert.Equal(serial, Serial(await Dig.RunAsync(server.Port, "status.example", "SOA")));
            Assert.Equal("127.0.0.2", (await Dig.RunAsync(server.Port, name, "A")).SingleAnswer("A")[4]);
        }
        File.WriteAllBytes(Db, [.. "SQLite format 3\0"u8, .. new byte[4080]]);
        server.WaitFor("not a SQLite database", TimeSpan.FromSeconds(20));
        Assert.Equal(serial, Serial(await Dig.RunAsync(server.Port, "status.example", "SOA")));

        Restore(_dir.File("backup.db"), Db);
        server.WaitFor("store readable again", TimeSpan.FromSeconds(20));

        var log = server.Output.Split('\n');
        Assert.Single(log, l => l.Contains("reload failed", StringComparison.Ordinal) && l.Contains("no such store", StringComparison.Ordinal));
        Assert.Single(log, l => l.Contains("reload failed", StringComparison.Ordinal) && l.Contains("not a SQLite database", StringComparison.Ordinal));
        Assert.Equal("127.0.0.2", (await Dig.RunAsync(server.Port, name, "A")).SingleAnswer("A")[4]);
        Assert.False(StoreWatcherSerialWentBack(serial, Serial(await Dig.RunAsync(server.Port, "status.example", "SOA"))));
    }

    private static bool StoreWatcherSerialWentBack(uint before, uint after) => after != before && after - before >= 0x8000_0000u;

    [PeerFact(Peer.Dig)]
    public async Task Serve_OlderBackupRestoredWhileStopped_RestartServesItAboveTheOldSerial()
    {
        var scenario = StatusScenario.Register(_dir, "Restart Restore CA");
        Backup(Db, _dir.File("backup.db"));
        var valid = Hex.Lower(scenario.Clients["valid"].Parsed.Sha256);
        var name = $"{valid[..32]}.{valid[32..]}.status.example";
        var now = DateTimeOffset.UtcNow;
        File.WriteAllBytes(_dir.File("crl2.der"), scenario.Ca.CreateCrl(2, now.AddMinutes(-1), now.AddDays(7),
            [(scenario.Clients["valid"].Parsed.Serial, now.AddMinutes(-2), RevocationReason.KeyCompromise)]));
        Assert.Equal(0, CertDnsProcess.Run(_dir.Path, "crl", "ingest", "crl2.der").ExitCode);
        uint served;
        using (var first = CertDnsProcess.Serve(_dir.Path))
        {
            served = Serial(await Dig.RunAsync(first.Port, "status.example", "SOA"));
            Assert.Equal("127.0.0.2", (await Dig.RunAsync(first.Port, name, "A")).SingleAnswer("A")[4]);
        }

        Restore(_dir.File("backup.db"), Db);
        using var second = CertDnsProcess.Serve(_dir.Path);

        var serial = Serial(await Dig.RunAsync(second.Port, "status.example", "SOA"));
        Assert.True(serial != served && serial - served < 0x8000_0000u, $"serial {serial} is not newer than the {served} served before");
        Assert.Equal("127.0.1.2", (await Dig.RunAsync(second.Port, name, "A")).SingleAnswer("A")[4]);
    }
}
