using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;

namespace CertDns.Dns;

/// <summary>A secondary to NOTIFY: where, and the TSIG key to sign with (null: unsigned).</summary>
/// <param name="Address">The secondary's address and port.</param>
/// <param name="Key">The key of its <c>[[notify]]</c> entry, or null.</param>
public sealed record NotifyTarget(IPEndPoint Address, TsigKey? Key)
{
    /// <summary>The address and, when signed, the key's name (never its secret).</summary>
    public override string ToString() => Key is null ? Address.ToString() : $"{Address} (key {Key.Name})";
}

/// <summary>How a NOTIFY ended: acknowledged, or why not (the last reply that did not count, or no reply).</summary>
/// <param name="Acknowledged">A valid acknowledgement came.</param>
/// <param name="Why">Why not, when not.</param>
public sealed record NotifyResult(bool Acknowledged, string Why);

/// <summary>
/// NOTIFY (RFC 1996) to one secondary over UDP, signed with its key when it has one (RFC 8945), retried until a valid
/// acknowledgement comes (section 3.6). A reply counts only when it comes from the address and port the NOTIFY went to,
/// has its ID, QR and opcode NOTIFY, NOERROR, echoes the question (the apex, SOA, IN), and, for a signed NOTIFY, carries a
/// TSIG by the same key over our MAC that verifies. Anything else is ignored and the wait goes on.
/// </summary>
public static class Notify
{
    /// <summary>Sends the NOTIFY for <paramref name="serial"/> and waits for its acknowledgement.</summary>
    /// <param name="target">The secondary and its key.</param>
    /// <param name="zone">The zone named in the NOTIFY.</param>
    /// <param name="serial">The SOA serial sent along as a hint (section 3.7).</param>
    /// <param name="attempts">How many times to send it (RFC 1996 section 3.6 leaves the count to the operator).</param>
    /// <param name="wait">How long each attempt waits for the acknowledgement.</param>
    /// <param name="time">The clock the TSIG is signed and checked with.</param>
    /// <param name="cancel">Stops the wait.</param>
    public static async Task<NotifyResult> SendAsync(NotifyTarget target, Zone zone, uint serial, int attempts = 3, TimeSpan? wait = null,
        TimeProvider? time = null, CancellationToken cancel = default)
    {
        ArgumentNullException.ThrowIfNull(target);
        ArgumentNullException.ThrowIfNull(zone);
        time ??= TimeProvider.System;
        var each = wait ?? TimeSpan.FromSeconds(2);
        var id = (ushort)Random.Shared.Next(ushort.MaxValue + 1);
        var question = new List<byte>(zone.ApexWire) { 0, 6, 0, 1 };
        var message = new List<byte>();
        message.AddRange([(byte)(id >> 8), (byte)id, 0x24, 0x00, 0, 1, 0, 1, 0, 0, 0, 0]); // opcode NOTIFY, AA; QD 1, AN 1
        message.AddRange(question);
        // The answer section may carry the new SOA (RFC 1996 section 3.7): a hint, the secondary still asks.
        message.AddRange(zone.ApexWire);
        var soa = zone.Soa(serial);
        var record = new byte[10 + soa.Rdata.Length];
        soa.WriteAfterOwner(record, 0);
        message.AddRange(record);

        using var udp = new UdpClient(target.Address.AddressFamily);
        string why = "no answer";
        for (int attempt = 0; attempt < attempts; attempt++)
        {
            // Signed afresh each time: a retry an hour of backoff later must still be within the fudge.
            var (payload, mac) = Sign([.. message], target.Key, time);
            await udp.SendAsync(payload, target.Address, cancel).ConfigureAwait(false);
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancel);
            timeout.CancelAfter(each);
            try
            {
                while (true)
                {
                    var reply = await udp.ReceiveAsync(timeout.Token).ConfigureAwait(false);
                    var problem = Check(reply, target, id, [.. question], mac, time.GetUtcNow().ToUnixTimeSeconds());
                    if (problem is null) return new NotifyResult(true, "");
                    why = problem;
                }
            }
            catch (OperationCanceledException) when (!cancel.IsCancellationRequested)
            {
            }
            catch (SocketException)
            {
                // ICMP port unreachable: the secondary is not up (yet); try again.
                why = "port unreachable";
            }
        }
        return new NotifyResult(false, why);
    }

    private static (byte[] Payload, byte[] Mac) Sign(byte[] message, TsigKey? key, TimeProvider time)
    {
        if (key is null) return (message, []);
        var buffer = new byte[message.Length + Tsig.MaxRecordLength(key)];
        message.CopyTo(buffer, 0);
        ulong now = (ulong)time.GetUtcNow().ToUnixTimeSeconds();
        Span<byte> mac = stackalloc byte[64];
        ushort id = BinaryPrimitives.ReadUInt16BigEndian(message);
        int macLength = Tsig.Compute(key, [], message, 0, id, timersOnly: false, now, Tsig.Fudge, 0, [], mac);
        int length = Tsig.Append(buffer, message.Length, key.NameWire, key.AlgorithmWire, now, mac[..macLength], id, 0, []);
        return (buffer[..length], mac[..macLength].ToArray());
    }

    /// <summary>Why <paramref name="reply"/> is no acknowledgement of our NOTIFY, or null when it is one.</summary>
    private static string? Check(UdpReceiveResult reply, NotifyTarget target, ushort id, byte[] question, byte[] requestMac, long now)
    {
        var m = reply.Buffer.AsSpan();
        var from = reply.RemoteEndPoint;
        var fromAddress = from.Address.IsIPv4MappedToIPv6 ? from.Address.MapToIPv4() : from.Address;
        var toAddress = target.Address.Address.IsIPv4MappedToIPv6 ? target.Address.Address.MapToIPv4() : target.Address.Address;
        if (!fromAddress.Equals(toAddress) || from.Port != target.Address.Port) return $"a reply from {from}, not from {target.Address}";
        if (m.Length < DnsQuery.HeaderLength) return "a reply shorter than a header";
        if (BinaryPrimitives.ReadUInt16BigEndian(m) != id) return "a reply with another ID";
        if ((m[2] & 0x80) == 0) return "a query, not a reply";
        if (((m[2] >> 3) & 0xF) != 4) return $"a reply with opcode {(m[2] >> 3) & 0xF}, not NOTIFY";
        int rcode = m[3] & 0x0F;
        // A refusal (NOTAUTH for a key the secondary does not share) says so, with its TSIG error when it carries one.
        if (rcode != 0) return $"answered {RcodeName(rcode)}{(Tsig.ErrorOf(m) is { } error ? $" ({error})" : "")}";
        if (BinaryPrimitives.ReadUInt16BigEndian(m[4..]) != 1 || m.Length < DnsQuery.HeaderLength + question.Length
            || !AsciiEqualsIgnoreCase(m.Slice(DnsQuery.HeaderLength, question.Length), question))
            return "a reply that does not echo the question";
        if (target.Key is { } key && !Tsig.VerifyResponse(m, key, requestMac, now, out var why)) return $"an acknowledgement whose TSIG is {why}";
        return null;
    }

    private static string RcodeName(int rcode) => rcode switch
    {
        1 => "FORMERR",
        2 => "SERVFAIL",
        4 => "NOTIMP",
        5 => "REFUSED",
        9 => "NOTAUTH",
        _ => $"rcode {rcode}",
    };

    private static bool AsciiEqualsIgnoreCase(ReadOnlySpan<byte> a, ReadOnlySpan<byte> b)
    {
        for (int i = 0; i < a.Length; i++)
        {
            int x = a[i] is >= (byte)'A' and <= (byte)'Z' ? a[i] + 32 : a[i];
            int y = b[i] is >= (byte)'A' and <= (byte)'Z' ? b[i] + 32 : b[i];
            if (x != y) return false;
        }
        return true;
    }
}
