using System.Net;
using System.Net.Sockets;

namespace CertDns.Dns.Tests;

/// <summary>
/// What counts as a NOTIFY's acknowledgement (RFC 1996 section 4.7, RFC 8945): a secondary on a loopback socket of the
/// test's own answers each NOTIFY the way a confused or spoofing peer might; only a real acknowledgement ends the wait.
/// </summary>
public sealed class NotifyTests : IDisposable
{
    private readonly UdpClient _secondary = new(new IPEndPoint(IPAddress.Loopback, 0));
    private readonly UdpClient _elsewhere = new(new IPEndPoint(IPAddress.Loopback, 0));
    private readonly Zone _zone = new(new ZoneOptions());
    private int _notifies;

    public void Dispose()
    {
        _secondary.Dispose();
        _elsewhere.Dispose();
    }

    private IPEndPoint Address => (IPEndPoint)_secondary.Client.LocalEndPoint!;

    /// <summary>Answers every NOTIFY that arrives with what <paramref name="reply"/> makes of it, from <paramref name="from"/>.</summary>
    private void Answer(Func<byte[], byte[]> reply, UdpClient? from = null) => _ = Task.Run(async () =>
    {
        try
        {
            while (true)
            {
                var got = await _secondary.ReceiveAsync();
                Interlocked.Increment(ref _notifies);
                await (from ?? _secondary).SendAsync(reply(got.Buffer), got.RemoteEndPoint);
            }
        }
        catch (ObjectDisposedException)
        {
        }
        catch (SocketException)
        {
        }
    });

    /// <summary>The NOTIFY turned into its proper acknowledgement: QR set, the question kept, the SOA dropped.</summary>
    private static byte[] Acknowledgement(byte[] notify)
    {
        // The apex's labels have no zero octet: the first one from offset 12 ends the name; type and class follow.
        int questionEnd = Array.IndexOf(notify, (byte)0, 12) + 1 + 4;
        var ack = notify[..questionEnd];
        ack[2] |= 0x80;
        ack[6] = ack[7] = 0;
        return ack;
    }

    [Fact]
    public async Task NotifyAsync_ReplyWithSameIdButOpcodeQuery_NotAcknowledged()
    {
        // Regression: any datagram starting with the NOTIFY's ID counted as its acknowledgement.
        Answer(n => [n[0], n[1], 0x80, 0x00, 0, 0, 0, 0, 0, 0, 0, 0]);

        bool acknowledged = await ZoneTransfer.NotifyAsync(Address, _zone, 7);

        Assert.False(acknowledged);
        // RFC 1996 section 3.6: without an acknowledgement the NOTIFY is sent again.
        Assert.Equal(3, Volatile.Read(ref _notifies));
    }

    [Fact]
    public async Task Notify_ProperAcknowledgement_Acknowledged()
    {
        Answer(Acknowledgement);

        var result = await Notify.SendAsync(new NotifyTarget(Address, null), _zone, 7, attempts: 3, wait: TimeSpan.FromSeconds(5));

        Assert.True(result.Acknowledged, result.Why);
        Assert.Equal(1, Volatile.Read(ref _notifies));
    }

    [Fact]
    public async Task Notify_AcknowledgementFromAnotherPort_NotAcknowledged()
    {
        Answer(Acknowledgement, from: _elsewhere);

        var result = await Notify.SendAsync(new NotifyTarget(Address, null), _zone, 7, attempts: 2, wait: TimeSpan.FromMilliseconds(500));

        Assert.False(result.Acknowledged);
        Assert.Contains("not from", result.Why);
    }

    [Theory]
    [InlineData("question")]
    [InlineData("qr")]
    [InlineData("rcode")]
    [InlineData("id")]
    public async Task Notify_AcknowledgementWrongInOnePart_NotAcknowledged(string part)
    {
        Answer(n =>
        {
            var ack = Acknowledgement(n);
            switch (part)
            {
                case "question": ack[13] ^= 0x01; break;
                case "qr": ack[2] &= 0x7F; break;
                case "rcode": ack[3] = 5; break;
                case "id": ack[1] ^= 0xFF; break;
            }
            return ack;
        });

        var result = await Notify.SendAsync(new NotifyTarget(Address, null), _zone, 7, attempts: 2, wait: TimeSpan.FromMilliseconds(500));

        Assert.False(result.Acknowledged);
        Assert.Equal(2, Volatile.Read(ref _notifies));
    }

    [Fact]
    public async Task Notify_SignedButAcknowledgementUnsigned_NotAcknowledged()
    {
        Answer(n => { var ack = Acknowledgement(n); ack[10] = ack[11] = 0; return ack; });
        var key = new TsigKey("notify.example", TsigAlgorithm.HmacSha256, new byte[32]);

        var result = await Notify.SendAsync(new NotifyTarget(Address, key), _zone, 7, attempts: 1, wait: TimeSpan.FromMilliseconds(500));

        Assert.False(result.Acknowledged);
        Assert.Contains("unsigned", result.Why);
    }
}
