using CertDns.Core;
using CertDns.Store;

namespace CertDns.Server;

/// <summary>
/// Keeps a running server's snapshot in step with the store: polls the zone serial, which every write
/// advances, and when it moved builds a new snapshot off to the side and publishes it with one swap.
/// Ingests in other processes (cron) so reach the zone within one poll interval, without a restart.
/// With a least interval for time changes it also advances the serial when time alone changed answers (a
/// certificate expired or became valid, a CRL passed nextUpdate), at most that often, so secondaries transfer again.
/// Polls read the store read-only; only that serial advance writes. A failed poll of any kind is logged and the
/// last good snapshot stays served: the next tick tries again.
/// </summary>
public sealed class StoreWatcher : IReloadable, IDisposable
{
    private readonly string _storePath;
    private readonly SnapshotHolder _holder;
    // Both may change on a configuration reload (server.poll, server.time-changes): read once per tick.
    private TimeSpan _interval;
    private readonly TimeProvider _time;
    private readonly Action<string>? _log;
    private readonly Action<StatusSnapshot>? _published;
    private TimeSpan? _timeChanges;
    private readonly CancellationTokenSource _stop = new();
    // A poll and a SIGHUP reload may meet: one at a time, so one snapshot is published per load.
    private readonly object _gate = new();
    // The served snapshots' SHA-1, MD5 and key lookups: the store's indexes, on connections that outlive each poll's.
    private readonly StoreCertificateDirectory _directory;
    private Task? _loop;
    private DateTimeOffset? _nextChange;
    private DateTimeOffset _lastAdvance = DateTimeOffset.MinValue;
    // The store serial the served snapshot was read at: it differs from the served one when the server had to serve
    // a restored (older) store above what it served before and could not write the store.
    private uint _loadedFrom;
    // The store's commit token of _loadedFrom (its change log): the next poll builds from the served snapshot and the
    // changes after it only when the store still holds that commit. Null when unknown: the next poll loads the whole store.
    private ulong? _loadedCommit;
    private string? _lastError;
    private DateTimeOffset _lastErrorAt;
    private int _repeats;

    /// <summary>How long an identical failure goes unlogged after it was logged: a vanished store fails every poll.</summary>
    public static readonly TimeSpan RepeatedErrorInterval = TimeSpan.FromMinutes(1);

    /// <summary>Prepares the watcher; <see cref="Start"/> loads the first snapshot.</summary>
    /// <param name="storePath">The store file.</param>
    /// <param name="holder">Where the served snapshot is published.</param>
    /// <param name="interval">How often the store's serial is checked.</param>
    /// <param name="time">The clock for polls and time-driven changes: the one the responder answers with.</param>
    /// <param name="log">One line per reload or failure.</param>
    /// <param name="published">Called with each snapshot published after the first (NOTIFY goes from here).</param>
    /// <param name="timeChanges">The least time between serial advances for time-driven changes; null never advances.</param>
    public StoreWatcher(string storePath, SnapshotHolder holder, TimeSpan interval, TimeProvider time, Action<string>? log = null,
        Action<StatusSnapshot>? published = null, TimeSpan? timeChanges = null)
    {
        ArgumentNullException.ThrowIfNull(storePath);
        ArgumentNullException.ThrowIfNull(holder);
        ArgumentNullException.ThrowIfNull(time);
        (_storePath, _holder, _interval, _time, _log, _published, _timeChanges) = (storePath, holder, interval, time, log, published, timeChanges);
        _directory = new StoreCertificateDirectory(storePath);
    }

    /// <summary>
    /// The zone journal IXFR answers from, or null for none. Each publication is recorded in it before the snapshot is
    /// served and before the served serial is remembered, so the journal on disk never ends short of the serial served.
    /// </summary>
    public CertDns.Dns.ZoneJournal? Journal { get; init; }

    // When the served serial was published: the moment the journal's newest step evaluated its records at.
    private DateTimeOffset _publishedAt;

    /// <summary>How a snapshot is read from an open store; a test can make it fail (then every poll takes this way).</summary>
    internal Func<CertStore, ICertificateDirectory, StatusSnapshot> Load
    {
        get => _load;
        init => (_load, _incremental) = (value, false);
    }

