using System.Buffers.Binary;
using System.Net.Sockets;
using CertDns.Dns;

namespace CertDns.Server.Dnstap;

/// <summary>
/// The query log's writer: one thread of its own takes entries from a <see cref="QueryLog"/>, encodes them as dnstap
/// and writes Frame Streams to a file or a unix socket (<c>unix:/run/certdns/dnstap.sock</c>, where a reader such as
/// <c>fstrm_capture</c> listens). The answer path never waits for it: when the file is slow or the socket's reader
/// stops reading, the queue fills and further entries are dropped and counted. A reader that goes away is reconnected
/// to every second; what the queue held meanwhile is written then.
/// </summary>
public sealed class DnstapWriter : IDisposable
{
    /// <summary>The prefix of a unix socket target.</summary>
    public const string UnixPrefix = "unix:";

    private static readonly TimeSpan Reconnect = TimeSpan.FromSeconds(1);
    // A reader that takes nothing for this long is taken as gone: the connection is closed and made again.
    private static readonly TimeSpan SocketTimeout = TimeSpan.FromSeconds(2);

    private readonly QueryLog _log;
    private readonly string _target;
    private readonly string? _socketPath;
    private readonly DnstapEncoder _encoder;
    private readonly Action<string> _warn;
    private readonly Thread _thread;
    private readonly ManualResetEventSlim _stopping = new(false);
    private readonly byte[] _header = new byte[4];
    private Stream? _output;
    private long _written;
    private long _lost;

    private DnstapWriter(QueryLog log, string target, string identity, string version, Action<string> warn)
    {
        _log = log;
        _target = target;
        _socketPath = target.StartsWith(UnixPrefix, StringComparison.Ordinal) ? target[UnixPrefix.Length..] : null;
        _encoder = new DnstapEncoder(identity, version);
        _warn = warn;
        _thread = new Thread(Run) { IsBackground = true, Name = "certdns dnstap" };
    }

    /// <summary>The file or <c>unix:</c> socket written to.</summary>
    public string Target => _target;

    /// <summary>Dnstap frames (one per query, one per response) written to the file or socket.</summary>
    public long FramesWritten => Interlocked.Read(ref _written);

    /// <summary>
    /// Dnstap frames dropped: entries the full queue refused (counted as the frames they would have made: a query and
    /// its response are two) and frames lost with a connection that failed under them.
    /// </summary>
    public long FramesDropped => _log.Dropped * FramesPerEntry + Interlocked.Read(ref _lost);

    private int FramesPerEntry => (_log.Queries ? 1 : 0) + (_log.Responses ? 1 : 0);

    /// <summary>
    /// Starts writing <paramref name="log"/> to <paramref name="target"/>. A file is created (an old one replaced) now,
    /// so a path that cannot be written is refused before serving; a socket is connected to by the writer's thread,
    /// and until a reader listens the queue fills and drops.
    /// </summary>
    /// <exception cref="IOException">The file cannot be created.</exception>
    /// <exception cref="UnauthorizedAccessException">The file may not be written.</exception>
    public static DnstapWriter Start(QueryLog log, string target, string identity, string version, Action<string> warn)
    {
        ArgumentNullException.ThrowIfNull(log);
        ArgumentException.ThrowIfNullOrEmpty(target);
        ArgumentNullException.ThrowIfNull(warn);
        var writer = new DnstapWriter(log, target, identity, version, warn);
        if (writer._socketPath is null)
        {
            var file = new FileStream(target, FileMode.Create, FileAccess.Write, FileShare.Read, 1 << 16);
            file.Write(FrameStreams.Control(FrameStreams.Start));
            writer._output = file;
        }
        writer._thread.Start();
        return writer;
    }

