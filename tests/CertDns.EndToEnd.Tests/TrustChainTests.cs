using CertDns.Core;
using CertDns.Pki;

namespace CertDns.EndToEnd.Tests;

/// <summary>
/// Issue #11's attacks and chains on crafted PKIs, asked through the running server with dig (status view, TXT, bl and
/// wl views) and through `certdns lookup`: a CA speaks only for what its key issued, and a certificate's status is the
/// worst along its path to an anchor.
/// </summary>
public sealed class TrustChainTests : IDisposable
{
    private const string Revoked = "127.0.0.2", Valid = "127.0.1.2", Stale = "127.0.2.2", Untrusted = "127.0.2.3", Expired = "127.0.2.4";
    private readonly TempDir _dir = new();
    private readonly DateTimeOffset _now = DateTimeOffset.UtcNow;

    public void Dispose() => _dir.Dispose();

    private CertDnsProcess.Result Cli(params string[] args)
    {
        var result = CertDnsProcess.Run(_dir.Path, args);
        Assert.True(result.ExitCode == 0, $"certdns {string.Join(' ', args)} exited {result.ExitCode}: {result.Stderr}{result.Stdout}");
        return result;
    }

    private string Pem(string name, byte[] der)
    {
        File.WriteAllText(_dir.File(name), TestAuthority.ToPem("CERTIFICATE", der));
        return name;
    }

    private string Der(string name, byte[] der)
    {
        File.WriteAllBytes(_dir.File(name), der);
        return name;
    }

    private ParsedCertificate Leaf(TestAuthority ca, string name, string? crlUrl = null, TestAuthority? crlIssuer = null)
    {
        var der = ca.Issue(name, _now.AddDays(-1), _now.AddDays(90), crlUrl: crlUrl, crlIssuer: crlIssuer);
        Pem(name + ".pem", der);
        return CertificateFile.Read(der, name)[0];
    }

    /// <summary>
    /// Root -> intermediate -> leaf, each registered through the CLI, with the intermediate's own CRL current: the chain
    /// every fold test starts from. <paramref name="word"/> names the CAs ("Chain" gives "Chain Root" ...).
    /// </summary>
    private (TestAuthority Root, TestAuthority Intermediate, ParsedCertificate Leaf) RegisteredChain(string word, DateTimeOffset? intermediateNotAfter = null)
    {
        var root = new TestAuthority($"{word} Root");
        var intermediate = intermediateNotAfter is { } notAfter ? root.IssueCa($"{word} Intermediate", notAfter: notAfter) : root.IssueCa($"{word} Intermediate");
        Cli("ca", "add", Pem("root.pem", root.CertificateDer));
        Cli("ca", "add", Pem("intermediate.pem", intermediate.CertificateDer));
        var leafName = $"leaf.{word.ToLowerInvariant()}.example";
        var leaf = Leaf(intermediate, leafName);
        Cli("certs", "add", leafName + ".pem");
        Cli("crl", "ingest", Crl("intermediate.crl", intermediate, 1));
        return (root, intermediate, leaf);
    }

    private string Crl(string name, TestAuthority ca, int number, params (byte[] Serial, RevocationReason Reason)[] entries) =>
        Der(name, ca.CreateCrl(number, _now.AddMinutes(-5), _now.AddDays(7), entries.Select(e => (e.Serial, _now.AddHours(-1), e.Reason))));

    private static string Name(ParsedCertificate cert, string view = "")
    {
        var hex = Hex.Lower(cert.Sha256);
        return $"{hex[..32]}.{hex[32..]}.{view}status.example";
    }

    private static async Task<string> A(CertDnsProcess.Server server, string name)
    {
        var answer = await Dig.RunAsync(server.Port, name, "A", ["+norec"]);
        return answer.Status == "NXDOMAIN" ? "NXDOMAIN" : Assert.Single(answer.Answer)[4];
    }

