using System.Diagnostics;
using System.Globalization;
using System.Text;
using CertDns.Core;
using CertDns.Pki;

namespace CertDns.EndToEnd.Tests;

/// <summary>
/// The point of CertDns: an unmodified Exim refuses mail from clients whose TLS certificate the zone lists.
/// Exim asks the system resolver only, so Exim, CertDns (on port 53) and swaks run in a network namespace of
/// their own whose resolv.conf names its 127.0.0.1; nothing leaves the namespace's loopback.
/// </summary>
public sealed class EximTests : IDisposable
{
    public static readonly string Exim = Peer.EximBinary;

    private readonly TempDir _dir = new();
    private Netns? _netns;

    public void Dispose()
    {
        _netns?.Dispose();
        _dir.Dispose();
    }

    [PeerFact(Peer.Exim, Peer.Swaks, Peer.Netns)]
    public void Exim_DnslistsOnSplitSha256_RejectsListedCertificatesWithTxtReason()
    {
        var (smtp, clients) = Setup("exim4.conf.template");

        // swaks marks lines read over TLS with ~ and failures with *: "<~* 550".
        const string rejected = "<~* 550";
        var valid = Swaks(smtp, clients["valid"]);
        Assert.DoesNotContain(rejected, valid);
        Assert.Contains("<~  250 Accepted", valid);
        foreach (var (name, reason) in new[] { ("revoked", "revoked keyCompromise"), ("held", "hold certificateHold"), ("blocked", "blocked: 3 abuse complaints since") })
        {
            var output = Swaks(smtp, clients[name]);
            Assert.True(output.Contains(rejected, StringComparison.Ordinal), $"{name} was not rejected:\n{output}");
            // Exim logs the whole rejection on one line: the reason is CertDns's TXT, quoted.
            var log = File.ReadAllText(_dir.File("log/mainlog"));
            Assert.Contains($"rejected RCPT <postmaster@mx.test.example>: TLS client certificate listed by status.example: {reason}", log);
        }
        Assert.Contains($"serial {Hex.Lower(clients["revoked"].Parsed.Serial)} (CRL 1)", File.ReadAllText(_dir.File("log/mainlog")));

        // Not registered: the zone answers NXDOMAIN and Exim accepts, as for any DNSBL miss.
        var unknown = Swaks(smtp, clients["unknown"]);
        Assert.DoesNotContain(rejected, unknown);
        Assert.Contains("<~  250 Accepted", unknown);
        // No certificate at all: ${if def:tls_in_peercert} keeps the lookup from happening.
        var anonymous = Swaks(smtp, null);
        Assert.Contains("TLS started", anonymous);
        Assert.DoesNotContain(rejected, anonymous);
        Assert.Contains("<~  250 Accepted", anonymous);
    }

