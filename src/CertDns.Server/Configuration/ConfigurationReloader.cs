using CertDns.Core;

namespace CertDns.Server.Configuration;

/// <summary>
/// SIGHUP's configuration reload: reads the <c>--config</c> file again and hands the server the new values of its live
/// keys (<see cref="ConfigKeys"/>). A bad file (not TOML, an unknown key, a bad value, a zone identity the zone refuses)
/// is refused with its <c>FILE:LINE: KEY: reason</c> and nothing changes. A changed restart key is logged, one line per
/// key, as needing a restart, and its old value stays in what is applied. A key whose serve flag was typed keeps the
/// flag's value (flags win over the file, also after a reload).
/// </summary>
public sealed class ConfigurationReloader : IReloadable
{
    private readonly Func<string, bool> _flagGiven;
    private readonly Func<CertDnsConfig, string?> _apply;
    private readonly Action<string>? _log;
    private readonly object _gate = new();
    private CertDnsConfig _current;

    /// <summary>Prepares the reload of the file <paramref name="current"/> was read from.</summary>
    /// <param name="current">The configuration in use (its <see cref="CertDnsConfig.Path"/> is read again on each reload).</param>
    /// <param name="flagGiven">Whether a serve flag (<c>--ns</c>) was typed, so its key's value in the file is not used.</param>
    /// <param name="apply">
    /// Applies a new configuration (restart keys already reset to the values in use): resolves it with the flags and
    /// swaps the live parts in, returning a line to add (a new serial) or null. It throws a <see cref="BadInputException"/>
    /// to refuse, having changed nothing.
    /// </param>
    /// <param name="log">One line per changed restart key ("needs a restart, still using ...").</param>
    public ConfigurationReloader(CertDnsConfig current, Func<string, bool> flagGiven, Func<CertDnsConfig, string?> apply, Action<string>? log = null)
    {
        ArgumentNullException.ThrowIfNull(current);
        ArgumentNullException.ThrowIfNull(flagGiven);
        ArgumentNullException.ThrowIfNull(apply);
        (_current, _flagGiven, _apply, _log) = (current, flagGiven, apply, log);
    }

    /// <inheritdoc/>
    public string Name => "configuration";

    /// <summary>The configuration in use: the last one applied, restart keys as at start.</summary>
    public CertDnsConfig Current
    {
        get { lock (_gate) return _current; }
    }

    /// <summary>Reads the file again and applies it; throws (a <see cref="BadInputException"/>) to refuse, keeping the old one.</summary>
    public string Reload()
    {
        lock (_gate)
        {
            var old = _current;
            var read = CertDnsConfigLoader.Load(old.Path);
            var changed = ConfigKeys.All.Where(k => k.Text(old) != k.Text(read)).ToList();
            bool Overridden(ConfigKey k) => k.Flag is { } flag && _flagGiven(flag);
            var restart = changed.Where(k => k.Reload == ReloadKind.Restart && !Overridden(k)).ToList();
            var live = changed.Where(k => k.Reload == ReloadKind.Live && !Overridden(k)).ToList();
            var overridden = changed.Where(Overridden).ToList();

            // What a restart alone may change stays as it is in use; everything else is the new file's.
            var next = ConfigKeys.RestartKeys.Aggregate(read, (c, k) => k.Keep!(c, old));
            var applied = _apply(next);
            _current = next;

            foreach (var k in restart)
                _log?.Invoke($"{old.Path}: {k.Name} changed{(k.Secret ? "" : $" to {k.Text(read) ?? "its default"}")}: needs a restart, still using {(k.Secret ? "the old value" : k.Text(old) ?? "the default")}");

            var parts = new List<string> { live.Count == 0 ? "no live key changed" : $"changed {string.Join(", ", live.Select(k => k.Name))}" };
            if (restart.Count > 0) parts.Add($"needs a restart for {string.Join(", ", restart.Select(k => k.Name))}");
            if (overridden.Count > 0) parts.Add($"the command line overrides {string.Join(", ", overridden.Select(k => $"{k.Name} ({k.Flag})"))}");
            if (applied is { Length: > 0 }) parts.Add(applied);
            return $"configuration reloaded from {old.Path}: {string.Join("; ", parts)}";
        }
    }
}