    /// <summary>The TXT string as dig presents it, its quotes unescaped (RFC 1035 5.1).</summary>
    private static async Task<string> Txt(CertDnsProcess.Server server, ParsedCertificate cert) =>
        (await Dig.RunAsync(server.Port, Name(cert), "TXT", ["+norec"])).SingleAnswer("TXT")[4].Replace("\\\"", "\"", StringComparison.Ordinal);

    /// <summary>The status view, the bl and wl views and the TXT through the server, and `lookup` from the store.</summary>
    private async Task AssertAnswers(CertDnsProcess.Server server, ParsedCertificate cert, string address, params string[] txt)
    {
        Assert.Equal(address, await A(server, Name(cert)));
        bool listed = address.StartsWith("127.0.0.", StringComparison.Ordinal);
        Assert.Equal(listed ? address : "NXDOMAIN", await A(server, Name(cert, "bl.")));
        Assert.Equal(address == Valid ? Valid : "NXDOMAIN", await A(server, Name(cert, "wl.")));
        var text = await Txt(server, cert);
        foreach (var part in txt) Assert.Contains(part, text);
        var lookup = Cli("lookup", Hex.Lower(cert.Sha256)).Stdout;
        Assert.Contains($"({address})", lookup);
        foreach (var part in txt) Assert.Contains(part, lookup);
    }

    [PeerFact(Peer.Dig)]
    public async Task RevokedIntermediate_OnTheRootsCrl_EveryLeafBelowRevokedNamingIt()
    {
        var (root, intermediate, leaf) = RegisteredChain("Chain");
        Cli("crl", "ingest", Crl("root1.crl", root, 1));
        Assert.Contains("status: valid", Cli("lookup", Hex.Lower(leaf.Sha256)).Stdout);

        Cli("crl", "ingest", Crl("root2.crl", root, 2, (intermediate.Certificate.Serial, RevocationReason.KeyCompromise)));
        using var server = CertDnsProcess.Serve(_dir.Path);

        await AssertAnswers(server, leaf, Revoked, "revoked keyCompromise", $"CA \"{intermediate.Certificate.Subject}\" revoked by \"{root.Certificate.Subject}\"",
            "serial " + Hex.Lower(leaf.Serial));
        // The intermediate's own certificate is a certificate of the root: it answers for itself too, and ca list says so.
        Assert.Equal(Revoked, await A(server, Name(intermediate.Certificate)));
        Assert.Contains(Cli("ca", "list").Stdout.Split('\n'), l => l.StartsWith("2\ttrusted\trevoked\tunder CA 1\t", StringComparison.Ordinal));
    }

    [PeerFact(Peer.Dig)]
    public async Task RootArlOnlyContainsCaCerts_CoversTheIntermediate_LeavesRevoked()
    {
        var (root, intermediate, leaf) = RegisteredChain("Arl");
        Cli("crl", "ingest", Der("root.arl", root.CreateScopedCrl(1, _now.AddMinutes(-5), _now.AddDays(7),
            [(intermediate.Certificate.Serial, _now.AddHours(-1), RevocationReason.CaCompromise, null)], onlyCaCerts: true)));
        using var server = CertDnsProcess.Serve(_dir.Path);

        await AssertAnswers(server, leaf, Revoked, "revoked cACompromise", $"CA \"{intermediate.Certificate.Subject}\" revoked");
    }

    [PeerFact(Peer.Dig)]
    public async Task IntermediateWithoutCurrentParentCrl_LeavesStaleNotValid()
    {
        var (root, intermediate, leaf) = RegisteredChain("Stale");
        // The root's CRL expired an hour ago: nobody vouches that the intermediate is not revoked.
        Cli("crl", "ingest", Der("root.crl", root.CreateCrl(1, _now.AddDays(-8), _now.AddHours(-1), [])));
        using var server = CertDnsProcess.Serve(_dir.Path);

        await AssertAnswers(server, leaf, Stale, $"stale: CA \"{intermediate.Certificate.Subject}\"", $"of \"{root.Certificate.Subject}\" expired");
    }

