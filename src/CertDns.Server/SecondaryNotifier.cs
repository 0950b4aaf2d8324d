using System.Net;
using CertDns.Core;
using CertDns.Dns;

namespace CertDns.Server;

/// <summary>
/// RFC 1996: tells each secondary that the zone's serial moved; they check our SOA and transfer. Each NOTIFY runs on
/// its own, so a secondary that is down delays neither the others nor the next reload. A NOTIFY to a secondary with a key
/// is signed with it (RFC 8945) and counts as acknowledged only when the answer verifies (<see cref="Dns.Notify"/>).
/// </summary>
/// <param name="secondaries">Where to send NOTIFY, each with its key or none.</param>
/// <param name="zone">The zone named in the NOTIFY and its SOA.</param>
/// <param name="log">One line per NOTIFY, acknowledged or not.</param>
public sealed class SecondaryNotifier(IReadOnlyList<NotifyTarget> secondaries, Zone zone, Action<string>? log = null)
{
    private long _acknowledged, _failed;
    // Who to tell and what: swapped whole by a configuration reload, read once per NOTIFY round.
    private volatile Targets _targets = new([.. secondaries], zone);

    private sealed record Targets(IReadOnlyList<NotifyTarget> Secondaries, Zone Zone);

    /// <summary>From the next NOTIFY on, tells <paramref name="newSecondaries"/> about <paramref name="newZone"/> (a configuration reload).</summary>
    public void Use(IReadOnlyList<NotifyTarget> newSecondaries, Zone newZone)
    {
        ArgumentNullException.ThrowIfNull(newSecondaries);
        ArgumentNullException.ThrowIfNull(newZone);
        _targets = new Targets([.. newSecondaries], newZone);
    }

    /// <summary>Unsigned NOTIFYs to <paramref name="secondaries"/> (server.notify, <c>--notify</c>).</summary>
    public SecondaryNotifier(IReadOnlyList<IPEndPoint> secondaries, Zone zone, Action<string>? log = null)
        : this([.. (secondaries ?? throw new ArgumentNullException(nameof(secondaries))).Select(s => new NotifyTarget(s, null))], zone, log)
    {
    }

    /// <summary>NOTIFYs the secondaries acknowledged so far.</summary>
    public long Acknowledged => Interlocked.Read(ref _acknowledged);

    /// <summary>NOTIFYs not acknowledged or failed so far.</summary>
    public long Failed => Interlocked.Read(ref _failed);

    /// <summary>Whether there is anyone to notify.</summary>
    public bool Any => _targets.Secondaries.Count > 0;

    /// <summary>Sends NOTIFY for <paramref name="snapshot"/>'s serial to every secondary, without waiting.</summary>
    public void Notify(StatusSnapshot snapshot)
    {
        ArgumentNullException.ThrowIfNull(snapshot);
        var (secondaries, zone) = _targets;
        foreach (var secondary in secondaries)
        {
            _ = Task.Run(async () =>
            {
                try
                {
                    var result = await Dns.Notify.SendAsync(secondary, zone, snapshot.Serial).ConfigureAwait(false);
                    Interlocked.Increment(ref result.Acknowledged ? ref _acknowledged : ref _failed);
                    // The target prints its key's name, never the secret.
                    log?.Invoke(result.Acknowledged ? $"notified {secondary} of serial {snapshot.Serial}" : $"NOTIFY to {secondary} not acknowledged: {result.Why}");
                }
                catch (Exception e)
                {
                    Interlocked.Increment(ref _failed);
                    log?.Invoke($"NOTIFY to {secondary} failed: {e.Message}");
                }
            });
        }
    }
}
