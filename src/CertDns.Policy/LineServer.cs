using System.Net;
using System.Net.Sockets;

namespace CertDns.Policy;

/// <summary>
/// The bounds of a <see cref="LineServer"/>: how many connections it holds and how long a client may take.
/// </summary>
/// <param name="MaxConnections">Connections at once in total.</param>
/// <param name="MaxPerAddress">Connections at once from one client address, so one client cannot lock out the others.</param>
/// <param name="IdleTimeout">How long a connection may wait between requests.</param>
/// <param name="RequestTimeout">How long one request may take to arrive, first byte to last, and its reply to leave:
/// a client dripping a byte a second is dropped.</param>
public sealed record LineServerLimits(int MaxConnections, int MaxPerAddress, TimeSpan IdleTimeout, TimeSpan RequestTimeout)
{
    /// <summary>
    /// 256 in all, 128 per address: Postfix opens one connection per smtpd process, and its default_process_limit
    /// is 100, all from the MTA's one address. A request has 10 s: Postfix writes one in a single burst.
    /// </summary>
    public static LineServerLimits Default(TimeSpan idleTimeout) => new(256, 128, idleTimeout, TimeSpan.FromSeconds(10));
}

/// <summary>
/// A small TCP server for Postfix's lookup protocols: one task per connection, connections kept open for many
/// requests (Postfix reuses them), dropped after an idle timeout or a request that arrives too slowly, at most
/// <see cref="LineServerLimits.MaxConnections"/> at once and <see cref="LineServerLimits.MaxPerAddress"/> per client.
/// </summary>
public abstract class LineServer : IAsyncDisposable
{
    private readonly TcpListener _listener;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _accept;
    private readonly Dictionary<IPAddress, int> _perAddress = [];
    private int _connections;

    /// <summary>Starts listening.</summary>
    protected LineServer(IPEndPoint endpoint, LineServerLimits limits, Action<string>? log)
    {
        Limits = limits;
        Log = log;
        _listener = new TcpListener(endpoint);
        _listener.Start();
        LocalEndPoint = (IPEndPoint)_listener.LocalEndpoint;
        _accept = Task.Run(AcceptAsync);
    }

    /// <summary>Where it listens.</summary>
    public IPEndPoint LocalEndPoint { get; }

    /// <summary>Its connection and time bounds.</summary>
    public LineServerLimits Limits { get; }

    protected Action<string>? Log { get; }

    /// <summary>Serves one connection until the peer closes it or a request is malformed, too long or too slow.</summary>
    protected abstract Task ServeAsync(BoundedReader reader, NetworkStream stream, CancellationToken cancel);

    private async Task AcceptAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            TcpClient client;
            try
            {
                client = await _listener.AcceptTcpClientAsync(_stop.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException or SocketException)
            {
                if (_stop.IsCancellationRequested) return;
                continue;
            }
            var address = (client.Client.RemoteEndPoint as IPEndPoint)?.Address.MapToIPv6() ?? IPAddress.IPv6None;
            if (!TryAdmit(address))
            {
                // Closed at once, before a byte is read: a flood costs a socket for a moment, not a slot.
                client.Dispose();
                continue;
            }
            _ = Task.Run(async () =>
            {
                using (client)
                {
                    try
                    {
                        var stream = client.GetStream();
                        await ServeAsync(new BoundedReader(stream), stream, _stop.Token).ConfigureAwait(false);
                    }
                    catch (Exception e) when (e is IOException or SocketException or OperationCanceledException or ObjectDisposedException or InvalidDataException)
                    {
                        // A peer that went away, idled out, dripped or spoke nonsense: drop that connection only.
                        if (e is InvalidDataException) Log?.Invoke($"dropped a client: {e.Message}");
                    }
                    finally
                    {
                        Release(address);
                    }
                }
            });
        }
    }

    private bool TryAdmit(IPAddress address)
    {
        lock (_perAddress)
        {
            var held = _perAddress.GetValueOrDefault(address);
            if (_connections >= Limits.MaxConnections || held >= Limits.MaxPerAddress) return false;
            _perAddress[address] = held + 1;
            _connections++;
            return true;
        }
    }

    private void Release(IPAddress address)
    {
        lock (_perAddress)
        {
            _connections--;
            if (--_perAddress[address] == 0) _perAddress.Remove(address);
        }
    }

    /// <summary>
    /// Waits for the start of the next request (at most the idle timeout), then returns a token that ends when
    /// the request timeout passes; null when the peer closed the connection between requests.
    /// </summary>
    protected async Task<CancellationTokenSource?> NextRequestAsync(BoundedReader reader, CancellationToken cancel)
    {
        var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancel);
        deadline.CancelAfter(Limits.IdleTimeout);
        try
        {
            if (!await reader.WaitForDataAsync(deadline.Token).ConfigureAwait(false))
            {
                deadline.Dispose();
                return null;
            }
        }
        catch
        {
            deadline.Dispose();
            throw;
        }
        deadline.CancelAfter(Limits.RequestTimeout);
        return deadline;
    }

    /// <summary>Stops accepting and closes the listener.</summary>
    public async ValueTask DisposeAsync()
    {
        _stop.Cancel();
        _listener.Stop();
        try { await _accept.ConfigureAwait(false); } catch (OperationCanceledException) { }
        _stop.Dispose();
        GC.SuppressFinalize(this);
    }
}