    [PeerFact(Peer.Dig)]
    public async Task DistrustedIntermediate_TwoLevelsUp_LeavesUntrustedNamingIt()
    {
        var root = new TestAuthority("Distrust Root");
        var middle = root.IssueCa("Distrust Middle");
        var issuing = middle.IssueCa("Distrust Issuing");
        Cli("ca", "add", Pem("root.pem", root.CertificateDer));
        Cli("ca", "add", Pem("middle.pem", middle.CertificateDer));
        Cli("ca", "add", Pem("issuing.pem", issuing.CertificateDer));
        var leaf = Leaf(issuing, "leaf.distrust.example");
        Cli("certs", "add", "leaf.distrust.example.pem");
        Cli("crl", "ingest", Crl("root.crl", root, 1));
        Cli("crl", "ingest", Crl("middle.crl", middle, 1));
        Cli("crl", "ingest", Crl("issuing.crl", issuing, 1));
        Assert.Contains("status: valid", Cli("lookup", Hex.Lower(leaf.Sha256)).Stdout);

        Cli("ca", "distrust", "2", "--reason", "mis-issuance");
        using var server = CertDnsProcess.Serve(_dir.Path);

        await AssertAnswers(server, leaf, Untrusted, $"issued by \"{middle.Certificate.Subject}\", distrusted", "mis-issuance");
        // ca list: each CA's own status and its parent (the middle CA is distrusted, its own certificate still valid).
        var list = Cli("ca", "list").Stdout.Split('\n');
        Assert.Contains(list, l => l.StartsWith("2\tdistrusted", StringComparison.Ordinal) && l.Contains("\tvalid\tunder CA 1\t", StringComparison.Ordinal));
        Assert.Contains(list, l => l.StartsWith("3\ttrusted\tuntrusted\tunder CA 2\t", StringComparison.Ordinal));
    }

    [PeerFact(Peer.Dig)]
    public async Task ExpiringIntermediate_PastItsNotAfter_LeavesExpiredNamingIt()
    {
        var (root, intermediate, leaf) = RegisteredChain("Expiry", _now.AddSeconds(30));
        Cli("crl", "ingest", Crl("root.crl", root, 1));
        using var server = CertDnsProcess.Serve(_dir.Path);

        // Time alone turns the answer: wait for the intermediate's notAfter, with a deadline.
        var deadline = DateTimeOffset.UtcNow.AddSeconds(90);
        string answer;
        while ((answer = await A(server, Name(leaf))) != Expired && DateTimeOffset.UtcNow < deadline)
        {
            Assert.Equal(Valid, answer);
            await Task.Delay(250);
        }
        Assert.True(DateTimeOffset.UtcNow > intermediate.Certificate.NotAfter, "expired before the intermediate's notAfter");
        await AssertAnswers(server, leaf, Expired, $"expired: CA \"{intermediate.Certificate.Subject}\" expired");
    }

    [PeerFact(Peer.Dig)]
    public async Task SameSubjectTwinCa_ItsCrl_TouchesNoneOfTheOthersCertificates()
    {
        var ca = new TestAuthority("Twin Name");
        var twin = new TestAuthority("Twin Name");
        Assert.Equal(ca.Certificate.SubjectDer, twin.Certificate.SubjectDer);
        Cli("ca", "add", Pem("ca.pem", ca.CertificateDer));
        Cli("ca", "add", Pem("twin.pem", twin.CertificateDer));
        var leaf = Leaf(ca, "leaf.twin.example");
        Cli("certs", "add", "leaf.twin.example.pem");
        Cli("crl", "ingest", Crl("ca.crl", ca, 1));
        Cli("crl", "ingest", Crl("twin.crl", twin, 1, (leaf.Serial, RevocationReason.KeyCompromise)));
        using var server = CertDnsProcess.Serve(_dir.Path);

        await AssertAnswers(server, leaf, Valid, "valid: issued by");
    }