    private readonly Func<CertStore, ICertificateDirectory, StatusSnapshot> _load = (store, directory) => store.Snapshots.Load(directory);

    // Whether a poll may build the next snapshot from the served one and the store's change log (SnapshotLoader.LoadChanged).
    private readonly bool _incremental = true;

    /// <summary>Whether the last publication was built from the change log rather than a whole load (tests, the log line).</summary>
    public bool LastLoadIncremental { get; private set; }

    /// <summary>The file beside the store that remembers the last serial served, across restarts and restored backups.</summary>
    public static string ServedSerialPath(string storePath) => storePath + ".served-serial";

    /// <summary>Loads the first snapshot and starts polling.</summary>
    public StatusSnapshot Start()
    {
        StatusSnapshot first;
        long started = System.Diagnostics.Stopwatch.GetTimestamp();
        for (int attempt = 1; ; attempt++)
        {
            using var store = CertStore.Open(_storePath, readOnly: true);
            first = Load(store, _directory);
            _loadedCommit = store.Changes.CommitOf(first.Serial);
            if (!store.ChangedSinceOpen()) break;
            if (attempt == 5) throw new IOException($"{_storePath}: the store kept changing while it was read");
            _directory.Reopen();
        }
        LastLoad = System.Diagnostics.Stopwatch.GetElapsedTime(started);
        LastLoadAt = _time.GetUtcNow();
        _loadedFrom = first.Serial;
        // A backup restored while the server was down carries an older serial than the secondaries hold: serve above it.
        var (servedBefore, formBefore) = ReadServed();
        if (servedBefore is { } served && !Newer(first.Serial, served) && first.Serial != served) first = Above(first, served);
        var formChanged = servedBefore == first.Serial ? FormChange(first.Serial, formBefore) : null;
        _publishedAt = LastLoadAt.Value;
        // The journal from before a restart goes on only if it ends at the serial served now (no change while down).
        if (Journal is { } journal)
        {
            if (journal.Load(first.Serial, _publishedAt, ServedCommit(first.Serial))) _publishedAt = journal.PublishedAt;
        }
        _holder.Publish(first);
        // Lookups of the other forms hold a read transaction for a moment: from now on they read what this snapshot read.
        _directory.ReleaseReads();
        if (_timeChanges is not null) _nextChange = first.NextChange(_time.GetUtcNow());
        // The secondaries hold the served serial in the form the previous process gave it: signed with other keys, or
        // unsigned, they would keep that form (bogus under a DS, or unsigned) until the next change. A new serial now,
        // which AdvanceSerial remembers; the old serial is not written again under the new form first, so a crash in
        // between still finds the form changed at the next start.
        if (formChanged is null) RememberServed(first.Serial);
        else _log?.Invoke(AdvanceSerial(formChanged));
        _loop = Task.Run(() => RunAsync(_stop.Token));
        return _holder.Current;
    }

    /// <summary>
    /// Why the served serial must move at start because the zone's transfer form changed while the server was down
    /// (DNSSEC turned on or off, other keys), or null. A signed zone whose form is unchanged takes on the window the
    /// previous process signed the serial in, so its renewal is due when it would have been (spec 2.10).
    /// </summary>
    private string? FormChange(uint serial, string? before)
    {
        if (Journal is not { } journal) return null;
        if (journal.Signer is { } signer)
        {
            if (signer.Adopt(serial, before)) return null;
            return before is null || before == UnsignedForm
                ? "the zone is signed now, and the secondaries may hold the served serial unsigned"
                : "the zone is signed with other keys now than the served serial was";
        }
        return before is not null && before != UnsignedForm ? "the zone is no longer signed, and the secondaries hold the served serial signed" : null;
    }

    private const string UnsignedForm = "unsigned";

    /// <summary>RFC 1982 serial arithmetic: whether <paramref name="a"/> is newer than <paramref name="b"/>.</summary>
    public static bool Newer(uint a, uint b) => a != b && a - b < 0x8000_0000u;

