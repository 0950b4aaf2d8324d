namespace CertDns.TestInfrastructure;

/// <summary>
/// The real programs tests talk to, by name, and why one cannot be used here. Debian packages are installed by
/// <c>.ci/install-peers</c>; the MTAs go into the repository's <c>.peers/</c> (Debian allows one MTA package at a time).
/// </summary>
public static class Peer
{
    public const string Zonemaster = "zonemaster-cli";

    public const string Dig = "dig", Kdig = "kdig", NamedCheckzone = "named-checkzone", Nsd = "nsd", Knot = "knotd",
        Rbldnsd = "rbldnsd", Unbound = "unbound", Named = "named", Openssl = "openssl", Swaks = "swaks",
        Exim = "exim", Postfix = "postfix", Sendmail = "sendmail", Netns = "netns",
        DpkgDeb = "dpkg-deb", SystemdAnalyze = "systemd-analyze", Setpriv = "setpriv", Prometheus = "prometheus", Chromium = "chromium",
        Curl = "curl", DnstapRead = "dnstap-read", FstrmCapture = "fstrm_capture", Script = "script",
        LdnsVerifyZone = "ldns-verify-zone", LdnsKey2ds = "ldns-key2ds", Delv = "delv", Dnsviz = "dnsviz",
        Rspamd = "rspamd", Rspamc = "rspamc", SpamAssassin = "spamassassin";

    /// <summary>Exim's binary, installed by tools/peers/install-exim.sh.</summary>
    public static string EximBinary { get; } = System.IO.Path.Combine(TestPaths.Repository, ".peers", "exim", "usr", "sbin", "exim4");

    /// <summary>Postfix's private root, installed by tools/peers/install-postfix.sh.</summary>
    public static string PostfixRoot { get; } = System.IO.Path.Combine(TestPaths.Repository, ".peers", "postfix");

    /// <summary>Sendmail's binary, installed by tools/peers/install-sendmail.sh.</summary>
    public static string SendmailBinary { get; } = System.IO.Path.Combine(TestPaths.Repository, ".peers", "sendmail", "usr", "libexec", "sendmail", "sendmail");

    /// <summary>Where a Debian-packaged peer lives, for tests that start it.</summary>
    public static string Path(string peer) => peer switch
    {
        Dig => global::CertDns.TestInfrastructure.Dig.Path ?? "/usr/bin/dig",
        Kdig => "/usr/bin/kdig",
        NamedCheckzone => "/usr/bin/named-checkzone",
        Nsd => "/usr/sbin/nsd",
        Knot => "/usr/sbin/knotd",
        Named => "/usr/sbin/named",
        Rbldnsd => "/usr/sbin/rbldnsd",
        Zonemaster => "/usr/bin/zonemaster-cli",
        Unbound => "/usr/sbin/unbound",
        Openssl => "/usr/bin/openssl",
        Swaks => "/usr/bin/swaks",
        Prometheus => "/usr/bin/prometheus",
        Chromium => "/usr/bin/chromium",
        Exim => EximBinary,
        Postfix => System.IO.Path.Combine(PostfixRoot, "usr", "sbin", "postfix"),
        Sendmail => SendmailBinary,
        DpkgDeb => "/usr/bin/dpkg-deb",
        SystemdAnalyze => "/usr/bin/systemd-analyze",
        Setpriv => "/usr/bin/setpriv",
        Curl => "/usr/bin/curl",
        DnstapRead => "/usr/bin/dnstap-read",
        FstrmCapture => "/usr/bin/fstrm_capture",
        Script => "/usr/bin/script",
        LdnsVerifyZone => "/usr/bin/ldns-verify-zone",
        LdnsKey2ds => "/usr/bin/ldns-key2ds",
        Delv => "/usr/bin/delv",
        Dnsviz => "/usr/bin/dnsviz",
        Rspamd => "/usr/bin/rspamd",
        Rspamc => "/usr/bin/rspamc",
        SpamAssassin => "/usr/bin/spamassassin",
        _ => throw new ArgumentException($"no peer named {peer}", nameof(peer)),
    };

    /// <summary>Why the peer (or vector set, see <see cref="TestData"/>) cannot be used here, or null when it can.</summary>
    public static string? Missing(string need) => need switch
    {
        TestData.Pkits or TestData.PycaCustom or TestData.RealCrls => TestData.Missing(need),
        Netns => global::CertDns.TestInfrastructure.Netns.Unavailable,
        Dig => global::CertDns.TestInfrastructure.Dig.Path is null ? global::CertDns.TestInfrastructure.Dig.Missing : null,
        Exim or Postfix or Sendmail => File.Exists(Path(need)) ? null
            : $"{need} is not installed at {Path(need)} (tools/peers/install-{need}.sh; .ci/install-peers does)",
        _ => File.Exists(Path(need)) ? null
            : $"{need} is not installed at {Path(need)} (apt-get install {Package(need)}; .ci/install-peers does)",
    };

    private static string Package(string peer) => peer switch
    {
        Kdig => "knot-dnsutils",
        NamedCheckzone => "bind9-utils",
        Knot => "knot",
        Named => "bind9",
        DpkgDeb => "dpkg",
        SystemdAnalyze => "systemd",
        Setpriv => "util-linux",
        DnstapRead => "bind9-dnsutils",
        FstrmCapture => "fstrm-bin",
        Script => "bsdutils",
        LdnsVerifyZone or LdnsKey2ds => "ldnsutils",
        Delv => "bind9-dnsutils",
        Rspamc => "rspamd",
        _ => peer,
    };
}

/// <summary>
/// A fact that needs real peers or third-party vectors (names from <see cref="Peer"/> and <see cref="TestData"/>):
/// skipped, saying what is missing and how to install it, when one is not here. A missing peer or file is never
/// a failure.
/// </summary>
public sealed class PeerFactAttribute : FactAttribute
{
    public PeerFactAttribute(params string[] needs) => Skip = Needs.Missing(needs);
}

/// <summary>The theory form of <see cref="PeerFactAttribute"/>.</summary>
public sealed class PeerTheoryAttribute : TheoryAttribute
{
    public PeerTheoryAttribute(params string[] needs) => Skip = Needs.Missing(needs);
}

internal static class Needs
{
    public static string? Missing(string[] needs) =>
        needs.Select(Peer.Missing).FirstOrDefault(why => why is not null);
}
