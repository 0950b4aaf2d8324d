using CertDns.Core;
using System.Globalization;

namespace CertDns.EndToEnd.Tests;

/// <summary>
/// <c>certdns dnssec rollover</c> and <c>status</c> as an operator runs them: a rollover of the running server's keys
/// reaches its answers without a restart, under a new serial, and Unbound validates through it; bad input (a second
/// rollover, an unknown key, a DS change too early, a file others may read, a malformed one) is one line, exit 1,
/// and the key set file unchanged.
/// </summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed class DnssecRolloverCliTests : IDisposable
{
    private readonly TempDir _dir = new();
    private readonly StatusScenario _scenario;
    private readonly string _keys, _anchor, _config;

    public DnssecRolloverCliTests()
    {
        _scenario = StatusScenario.Register(_dir, "Rollover Test CA");
        (_keys, _anchor, _config) = DnssecResolverTests.SignedZone(_dir);
    }

    public void Dispose() => _dir.Dispose();

    private CertDnsProcess.Result Dnssec(params string[] args) => CertDnsProcess.Run(_dir.Path, ["--config", _config, "dnssec", .. args]);

    private static void AssertOneLineRefusal(CertDnsProcess.Result r, string expected)
    {
        Assert.True(r.ExitCode == 1, $"exit {r.ExitCode}: {r.Stdout}{r.Stderr}");
        var lines = r.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.True(lines.Length == 1 && lines[0].StartsWith("certdns: ", StringComparison.Ordinal), r.Stderr);
        Assert.Contains(expected, lines[0], StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", r.Stderr, StringComparison.Ordinal);
    }

    [PeerFact(Peer.Unbound, Peer.Dig)]
    public async Task Rollover_ReachesTheRunningServer_UnderANewSerial_AndValidates()
    {
        using var certdns = CertDnsProcess.Serve(_dir.Path, "--config", _config);
        uint serial = await Serial(certdns.Port);
        Assert.Single((await Dig.RunAsync(certdns.Port, "status.example", "DNSKEY", "+norec")).Answer, a => a[3] == "DNSKEY");

        var status = Dnssec("status");
        Assert.True(status.ExitCode == 0, status.Stderr);
        Assert.Contains("no rollover running", status.Stdout, StringComparison.Ordinal);
        var rollover = Dnssec("rollover");
        Assert.True(rollover.ExitCode == 0, rollover.Stderr);
        Assert.Contains("new CSK", rollover.Stdout, StringComparison.Ordinal);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(_keys));

        // The server reads the file again at its next poll (a second): two keys, both signing, a newer serial.
        var dnskey = await TwoKeys(certdns.Port);
        Assert.Equal(2, dnskey.Answer.Count(a => a[3] == "RRSIG"));
        var after = await Dig.RunAsync(certdns.Port, "status.example", "SOA", "+norec");
        Assert.True(uint.Parse(after.SingleAnswer("SOA")[4].Split(' ')[2], CultureInfo.InvariantCulture) > serial, after.Output);

        // A resolver that still holds the old key as its anchor validates every answer (double signature).
        using var unbound = ValidatingUnbound.Start(_dir, "roll", certdns.Port, _anchor);
        var hex = Hex.Lower(_scenario.Clients["revoked"].Parsed.Sha256);
        var listed = await Dig.RunAsync(unbound.Port, $"{hex[..32]}.{hex[32..]}.status.example", "A", "+rec", "+dnssec");
        Assert.True(listed.Status == "NOERROR" && listed.Flags.Contains("ad"), listed.Output);
        var unknown = await Dig.RunAsync(unbound.Port, $"{new string('a', 32)}.{new string('b', 32)}.status.example", "A", "+rec", "+dnssec");
        Assert.True(unknown.Flags.Contains("ad"), unknown.Output);

        status = Dnssec("status");
        Assert.Contains("CSK rollover", status.Stdout, StringComparison.Ordinal);
        Assert.Contains("give the parent the DS", status.Stdout, StringComparison.Ordinal);
        Assert.Equal(2, Dnssec("ds").Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Length);
    }

    [PeerFact(Peer.Dig)]
    public async Task Rollover_WhileAnIngestHoldsTheStore_TheNewKeysComeOnlyWithTheNewSerial()
    {
        using var certdns = CertDnsProcess.Serve(_dir.Path, "--config", _config);
        uint before = await Serial(certdns.Port);

        // An ingest holds the store's write lock: the server cannot write the new serial yet. Whatever it answers in
        // the meantime, the new DNSKEY RRset is zone content, so it may never be served under the serial served before.
        using (var ingest = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={_dir.File("certdns.db")};Pooling=False"))
        {
            ingest.Open();
            using (var begin = ingest.CreateCommand())
            {
                begin.CommandText = "BEGIN IMMEDIATE;";
                begin.ExecuteNonQuery();
            }
            Assert.Equal(0, Dnssec("rollover").ExitCode);
            // Three of the server's key checks (one a second): the window in which the old order served both keys.
            for (var until = DateTime.UtcNow.AddSeconds(3); DateTime.UtcNow < until;)
            {
                var dnskey = await Dig.RunAsync(certdns.Port, "status.example", "DNSKEY", "+norec");
                if (dnskey.Answer.Count(a => a[3] == "DNSKEY") < 2) continue;
                uint now = await Serial(certdns.Port);
                Assert.True(now > before, $"two DNSKEYs served, and after them serial {now}, the one served before the rollover");
            }
            using var rollback = ingest.CreateCommand();
            rollback.CommandText = "ROLLBACK;";
            rollback.ExecuteNonQuery();
        }

        // The lock gone, the keys and the serial come out together.
        await TwoKeys(certdns.Port);
        Assert.True(await Serial(certdns.Port) > before);
    }

    /// <summary>The DNSKEY answer (with DO) once it holds two keys: the server reads the key file at its next poll, a second.</summary>
    private static async Task<DigResult> TwoKeys(int port)
    {
        var dnskey = await Dig.RunAsync(port, "status.example", "DNSKEY", "+norec", "+dnssec");
        for (var until = DateTime.UtcNow.AddSeconds(20); dnskey.Answer.Count(a => a[3] == "DNSKEY") < 2 && DateTime.UtcNow < until;)
            dnskey = await Dig.RunAsync(port, "status.example", "DNSKEY", "+norec", "+dnssec");
        Assert.True(dnskey.Answer.Count(a => a[3] == "DNSKEY") == 2, dnskey.Output);
        return dnskey;
    }

    private static async Task<uint> Serial(int port) =>
        uint.Parse((await Dig.RunAsync(port, "status.example", "SOA", "+norec")).SingleAnswer("SOA")[4].Split(' ')[2], CultureInfo.InvariantCulture);

    [Fact]
    public void BadInput_IsOneLine_Exit1_AndTheFileUnchanged()
    {
        var original = File.ReadAllBytes(_keys);
        AssertOneLineRefusal(Dnssec("rollover", "--key", "1"), "no active key with key tag 1");
        AssertOneLineRefusal(Dnssec("rollover", "--key", "x"), "a key tag is a number");
        AssertOneLineRefusal(Dnssec("rollover", "--ksk"), "no active KSK");
        AssertOneLineRefusal(Dnssec("rollover", "--ds-changed"), "no KSK or CSK rollover is waiting");
        Assert.Equal(original, File.ReadAllBytes(_keys));

        Assert.Equal(0, Dnssec("rollover").ExitCode);
        var rolled = File.ReadAllBytes(_keys);
        AssertOneLineRefusal(Dnssec("rollover"), "is running");
        // The parent may not drop the old DS before every cache holds the new key: an hour of TTL and an hour of refresh.
        AssertOneLineRefusal(Dnssec("rollover", "--ds-changed"), "is not in every cached DNSKEY RRset before");
        Assert.Equal(rolled, File.ReadAllBytes(_keys));

        File.SetUnixFileMode(_keys, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.OtherRead);
        AssertOneLineRefusal(Dnssec("rollover"), "must not be readable by others");
        File.SetUnixFileMode(_keys, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        File.WriteAllText(_keys, "{\"zone\": \"status.example.\", \"keys\": [");
        var broken = File.ReadAllBytes(_keys);
        AssertOneLineRefusal(Dnssec("rollover"), "not a valid key set");
        AssertOneLineRefusal(Dnssec("status"), "not a valid key set");
        Assert.Equal(broken, File.ReadAllBytes(_keys));
        Assert.Empty(Directory.GetFiles(_dir.Path, ".*.tmp"));
    }
}
