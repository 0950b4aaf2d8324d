namespace CertDns.Server;

/// <summary>
/// Something SIGHUP reloads: the configuration file (<see cref="Configuration.ConfigurationReloader"/>) and the store
/// watcher. A reload that finds its new input bad throws (a <see cref="CertDns.Core.BadInputException"/> naming the
/// input and the reason) and keeps what it had: the server goes on with the old state, and the refusal is logged and shown on the status page.
/// </summary>
public interface IReloadable
{
    /// <summary>What is reloaded, for the log ("store", "configuration").</summary>
    string Name { get; }

    /// <summary>Reloads now; returns one line saying what changed, or throws to refuse and keep the old state.</summary>
    string Reload();
}

/// <summary>One reload or refusal, as the status page lists them.</summary>
/// <param name="At">When.</param>
/// <param name="What">Which part ("store", "configuration").</param>
/// <param name="Refused">Whether the new state was refused (the old one kept).</param>
/// <param name="Text">What happened, one line.</param>
public sealed record ReloadEvent(DateTimeOffset At, string What, bool Refused, string Text);

/// <summary>
/// Runs every <see cref="IReloadable"/> in order on each reload request (SIGHUP), one failing not stopping the
/// next, and keeps the most recent outcomes (of these and of the watcher's own polls) for the status page.
/// </summary>
public sealed class ReloadHooks(TimeProvider time, Action<ReloadEvent>? log = null)
{
    /// <summary>How many recent events are kept.</summary>
    public const int Kept = 20;

    private readonly List<IReloadable> _hooks = [];
    private readonly Queue<ReloadEvent> _recent = new();
    private readonly object _lock = new();

    /// <summary>Adds a part to reload, after those already added.</summary>
    public void Add(IReloadable hook)
    {
        ArgumentNullException.ThrowIfNull(hook);
        lock (_lock) _hooks.Add(hook);
    }

    /// <summary>Reloads every part; returns whether all of them took their new state.</summary>
    public bool ReloadAll()
    {
        IReloadable[] hooks;
        lock (_lock) hooks = [.. _hooks];
        bool all = true;
        foreach (var hook in hooks)
        {
            try
            {
                Record(hook.Name, refused: false, hook.Reload());
            }
            catch (Exception e)
            {
                all = false;
                Record(hook.Name, refused: true, e.Message);
            }
        }
        return all;
    }

    /// <summary>Records an outcome and logs it.</summary>
    public void Record(string what, bool refused, string text)
    {
        var entry = Keep(what, refused, text);
        log?.Invoke(entry);
    }

    /// <summary>Keeps an outcome that was logged elsewhere (a poll's reload or failure) for the page, without logging it.</summary>
    public ReloadEvent Keep(string what, bool refused, string text)
    {
        var entry = new ReloadEvent(time.GetUtcNow(), what, refused, CertDns.Core.SafeText.OneLine(text));
        lock (_lock)
        {
            _recent.Enqueue(entry);
            while (_recent.Count > Kept) _recent.Dequeue();
        }
        return entry;
    }

    /// <summary>The most recent events, newest first.</summary>
    public IReadOnlyList<ReloadEvent> Recent
    {
        get { lock (_lock) return [.. _recent.Reverse()]; }
    }
}
