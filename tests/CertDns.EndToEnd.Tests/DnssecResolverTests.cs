using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using CertDns.Core;

namespace CertDns.EndToEnd.Tests;

/// <summary>
/// The zone signed online (zone.dnssec), checked by validators outside the project: Unbound validating with the
/// trust anchor <c>certdns dnssec dnskey</c> prints, and BIND's delv. Every status, form, view and negative case
/// must resolve with the AD bit; a flipped signature byte on the way, or the wrong trust anchor, must give SERVFAIL.
/// </summary>
public sealed class DnssecResolverTests : IDisposable
{
    private readonly TempDir _dir = new();
    private readonly StatusScenario _scenario;
    private readonly string _keys, _anchor, _config;

    public DnssecResolverTests()
    {
        _scenario = StatusScenario.Register(_dir, "Dnssec Test CA");
        (_keys, _anchor, _config) = SignedZone(_dir);
    }

    /// <summary>
    /// A key set from <c>certdns dnssec keygen</c>, the trust anchor <c>certdns dnssec dnskey</c> prints for it, and a
    /// configuration that signs status.example with it: the operator's steps, in <paramref name="dir"/>.
    /// </summary>
    internal static (string Keys, string Anchor, string Config) SignedZone(TempDir dir)
    {
        var keys = dir.File("status.example.keys");
        var anchor = dir.File("anchor");
        var config = dir.File("certdns.toml");
        var keygen = CertDnsProcess.Run(dir.Path, "--zone", "status.example", "dnssec", "keygen", "--keys", keys);
        Assert.True(keygen.ExitCode == 0, keygen.Stderr);
        var dnskey = CertDnsProcess.Run(dir.Path, "dnssec", "dnskey", "--keys", keys);
        Assert.True(dnskey.ExitCode == 0, dnskey.Stderr);
        File.WriteAllText(anchor, dnskey.Stdout);
        File.WriteAllText(config, $"[zone]\nname = \"status.example\"\ndnssec = true\ndnssec-keys = \"{keys}\"\n");
        return (keys, anchor, config);
    }

    /// <summary>A second key set's trust anchor: what a validator holding the wrong key sees (every answer bogus).</summary>
    internal static string WrongAnchor(TempDir dir)
    {
        var other = dir.File("other.keys");
        Assert.Equal(0, CertDnsProcess.Run(dir.Path, "--zone", "status.example", "dnssec", "keygen", "--keys", other).ExitCode);
        var wrong = dir.File("wrong-anchor");
        File.WriteAllText(wrong, CertDnsProcess.Run(dir.Path, "dnssec", "dnskey", "--keys", other).Stdout);
        return wrong;
    }

    public void Dispose() => _dir.Dispose();

    private string Split(string name)
    {
        var hex = Hex.Lower(_scenario.Clients[name].Parsed.Sha256);
        return $"{hex[..32]}.{hex[32..]}";
    }

    [PeerFact(Peer.Unbound, Peer.Dig)]
    public async Task Unbound_Validating_EveryStatusFormViewAndDenialHasAd()
    {
        using var certdns = CertDnsProcess.Serve(_dir.Path, "--config", _config);
        using var unbound = ValidatingUnbound.Start(_dir, "u", certdns.Port, _anchor);
        await EveryStatusFormViewAndDenialHasAd(unbound.Port);
    }

    /// <summary>
    /// BIND named 9.18 validating, forwarding to CertDns, the DNSKEY from <c>certdns dnssec dnskey</c> as its static
    /// trust anchor: the same cases as Unbound, compact denial (NOERROR with an NSEC to <c>\000.qname</c> whose bitmap
    /// is RRSIG NSEC NXNAME) included.
    /// </summary>
    [PeerFact(Peer.Named, Peer.Dig)]
    public async Task Bind_Validating_EveryStatusFormViewAndDenialHasAd()
    {
        using var certdns = CertDnsProcess.Serve(_dir.Path, "--config", _config);
        using var named = await StartValidatingNamed("named", certdns.Port, _anchor);
        await EveryStatusFormViewAndDenialHasAd(named.Port);
    }

