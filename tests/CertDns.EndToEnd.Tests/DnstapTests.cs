using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text.RegularExpressions;

namespace CertDns.EndToEnd.Tests;

/// <summary>
/// serve's dnstap query log through the real binary, read back by BIND's <c>dnstap-read</c>: to a file, to a unix
/// socket where <c>fstrm_capture</c> listens (and is restarted), and to a reader that never reads, whose full queue
/// drops and counts while every query is still answered.
/// </summary>
public sealed partial class DnstapTests : IDisposable
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(30);
    private readonly TempDir _dir = new();
    private readonly HttpClient _http = new() { Timeout = TimeSpan.FromSeconds(10) };

    public void Dispose()
    {
        _http.Dispose();
        _dir.Dispose();
    }

    [PeerFact(Peer.Dig, Peer.DnstapRead)]
    public async Task File_QueriesOverUdpAndTcp_DnstapReadShowsEachQueryAndResponse()
    {
        var log = _dir.File("dnstap.fstrm");
        int port;
        using (var server = CertDnsProcess.Serve(_dir.Path, "--demo", "--dnstap", log))
        {
            port = server.Port;
            Assert.Equal("NOERROR", (await Dig.RunAsync(port, "test.status.example", "A")).Status);
            Assert.Equal("NOERROR", (await Dig.RunAsync(port, "status.example", "SOA", "+tcp")).Status);
            Stop(server);
        }

        var lines = DnstapRead(log).Split('\n', StringSplitOptions.RemoveEmptyEntries);

        string p = port.ToString(CultureInfo.InvariantCulture);
        Assert.Equal(4, lines.Length);
        Assert.Matches($@" AQ 127\.0\.0\.1:\d+ -> 127\.0\.0\.1:{p} UDP \d+b test\.status\.example/IN/A$", lines[0]);
        Assert.Matches($@" AR 127\.0\.0\.1:\d+ <- 127\.0\.0\.1:{p} UDP \d+b test\.status\.example/IN/A$", lines[1]);
        Assert.Matches($@" AQ 127\.0\.0\.1:\d+ -> 127\.0\.0\.1:{p} TCP \d+b status\.example/IN/SOA$", lines[2]);
        Assert.Matches($@" AR 127\.0\.0\.1:\d+ <- 127\.0\.0\.1:{p} TCP \d+b status\.example/IN/SOA$", lines[3]);
        // A query and its response name the same client port.
        Assert.Equal(ClientPort(lines[0]), ClientPort(lines[1]));

        var yaml = DnstapRead(log, "-y");
        Assert.Contains("type: AUTH_QUERY", yaml);
        Assert.Contains("type: AUTH_RESPONSE", yaml);
        Assert.Contains("identity: " + Environment.MachineName, yaml);
        Assert.Matches(@"version: certdns \S+", yaml);
        // The response carries the answer: the demo's test entry, 127.0.0.2 (RFC 5782 section 5).
        Assert.Matches(@"test\.status\.example\.\s+\d+\s+IN\s+A\s+127\.0\.0\.2", yaml);
    }

    [PeerFact(Peer.Dig, Peer.DnstapRead, Peer.FstrmCapture)]
    public async Task UnixSocket_FstrmCaptureRestarted_LogFollowsItToTheNewReader()
    {
        var socket = _dir.File("t.sock");
        var first = _dir.File("first.fstrm");
        var second = _dir.File("second.fstrm");
        using var capture1 = Capture(socket, first);
        using var server = CertDnsProcess.Serve(_dir.Path, "--demo", "--dnstap", "unix:" + socket, "--metrics-listen", "127.0.0.1:0");
        var metrics = MetricsUri(server);

        Assert.Equal("NOERROR", (await Dig.RunAsync(server.Port, "one.status.example", "A")).Status);
        await WaitForMetricAsync(metrics, "certdns_dnstap_frames_written_total", 2);
        StopCapture(capture1);
        // The next capture's socket must be its own, so that waiting for the file waits for it.
        File.Delete(socket);

        using var capture2 = Capture(socket, second);
        Assert.Equal("NOERROR", (await Dig.RunAsync(server.Port, "two.status.example", "A")).Status);
        await WaitForMetricAsync(metrics, "certdns_dnstap_frames_written_total", 4);
        Stop(server);
        StopCapture(capture2);

        var before = DnstapRead(first);
        var after = DnstapRead(second);
        Assert.Contains("AQ 127.0.0.1:", before);
        Assert.Contains("one.status.example/IN/A", before);
        Assert.DoesNotContain("two.status.example", before);
        Assert.Equal(2, Regex.Matches(after, @" A[QR] .* UDP \d+b two\.status\.example/IN/A").Count);
        Assert.DoesNotContain("one.status.example", after);
    }

    [Fact]
    public async Task ReaderThatNeverReads_QueueFull_DropsAreCountedAndEveryQueryIsAnswered()
    {
        var path = _dir.File("stuck.sock");
        using var listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        listener.Bind(new UnixDomainSocketEndPoint(path));
        listener.Listen(8);
        var config = _dir.File("certdns.toml");
        File.WriteAllText(config, $"""
            [log]
            dnstap = "unix:{path}"
            dnstap-queue = 8
            """);
        using var server = CertDnsProcess.Serve(_dir.Path, "--config", config, "--demo", "--metrics-listen", "127.0.0.1:0");
        var metrics = MetricsUri(server);
        // The handshake, then nothing: the reader takes READY, says ACCEPT, and never reads again.
        using var reader = await listener.AcceptAsync().WaitAsync(Deadline);
        using var stream = new NetworkStream(reader);
        await ReadControlAsync(stream, 0x04);
        await stream.WriteAsync(Control(0x01, "protobuf:dnstap.Dnstap"));

        using var client = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        client.Connect(new IPEndPoint(IPAddress.Loopback, server.Port));
        client.ReceiveTimeout = 5000;
        var buffer = new byte[65535];
        int answered = 0;
        const int count = 20_000;
        for (int i = 0; i < count; i++)
        {
            client.Send(WireQuery.Build("test.status.example", WireQuery.A, id: (ushort)i));
            int length = client.Receive(buffer);
            if (WireQuery.Id(buffer.AsSpan(0, length)) == (ushort)i && WireQuery.Rcode(buffer.AsSpan(0, length)) == 0) answered++;
        }

        Assert.Equal(count, answered);
        double dropped = await WaitForMetricAsync(metrics, "certdns_dnstap_frames_dropped_total", 1);
        double written = Metric(await _http.GetStringAsync(metrics), "certdns_dnstap_frames_written_total");
        // Every frame was either written (into the socket's buffers) or dropped; none blocked an answer.
        Assert.True(dropped > 0 && written < 2 * count, $"written {written}, dropped {dropped}");
    }

    [Fact]
    public void Serve_DnstapUnusable_OneLineAndNothingServed()
    {
        var relative = CertDnsProcess.Run(_dir.Path, "serve", "--demo", "--listen", "127.0.0.1:0", "--dnstap", "unix:dnstap.sock");
        Assert.Equal(1, relative.ExitCode);
        Assert.Equal("certdns: --dnstap: expected unix: and an absolute socket path, e.g. unix:/run/certdns/dnstap.sock", relative.Stderr.Trim());

        // A file that cannot be created stops serve before it answers anything.
        var missing = _dir.File("no-such-folder/dnstap.fstrm");
        var unwritable = CertDnsProcess.Run(_dir.Path, "serve", "--demo", "--listen", "127.0.0.1:0", "--dnstap", missing);
        Assert.Equal(2, unwritable.ExitCode);
        var line = Assert.Single(unwritable.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries), l => l.StartsWith("certdns: ", StringComparison.Ordinal));
        Assert.StartsWith($"certdns: {missing}: cannot write the dnstap log: ", line, StringComparison.Ordinal);
        Assert.DoesNotContain("serving ", unwritable.Stderr);
        Assert.DoesNotContain("   at ", unwritable.Stderr);
    }

    private static void Stop(CertDnsProcess.Server server)
    {
        server.Signal(15);
        Assert.Equal(0, server.WaitForExit(Deadline));
    }

    private Process Capture(string socket, string output)
    {
        var info = new ProcessStartInfo(Peer.Path(Peer.FstrmCapture))
        {
            RedirectStandardError = true,
            RedirectStandardOutput = true,
            UseShellExecute = false,
        };
        foreach (var arg in new[] { "-t", "protobuf:dnstap.Dnstap", "-u", socket, "-w", output }) info.ArgumentList.Add(arg);
        var process = Process.Start(info)!;
        process.BeginErrorReadLine();
        process.BeginOutputReadLine();
        // Listening once the socket exists: the server's connect would otherwise be refused (and retried, later).
        var until = DateTime.UtcNow + Deadline;
        while (!File.Exists(socket))
        {
            if (DateTime.UtcNow > until || process.HasExited) throw new TimeoutException("fstrm_capture did not open " + socket);
            Thread.Sleep(20);
        }
        return process;
    }

    private static void StopCapture(Process capture)
    {
        // SIGINT: fstrm_capture closes its file (its own STOP frame) and removes nothing else.
        if (Kill(capture.Id, 2) != 0) throw new InvalidOperationException("kill fstrm_capture failed");
        Assert.True(capture.WaitForExit(Deadline), "fstrm_capture did not stop");
    }

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static extern int Kill(int pid, int signal);

    private static string DnstapRead(string file, params string[] options)
    {
        var info = new ProcessStartInfo(Peer.Path(Peer.DnstapRead)) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var option in options) info.ArgumentList.Add(option);
        info.ArgumentList.Add(file);
        using var process = Process.Start(info)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEnd();
        process.WaitForExit();
        Assert.True(process.ExitCode == 0, $"dnstap-read exited {process.ExitCode}: {error}");
        return output.Result;
    }

    private static string ClientPort(string line) => ClientPortPattern().Match(line).Groups[1].Value;

    private static Uri MetricsUri(CertDnsProcess.Server server)
    {
        server.WaitFor("metrics on http://", Deadline);
        var at = MetricsOn().Match(server.Output);
        Assert.True(at.Success, server.Output);
        return new Uri($"http://127.0.0.1:{at.Groups[1].Value}/metrics");
    }

    private async Task<double> WaitForMetricAsync(Uri metrics, string name, double atLeast)
    {
        var until = DateTime.UtcNow + Deadline;
        while (true)
        {
            var text = await _http.GetStringAsync(metrics);
            double value = Metric(text, name);
            if (value >= atLeast) return value;
            if (DateTime.UtcNow > until) throw new TimeoutException($"{name} stayed at {value}, below {atLeast}:\n{text}");
            await Task.Delay(20);
        }
    }

    private static double Metric(string text, string name)
    {
        var line = Regex.Match(text, $@"^{Regex.Escape(name)} (\S+)$", RegexOptions.Multiline);
        Assert.True(line.Success, $"no {name} in:\n{text}");
        return double.Parse(line.Groups[1].Value, CultureInfo.InvariantCulture);
    }

    private static byte[] Control(uint type, string contentType)
    {
        var content = System.Text.Encoding.ASCII.GetBytes(contentType);
        var frame = new byte[8 + 4 + 8 + content.Length];
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(frame.AsSpan(4), (uint)(frame.Length - 8));
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(frame.AsSpan(8), type);
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(frame.AsSpan(12), 1);
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(frame.AsSpan(16), (uint)content.Length);
        content.CopyTo(frame.AsSpan(20));
        return frame;
    }

    private static async Task ReadControlAsync(Stream stream, uint expected)
    {
        var head = new byte[12];
        await stream.ReadExactlyAsync(head).AsTask().WaitAsync(Deadline);
        Assert.Equal(0u, System.Buffers.Binary.BinaryPrimitives.ReadUInt32BigEndian(head));
        Assert.Equal(expected, System.Buffers.Binary.BinaryPrimitives.ReadUInt32BigEndian(head.AsSpan(8)));
        var rest = new byte[System.Buffers.Binary.BinaryPrimitives.ReadUInt32BigEndian(head.AsSpan(4)) - 4];
        await stream.ReadExactlyAsync(rest).AsTask().WaitAsync(Deadline);
    }

    [GeneratedRegex(@"metrics on http://127\.0\.0\.1:(\d+)/")]
    private static partial Regex MetricsOn();

    [GeneratedRegex(@" A[QR] 127\.0\.0\.1:(\d+) ")]
    private static partial Regex ClientPortPattern();
}
