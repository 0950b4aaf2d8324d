using System.Net;
using ARSoft.Tools.Net;
using ARSoft.Tools.Net.Dns;
using CertDns.Core;

namespace CertDns.Policy;

/// <summary>What the zone said about a fingerprint.</summary>
/// <param name="Status">The status its A record stands for; Unknown for NXDOMAIN or NODATA.</param>
/// <param name="Text">The TXT reason, when the status is listed.</param>
public sealed record ZoneAnswer(CertStatus Status, string? Text);

/// <summary>The zone did not answer usably (timeout, SERVFAIL, REFUSED): the caller decides fail-open or closed.</summary>
public sealed class ZoneUnavailableException(string message) : Exception(message);

/// <summary>
/// Asks a CertDns zone over DNS, as an MTA would: the policy service does not read the store, so it works
/// against any server carrying the zone (a secondary, a resolver).
/// </summary>
public sealed class ZoneClient(IPAddress server, int port, string apex, TimeSpan timeout)
{
    private readonly DnsClient _client = new([server], [new UdpClientTransport(port), new TcpClientTransport(port)], false, (int)timeout.TotalMilliseconds);

    /// <summary>Looks up a certificate (or, with <paramref name="isKey"/>, public key) digest.</summary>
    public async Task<ZoneAnswer> LookupAsync(byte[] digest, bool isKey, CancellationToken cancel = default)
    {
        var name = QueryNameFor(digest, isKey, apex);
        var a = await AskAsync(name, RecordType.A, cancel).ConfigureAwait(false);
        var address = a.AnswerRecords.OfType<ARecord>().FirstOrDefault()?.Address;
        if (address is null) return new ZoneAnswer(CertStatus.Unknown, null);
        var status = Enum.GetValues<CertStatus>().FirstOrDefault(s => s != CertStatus.Unknown && StatusCodes.Address(s).SequenceEqual(address.GetAddressBytes()));
        if (status == CertStatus.Unknown) return new ZoneAnswer(CertStatus.Unknown, null);
        return new ZoneAnswer(status, await AskTxtAsync(name, cancel).ConfigureAwait(false));
    }

    /// <summary>
    /// The query name for a digest, by its length as Postfix gives it: SHA-256 split in two labels (a 64-char
    /// label is illegal), SHA-1 and MD5 as one label.
    /// </summary>
    public static string QueryNameFor(byte[] digest, bool isKey, string apex)
    {
        var fingerprint = digest.Length switch
        {
            32 => PublishedNames.Split(digest),
            20 or 16 => Hex.Lower(digest),
            _ => throw new BadInputException(Hex.Lower(digest), "a fingerprint is SHA-256, SHA-1 or MD5 (32, 20 or 16 octets)"),
        };
        return $"{fingerprint}{(isKey ? ".key" : "")}.{apex}";
    }

