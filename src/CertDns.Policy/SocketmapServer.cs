using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace CertDns.Policy;

/// <summary>
/// Postfix socketmap lookup tables (socketmap_table(5), <c>check_ccert_access socketmap:inet:127.0.0.1:10041:cert</c>):
/// netstring requests <c>name key</c>, netstring replies <c>OK action</c>, <c>NOTFOUND </c> or <c>TEMP reason</c>.
/// The map name says what the key is: <c>cert</c> (certificate fingerprint) or <c>pubkey</c>.
/// </summary>
public sealed class SocketmapServer(IPEndPoint endpoint, PolicyDecision decision, TimeSpan idleTimeout, Action<string>? log = null)
    : LineServer(endpoint, idleTimeout, log)
{
    /// <summary>socketmap_table(5): requests are at most 100000 bytes.</summary>
    public const int MaxRequest = 100_000;

    protected override async Task ServeAsync(NetworkStream stream, CancellationToken cancel)
    {
        while (true)
        {
            using var idle = CancellationTokenSource.CreateLinkedTokenSource(cancel);
            idle.CancelAfter(IdleTimeout);
            var request = await ReadNetstringAsync(stream, idle.Token).ConfigureAwait(false);
            if (request is null) return;
            var space = request.IndexOf(' ', StringComparison.Ordinal);
            string reply;
            if (space <= 0)
            {
                reply = "PERM request is not 'name key'";
            }
            else
            {
                var map = request[..space];
                var key = request[(space + 1)..];
                var action = map switch
                {
                    "cert" => await decision.DecideAsync(key, null, cancel).ConfigureAwait(false),
                    "pubkey" => await decision.DecideAsync(null, key, cancel).ConfigureAwait(false),
                    _ => null,
                };
                reply = action switch
                {
                    null => $"PERM unknown map '{map}' (use cert or pubkey)",
                    "DUNNO" => "NOTFOUND ",
                    _ when action.StartsWith("DEFER", StringComparison.Ordinal) => "TEMP certificate status temporarily unavailable",
                    _ => "OK " + action,
                };
            }
            var bytes = Encoding.UTF8.GetBytes(reply);
            var frame = Encoding.ASCII.GetBytes(bytes.Length.ToString(CultureInfo.InvariantCulture) + ":");
            await stream.WriteAsync(frame, cancel).ConfigureAwait(false);
            await stream.WriteAsync(bytes, cancel).ConfigureAwait(false);
            await stream.WriteAsync(","u8.ToArray(), cancel).ConfigureAwait(false);
        }
    }

    /// <summary>Reads one netstring (<c>len:data,</c>); null at a clean end of stream.</summary>
    private static async Task<string?> ReadNetstringAsync(Stream stream, CancellationToken cancel)
    {
        var one = new byte[1];
        int length = 0, digits = 0;
        while (true)
        {
            if (await stream.ReadAsync(one, cancel).ConfigureAwait(false) == 0)
                return digits == 0 ? null : throw new InvalidDataException("netstring cut short");
            if (one[0] == ':') break;
            if (one[0] is < (byte)'0' or > (byte)'9' || ++digits > 6) throw new InvalidDataException("bad netstring length");
            length = length * 10 + (one[0] - '0');
        }
        if (digits == 0 || length > MaxRequest) throw new InvalidDataException("bad netstring length");
        var data = new byte[length + 1];
        await stream.ReadExactlyAsync(data, cancel).ConfigureAwait(false);
        if (data[^1] != ',') throw new InvalidDataException("netstring without its comma");
        return Encoding.UTF8.GetString(data, 0, length);
    }
}
