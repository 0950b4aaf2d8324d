namespace CertDns.Core;

/// <summary>
/// Holds the snapshot being served. Readers take <see cref="Current"/> once per query; a writer publishes a
/// fully built replacement with one reference swap, so no reader ever sees a half-applied change.
/// </summary>
public sealed class SnapshotHolder(StatusSnapshot initial)
{
    private StatusSnapshot _current = initial;

    /// <summary>The snapshot to answer from.</summary>
    public StatusSnapshot Current => Volatile.Read(ref _current);

    /// <summary>Replaces the served snapshot.</summary>
    public void Publish(StatusSnapshot next) => Volatile.Write(ref _current, next);
}