    private void Run()
    {
        var entry = new QueryLogEntry();
        bool warned = false;
        while (true)
        {
            bool stopping = _stopping.IsSet;
            if (_output is null)
            {
                // Only a socket is ever reconnected; once stopping, what is left is not waited for.
                if (stopping || _socketPath is null) break;
                try
                {
                    _output = Connect(_socketPath);
                    if (warned) _warn($"dnstap: connected to {_target} again");
                    warned = false;
                }
                catch (Exception e) when (e is SocketException or IOException or InvalidDataException)
                {
                    if (!warned) _warn($"dnstap: {_target}: {e.Message}; queries are dropped from the log until a reader listens (retrying every {Reconnect.TotalSeconds:0} s)");
                    warned = true;
                    _stopping.Wait(Reconnect);
                    continue;
                }
            }

            // A reader sends nothing after ACCEPT but FINISH: a readable socket is one whose reader went away. Caught
            // here, before entries are taken, the next ones go to the next reader instead of a dead connection.
            if (_output is NetworkStream { Socket: var socket } && socket.Poll(0, SelectMode.SelectRead))
                Lose(new IOException("the reader closed the connection"));
            if (_output is null) continue;

            bool wrote = false;
            while (_output is not null && _log.TryTake(entry))
            {
                Write(entry);
                wrote = true;
            }
            if (wrote && _output is not null)
            {
                try
                {
                    _output.Flush();
                }
                catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException)
                {
                    Lose(e);
                }
            }
            if (stopping && _output is not null) break;
            if (_output is not null) _log.WaitForEntries(TimeSpan.FromMilliseconds(200));
        }
        Finish();
    }

    private void Write(QueryLogEntry entry)
    {
        try
        {
            if (_log.Queries) WriteFrame(_encoder.Encode(entry, DnstapEncoder.AuthQuery));
            if (_log.Responses && !entry.Response.IsEmpty) WriteFrame(_encoder.Encode(entry, DnstapEncoder.AuthResponse));
        }
        catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException)
        {
            Interlocked.Add(ref _lost, FramesPerEntry);
            Lose(e);
        }
    }

    private void WriteFrame(ReadOnlySpan<byte> frame)
    {
        BinaryPrimitives.WriteUInt32BigEndian(_header, (uint)frame.Length);
        _output!.Write(_header);
        _output.Write(frame);
        Interlocked.Increment(ref _written);
    }

    /// <summary>The file or socket failed under a write: a socket is connected to again; a file stays closed.</summary>
    private void Lose(Exception e)
    {
        _warn($"dnstap: writing to {_target} failed: {e.Message}");
        try
        {
            _output?.Dispose();
        }
        catch (Exception x) when (x is IOException or SocketException)
        {
            // Its buffered bytes are lost with it.
        }
        _output = null;
    }

    /// <summary>The bidirectional handshake: READY, the reader's ACCEPT (for dnstap), START.</summary>
    private static NetworkStream Connect(string path)
    {
        var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            socket.SendTimeout = (int)SocketTimeout.TotalMilliseconds;
            socket.ReceiveTimeout = (int)SocketTimeout.TotalMilliseconds;
            socket.Connect(new UnixDomainSocketEndPoint(path));
            var stream = new NetworkStream(socket, ownsSocket: true);
            stream.Write(FrameStreams.Control(FrameStreams.Ready));
            var (type, types) = FrameStreams.ReadControl(stream);
            if (type != FrameStreams.Accept) throw new InvalidDataException($"the reader answered READY with control frame {type}, not ACCEPT");
            if (!types.Contains(FrameStreams.DnstapContentType)) throw new InvalidDataException($"the reader does not accept {FrameStreams.DnstapContentType}");
            stream.Write(FrameStreams.Control(FrameStreams.Start));
            return stream;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    /// <summary>STOP, and on a socket the reader's FINISH, then close.</summary>
    private void Finish()
    {
        if (_output is null) return;
        try
        {
            _output.Write(FrameStreams.Control(FrameStreams.Stop));
            _output.Flush();
            if (_socketPath is not null) FrameStreams.ReadControl(_output);
        }
        catch (Exception e) when (e is IOException or SocketException or InvalidDataException or ObjectDisposedException)
        {
            // The reader went away or did not say FINISH: the log is complete up to here all the same.
        }
        _output.Dispose();
        _output = null;
    }

    /// <summary>Writes what the queue still holds, closes the stream (STOP) and ends the thread.</summary>
    public void Dispose()
    {
        if (_stopping.IsSet) return;
        _stopping.Set();
        // Bounded by the socket's timeouts when a reader stops reading.
        _thread.Join();
        _stopping.Dispose();
    }
}