    [PeerFact(Peer.Named, Peer.Dig)]
    public async Task Bind_WrongTrustAnchor_IsServfail()
    {
        var wrong = WrongAnchor(_dir);
        using var certdns = CertDnsProcess.Serve(_dir.Path, "--config", _config);
        using var named = await StartValidatingNamed("named-wrong", certdns.Port, wrong);
        foreach (var qname in new[] { $"{Split("revoked")}.status.example", $"{new string('a', 32)}.{new string('b', 32)}.status.example" })
        {
            var r = await Dig.RunAsync(named.Port, qname, "A", "+rec", "+dnssec");
            Assert.True(r.Status == "SERVFAIL", $"{qname} under the wrong anchor: {r.Status}\n{r.Output}");
        }
    }

    [PeerFact(Peer.Named, Peer.Dig)]
    public async Task Bind_OneFlippedSignatureByte_IsServfail()
    {
        using var certdns = CertDnsProcess.Serve(_dir.Path, "--config", _config);
        using var proxy = new CorruptingProxy(certdns.Port, $"{Split("revoked")[..32]}");
        using var named = await StartValidatingNamed("named-proxy", proxy.Port, _anchor, cookies: false);
        var bad = await Dig.RunAsync(named.Port, $"{Split("revoked")}.status.example", "A", "+rec", "+dnssec");
        Assert.True(bad.Status == "SERVFAIL", $"a corrupted RRSIG was accepted: {bad.Status}\n{bad.Output}");
        Assert.True(proxy.Corrupted > 0, "the proxy corrupted nothing");
        var good = await Dig.RunAsync(named.Port, $"{Split("valid")}.status.example", "A", "+rec", "+dnssec");
        Assert.True(good.Status == "NOERROR" && good.Flags.Contains("ad"), good.Output);
    }

    /// <summary>
    /// dnsviz probing CertDns authoritatively (port 53 on a loopback address of the test's own: dnsviz has no port
    /// option), the delegation and DS from <c>certdns dnssec ds</c> given, an existing name, an unknown one and a
    /// NODATA among the names; grok's analysis must have no error or warning anywhere, the zone SECURE and every
    /// signature VALID. grok runs without -t: Debian 12's dnsviz checks for pygraphviz.release with -t, which
    /// pygraphviz 1.7 no longer has, and exits 2; the DS given to the probe anchors the chain instead.
    /// </summary>
    [PeerFact(Peer.Dnsviz)]
    public async Task Dnsviz_ProbeAndGrok_ReportNoErrors()
    {
        var address = $"127.{Random.Shared.Next(1, 255)}.{Random.Shared.Next(1, 255)}.{Random.Shared.Next(2, 255)}";
        using var certdns = CertDnsProcess.Serve(_dir.Path, "--config", _config, "--listen", $"{address}:53");
        var ds = CertDnsProcess.Run(_dir.Path, "dnssec", "ds", "--keys", _keys);
        Assert.True(ds.ExitCode == 0, ds.Stderr);
        var dsLine = ds.Stdout.Split('\n').First(l => l.Contains("\tDS\t", StringComparison.Ordinal) || l.Contains(" DS ", StringComparison.Ordinal));
        var f = dsLine.Split([' ', '\t'], StringSplitOptions.RemoveEmptyEntries);
        int at = Array.IndexOf(f, "DS");
        var probe = _dir.File("probe.json");
        var (code, output) = await RunTool(Peer.Path(Peer.Dnsviz), null, "probe", "-A", "-x", $"status.example:{address}",
            "-N", $"status.example:ns.status.example={address}", "-D", $"status.example:{string.Join(' ', f[(at + 1)..(at + 5)])}",
            "-o", probe, "status.example", $"{Split("revoked")}.status.example", $"{new string('a', 32)}.{new string('b', 32)}.status.example");
        Assert.True(code == 0, $"dnsviz probe exited {code}: {output}");
        var (grokCode, grok) = await RunTool(Peer.Path(Peer.Dnsviz), probe, "grok");
        Assert.True(grokCode == 0, $"dnsviz grok exited {grokCode}: {grok}");
        int valid = 0;
        var problems = new List<string>();
        void Walk(System.Text.Json.JsonElement e, string path)
        {
            if (e.ValueKind == System.Text.Json.JsonValueKind.Object)
                foreach (var p in e.EnumerateObject())
                {
                    if (p.Name is "errors" or "warnings") problems.Add($"{path}/{p.Name}: {p.Value}");
                    if (p.Name == "status" && p.Value.ValueKind == System.Text.Json.JsonValueKind.String)
                    {
                        var v = p.Value.GetString();
                        if (v == "VALID") valid++;
                        else if (v is not ("SECURE" or "NOERROR")) problems.Add($"{path}: status {v}");
                    }
                    Walk(p.Value, $"{path}/{p.Name}");
                }
            else if (e.ValueKind == System.Text.Json.JsonValueKind.Array)
            {
                int i = 0;
                foreach (var x in e.EnumerateArray()) Walk(x, $"{path}[{i++}]");
            }
        }
        using var doc = System.Text.Json.JsonDocument.Parse(grok);
        Walk(doc.RootElement, "");
        Assert.True(problems.Count == 0, string.Join('\n', problems));
        Assert.True(valid > 0, $"grok reported no valid signature:\n{grok}");
        Assert.Contains("\"SECURE\"", grok, StringComparison.Ordinal);
    }

