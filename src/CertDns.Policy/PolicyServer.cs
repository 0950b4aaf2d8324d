using System.Net;
using System.Net.Sockets;
using System.Text;
using CertDns.Core;

namespace CertDns.Policy;

/// <summary>
/// Postfix policy delegation (SMTPD_POLICY_README, <c>check_policy_service inet:127.0.0.1:10040</c>): reads
/// <c>name=value</c> lines up to an empty line and answers <c>action=...</c>. Uses <c>ccert_fingerprint</c>
/// and <c>ccert_pubkey_fingerprint</c>, which Postfix fills when the client presented a certificate.
/// </summary>
/// <remarks>
/// With <c>stamp</c> (<c>certdns policy --stamp HOST</c>, issue #16) it decides nothing: it answers
/// <c>PREPEND X-CertDns-Client-Cert: HOST; sha256=...</c> (<see cref="PolicyStamp"/>), the trace header a
/// reporter's MTA writes so that its abuse reports name the certificate it saw.
/// </remarks>
public sealed class PolicyServer(IPEndPoint endpoint, PolicyDecision decision, LineServerLimits limits, Action<string>? log = null, string? stamp = null, string stampHeader = PolicyStamp.Header)
    : LineServer(endpoint, limits, log)
{
    /// <summary>With the default connection limits and the given idle timeout.</summary>
    public PolicyServer(IPEndPoint endpoint, PolicyDecision decision, TimeSpan idleTimeout, Action<string>? log = null)
        : this(endpoint, decision, LineServerLimits.Default(idleTimeout), log)
    {
    }

    /// <summary>Longest attribute line accepted; Postfix's own values are far shorter.</summary>
    public const int MaxLine = 8192;

    /// <summary>Most attributes in one request.</summary>
    public const int MaxAttributes = 256;

    protected override async Task ServeAsync(BoundedReader reader, NetworkStream stream, CancellationToken cancel)
    {
        var attributes = new Dictionary<string, string>(StringComparer.Ordinal);
        while (true)
        {
            using var deadline = await NextRequestAsync(reader, cancel).ConfigureAwait(false);
            if (deadline is null) return;
            while (true)
            {
                var bytes = await reader.ReadLineAsync(MaxLine, deadline.Token).ConfigureAwait(false)
                    ?? throw new InvalidDataException("policy request cut short");
                if (bytes.Length == 0) break;
                var line = Encoding.UTF8.GetString(bytes);
                var eq = line.IndexOf('=', StringComparison.Ordinal);
                if (eq <= 0) throw new InvalidDataException("policy request line without name=value");
                if (attributes.Count >= MaxAttributes) throw new InvalidDataException("too many attributes");
                attributes[line[..eq]] = line[(eq + 1)..];
            }
            // Postfix 3.x sends request=smtpd_access_policy; anything else gets the neutral answer.
            var action = attributes.GetValueOrDefault("request") != "smtpd_access_policy" ? "DUNNO"
                : stamp is not null ? PolicyStamp.Action(stamp, attributes.GetValueOrDefault("ccert_fingerprint"), attributes.GetValueOrDefault("ccert_pubkey_fingerprint"), Log, stampHeader)
                : await decision.DecideAsync(attributes.GetValueOrDefault("ccert_fingerprint"), attributes.GetValueOrDefault("ccert_pubkey_fingerprint"), cancel).ConfigureAwait(false);
            // One line per answer whatever the zone's TXT holds: a line break in it would be read by Postfix as
            // the end of this answer and the start of the next one.
            var reply = Encoding.UTF8.GetBytes($"action={SafeText.OneLine(action)}\n\n");
            // The zone lookups may have taken their own timeouts: the reply gets a fresh request timeout to leave.
            deadline.CancelAfter(Limits.RequestTimeout);
            await stream.WriteAsync(reply, deadline.Token).ConfigureAwait(false);
            attributes.Clear();
        }
    }
}
