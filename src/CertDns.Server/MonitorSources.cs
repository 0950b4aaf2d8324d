using CertDns.Core;
using CertDns.Dns;

namespace CertDns.Server;

/// <summary>What the monitoring endpoint reads: the live server's counters and a way to summarise the store.</summary>
public sealed class MonitorSources
{
    /// <summary>The zone's apex.</summary>
    public required string Zone { get; init; }

    /// <summary>The store file: /healthz opens it read-only.</summary>
    public required string StorePath { get; init; }

    /// <summary>The served snapshot.</summary>
    public required SnapshotHolder Snapshots { get; init; }

    /// <summary>The answer path's counters.</summary>
    public required QueryCounters Queries { get; init; }

    /// <summary>Open TCP connections now.</summary>
    public required Func<int> TcpConnections { get; init; }

    /// <summary>The watcher (snapshot load time and age).</summary>
    public required StoreWatcher Watcher { get; init; }

    /// <summary>NOTIFY outcomes, when there are secondaries.</summary>
    public SecondaryNotifier? Notifier { get; init; }

    /// <summary>TSIG outcomes of requests (RFC 8945): signed answers, BADKEY, BADSIG, BADTIME refusals; null without.</summary>
    public Func<(long Signed, long BadKey, long BadSig, long BadTime)>? Tsig { get; init; }
    /// <summary>The dnstap query log's writer, when it is on.</summary>
    public Dnstap.DnstapWriter? Dnstap { get; init; }

    /// <summary>Recent reloads and refusals.</summary>
    public required ReloadHooks Reloads { get; init; }

    /// <summary>Summarises the store for the served snapshot (CAs, counts, complaints); opens the store read-only.</summary>
    public required Func<StatusSnapshot, DateTimeOffset, StatusReport> Report { get; init; }

    /// <summary>The clock.</summary>
    public TimeProvider Time { get; init; } = TimeProvider.System;
}