    private static async Task<(int, string)> RunTool(string path, string? stdin, params string[] args)
    {
        var info = new ProcessStartInfo(path) { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = stdin is not null };
        foreach (var a in args) info.ArgumentList.Add(a);
        using var p = Process.Start(info)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (stdin is not null)
        {
            await p.StandardInput.WriteAsync(await File.ReadAllTextAsync(stdin));
            p.StandardInput.Close();
        }
        await p.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(240));
        return (p.ExitCode, await stdout + (p.ExitCode == 0 ? "" : await stderr));
    }

    /// <summary>named validating on a free loopback port, polled until it answers a query of its own (a refusal counts).</summary>
    private async Task<RunningNamed> StartValidatingNamed(string folder, int certdnsPort, string anchor, bool cookies = true)
    {
        var port = CertDnsProcess.FreePort();
        var dir = _dir.File(folder);
        var process = NamedServer.StartValidating(dir, port, "status.example", certdnsPort, File.ReadAllText(anchor), cookies);
        var named = new RunningNamed(process, port);
        var until = DateTime.UtcNow.AddSeconds(30);
        while (DateTime.UtcNow < until)
        {
            if (process.HasExited)
            {
                var why = $"named exited {process.ExitCode}: {(File.Exists(NamedServer.LogPath(dir)) ? File.ReadAllText(NamedServer.LogPath(dir)) : "no log")}\n{File.ReadAllText(Path.Combine(dir, "named.conf"))}";
                named.Dispose();
                throw new InvalidOperationException(why);
            }
            using var probe = new UdpClient();
            probe.Connect(IPAddress.Loopback, port);
            await probe.SendAsync(new byte[] { 0x12, 0x34, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 });
            using var wait = new CancellationTokenSource(TimeSpan.FromMilliseconds(200));
            try
            {
                await probe.ReceiveAsync(wait.Token);
                return named;
            }
            catch (Exception e) when (e is SocketException or OperationCanceledException)
            {
                await Task.Delay(100);
            }
        }
        named.Dispose();
        throw new TimeoutException("named did not answer within 30 s");
    }

    private sealed class RunningNamed(Process process, int port) : IDisposable
    {
        public int Port { get; } = port;

        public void Dispose()
        {
            if (!process.HasExited) process.Kill(entireProcessTree: true);
            process.WaitForExit(5000);
            process.Dispose();
        }
    }

    /// <summary>Every status in every name form, both views, TXT, NODATA, empty non-terminal, apex and unknown names, asked of a validating resolver on <paramref name="resolver"/>.</summary>
    private async Task EveryStatusFormViewAndDenialHasAd(int resolver)
    {
        foreach (var (name, code) in new[] { ("valid", "127.0.1.2"), ("revoked", "127.0.0.2"), ("held", "127.0.0.4"), ("blocked", "127.0.0.3") })
        {
            var parsed = _scenario.Clients[name].Parsed;
            var hex = Hex.Lower(parsed.Sha256);
            foreach (var form in new[] { Split(name), hex[..56], Hex.Lower(parsed.Sha1), Hex.Base32(parsed.Sha256) })
            {
                var answer = await Dig.RunAsync(resolver, $"{form}.status.example", "A", "+rec", "+dnssec");
                Assert.True(answer.Status == "NOERROR" && answer.Flags.Contains("ad"), $"{name} as {form}: {answer.Status} {string.Join(' ', answer.Flags)}\n{answer.Output}");
                Assert.Equal(code, answer.SingleAnswer("A")[4]);
            }
            var txt = await Dig.RunAsync(resolver, $"{Split(name)}.status.example", "TXT", "+rec", "+dnssec");
            Assert.True(txt.Flags.Contains("ad"), txt.Output);
            Assert.Contains(name switch { "blocked" => "block", "held" => "hold", _ => name }, txt.SingleAnswer("TXT")[4], StringComparison.OrdinalIgnoreCase);
            // Views: bl publishes everything but valid, wl only valid; a status a view hides is a validated denial.
            foreach (var view in new[] { "bl", "wl" })
            {
                bool listed = view == "bl" ? name != "valid" : name == "valid";
                var r = await Dig.RunAsync(resolver, $"{Split(name)}.{view}.status.example", "A", "+rec", "+dnssec");
                Assert.True(r.Flags.Contains("ad"), $"{name} in {view}: no AD\n{r.Output}");
                if (listed) Assert.Equal(code, r.SingleAnswer("A")[4]);
                else Assert.True(r.Answer.All(a => a[3] != "A"), r.Output);
            }
        }

        // NODATA at a listed name, an empty non-terminal (the split name's right half), the apex, a name that does
        // not exist: all proven, none with an address.
        foreach (var (qname, qtype) in new[]
        {
            ($"{Split("revoked")}.status.example", "AAAA"),
            ($"{Split("revoked")[33..]}.status.example", "A"),
            ("status.example", "A"),
            ($"{new string('a', 32)}.{new string('b', 32)}.status.example", "A"),
            ($"{new string('c', 32)}.{new string('d', 32)}.bl.status.example", "TXT"),
        })
        {
            var r = await Dig.RunAsync(resolver, qname, qtype, "+rec", "+dnssec");
            Assert.True(r.Status is "NOERROR" or "NXDOMAIN" && r.Flags.Contains("ad"), $"{qname} {qtype}: {r.Status} {string.Join(' ', r.Flags)}\n{r.Output}");
            Assert.DoesNotContain(r.Answer, a => a[3] == qtype);
        }

        var soa = await Dig.RunAsync(resolver, "status.example", "SOA", "+rec", "+dnssec");
        Assert.True(soa.Flags.Contains("ad"), soa.Output);
        var ns = await Dig.RunAsync(resolver, "status.example", "NS", "+rec", "+dnssec");
        Assert.True(ns.Flags.Contains("ad"), ns.Output);
    }

    [PeerFact(Peer.Unbound, Peer.Dig)]
    public async Task Unbound_OneFlippedSignatureByte_IsServfail()
    {
        using var certdns = CertDnsProcess.Serve(_dir.Path, "--config", _config);
        using var proxy = new CorruptingProxy(certdns.Port, $"{Split("revoked")[..32]}");
        using var unbound = ValidatingUnbound.Start(_dir, "u", proxy.Port, _anchor);
        var bad = await Dig.RunAsync(unbound.Port, $"{Split("revoked")}.status.example", "A", "+rec", "+dnssec");
        Assert.True(bad.Status == "SERVFAIL", $"a corrupted RRSIG was accepted: {bad.Status}\n{bad.Output}");
        Assert.True(proxy.Corrupted > 0, "the proxy corrupted nothing");
        // The same path passes every other answer untouched: the SERVFAIL is the signature's, not the proxy's.
        var good = await Dig.RunAsync(unbound.Port, $"{Split("valid")}.status.example", "A", "+rec", "+dnssec");
        Assert.True(good.Status == "NOERROR" && good.Flags.Contains("ad"), good.Output);
    }

    [PeerFact(Peer.Unbound, Peer.Dig)]
    public async Task Unbound_WrongTrustAnchor_IsServfail()
    {
        var wrong = WrongAnchor(_dir);
        using var certdns = CertDnsProcess.Serve(_dir.Path, "--config", _config);
        using var unbound = ValidatingUnbound.Start(_dir, "w", certdns.Port, wrong);
        var r = await Dig.RunAsync(unbound.Port, $"{Split("revoked")}.status.example", "A", "+rec", "+dnssec");
        Assert.Equal("SERVFAIL", r.Status);
    }

    [PeerFact(Peer.Delv, Peer.Dig)]
    public async Task Delv_FullyValidatesSampledAnswers()
    {
        using var certdns = CertDnsProcess.Serve(_dir.Path, "--config", _config);
        var anchor = File.ReadAllText(_anchor).Split([' ', '\t'], StringSplitOptions.RemoveEmptyEntries);
        var delvAnchor = _dir.File("delv-anchor");
        File.WriteAllText(delvAnchor, $"trust-anchors {{ status.example. static-key {anchor[4]} {anchor[5]} {anchor[6]} \"{anchor[7]}\"; }};\n");
        foreach (var (qname, qtype, positive) in new[]
        {
            ($"{Split("revoked")}.status.example", "A", true),
            ($"{Split("valid")}.wl.status.example", "TXT", true),
            ($"{Split("revoked")}.status.example", "AAAA", false),
            ($"{new string('e', 32)}.{new string('f', 32)}.status.example", "A", false),
            ("status.example", "DNSKEY", true),
        })
        {
            var (code, output) = await RunDelv(certdns.Port, delvAnchor, qname, qtype);
            Assert.True(output.Contains(positive ? "; fully validated" : "; negative response, fully validated", StringComparison.Ordinal), $"{qname} {qtype} (exit {code}):\n{output}");
        }
    }

    private static async Task<(int, string)> RunDelv(int port, string anchor, string name, string type)
    {
        var info = new ProcessStartInfo(Peer.Path(Peer.Delv)) { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in new[] { "@127.0.0.1", "-p", port.ToString(CultureInfo.InvariantCulture), "-a", anchor, "+root=status.example", name, type }) info.ArgumentList.Add(a);
        using var p = Process.Start(info)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        await p.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(30));
        return (p.ExitCode, await stdout + await stderr);
    }

    /// <summary>
    /// A UDP relay between Unbound and CertDns that flips the last octet of the last RRSIG in A answers for names
    /// starting with <c>label</c> (the octet before a trailing option-less OPT): a forged or damaged signature.
    /// </summary>
    private sealed class CorruptingProxy : IDisposable
    {
        private readonly UdpClient _front = new(new IPEndPoint(IPAddress.Loopback, 0));
        private readonly CancellationTokenSource _stop = new();
        private readonly byte[] _label;
        private int _corrupted;

        public CorruptingProxy(int upstream, string label)
        {
            _label = System.Text.Encoding.ASCII.GetBytes(label);
            Port = ((IPEndPoint)_front.Client.LocalEndPoint!).Port;
            _ = Task.Run(() => Relay(upstream));
        }

        public int Port { get; }

        public int Corrupted => Volatile.Read(ref _corrupted);

        private async Task Relay(int upstream)
        {
            while (!_stop.IsCancellationRequested)
            {
                UdpReceiveResult query;
                try { query = await _front.ReceiveAsync(_stop.Token); }
                catch (Exception) { return; }
                _ = Task.Run(async () =>
                {
                    using var back = new UdpClient(new IPEndPoint(IPAddress.Loopback, 0));
                    await back.SendAsync(query.Buffer, new IPEndPoint(IPAddress.Loopback, upstream));
                    using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(3));
                    try
                    {
                        var answer = (await back.ReceiveAsync(timeout.Token)).Buffer;
                        if (Targets(answer))
                        {
                            answer[^12] ^= 0x01;
                            Interlocked.Increment(ref _corrupted);
                        }
                        await _front.SendAsync(answer, query.RemoteEndPoint);
                    }
                    catch (OperationCanceledException) { }
                });
            }
        }

        private bool Targets(byte[] m)
        {
            if (m.Length < 40 || m[12] != _label.Length || !m.AsSpan(13, _label.Length).SequenceEqual(_label)) return false;
            int at = 12;
            while (m[at] != 0) at += 1 + m[at];
            bool isA = m[at + 1] == 0 && m[at + 2] == 1;
            int answers = (m[6] << 8) | m[7];
            // The message ends in an OPT with no options: 00 0029 size(2) ttl(4) 0000.
            bool plainOpt = m[^11] == 0 && m[^10] == 0 && m[^9] == 41 && m[^2] == 0 && m[^1] == 0;
            return isA && answers >= 2 && plainOpt;
        }

        public void Dispose()
        {
            _stop.Cancel();
            _front.Dispose();
        }
    }
}