/// <summary>
/// Reads a connection through one fixed buffer: a line or a byte count is refused at its limit, before more than
/// the limit is held, so a line without end costs at most the limit, not memory without bound.
/// </summary>
public sealed class BoundedReader(Stream stream)
{
    private readonly byte[] _buffer = new byte[4096];
    private int _start, _end;

    /// <summary>Waits until a byte is buffered; false at the end of the stream.</summary>
    public async ValueTask<bool> WaitForDataAsync(CancellationToken cancel)
    {
        if (_start < _end) return true;
        _start = 0;
        _end = await stream.ReadAsync(_buffer, cancel).ConfigureAwait(false);
        return _end > 0;
    }

    /// <summary>One byte, or -1 at the end of the stream.</summary>
    public async ValueTask<int> ReadByteAsync(CancellationToken cancel) =>
        await WaitForDataAsync(cancel).ConfigureAwait(false) ? _buffer[_start++] : -1;

    /// <summary>
    /// The bytes up to the next LF (a CR before it dropped), or null at the end of the stream before any byte.
    /// </summary>
    /// <exception cref="InvalidDataException">The line is longer than <paramref name="maxBytes"/> or cut short.</exception>
    public async ValueTask<byte[]?> ReadLineAsync(int maxBytes, CancellationToken cancel)
    {
        using var line = new MemoryStream();
        while (true)
        {
            if (!await WaitForDataAsync(cancel).ConfigureAwait(false))
                return line.Length == 0 ? null : throw new InvalidDataException("line cut short");
            var lf = Array.IndexOf(_buffer, (byte)'\n', _start, _end - _start);
            var take = (lf < 0 ? _end : lf) - _start;
            if (line.Length + take > maxBytes) throw new InvalidDataException($"line longer than {maxBytes} bytes");
            line.Write(_buffer, _start, take);
            _start += take;
            if (lf >= 0)
            {
                _start++;
                var bytes = line.ToArray();
                return bytes.Length > 0 && bytes[^1] == '\r' ? bytes[..^1] : bytes;
            }
        }
    }

    /// <summary>Exactly <paramref name="count"/> bytes.</summary>
    /// <exception cref="InvalidDataException">The stream ended first.</exception>
    public async ValueTask<byte[]> ReadExactlyAsync(int count, CancellationToken cancel)
    {
        var data = new byte[count];
        int have = 0;
        while (have < count)
        {
            if (!await WaitForDataAsync(cancel).ConfigureAwait(false)) throw new InvalidDataException("cut short");
            var take = Math.Min(count - have, _end - _start);
            Array.Copy(_buffer, _start, data, have, take);
            _start += take;
            have += take;
        }
        return data;
    }
}