    /// <summary>
    /// The TXT text, read from the wire as UTF-8: ARSoft decodes character-strings as ASCII, which turns every
    /// non-ASCII byte into '?' (RFC 1035 leaves TXT octets uninterpreted; CertDns publishes UTF-8).
    /// </summary>
    private async Task<string?> AskTxtAsync(string name, CancellationToken cancel)
    {
        var query = TxtWire.Query((ushort)Random.Shared.Next(ushort.MaxValue + 1), name);
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancel);
        deadline.CancelAfter(timeout);
        try
        {
            var endpoint = new IPEndPoint(server, port);
            byte[] answer;
            using (var udp = new System.Net.Sockets.UdpClient(server.AddressFamily))
            {
                await udp.SendAsync(query, endpoint, deadline.Token).ConfigureAwait(false);
                while (true)
                {
                    var received = await udp.ReceiveAsync(deadline.Token).ConfigureAwait(false);
                    if (received.RemoteEndPoint.Equals(endpoint) && TxtWire.Answers(received.Buffer, query)) { answer = received.Buffer; break; }
                }
            }
            if (TxtWire.Truncated(answer))
            {
                using var tcp = new System.Net.Sockets.TcpClient(server.AddressFamily);
                await tcp.ConnectAsync(endpoint, deadline.Token).ConfigureAwait(false);
                var stream = tcp.GetStream();
                await stream.WriteAsync(new[] { (byte)(query.Length >> 8), (byte)query.Length }, deadline.Token).ConfigureAwait(false);
                await stream.WriteAsync(query, deadline.Token).ConfigureAwait(false);
                var length = new byte[2];
                await stream.ReadExactlyAsync(length, deadline.Token).ConfigureAwait(false);
                answer = new byte[(length[0] << 8) | length[1]];
                await stream.ReadExactlyAsync(answer, deadline.Token).ConfigureAwait(false);
                if (!TxtWire.Answers(answer, query)) throw new ZoneUnavailableException($"{server}:{port} answered another query over TCP for {name}");
            }
            var rcode = answer[3] & 0x0F;
            if (rcode is not (0 or 3)) throw new ZoneUnavailableException($"{server}:{port} answered rcode {rcode} for {name} TXT");
            return TxtWire.FirstText(answer);
        }
        catch (OperationCanceledException) when (!cancel.IsCancellationRequested)
        {
            throw new ZoneUnavailableException($"no answer from {server}:{port} for {name} TXT");
        }
        catch (Exception e) when (e is IndexOutOfRangeException or ArgumentOutOfRangeException or EndOfStreamException)
        {
            throw new ZoneUnavailableException($"{server}:{port} sent a malformed answer for {name} TXT");
        }
    }

    private async Task<DnsMessage> AskAsync(string name, RecordType type, CancellationToken cancel)
    {
        var answer = await _client.ResolveAsync(DomainName.Parse(name), type, RecordClass.INet, null, cancel).ConfigureAwait(false)
            ?? throw new ZoneUnavailableException($"no answer from {server}:{port} for {name}");
        if (answer.ReturnCode is not (ReturnCode.NoError or ReturnCode.NxDomain))
            throw new ZoneUnavailableException($"{server}:{port} answered {answer.ReturnCode} for {name}");
        return answer;
    }
}

/// <summary>Just enough DNS wire format to ask one TXT question and read the first TXT answer's octets.</summary>
internal static class TxtWire
{
    public static byte[] Query(ushort id, string name)
    {
        var q = new List<byte> { (byte)(id >> 8), (byte)id, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0 };
        foreach (var label in name.TrimEnd('.').Split('.'))
        {
            q.Add((byte)label.Length);
            q.AddRange(System.Text.Encoding.ASCII.GetBytes(label));
        }
        q.AddRange(new byte[] { 0, 0, 16, 0, 1 });
        return [.. q];
    }

    /// <summary>Whether <paramref name="answer"/> is the response to <paramref name="query"/>: same id, QR set, same question.</summary>
    public static bool Answers(byte[] answer, byte[] query) =>
        answer.Length >= query.Length && answer[0] == query[0] && answer[1] == query[1] && (answer[2] & 0x80) != 0
        && answer.AsSpan(12, query.Length - 12).SequenceEqual(query.AsSpan(12));

    public static bool Truncated(byte[] answer) => (answer[2] & 0x02) != 0;

    /// <summary>The first TXT record's character-strings joined, decoded as UTF-8; null when there is none.</summary>
    public static string? FirstText(byte[] m)
    {
        int questions = (m[4] << 8) | m[5], answers = (m[6] << 8) | m[7];
        int at = 12;
        for (int i = 0; i < questions; i++) at = SkipName(m, at) + 4;
        for (int i = 0; i < answers; i++)
        {
            at = SkipName(m, at);
            int type = (m[at] << 8) | m[at + 1], length = (m[at + 8] << 8) | m[at + 9];
            at += 10;
            if (at + length > m.Length) throw new EndOfStreamException();
            if (type == 16)
            {
                var text = new List<byte>();
                for (int p = at; p < at + length; p += 1 + m[p]) text.AddRange(m.AsSpan(p + 1, m[p]).ToArray());
                return System.Text.Encoding.UTF8.GetString([.. text]);
            }
            at += length;
        }
        return null;
    }

    private static int SkipName(byte[] m, int at)
    {
        while (true)
        {
            var len = m[at];
            if (len == 0) return at + 1;
            if ((len & 0xC0) == 0xC0) return at + 2;
            at += 1 + len;
        }
    }
}