    [PeerFact(Peer.Dig)]
    public async Task AttackersIndirectCrl_RevokesOnlyWhereTheCertificateNamesItAsCrlIssuer_AndNothingOnceDistrusted()
    {
        var victim = new TestAuthority("Victim CA");
        var attacker = new TestAuthority("Indirect CA");
        Cli("ca", "add", Pem("victim.pem", victim.CertificateDer));
        Cli("ca", "add", Pem("attacker.pem", attacker.CertificateDer));
        var own = Leaf(victim, "own.indirect.example");
        var delegated = Leaf(victim, "delegated.indirect.example", crlIssuer: attacker);
        Cli("certs", "add", "own.indirect.example.pem", "delegated.indirect.example.pem");
        Cli("crl", "ingest", Crl("victim.crl", victim, 1));
        var ingest = Cli("crl", "ingest", Der("attacker.crl", attacker.CreateScopedCrl(1, _now.AddMinutes(-5), _now.AddDays(7),
        [
            (own.Serial, _now.AddHours(-1), RevocationReason.KeyCompromise, victim),
            (delegated.Serial, _now.AddHours(-1), RevocationReason.KeyCompromise, victim),
        ], indirect: true))).Stdout;
        // The entry for the certificate that does not delegate is counted in the summary, and revokes nothing.
        Assert.Contains("2 entries (+2 -0), 1 entries of issuers whose certificates do not name it as cRLIssuer ignored", ingest);

        using (var server = CertDnsProcess.Serve(_dir.Path))
        {
            await AssertAnswers(server, own, Valid, "valid: issued by");
            await AssertAnswers(server, delegated, Revoked, "revoked keyCompromise");
        }

        Cli("ca", "distrust", "2", "--reason", "forged CRLs");
        using (var server = CertDnsProcess.Serve(_dir.Path))
        {
            await AssertAnswers(server, own, Valid, "valid: issued by");
            await AssertAnswers(server, delegated, Valid, "valid: issued by");
        }
    }

    [PeerFact(Peer.Dig)]
    public async Task CrlFetchDistributionPoints_RealPkiOverHttp_FetchesBothCrlsAndTheRootsRevocationReachesTheLeaf()
    {
        using var web = new CrlWebServer();
        var root = new TestAuthority("Cron Root");
        var intermediate = root.IssueCa("Cron Intermediate", crlUrl: web.Url("/root.crl"));
        Cli("ca", "add", Pem("root.pem", root.CertificateDer));
        Cli("ca", "add", Pem("intermediate.pem", intermediate.CertificateDer));
        var leaf = Leaf(intermediate, "leaf.cron.example", crlUrl: web.Url("/intermediate.crl"));
        Cli("certs", "add", "leaf.cron.example.pem");
        web.Files["/intermediate.crl"] = (intermediate.CreateCrl(1, _now.AddMinutes(-5), _now.AddDays(7), []), null, null);
        web.Files["/root.crl"] = (root.CreateCrl(1, _now.AddMinutes(-5), _now.AddDays(7), []), null, null);

        Cli("crl", "fetch", "--distribution-points");
        Assert.Contains(web.Requests, r => r.Path == "/intermediate.crl" && r.Status == 200);
        Assert.Contains(web.Requests, r => r.Path == "/root.crl" && r.Status == 200);
        Assert.Contains("status: valid", Cli("lookup", Hex.Lower(leaf.Sha256)).Stdout);

        // The next cron run brings the root's revocation of the intermediate down to the leaf.
        web.Files["/root.crl"] = (root.CreateCrl(2, _now.AddMinutes(-4), _now.AddDays(7),
            [(intermediate.Certificate.Serial, _now.AddMinutes(-4), RevocationReason.KeyCompromise)]), null, null);
        Cli("crl", "fetch", "--distribution-points");
        using var server = CertDnsProcess.Serve(_dir.Path);
        await AssertAnswers(server, leaf, Revoked, $"CA \"{intermediate.Certificate.Subject}\" revoked");
    }
}
