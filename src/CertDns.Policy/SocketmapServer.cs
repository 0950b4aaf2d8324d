using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using CertDns.Core;

namespace CertDns.Policy;

/// <summary>
/// Postfix socketmap lookup tables (socketmap_table(5), <c>check_ccert_access socketmap:inet:127.0.0.1:10041:cert</c>):
/// netstring requests <c>name key</c>, netstring replies <c>OK action</c>, <c>NOTFOUND </c> or <c>TEMP reason</c>.
/// The map name says what the key is: <c>cert</c> (certificate fingerprint) or <c>pubkey</c>.
/// </summary>
public sealed class SocketmapServer(IPEndPoint endpoint, PolicyDecision decision, LineServerLimits limits, Action<string>? log = null)
    : LineServer(endpoint, limits, log)
{
    /// <summary>With the default connection limits and the given idle timeout.</summary>
    public SocketmapServer(IPEndPoint endpoint, PolicyDecision decision, TimeSpan idleTimeout, Action<string>? log = null)
        : this(endpoint, decision, LineServerLimits.Default(idleTimeout), log)
    {
    }

    /// <summary>socketmap_table(5): requests are at most 100000 bytes.</summary>
    public const int MaxRequest = 100_000;

    protected override async Task ServeAsync(BoundedReader reader, NetworkStream stream, CancellationToken cancel)
    {
        while (true)
        {
            using var deadline = await NextRequestAsync(reader, cancel).ConfigureAwait(false);
            if (deadline is null) return;
            var request = await ReadNetstringAsync(reader, deadline.Token).ConfigureAwait(false)
                ?? throw new InvalidDataException("netstring cut short");
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
            // The netstring frames the reply, but Postfix hands the action on to SMTP as one line: no control characters.
            var bytes = Encoding.UTF8.GetBytes(SafeText.OneLine(reply));
            // The zone lookups may have taken their own timeouts: the reply gets a fresh request timeout to leave.
            deadline.CancelAfter(Limits.RequestTimeout);
            var frame = Encoding.ASCII.GetBytes(bytes.Length.ToString(CultureInfo.InvariantCulture) + ":");
            await stream.WriteAsync(frame, deadline.Token).ConfigureAwait(false);
            await stream.WriteAsync(bytes, deadline.Token).ConfigureAwait(false);
            await stream.WriteAsync(","u8.ToArray(), deadline.Token).ConfigureAwait(false);
        }
    }

    /// <summary>Reads one netstring (<c>len:data,</c>); null at a clean end of stream. The length is checked before the data is read.</summary>
    private static async Task<string?> ReadNetstringAsync(BoundedReader reader, CancellationToken cancel)
    {
        int length = 0, digits = 0;
        while (true)
        {
            var b = await reader.ReadByteAsync(cancel).ConfigureAwait(false);
            if (b < 0) return digits == 0 ? null : throw new InvalidDataException("netstring cut short");
            if (b == ':') break;
            if (b is < '0' or > '9' || ++digits > 6) throw new InvalidDataException("bad netstring length");
            length = length * 10 + (b - '0');
        }
        if (digits == 0 || length > MaxRequest) throw new InvalidDataException("bad netstring length");
        var data = await reader.ReadExactlyAsync(length + 1, cancel).ConfigureAwait(false);
        if (data[^1] != ',') throw new InvalidDataException("netstring without its comma");
        return Encoding.UTF8.GetString(data, 0, length);
    }
}
