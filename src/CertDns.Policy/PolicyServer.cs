using System.Net;
using System.Net.Sockets;
using System.Text;

namespace CertDns.Policy;

/// <summary>
/// Postfix policy delegation (SMTPD_POLICY_README, <c>check_policy_service inet:127.0.0.1:10040</c>): reads
/// <c>name=value</c> lines up to an empty line and answers <c>action=...</c>. Uses <c>ccert_fingerprint</c>
/// and <c>ccert_pubkey_fingerprint</c>, which Postfix fills when the client presented a certificate.
/// </summary>
public sealed class PolicyServer(IPEndPoint endpoint, PolicyDecision decision, TimeSpan idleTimeout, Action<string>? log = null)
    : LineServer(endpoint, idleTimeout, log)
{
    /// <summary>Longest attribute line accepted; Postfix's own values are far shorter.</summary>
    public const int MaxLine = 8192;

    /// <summary>Most attributes in one request.</summary>
    public const int MaxAttributes = 256;

    protected override async Task ServeAsync(NetworkStream stream, CancellationToken cancel)
    {
        using var reader = new StreamReader(stream, Encoding.UTF8, false, 4096, leaveOpen: true);
        var attributes = new Dictionary<string, string>(StringComparer.Ordinal);
        while (true)
        {
            using var idle = CancellationTokenSource.CreateLinkedTokenSource(cancel);
            idle.CancelAfter(IdleTimeout);
            var line = await reader.ReadLineAsync(idle.Token).ConfigureAwait(false);
            if (line is null) return;
            if (line.Length > MaxLine) throw new InvalidDataException("policy request line too long");
            if (line.Length > 0)
            {
                var eq = line.IndexOf('=', StringComparison.Ordinal);
                if (eq <= 0) throw new InvalidDataException("policy request line without name=value");
                if (attributes.Count >= MaxAttributes) throw new InvalidDataException("too many attributes");
                attributes[line[..eq]] = line[(eq + 1)..];
                continue;
            }
            // Postfix 3.x sends request=smtpd_access_policy; anything else gets the neutral answer.
            var action = attributes.GetValueOrDefault("request") == "smtpd_access_policy"
                ? await decision.DecideAsync(attributes.GetValueOrDefault("ccert_fingerprint"), attributes.GetValueOrDefault("ccert_pubkey_fingerprint"), cancel).ConfigureAwait(false)
                : "DUNNO";
            var reply = Encoding.UTF8.GetBytes($"action={action}\n\n");
            await stream.WriteAsync(reply, cancel).ConfigureAwait(false);
            attributes.Clear();
        }
    }
}
