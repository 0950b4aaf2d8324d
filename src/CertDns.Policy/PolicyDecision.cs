using CertDns.Core;

namespace CertDns.Policy;

/// <summary>How the policy service behaves when the zone cannot be asked.</summary>
public enum FailureMode
{
    /// <summary>Let mail through (DUNNO): a DNS outage must not stop mail. The default, as for DNSBLs.</summary>
    Open,
    /// <summary>Defer (4xx): nothing passes unchecked; the client retries later.</summary>
    Closed,
}

/// <summary>
/// Turns a Postfix client-certificate fingerprint into an access(5) action, shared by the policy delegation
/// and socketmap front ends.
/// </summary>
public sealed class PolicyDecision(ZoneClient zone, FailureMode failure, Action<string>? log = null)
{
    /// <summary>The action for a fingerprint given as Postfix prints it (colon-separated hex), or null when none.</summary>
    /// <returns><c>REJECT ...</c>, <c>DEFER_IF_PERMIT ...</c> or <c>DUNNO</c>.</returns>
    public async Task<string> DecideAsync(string? certFingerprint, string? keyFingerprint, CancellationToken cancel = default)
    {
        try
        {
            foreach (var (text, isKey) in new[] { (certFingerprint, false), (keyFingerprint, true) })
            {
                if (string.IsNullOrWhiteSpace(text)) continue;
                var digest = Parse(text);
                var answer = await zone.LookupAsync(digest, isKey, cancel).ConfigureAwait(false);
                // Only the block family refuses mail; valid, stale, untrusted and expired are the MTA's TLS policy.
                if (answer.Status is CertStatus.Revoked or CertStatus.Blocked or CertStatus.Hold)
                {
                    var reason = answer.Text ?? StatusCodes.Name(answer.Status);
                    log?.Invoke(SafeText.OneLine($"REJECT {(isKey ? "key" : "certificate")} {text}: {reason}"));
                    return $"REJECT 5.7.1 TLS client {(isKey ? "key" : "certificate")} {StatusCodes.Name(answer.Status)}: {reason}";
                }
            }
            return "DUNNO";
        }
        catch (BadInputException e)
        {
            log?.Invoke(SafeText.OneLine($"ignored malformed fingerprint: {e.Message}"));
            return "DUNNO";
        }
        catch (Exception e) when (e is ZoneUnavailableException or OperationCanceledException or System.Net.Sockets.SocketException)
        {
            log?.Invoke($"zone unavailable ({e.Message}); failing {(failure == FailureMode.Open ? "open" : "closed")}");
            return failure == FailureMode.Open ? "DUNNO" : "DEFER_IF_PERMIT 4.7.0 certificate status temporarily unavailable";
        }
    }

    /// <summary>Postfix's ccert_fingerprint: upper-case hex bytes joined by colons (plain hex is taken too).</summary>
    public static byte[] Parse(string fingerprint)
    {
        var hex = fingerprint.Trim().Replace(":", "", StringComparison.Ordinal);
        if (hex.Length is not (64 or 40 or 32) || !Hex.IsHex(hex))
            throw new BadInputException(fingerprint, "not a SHA-256, SHA-1 or MD5 fingerprint");
        return Convert.FromHexString(hex);
    }
}