    /// <summary>
    /// Exim with <paramref name="template"/> in a namespace of its own, asking CertDns on the namespace's port 53; or,
    /// with <paramref name="dnssec"/>, the zone signed and a validating Unbound on port 53 (trust anchor from
    /// <c>certdns dnssec dnskey</c>, or <c>WrongAnchor</c>'s) in front of CertDns on 5353, resolv.conf with trust-ad.
    /// </summary>
    private (int Smtp, IReadOnlyDictionary<string, StatusScenario.Client> Clients) Setup(string template, Dnssec dnssec = Dnssec.None)
    {
        var scenario = StatusScenario.Register(_dir, "Exim Test CA");
        scenario.IssueServer(_dir, "mx.test.example");
        var clients = scenario.Clients;

        var certdns = Path.Combine(AppContext.BaseDirectory, "certdns.dll");
        if (dnssec == Dnssec.None)
        {
            _netns = new Netns("certdns-exim");
            _netns.Start(_dir.Path, "dotnet", certdns, "serve", "--listen", "127.0.0.1:53");
        }
        else
        {
            var (_, anchor, config) = DnssecResolverTests.SignedZone(_dir);
            if (dnssec == Dnssec.WrongAnchor) anchor = DnssecResolverTests.WrongAnchor(_dir);
            // glibc clears the AD bit unless resolv.conf trusts it; without trust-ad every lookup defers (451).
            _netns = new Netns("certdns-exim", "timeout:2 attempts:2 trust-ad");
            _netns.Start(_dir.Path, "dotnet", certdns, "serve", "--listen", "127.0.0.1:5353", "--config", config);
            _netns.WaitForPort(5353, TimeSpan.FromSeconds(30));
            ValidatingUnbound.StartIn(_netns, _dir, "exim", 5353, anchor);
        }
        const int smtp = 2525;
        Directory.CreateDirectory(_dir.File("spool"));
        Directory.CreateDirectory(_dir.File("log"));
        // Exim drops to its own user once it listens: its spool, logs and TLS key must be that user's to use.
        Assert.Equal(0, Netns.Exec("chown", "-R", "Debian-exim:", _dir.File("spool"), _dir.File("log"), _dir.File("server.key"), _dir.File("server.pem")).ExitCode);
        var conf = File.ReadAllText(Path.Combine(TestPaths.Repository, "docs", "exim", template))
            .Replace("{EXIM}", Exim, StringComparison.Ordinal).Replace("{DIR}", _dir.Path, StringComparison.Ordinal)
            .Replace("{PORT}", smtp.ToString(CultureInfo.InvariantCulture), StringComparison.Ordinal);
        File.WriteAllText(_dir.File("exim4.conf"), conf);
        Assert.True(_netns.Run(Exim, "-C", _dir.File("exim4.conf"), "-bV").ExitCode == 0, "exim rejects the configuration: " + File.ReadAllText(_dir.File("exim4.conf")));
        _netns.Start(_dir.Path, Exim, "-C", _dir.File("exim4.conf"), "-bdf", "-odq");
        _netns.WaitForPort(smtp, TimeSpan.FromSeconds(30));
        _netns.WaitForPort(53, TimeSpan.FromSeconds(30));

        return (smtp, clients);
    }

    [PeerFact(Peer.Exim, Peer.Swaks, Peer.Netns)]
    public void Exim_TlsCertEvent_RefusesListedCertificatesAtHandshake()
    {
        var (smtp, clients) = Setup("exim4-event.conf.template");
        const string rejected = "<~* 550";

        foreach (var name in new[] { "valid", "unknown" })
        {
            var output = Swaks(smtp, clients[name]);
            Assert.DoesNotContain(rejected, output);
            Assert.Contains("<~  250 Accepted", output);
        }
        Assert.Contains("<~  250 Accepted", Swaks(smtp, null));
        foreach (var (name, reason) in new[] { ("revoked", "revoked keyCompromise"), ("held", "hold certificateHold"), ("blocked", "blocked: 3 abuse complaints") })
        {
            var output = Swaks(smtp, clients[name]);
            // Debian's Exim is built with GnuTLS, where a denial from tls:cert ends the session right after the
            // handshake even for tls_try_verify_hosts: no SMTP command is answered over TLS at all.
            Assert.True(output.Contains("Remote host closed connection unexpectedly", StringComparison.Ordinal) || output.Contains(rejected, StringComparison.Ordinal),
                $"{name} was not refused:\n{output}");
            Assert.DoesNotContain("<~  250 Accepted", output);
            Assert.Contains($"SSL verify denied by event-action: depth=0: {reason}", File.ReadAllText(_dir.File("log/mainlog")));
        }
    }

    internal enum Dnssec { None, Validating, WrongAnchor }

    [PeerFact(Peer.Exim, Peer.Swaks, Peer.Netns, Peer.Unbound, Peer.Dig)]
    public void Exim_DnssecStrictThroughValidatingUnbound_RefusesListedWithTxtAndAcceptsValid()
    {
        var (smtp, clients) = Setup("exim4-dnssec.conf.template", Dnssec.Validating);
        const string rejected = "<~* 550";

        foreach (var (name, reason) in new[] { ("revoked", "revoked keyCompromise"), ("held", "hold certificateHold"), ("blocked", "blocked: 3 abuse complaints since") })
        {
            var output = Swaks(smtp, clients[name]);
            Assert.True(output.Contains(rejected, StringComparison.Ordinal), $"{name} was not rejected:\n{output}");
            Assert.Contains($"rejected RCPT <postmaster@mx.test.example>: TLS client certificate listed by status.example: {reason}", File.ReadAllText(_dir.File("log/mainlog")));
        }
        // Valid (absent from bl, a validated NODATA), unregistered (a validated compact denial) and no certificate
        // at all: accepted.
        foreach (var name in new[] { "valid", "unknown" })
        {
            var output = Swaks(smtp, clients[name]);
            Assert.DoesNotContain(rejected, output);
            Assert.Contains("<~  250 Accepted", output);
        }
        Assert.Contains("<~  250 Accepted", Swaks(smtp, null));
        // The answers really were validated: the same name through the namespace's resolver carries AD.
        var dig = _netns!.Run(Peer.Path(Peer.Dig), "@127.0.0.1", "+dnssec", $"{Split(clients["revoked"])}.bl.status.example", "A");
        Assert.True(dig.Output.Contains(" ad", StringComparison.Ordinal) && dig.Output.Contains("127.0.0.2", StringComparison.Ordinal), dig.Output);
    }

