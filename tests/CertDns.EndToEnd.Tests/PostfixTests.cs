using System.Globalization;
using CertDns.Core;
using CertDns.Pki;

namespace CertDns.EndToEnd.Tests;

/// <summary>
/// A real Postfix 3.7 asks certdns policy (policy delegation, and the socketmap access table) about each
/// client certificate; certdns policy asks certdns over DNS. swaks presents the certificates. All of it runs
/// in a network namespace of the test's own, so nothing Postfix resolves can leave the machine.
/// </summary>
public sealed class PostfixTests : IAsyncLifetime
{
    public static readonly string Root = Peer.PostfixRoot;
    public static readonly string Postfix = Path.Combine(Root, "usr", "sbin", "postfix");

    private readonly TempDir _dir = new();
    private IReadOnlyDictionary<string, StatusScenario.Client> _clients = new Dictionary<string, StatusScenario.Client>();
    private Netns? _netns;
    private const int PolicyPort = 10040, SocketmapPort = 10041;

    public async Task InitializeAsync()
    {
        var scenario = StatusScenario.Register(_dir, "Postfix Test CA");
        scenario.IssueServer(_dir, "mx.test.example");
        _clients = scenario.Clients;
        _netns = new Netns("certdns-postfix");
        var certdns = Path.Combine(AppContext.BaseDirectory, "certdns.dll");
        _netns.Start(_dir.Path, "dotnet", certdns, "serve", "--listen", "127.0.0.1:53");
        _netns.Start(_dir.Path, "dotnet", certdns, "policy", "--listen", $"127.0.0.1:{PolicyPort}", "--socketmap", $"127.0.0.1:{SocketmapPort}", "--port", "53");
        _netns.WaitForPort(53, TimeSpan.FromSeconds(30));
        _netns.WaitForPort(PolicyPort, TimeSpan.FromSeconds(30));
        await Task.CompletedTask;
    }

    public async Task DisposeAsync()
    {
        if (_netns is not null && File.Exists(_dir.File("conf/main.cf"))) Postfix_(_dir.File("conf"), "stop");
        _netns?.Dispose();
        _dir.Dispose();
        await Task.CompletedTask;
    }

    /// <summary>The postfix command inside the namespace, finding its libraries in the private folder.</summary>
    private (int ExitCode, string Output) Postfix_(string conf, string verb) =>
        _netns!.Run("env", $"LD_LIBRARY_PATH={Path.Combine(Root, "usr", "lib", "postfix")}", Postfix, "-c", conf, verb);

    private int StartPostfix(string restriction)
    {
        const int port = 2526;
        var conf = _dir.File("conf");
        foreach (var d in new[] { conf, _dir.File("queue"), _dir.File("data") }) Directory.CreateDirectory(d);
        string Fill(string template) => File.ReadAllText(Path.Combine(TestPaths.Repository, "docs", "postfix", template))
            .Replace("{ROOT}", Root, StringComparison.Ordinal).Replace("{DIR}", _dir.Path, StringComparison.Ordinal)
            .Replace("{PORT}", port.ToString(CultureInfo.InvariantCulture), StringComparison.Ordinal)
            .Replace("{RESTRICTION}", restriction, StringComparison.Ordinal);
        File.WriteAllText(Path.Combine(conf, "main.cf"), Fill("main.cf.template"));
        File.WriteAllText(Path.Combine(conf, "master.cf"), Fill("master.cf.template"));
        // What postinst would have put in /etc/postfix, for postfix-script's checks.
        File.Copy(Path.Combine(Root, "etc", "postfix", "postfix-files"), Path.Combine(conf, "postfix-files"));
        File.Copy(Path.Combine(Root, "usr", "share", "postfix", "dynamicmaps.cf"), Path.Combine(conf, "dynamicmaps.cf"));
        Assert.Equal(0, Netns.Exec("chown", "postfix:", _dir.File("data")).ExitCode);
        var start = Postfix_(conf, "start");
        Assert.True(start.ExitCode == 0, "postfix start failed: " + start.Output + ReadLog());
        _netns!.WaitForPort(port, TimeSpan.FromSeconds(30));
        return port;
    }

    private string ReadLog() => File.Exists(_dir.File("maillog")) ? File.ReadAllText(_dir.File("maillog")) : "(no maillog)";

    private string Swaks(int port, string? client) => EximTests.SwaksIn(_netns!, port, client is null ? null : (_clients[client].Cert, _clients[client].Key));

    [PeerFact(Peer.Postfix, Peer.Swaks, Peer.Netns)]
    public void Postfix_CheckPolicyService_RejectsListedCertificatesWithTxtReason()
    {
        var port = StartPostfix($"check_policy_service inet:127.0.0.1:{PolicyPort}");

        AssertOutcomes(port, "Recipient address rejected: TLS client certificate");
    }

    [PeerFact(Peer.Postfix, Peer.Swaks, Peer.Netns)]
    public void Postfix_CheckCcertAccessSocketmap_RejectsListedCertificatesWithTxtReason()
    {
        var port = StartPostfix($"check_ccert_access socketmap:inet:127.0.0.1:{SocketmapPort}:cert");

        AssertOutcomes(port, "Client certificate rejected: TLS client certificate");
    }

    private void AssertOutcomes(int port, string rejection)
    {
        foreach (var name in new[] { "valid", "unknown" })
            Assert.Contains("<~  250 2.1.5 Ok", Swaks(port, name));
        Assert.Contains("<~  250 2.1.5 Ok", Swaks(port, null));
        foreach (var (name, reason) in new[] { ("revoked", "revoked: revoked keyCompromise"), ("held", "hold: hold certificateHold"), ("blocked", "blocked: blocked: 3 abuse complaints") })
        {
            var output = Swaks(port, name);
            Assert.True(output.Contains("<~* 554 5.7.1", StringComparison.Ordinal), $"{name} was not rejected:\n{output}\n--- maillog:\n{ReadLog()}");
            Assert.Contains($"{rejection} {reason}", output);
        }
    }
}
