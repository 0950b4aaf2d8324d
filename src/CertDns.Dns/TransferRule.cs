using System.Net;

namespace CertDns.Dns;

/// <summary>
/// Who may transfer the zone: clients in <see cref="Network"/>, and, when <see cref="Key"/> is set, only with a request
/// signed by that key (RFC 8945; <c>[[transfer]]</c> in certdns.toml). An address some rule with a key covers needs one
/// of those keys: a keyless rule for the same address does not open it.
/// </summary>
/// <param name="Network">The address or prefix (a single address is a /32 or /128).</param>
/// <param name="Key">The TSIG key a request must be signed with, or null for the address alone.</param>
public sealed record TransferRule(IPNetwork Network, TsigKey? Key)
{
    /// <summary>Whether <paramref name="client"/> (signed with <paramref name="key"/>, or null when unsigned) may transfer.</summary>
    public static bool Allows(IReadOnlyList<TransferRule> rules, IPAddress client, TsigKey? key)
    {
        ArgumentNullException.ThrowIfNull(rules);
        ArgumentNullException.ThrowIfNull(client);
        bool keyed = false, open = false;
        foreach (var rule in rules)
        {
            if (!rule.Network.Contains(client)) continue;
            if (rule.Key is null)
            {
                open = true;
                continue;
            }
            keyed = true;
            if (key is not null && rule.Key.Name == key.Name && rule.Key.Algorithm == key.Algorithm) return true;
        }
        return !keyed && open;
    }

    /// <summary>Whether any rule covers <paramref name="client"/>: it may take the TCP slots held for secondaries.</summary>
    public static bool Covers(IReadOnlyList<TransferRule> rules, IPAddress client)
    {
        ArgumentNullException.ThrowIfNull(rules);
        foreach (var rule in rules)
        {
            if (rule.Network.Contains(client)) return true;
        }
        return false;
    }
}