    [PeerFact(Peer.Exim, Peer.Swaks, Peer.Netns, Peer.Unbound, Peer.Dig)]
    public void Exim_DnssecStrict_BogusSignaturesDeferNeverAccept()
    {
        // Unbound holds another key's trust anchor: every CertDns answer is bogus, Unbound says SERVFAIL.
        var (smtp, clients) = Setup("exim4-dnssec.conf.template", Dnssec.WrongAnchor);
        foreach (var name in new[] { "revoked", "valid", "unknown" })
        {
            var output = Swaks(smtp, clients[name]);
            Assert.True(output.Contains("<~* 451", StringComparison.Ordinal), $"{name} with bogus answers was not deferred:\n{output}");
            Assert.DoesNotContain("<~  250 Accepted", output);
        }
        var dig = _netns!.Run(Peer.Path(Peer.Dig), "@127.0.0.1", "+dnssec", $"{Split(clients["revoked"])}.bl.status.example", "A");
        Assert.Contains("SERVFAIL", dig.Output);
        // No certificate, no lookup: still accepted.
        Assert.Contains("<~  250 Accepted", Swaks(smtp, null));
    }

    [PeerFact(Peer.Exim, Peer.Swaks, Peer.Netns, Peer.Unbound, Peer.Dig)]
    public void Exim_DnslistsRecipe_LookupFails_DefersNeverAccepts()
    {
        // Regression: the plain dnslists recipe took a lookup that fails as "not listed" and accepted a revoked
        // certificate with 250. Here every answer is bogus (Unbound holds another key's anchor and says SERVFAIL): the
        // recipe's +defer_unknown must defer, whatever the certificate.
        var (smtp, clients) = Setup("exim4.conf.template", Dnssec.WrongAnchor);
        var dig = _netns!.Run(Peer.Path(Peer.Dig), "@127.0.0.1", $"{Split(clients["revoked"])}.status.example", "A");
        Assert.Contains("SERVFAIL", dig.Output);
        foreach (var name in new[] { "revoked", "blocked", "valid" })
        {
            var output = Swaks(smtp, clients[name]);
            Assert.True(output.Contains("<~* 451", StringComparison.Ordinal), $"{name} was not deferred when the lookup failed:\n{output}");
            Assert.DoesNotContain("<~  250 Accepted", output);
        }
        Assert.Contains("DNS list lookup defer", File.ReadAllText(_dir.File("log/mainlog")));
        // No certificate, no lookup: accepted.
        Assert.Contains("<~  250 Accepted", Swaks(smtp, null));
    }

    private static string Split(StatusScenario.Client client)
    {
        var hex = Hex.Lower(client.Parsed.Sha256);
        return $"{hex[..32]}.{hex[32..]}";
    }

    /// <summary>swaks inside the namespace, over STARTTLS, optionally with a client certificate; its transcript.</summary>
    internal static string SwaksIn(Netns netns, int port, (string Cert, string Key)? client)
    {
        // An explicit HELO name: swaks would otherwise look up this host's name.
        string[] args = ["swaks", "--server", $"127.0.0.1:{port}", "--tls", "--helo", "client.example", "--from", "sender@client.example",
            "--to", "postmaster@mx.test.example", "--quit-after", "RCPT", "--timeout", "20"];
        if (client is { } c) args = [.. args, "--tls-cert", c.Cert, "--tls-key", c.Key];
        return netns.Run(args).Output;
    }

    private string Swaks(int port, StatusScenario.Client? client)
    {
        return SwaksIn(_netns!, port, client is { } c ? (c.Cert, c.Key) : null);
    }



}
