using System.Net;
using System.Net.Sockets;

namespace CertDns.Policy;

/// <summary>
/// A small TCP server for Postfix's lookup protocols: one task per connection, connections kept open for many
/// requests (Postfix reuses them), dropped after an idle timeout, at most <see cref="MaxConnections"/> at once.
/// </summary>
public abstract class LineServer : IAsyncDisposable
{
    private readonly TcpListener _listener;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _accept;
    private int _connections;

    /// <summary>Starts listening.</summary>
    protected LineServer(IPEndPoint endpoint, TimeSpan idleTimeout, Action<string>? log)
    {
        IdleTimeout = idleTimeout;
        Log = log;
        _listener = new TcpListener(endpoint);
        _listener.Start();
        LocalEndPoint = (IPEndPoint)_listener.LocalEndpoint;
        _accept = Task.Run(AcceptAsync);
    }

    /// <summary>Concurrent connections allowed; Postfix opens one per smtpd process.</summary>
    public const int MaxConnections = 256;

    /// <summary>Where it listens.</summary>
    public IPEndPoint LocalEndPoint { get; }

    protected TimeSpan IdleTimeout { get; }

    protected Action<string>? Log { get; }

    /// <summary>Serves one connection until the peer closes it or a request is malformed.</summary>
    protected abstract Task ServeAsync(NetworkStream stream, CancellationToken cancel);

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
            if (Interlocked.Increment(ref _connections) > MaxConnections)
            {
                Interlocked.Decrement(ref _connections);
                client.Dispose();
                continue;
            }
            _ = Task.Run(async () =>
            {
                using (client)
                {
                    try
                    {
                        await ServeAsync(client.GetStream(), _stop.Token).ConfigureAwait(false);
                    }
                    catch (Exception e) when (e is IOException or SocketException or OperationCanceledException or ObjectDisposedException or InvalidDataException)
                    {
                        // A peer that went away, idled out or spoke nonsense: drop that connection only.
                        if (e is InvalidDataException) Log?.Invoke($"dropped a client: {e.Message}");
                    }
                    finally
                    {
                        Interlocked.Decrement(ref _connections);
                    }
                }
            });
        }
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
