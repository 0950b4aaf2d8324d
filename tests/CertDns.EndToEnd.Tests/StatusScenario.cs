using CertDns.Core;
using CertDns.Pki;

namespace CertDns.EndToEnd.Tests;

/// <summary>
/// The data every real-peer test needs: a test CA and client certificates (with their keys) that the store,
/// filled through the real certdns program, knows as valid, revoked (keyCompromise), held and blocked, plus one
/// it never registered.
/// </summary>
internal sealed class StatusScenario
{
    public static readonly string[] Names = ["valid", "revoked", "held", "blocked", "unknown"];

    private StatusScenario(TestAuthority ca, Dictionary<string, Client> clients)
    {
        Ca = ca;
        Clients = clients;
    }

    /// <summary>A client certificate: its PEM and key files in the scratch folder, and what it is.</summary>
    public sealed record Client(string Cert, string Key, ParsedCertificate Parsed);

    public TestAuthority Ca { get; }

    public IReadOnlyDictionary<string, Client> Clients { get; }

    /// <summary>Issues the certificates into <paramref name="dir"/> and registers all but "unknown" with certdns there.</summary>
    public static StatusScenario Register(TempDir dir, string caName)
    {
        var ca = new TestAuthority(caName);
        var now = DateTimeOffset.UtcNow;
        File.WriteAllText(dir.File("ca.pem"), ca.CertificatePem);
        var clients = new Dictionary<string, Client>();
        foreach (var name in Names)
        {
            var key = TestKeyPair.Create();
            var der = ca.Issue($"{name}.client.example", now.AddDays(-1), now.AddDays(30), key: key);
            File.WriteAllText(dir.File($"{name}.pem"), TestAuthority.ToPem("CERTIFICATE", der));
            File.WriteAllText(dir.File($"{name}.key"), key.PrivateKeyPem);
            clients[name] = new Client(dir.File($"{name}.pem"), dir.File($"{name}.key"), CertificateFile.Read(der, name)[0]);
        }
        File.WriteAllBytes(dir.File("crl.der"), ca.CreateCrl(1, now.AddMinutes(-5), now.AddDays(7),
        [
            (clients["revoked"].Parsed.Serial, now.AddHours(-1), RevocationReason.KeyCompromise),
            (clients["held"].Parsed.Serial, now.AddHours(-1), RevocationReason.CertificateHold),
        ]));
        foreach (var args in new[]
        {
            new[] { "ca", "add", "ca.pem" }, ["certs", "add", "valid.pem", "revoked.pem", "held.pem", "blocked.pem"],
            ["crl", "ingest", "crl.der"], ["block", "blocked.pem", "--reason", "3 abuse complaints"],
        })
        {
            var result = CertDnsProcess.Run(dir.Path, args);
            Assert.True(result.ExitCode == 0, $"certdns {string.Join(' ', args)}: {result.Stderr}");
        }
        return new StatusScenario(ca, clients);
    }

    /// <summary>A server certificate and key from the same CA, for an MTA's STARTTLS.</summary>
    public void IssueServer(TempDir dir, string name)
    {
        var key = TestKeyPair.Create();
        var now = DateTimeOffset.UtcNow;
        File.WriteAllText(dir.File("server.pem"), TestAuthority.ToPem("CERTIFICATE", Ca.Issue(name, now.AddDays(-1), now.AddDays(30), key: key)));
        File.WriteAllText(dir.File("server.key"), key.PrivateKeyPem);
    }
}
