using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace CertDns.Dns;

/// <summary>
/// Linux recvmmsg/sendmmsg for one UDP loop, as NSD's workers use them: one system call takes every datagram
/// waiting (up to <see cref="Slots"/>) and one sends all their answers, instead of two calls per query. Buffers,
/// addresses and message headers live in native memory allocated once, so a batch allocates nothing; pages the
/// kernel never writes stay untouched. .NET has no API for these calls, hence the hand-written structures below
/// (x86-64 and arm64 Linux layouts).
/// </summary>
internal sealed unsafe partial class UdpBatch : IDisposable
{
    public const int Slots = 32;
    private const int BufferSize = DnsResponder.MaxMessageSize;
    private const int AddressSize = 128; // sizeof(struct sockaddr_storage)
    private const int MsgWaitForOne = 0x10000;
    private const int EIntr = 4, EAgain = 11, EConnRefused = 111;

    private readonly byte* _queries;
    private readonly byte* _responses;
    private readonly byte* _addresses;
    private readonly IoVec* _receiveVectors;
    private readonly IoVec* _sendVectors;
    private readonly MMsgHdr* _received;
    private readonly MMsgHdr* _send;

    /// <summary>Whether this system has the calls (Linux with glibc); elsewhere the server uses one call per datagram.</summary>
    public static bool Supported { get; } = Probe();

    public UdpBatch()
    {
        _queries = (byte*)NativeMemory.Alloc((nuint)(Slots * BufferSize));
        _responses = (byte*)NativeMemory.Alloc((nuint)(Slots * BufferSize));
        _addresses = (byte*)NativeMemory.AllocZeroed((nuint)(Slots * AddressSize));
        _receiveVectors = (IoVec*)NativeMemory.AllocZeroed((nuint)(Slots * sizeof(IoVec)));
        _sendVectors = (IoVec*)NativeMemory.AllocZeroed((nuint)(Slots * sizeof(IoVec)));
        _received = (MMsgHdr*)NativeMemory.AllocZeroed((nuint)(Slots * sizeof(MMsgHdr)));
        _send = (MMsgHdr*)NativeMemory.AllocZeroed((nuint)(Slots * sizeof(MMsgHdr)));
        for (int i = 0; i < Slots; i++)
        {
            _receiveVectors[i] = new IoVec { Base = _queries + (i * BufferSize), Length = BufferSize };
            _received[i].Header.Iov = &_receiveVectors[i];
            _received[i].Header.IovLength = 1;
            _received[i].Header.Name = _addresses + (i * AddressSize);
            _send[i].Header.Iov = &_sendVectors[i];
            _send[i].Header.IovLength = 1;
        }
    }

    /// <summary>
    /// Waits for at least one datagram (or the socket's receive timeout) and takes every one already waiting.
    /// Returns how many; 0 after a timeout, an interruption or a client's ICMP error (callers check for a stop).
    /// </summary>
    /// <exception cref="SocketException">Any other receive error.</exception>
    public int Receive(SafeSocketHandle socket)
    {
        for (int i = 0; i < Slots; i++)
        {
            _received[i].Header.NameLength = AddressSize;
            _received[i].Header.Flags = 0;
            _received[i].Length = 0;
        }
        int n = RecvMMsg((int)socket.DangerousGetHandle(), _received, Slots, MsgWaitForOne, null);
        if (n >= 0) return n;
        int errno = Marshal.GetLastPInvokeError();
        if (errno is EIntr or EAgain or EConnRefused) return 0;
        throw new SocketException(errno);
    }

    /// <summary>Datagram <paramref name="i"/> of the last <see cref="Receive"/>.</summary>
    public ReadOnlySpan<byte> Query(int i) => new(_queries + (i * BufferSize), (int)_received[i].Length);

    /// <summary>The sender's address of datagram <paramref name="i"/>, as the kernel's sockaddr.</summary>
    public ReadOnlySpan<byte> Sender(int i) => new(_received[i].Header.Name, (int)_received[i].Header.NameLength);

    /// <summary>Room for the answer to datagram <paramref name="i"/>.</summary>
    public Span<byte> Response(int i) => new(_responses + (i * BufferSize), BufferSize);

    /// <summary>Sends the answers: <paramref name="lengths"/>[i] octets of response i to the sender of datagram i; 0 sends nothing.</summary>
    public void Send(SafeSocketHandle socket, int received, ReadOnlySpan<int> lengths)
    {
        int count = 0;
        for (int i = 0; i < received; i++)
        {
            if (lengths[i] == 0) continue;
            _sendVectors[count] = new IoVec { Base = _responses + (i * BufferSize), Length = (nuint)lengths[i] };
            _send[count].Header.Name = _received[i].Header.Name;
            _send[count].Header.NameLength = _received[i].Header.NameLength;
            _send[count].Length = 0;
            count++;
        }
        int fd = (int)socket.DangerousGetHandle();
        for (int offset = 0; offset < count;)
        {
            int sent = SendMMsg(fd, _send + offset, (uint)(count - offset), 0);
            if (sent > 0)
            {
                offset += sent;
                continue;
            }
            if (sent < 0 && Marshal.GetLastPInvokeError() == EIntr) continue;
            // The first message failed (an unreachable client, a full send queue): that answer is lost, as it would
            // be from sendto, and the rest still go.
            offset++;
        }
    }

    public void Dispose()
    {
        NativeMemory.Free(_queries);
        NativeMemory.Free(_responses);
        NativeMemory.Free(_addresses);
        NativeMemory.Free(_receiveVectors);
        NativeMemory.Free(_sendVectors);
        NativeMemory.Free(_received);
        NativeMemory.Free(_send);
    }

    private static bool Probe()
    {
        if (!OperatingSystem.IsLinux() || !(RuntimeInformation.ProcessArchitecture is Architecture.X64 or Architecture.Arm64)) return false;
        try
        {
            // An invalid descriptor: the call exists when it fails with EBADF rather than failing to bind.
            _ = SendMMsg(-1, null, 0, 0);
            return true;
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            return false;
        }
    }

    [LibraryImport("libc.so.6", EntryPoint = "recvmmsg", SetLastError = true)]
    private static partial int RecvMMsg(int fd, MMsgHdr* messages, uint count, int flags, void* timeout);

    [LibraryImport("libc.so.6", EntryPoint = "sendmmsg", SetLastError = true)]
    private static partial int SendMMsg(int fd, MMsgHdr* messages, uint count, int flags);

    [StructLayout(LayoutKind.Sequential)]
    private struct IoVec
    {
        public byte* Base;
        public nuint Length;
    }

    /// <summary>struct msghdr (LP64).</summary>
    [StructLayout(LayoutKind.Sequential)]
    private struct MsgHdr
    {
        public byte* Name;
        public uint NameLength;
        public IoVec* Iov;
        public nuint IovLength;
        public void* Control;
        public nuint ControlLength;
        public int Flags;
    }

    /// <summary>struct mmsghdr: a message and how many octets went through.</summary>
    [StructLayout(LayoutKind.Sequential)]
    private struct MMsgHdr
    {
        public MsgHdr Header;
        public uint Length;
    }
}
