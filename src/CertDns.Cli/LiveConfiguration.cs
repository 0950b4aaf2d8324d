using CertDns.Core;
using CertDns.Dns;
using CertDns.Server;

namespace CertDns.Cli;

/// <summary>
/// Applies a reloaded configuration's live keys to the running server: the zone (swapped whole in the responder, then a
/// new serial and NOTIFY, as for any change of what the zone publishes), the transfer ACL, the secondaries, the poll
/// interval and the time-change interval. Restart keys reach it unchanged (<see cref="Server.Configuration.ConfigKeys"/>).
/// </summary>
internal sealed class LiveConfiguration(ServeSettings start, DnsResponder responder, LiveAddressList transferClients,
    SecondaryNotifier notifier, StoreWatcher watcher, ZoneJournal? journal = null)
{
    private ServeSettings _current = start;

    /// <summary>Applies <paramref name="next"/>; returns the new serial's line when the zone changed, else null.</summary>
    /// <exception cref="BadInputException">The zone refuses the new identity; nothing was changed.</exception>
    public string? Apply(ServeSettings next)
    {
        bool zoneChanged = !SameZone(_current.Zone, next.Zone);
        var zone = responder.Zone;
        if (zoneChanged)
        {
            try
            {
                // Checked and built before the swap: a refused zone leaves the old one served.
                zone = responder.UseZone(next.Zone);
                // A signed zone's transfers are signed from the new zone's records.
                responder.TransferSigner?.Use(zone);
            }
            catch (ArgumentException e)
            {
                throw new BadInputException(next.Reconfigure?.File.Path ?? "configuration", e.Message.Split(" (Parameter", 2)[0]);
            }
        }
        transferClients.Replace(next.Server.TransferClients);
        notifier.Use(next.Secondaries, zone);
        watcher.Interval = next.Poll;
        watcher.TimeChanges = next.AdvanceEvery;
        _current = next;
        if (!zoneChanged) return null;
        // The journal holds certificate records only: an apex or name-form change is no step of it. It takes the new
        // zone's names, and the serial advance below empties it there, so older secondaries transfer the whole zone.
        journal?.Use(next.Zone);
        // The zone's records changed under the same data: secondaries transfer again only for a newer serial.
        return watcher.AdvanceSerial("the zone's name servers, SOA fields or TTLs changed");
    }

    /// <summary>Whether two zones publish the same records (record equality would compare the lists by reference).</summary>
    internal static bool SameZone(ZoneOptions a, ZoneOptions b) =>
        a.Apex == b.Apex && a.NameServers.SequenceEqual(b.NameServers) && a.Hostmaster == b.Hostmaster
        && Glue(a) == Glue(b)
        && (a.Refresh, a.Retry, a.Expire, a.Minimum, a.ApexTtl, a.MaxTtl, a.UdpPayloadSize, a.Forms)
            == (b.Refresh, b.Retry, b.Expire, b.Minimum, b.ApexTtl, b.MaxTtl, b.UdpPayloadSize, b.Forms);

    private static string Glue(ZoneOptions o) =>
        string.Join(";", o.Glue.OrderBy(g => g.Key, StringComparer.OrdinalIgnoreCase).Select(g => $"{g.Key.ToLowerInvariant()}={string.Join(",", g.Value)}"));
}
