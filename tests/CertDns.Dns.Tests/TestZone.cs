using System.Security.Cryptography;
using System.Text;
using CertDns.Core;

namespace CertDns.Dns.Tests;

/// <summary>One certificate per status, built in memory at a fixed time, and the names that query them.</summary>
public static class TestZone
{
    public const string Apex = "status.example";

    public static readonly DateTimeOffset Now = new(2026, 1, 15, 12, 0, 0, TimeSpan.Zero);

    private static readonly CrlFacts CurrentCrl = new("1000", Now.AddDays(-1), Now.AddDays(1));
    private static readonly CaFacts TrustedCa = new(1, "CN=Example CA", Trusted: true, Crl: CurrentCrl);
    private static readonly CaFacts StaleCa = new(2, "CN=Stale CA", Trusted: true, Crl: new CrlFacts("7", Now.AddDays(-9), Now.AddHours(-1)));
    private static readonly CaFacts DistrustedCa = new(3, "CN=Distrusted CA", Trusted: false, DistrustedAt: Now.AddDays(-3), DistrustReason: "misissuance", Crl: CurrentCrl);

    public static readonly CertFacts Valid = Cert("valid", TrustedCa);
    public static readonly CertFacts Revoked = Cert("revoked", TrustedCa) with { Revocation = new RevocationFacts(RevocationReason.KeyCompromise, Now.AddDays(-2), "1000") };
    public static readonly CertFacts Hold = Cert("hold", TrustedCa) with { Revocation = new RevocationFacts(RevocationReason.CertificateHold, Now.AddDays(-2), "1000") };
    public static readonly CertFacts Blocked = Cert("blocked", TrustedCa) with { Block = new BlockFacts("3 abuse complaints", Now.AddDays(-1)) };
    public static readonly CertFacts Stale = Cert("stale", StaleCa);
    public static readonly CertFacts Untrusted = Cert("untrusted", DistrustedCa);
    public static readonly CertFacts Expired = Cert("expired", TrustedCa) with { NotAfter = Now.AddDays(-1) };

    /// <summary>Registered nowhere: answers NXDOMAIN (64 hex) or NODATA (shorter forms).</summary>
    public static readonly CertFacts Unknown = Cert("unknown", TrustedCa);

    public static IReadOnlyList<CertFacts> All { get; } = [Valid, Revoked, Hold, Blocked, Stale, Untrusted, Expired];

    public static CertFacts ByName(string name) => name switch
    {
        "valid" => Valid,
        "revoked" => Revoked,
        "hold" => Hold,
        "blocked" => Blocked,
        "stale" => Stale,
        "untrusted" => Untrusted,
        "expired" => Expired,
        "unknown" => Unknown,
        _ => throw new ArgumentOutOfRangeException(nameof(name), name, null),
    };

    public static StatusSnapshot Snapshot(uint serial = 2026011501) => new(serial, All);

    public static DnsResponder Responder(SnapshotHolder holder, ZoneOptions? options = null) =>
        new(options ?? new ZoneOptions(), holder, new FakeTimeProvider(Now));

    private static CertFacts Cert(string name, CaFacts ca)
    {
        var der = Encoding.UTF8.GetBytes("certificate " + name);
        return new CertFacts(
            SHA256.HashData(der), SHA1.HashData(der), MD5.HashData(der), SHA256.HashData(Encoding.UTF8.GetBytes("spki " + name)),
            Serial: [0x0a, 0x1b, (byte)name.Length], NotBefore: Now.AddDays(-30), NotAfter: Now.AddDays(300), Ca: ca);
    }

    /// <summary>SHA-256 split 32.32, as Exim's recipe makes it.</summary>
    public static string Split(byte[] sha256) => PublishedNames.Split(sha256);

    public static string Name(string relative, string? view = null) => view is null ? $"{relative}.{Apex}" : $"{relative}.{view}.{Apex}";
}
