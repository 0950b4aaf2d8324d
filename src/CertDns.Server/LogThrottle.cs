namespace CertDns.Server;

/// <summary>
/// Rate-limits a repeated log line: the same text again within the window is counted, not written; the next line
/// written after it says how many were held back. A store that stays locked for an hour logs a line a minute, not
/// one a poll.
/// </summary>
public sealed class LogThrottle(Action<string> write, TimeProvider time, TimeSpan window)
{
    private readonly object _lock = new();
    private string? _last;
    private DateTimeOffset _lastWritten;
    private int _held;

    /// <summary>Writes <paramref name="line"/> unless it repeats the last one within the window.</summary>
    public void Write(string line)
    {
        string? before = null, text;
        lock (_lock)
        {
            var now = time.GetUtcNow();
            if (line == _last && now - _lastWritten < window)
            {
                _held++;
                return;
            }
            text = line;
            if (_held > 0 && line == _last) text = $"{line} (and {_held} times more since {CertDns.Core.TimeText.Utc(_lastWritten)})";
            else if (_held > 0) before = $"{_last} (and {_held} times more since {CertDns.Core.TimeText.Utc(_lastWritten)})";
            _held = 0;
            _last = line;
            _lastWritten = now;
        }
        if (before is not null) write(before);
        write(text);
    }
}