    /// <summary>
    /// The loaded snapshot under a serial newer than <paramref name="floor"/>: the store's serial is raised past it (so the
    /// store, the next writes and a restart agree), or, when the store cannot be written, the snapshot alone is.
    /// </summary>
    private StatusSnapshot Above(StatusSnapshot loaded, uint floor)
    {
        uint? raised = null;
        try
        {
            using var store = CertStore.Open(_storePath);
            raised = store.RaiseSerial(loaded.Serial, floor);
        }
        catch (Exception e) when (e is Microsoft.Data.Sqlite.SqliteException or IOException or UnauthorizedAccessException or BadInputException)
        {
            // Read-only store: serve the restored data above the old serial all the same.
        }
        if (raised is { } r)
        {
            _loadedFrom = r;
            _loadedCommit = ReadCommit(r);
            _log?.Invoke($"store serial {loaded.Serial} is not newer than the {floor} served before (a restored backup?): raised to {r}");
            return loaded.WithSerial(r);
        }
        var next = floor + 1;
        _log?.Invoke($"store serial {loaded.Serial} is not newer than the {floor} served before (a restored backup?): serving it as {next}");
        return loaded.WithSerial(next);
    }

    /// <summary>
    /// The served-serial file: the serial on its first line; on a second, <c>form: </c> and what the secondaries were given
    /// under it (<c>unsigned</c>, or the signer's <see cref="CertDns.Dns.Dnssec.TransferSigner.FormOf"/>), kept only where
    /// a journal is (secondaries configured). A file of an older version has the serial alone.
    /// </summary>
    private (uint? Serial, string? Form) ReadServed()
    {
        try
        {
            var lines = File.ReadAllText(ServedSerialPath(_storePath)).Split('\n');
            uint? serial = uint.TryParse(lines[0].Trim(), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var served)
                ? served : null;
            var form = lines.Length > 1 && lines[1].StartsWith("form: ", StringComparison.Ordinal) ? lines[1]["form: ".Length..].Trim() : null;
            return (serial, form);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return (null, null);
        }
    }

