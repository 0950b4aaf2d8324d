using System.Collections;
using System.Net;

namespace CertDns.Dns;

/// <summary>
/// A list of addresses that a configuration reload can replace while the server reads it (the transfer ACL,
/// <see cref="DnsServerOptions.TransferClients"/>): the addresses are one array published with one reference swap, so
/// a reader sees the old list or the new one, never a mix. A TCP connection keeps the decision made when it was accepted.
/// </summary>
public sealed class LiveAddressList : IReadOnlyCollection<IPAddress>
{
    private volatile IPAddress[] _addresses;

    /// <summary>Starts with <paramref name="addresses"/>.</summary>
    public LiveAddressList(IEnumerable<IPAddress> addresses)
    {
        ArgumentNullException.ThrowIfNull(addresses);
        _addresses = [.. addresses];
    }

    /// <summary>Serves <paramref name="addresses"/> from now on.</summary>
    public void Replace(IEnumerable<IPAddress> addresses)
    {
        ArgumentNullException.ThrowIfNull(addresses);
        _addresses = [.. addresses];
    }

    /// <inheritdoc/>
    public int Count => _addresses.Length;

    /// <inheritdoc/>
    public IEnumerator<IPAddress> GetEnumerator() => ((IEnumerable<IPAddress>)_addresses).GetEnumerator();

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();
}
