namespace CertDns.Dns.Dnssec;

/// <summary>
/// Keeps the served key set current without a restart: at each <see cref="Check"/> (the server runs one at every poll
/// of the store) the key set file is read again when its size or time changed, and the keys are viewed at the clock's
/// time; when what the zone publishes or signs with differs from the view served (a rollover's phase came, or
/// <c>certdns dnssec rollover</c> rewrote the file), <c>changed</c> gets the new view. A file that cannot be read, or
/// that names another zone or has no active key-signing key now, is refused with one line to <c>log</c>, and the
/// served keys stay. Thread-safe.
/// </summary>
public sealed class KeySetWatcher
{
    private readonly string _path;
    private readonly TimeProvider _time;
    private readonly Action<DnssecKeySet, string> _changed;
    private readonly Action<string>? _log;
    private readonly Lock _lock = new();
    private DnssecKeySet _file;
    private (long Length, DateTime Written) _stamp;
    private string? _refused;

    /// <summary>Watches <paramref name="path"/>, whose keys <paramref name="loaded"/> holds and <see cref="Current"/> serves.</summary>
    public KeySetWatcher(string path, DnssecKeySet loaded, TimeProvider time, Action<DnssecKeySet, string> changed, Action<string>? log = null)
    {
        ArgumentNullException.ThrowIfNull(loaded);
        (_path, _time, _changed, _log) = (path, time, changed, log);
        _file = loaded;
        _stamp = Stamp(path);
        Current = loaded.AtTime(time.GetUtcNow());
    }

    /// <summary>The view of the keys served now.</summary>
    public DnssecKeySet Current { get; private set; }

    private static (long, DateTime) Stamp(string path)
    {
        var info = new FileInfo(path);
        return info.Exists ? (info.Length, info.LastWriteTimeUtc) : (-1, default);
    }

    /// <summary>Re-reads the file if it changed and moves to the keys' state now; true when the served keys changed.</summary>
    public bool Check()
    {
        lock (_lock)
        {
            var now = _time.GetUtcNow();
            var stamp = Stamp(_path);
            string? reread = null;
            if (stamp != _stamp)
            {
                try
                {
                    var loaded = DnssecKeySet.Load(_path, now);
                    if (loaded.Zone != _file.Zone) throw new CertDns.Core.BadInputException(_path, $"key set is for {loaded.Zone}, the zone is {_file.Zone}");
                    // The superseded keys are not disposed: an answer being signed may still hold them.
                    _file = loaded;
                    _stamp = stamp;
                    _refused = null;
                    reread = "the key set file changed";
                }
                catch (CertDns.Core.BadInputException e)
                {
                    // Said once per version of the file, not at every poll.
                    string line = $"{e.Message}; the keys served stay";
                    if (line != _refused) _log?.Invoke(line);
                    _refused = line;
                    return false;
                }
            }
            var view = _file.AtTime(now);
            if (view.KeySigningKeys.Count == 0)
            {
                string line = $"{_path}: no active key-signing key at {now.UtcDateTime:yyyy-MM-dd'T'HH:mm:ss'Z'}; the keys served stay";
                if (line != _refused) _log?.Invoke(line);
                _refused = line;
                return false;
            }
            if (view.Signature == Current.Signature) return false;
            Current = view;
            // Inside the lock: two checks at once (a slow poll) must not hand the keys over out of order.
            _changed(view, $"DNSSEC keys: {reread ?? "a rollover phase came"}, now {view.Signature}");
            return true;
        }
    }
}