    /// <summary>Writes the served serial beside the store: a new file of an unpredictable name, renamed into place.</summary>
    private void RememberServed(uint serial)
    {
        var path = ServedSerialPath(_storePath);
        var temp = $"{path}.{Guid.NewGuid():N}.tmp";
        try
        {
            var text = serial.ToString(System.Globalization.CultureInfo.InvariantCulture) + "\n";
            if (Journal is { } journal) text += "form: " + (journal.Signer?.FormOf(serial, _time.GetUtcNow()) ?? UnsignedForm) + "\n";
            using (var file = new FileStream(temp, FileMode.CreateNew, FileAccess.Write))
                file.Write(System.Text.Encoding.ASCII.GetBytes(text));
            File.Move(temp, path, overwrite: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // A read-only folder: the store cannot change from here either, so only a restore by its owner could go back.
            try { File.Delete(temp); } catch (Exception d) when (d is IOException or UnauthorizedAccessException) { }
        }
    }

    private async Task RunAsync(CancellationToken token)
    {
        // The loader's scratch goes back to the OS from here, so the caller can open its sockets first.
        ReleasePrevious();
        using var timer = new PeriodicTimer(Interval, _time);
        while (true)
        {
            // A reload may have changed the interval: the next wait takes the new one. Checked before each wait, the
            // first included: a change that came between reading the interval and creating the timer would otherwise
            // wait out the old interval once.
            if (timer.Period != Interval) timer.Period = Interval;
            if (!await WaitAsync(timer, token).ConfigureAwait(false)) break;
            try
            {
                Poll();
                if (_lastError is not null)
                {
                    _log?.Invoke($"store readable again{(_repeats > 0 ? $" (the failure repeated {_repeats} more times)" : "")}: serving serial {_holder.Current.Serial}");
                    (_lastError, _repeats) = (null, 0);
                }
            }
            catch (Exception e)
            {
                // Any fault (a locked, vanished or replaced file, a damaged row, a bug): keep serving the last good
                // snapshot and try again next tick. Ending the loop instead would freeze the zone with no sign of it.
                var message = $"reload failed, still serving serial {_holder.Current.Serial}: {(e is Microsoft.Data.Sqlite.SqliteException or IOException or BadInputException ? "" : e.GetType().Name + ": ")}{e.Message}";
                var now = _time.GetUtcNow();
                // The same failure every poll would flood the log: once, then again at most once per interval.
                if (message == _lastError && now - _lastErrorAt < RepeatedErrorInterval)
                {
                    _repeats++;
                    continue;
                }
                _log?.Invoke(_repeats > 0 && message == _lastError ? $"{message} (repeated {_repeats} times)" : message);
                (_lastError, _lastErrorAt, _repeats) = (message, now, 0);
            }
        }
    }

    private static async Task<bool> WaitAsync(PeriodicTimer timer, CancellationToken token)
    {
        try
        {
            return await timer.WaitForNextTickAsync(token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (token.IsCancellationRequested)
        {
            return false;
        }
    }

    /// <inheritdoc/>
    public string Name => "store";

    /// <summary>
    /// Reloads the store now, whatever its serial says (SIGHUP: the file may have been restored from a backup under
    /// the same serial). On failure it throws and the last good snapshot stays served.
    /// </summary>
    public string Reload()
    {
        // The caller (the reload hooks) logs the outcome: the line is returned, not logged twice.
        lock (_gate) return Poll(force: true, log: false) ?? "";
    }

    private void Poll()
    {
        lock (_gate) Poll(force: false, log: true);
    }

    private string? Poll(bool force, bool log, Action? beforePublish = null)
    {
        StatusSnapshot next;
        string line;
        var now = _time.GetUtcNow();
        var served = _holder.Current.Serial;
        using (var store = CertStore.Open(_storePath, readOnly: true))
        {
            if (!force && store.Serial == _loadedFrom)
            {
                if (TimeChanged(now) is { } moved) _published?.Invoke(moved);
                return null;
            }
            long started = System.Diagnostics.Stopwatch.GetTimestamp();
            // The file may be another one now (restored from a backup): the lookups must read what the snapshot read.
            _directory.Reopen();
            // The served data and the change log after it, when the store still holds the commit it was read at; else all.
            var changed = _incremental ? store.Snapshots.LoadChanged(_holder.Current, _loadedFrom, _loadedCommit, _directory) : null;
            next = changed?.Snapshot ?? Load(store, _directory);
            var commit = store.Changes.CommitOf(next.Serial);
            // Read as immutable (a read-only folder) while a writer started: the read may be torn; the next tick reads again.
            if (store.ChangedSinceOpen()) throw new IOException($"{_storePath}: the store changed while it was read; reading it again");
            bool sameAsLoaded = next.Serial == _loadedFrom;
            _loadedFrom = next.Serial;
            _loadedCommit = commit;
            LastLoadIncremental = changed is not null;
            // The served serial never goes backwards (RFC 1982): secondaries would keep the newer one and its data. A forced
            // reload (SIGHUP) of the very store already served keeps the served serial: nothing published changed.
            if (!Newer(next.Serial, served)) next = sameAsLoaded ? next.WithSerial(served) : Above(next, served);
            Journalled(_holder.Current, next, now, changed?.Changed);
            beforePublish?.Invoke();
            _holder.Publish(next);
            // Lookups of the other forms hold a read transaction for a moment: from now on they read what this snapshot read.
            _directory.ReleaseReads();
            LastLoad = System.Diagnostics.Stopwatch.GetElapsedTime(started);
            LastLoadAt = now;
            line = $"reloaded: serial {next.Serial}, {next.Count} certificates in {LastLoad.TotalSeconds:F2} s"
                + (changed is null ? "" : changed.Changed is { } names ? $" ({names.Count} changed, from the store's change log)"
                    : " (a CRL renewed, from the store's change log)");
            if (log) _log?.Invoke(line);
        }
        RememberServed(next.Serial);
        ReleasePrevious();
        if (_timeChanges is not null) _nextChange = next.NextChange(now);
        _published?.Invoke(next);
        return line;
    }

    /// <summary>How often the store's serial is checked; a configuration reload may change it (the next wait takes it).</summary>
    public TimeSpan Interval
    {
        get { lock (_gate) return _interval; }
        set
        {
            if (value <= TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(value), "the poll interval must be positive");
            lock (_gate) _interval = value;
        }
    }

    /// <summary>
    /// The least time between serial advances for time-driven changes (null: never); a configuration reload may change
    /// it (secondaries added or removed, server.time-changes edited).
    /// </summary>
    public TimeSpan? TimeChanges
    {
        get { lock (_gate) return _timeChanges; }
        set
        {
            lock (_gate)
            {
                if (value is not null && _timeChanges is null) _nextChange = _holder.Current.NextChange(_time.GetUtcNow());
                _timeChanges = value;
            }
        }
    }

    /// <summary>
    /// Publishes the served data under a newer serial, because what the zone publishes besides the data changed (its name
    /// servers, SOA fields or TTLs, on a configuration reload): secondaries must see a new serial to transfer again. The
    /// store's serial is advanced so the next write and a restart stay above it; when the store cannot be written the
    /// snapshot alone moves, as for a restored read-only store. Never backwards (RFC 1982). The new snapshot is NOTIFYed.
    /// </summary>
    /// <param name="why">What changed, for the log line returned.</param>
    /// <param name="alongside">
    /// Puts into service what changed outside the snapshot (the responder's DNSSEC keys), run right before the new serial
    /// is published: after the store's write, which may wait seconds on another writer, so no answer carries the new
    /// content under the serial served before. Run even when the advance fails: what changed is never dropped.
    /// </param>
    /// <returns>One line saying the serial moved.</returns>
    public string AdvanceSerial(string why, Action? alongside = null)
    {
        bool applied = false;
        lock (_gate)
        {
            try
            {
                return Advance();
            }
            finally
            {
                Apply();
            }
        }

        void Apply()
        {
            if (applied) return;
            applied = true;
            alongside?.Invoke();
        }

        string Advance()
        {
            var current = _holder.Current;
            (uint Serial, ulong? Commit)? advanced = null;
            try
            {
                advanced = AdvanceStoreSerial(current);
            }
            catch (Exception e) when (e is Microsoft.Data.Sqlite.SqliteException or IOException or UnauthorizedAccessException or BadInputException)
            {
                // A store this server cannot write: the snapshot alone goes above what was served.
                var moved = current.WithSerial(current.Serial + 1);
                Publish(moved);
                return $"serial {moved.Serial} (the store is not writable, so it stays at {_loadedFrom}): {why}";
            }
            if (advanced is not { } serial)
            {
                // Another write came first: the new data goes out under its own, newer serial. The zone changed too, which
                // no journal step holds: the journal starts afresh there.
                var line = Poll(force: true, log: false, Apply) ?? "";
                Journal?.Reset(_holder.Current.Serial, _publishedAt, ServedCommit(_holder.Current.Serial));
                return line + $" ({why})";
            }
            (_loadedFrom, _loadedCommit) = serial;
            var next = current.WithSerial(serial.Serial);
            Publish(next);
            return $"serial {next.Serial}: {why}";
        }

        void Publish(StatusSnapshot moved)
        {
            // What changed is the zone itself, not a certificate's records: no step of the journal, which starts afresh.
            var now = _time.GetUtcNow();
            Journal?.Reset(moved.Serial, now, ServedCommit(moved.Serial));
            _publishedAt = now;
            Apply();
            _holder.Publish(moved);
            RememberServed(moved.Serial);
            _published?.Invoke(moved);
        }
    }

    /// <summary>
    /// Advances the store's serial past the served one (the one write the server makes), with the commit token it got;
    /// null when another write came first.
    /// </summary>
    private (uint Serial, ulong? Commit)? AdvanceStoreSerial(StatusSnapshot current)
    {
        using var store = CertStore.Open(_storePath);
        var serial = _loadedFrom == current.Serial ? store.AdvanceSerial(current.Serial) : store.RaiseSerial(_loadedFrom, current.Serial);
        return serial is { } s ? (s, store.Changes.CommitOf(s)) : null;
    }

    /// <summary>The store's commit token of a serial, or null when it cannot be read (it is then unknown: whole loads).</summary>
    private ulong? ReadCommit(uint serial)
    {
        try
        {
            using var store = CertStore.Open(_storePath, readOnly: true);
            return store.Changes.CommitOf(serial);
        }
        catch (Exception e) when (e is Microsoft.Data.Sqlite.SqliteException or IOException or UnauthorizedAccessException or BadInputException)
        {
            return null;
        }
    }

    /// <summary>The commit token of the data served under <paramref name="served"/>: known only when it is the store's own serial.</summary>
    private ulong? ServedCommit(uint served) => served == _loadedFrom ? _loadedCommit : null;

    /// <summary>
    /// Records the publication of <paramref name="next"/> at <paramref name="now"/> in the journal. Any failure empties the
    /// journal at the new serial (older secondaries then transfer the whole zone) and never stops the publication.
    /// </summary>
    private void Journalled(StatusSnapshot previous, StatusSnapshot next, DateTimeOffset now, IReadOnlyCollection<byte[]>? changed = null)
    {
        if (Journal is not { } journal) return;
        try
        {
            journal.Record(previous, _publishedAt, next, now, changed, ServedCommit(next.Serial));
        }
        catch (Exception e)
        {
            _log?.Invoke($"journal: cannot record serial {next.Serial} ({e.GetType().Name}: {e.Message}): secondaries older than it transfer the whole zone");
            journal.Reset(next.Serial, now, ServedCommit(next.Serial));
        }
        _publishedAt = now;
    }

    /// <summary>How long the last snapshot took to load.</summary>
    public TimeSpan LastLoad { get; private set; }

    /// <summary>When the last snapshot was loaded (null before <see cref="Start"/>).</summary>
    public DateTimeOffset? LastLoadAt { get; private set; }

    /// <summary>
    /// When time alone has changed answers since the serial last moved (and the least interval has passed), or a signed
    /// zone's transfer signatures are due for renewal (<see cref="CertDns.Dns.Dnssec.TransferSigner.RenewalDue"/>), advances
    /// the serial in the store and publishes the same data under it: nothing to reload, and the store's next write
    /// still gets a higher serial. Null when nothing is due or another write got in first (the next tick reloads it).
    /// </summary>
    private StatusSnapshot? TimeChanged(DateTimeOffset now)
    {
        var current = _holder.Current;
        bool timeDue = _timeChanges is { } least && _nextChange is { } due && now >= due && now - _lastAdvance >= least;
        // A signed zone's secondaries hold the RRSIGs they were given: with no other change in a week they would expire
        // there (and every answer of theirs turn bogus). A newer serial is signed in a newer window and reaches them first.
        bool renewalDue = Journal?.Signer?.RenewalDue(current.Serial) is { } renewal && now >= renewal;
        if (!timeDue && !renewalDue) return null;
        // The one write the server makes, on its own short-lived connection.
        if (AdvanceStoreSerial(current) is not { } advanced) return null;
        var (serial, commit) = advanced;
        _loadedFrom = serial;
        _loadedCommit = commit;
        var moved = current.WithSerial(serial);
        // The same data: no certificate's stored facts changed, only time moved (ChangesAmong with none named).
        Journalled(current, moved, now, []);
        _holder.Publish(moved);
        _lastAdvance = now;
        _nextChange = moved.NextChange(now);
        RememberServed(moved.Serial);
        _log?.Invoke(timeDue
            ? $"serial {serial}: answers changed with time (a certificate's validity or a CRL's nextUpdate passed)"
            : $"serial {serial}: the secondaries' signatures renewed (half their validity had passed with no other change)");
        return moved;
    }

    /// <summary>
    /// The answer path allocates nothing, so no collection would ever come to free the snapshot just replaced (or the
    /// loader's scratch): the process would hold two copies until the next reload. Collect and return the memory now.
    /// </summary>
    private static void ReleasePrevious() => GC.Collect(GC.MaxGeneration, GCCollectionMode.Aggressive, blocking: true, compacting: true);

    /// <summary>Stops polling.</summary>
    public void Dispose()
    {
        _stop.Cancel();
        try { _loop?.Wait(TimeSpan.FromSeconds(5)); } catch (AggregateException) { }
        _stop.Dispose();
        _directory.Dispose();
    }
}
