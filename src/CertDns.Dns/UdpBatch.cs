using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace CertDns.Dns;

/// <summary>
/// Linux recvmmsg/sendmmsg for one UDP loop, as NSD's workers use them: one system call takes every datagram
/// waiting (up to <see cref="Slots"/>) and one sends all their answers, instead of two calls per query. Buffers,
/// addresses and message headers live in native memory allocated once, so a batch allocates nothing; pages the
/// kernel never writes stay untouched. .NET has no API for these calls, hence the hand-written structures below
/// (x86-64 and arm64 Linux layouts).
/// On a wildcard bind (0.0.0.0, [::]) each datagram also carries its destination address as IP_PKTINFO or
/// IPV6_PKTINFO control data, and the answer's control data names it as the source, as Knot's
/// <c>cmsg_handle_pktinfo</c> does: otherwise the kernel picks the source by route, and a client that asked
/// 127.0.0.2 (or one of a host's several addresses) drops an answer from another address. .NET's sendto has no
/// way to choose the source address, so both loops go through these calls on such a socket.
/// </summary>
internal sealed unsafe partial class UdpBatch : IDisposable
{
    public const int Slots = 32;
    private const int BufferSize = DnsResponder.MaxMessageSize;
    private const int AddressSize = 128; // sizeof(struct sockaddr_storage)
    private const int MsgWaitForOne = 0x10000;
    private const int EIntr = 4, EAgain = 11, EConnRefused = 111;
    // Room for one cmsghdr (16 octets on LP64) and an in6_pktinfo (20, aligned to 24): 40; a little spare.
    private const int ControlSize = 64;
    private const int CmsgHeaderSize = 16;
    private const int SolIp = 0, IpPktInfo = 8, SolIpv6 = 41, Ipv6PktInfo = 50;

    private readonly byte* _queries;
    private readonly byte* _responses;
    private readonly byte* _addresses;
    private readonly IoVec* _receiveVectors;
    private readonly IoVec* _sendVectors;
    private readonly MMsgHdr* _received;
    private readonly MMsgHdr* _send;
    private readonly byte* _receiveControl;
    private readonly byte* _sendControl;
    private readonly int _slots;
    private readonly bool _packetInfo;

    /// <summary>Whether this system has the calls (Linux with glibc); elsewhere the server uses one call per datagram.</summary>
    public static bool Supported { get; } = Probe();

    /// <param name="slots">Datagrams taken per call: <see cref="Slots"/>, or 1 for one datagram a call.</param>
    /// <param name="packetInfo">
    /// The socket delivers destination addresses (see <see cref="EnablePacketInfo"/>): answers leave from them.
    /// </param>
    public UdpBatch(int slots = Slots, bool packetInfo = false)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(slots, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(slots, Slots);
        _slots = slots;
        _packetInfo = packetInfo;
        _queries = (byte*)NativeMemory.Alloc((nuint)(slots * BufferSize));
        _responses = (byte*)NativeMemory.Alloc((nuint)(slots * BufferSize));
        _addresses = (byte*)NativeMemory.AllocZeroed((nuint)(slots * AddressSize));
        _receiveVectors = (IoVec*)NativeMemory.AllocZeroed((nuint)(slots * sizeof(IoVec)));
        _sendVectors = (IoVec*)NativeMemory.AllocZeroed((nuint)(slots * sizeof(IoVec)));
        _received = (MMsgHdr*)NativeMemory.AllocZeroed((nuint)(slots * sizeof(MMsgHdr)));
        _send = (MMsgHdr*)NativeMemory.AllocZeroed((nuint)(slots * sizeof(MMsgHdr)));
        _receiveControl = (byte*)NativeMemory.AllocZeroed((nuint)(slots * ControlSize));
        _sendControl = (byte*)NativeMemory.AllocZeroed((nuint)(slots * ControlSize));
        for (int i = 0; i < slots; i++)
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
        for (int i = 0; i < _slots; i++)
        {
            _received[i].Header.NameLength = AddressSize;
            _received[i].Header.Flags = 0;
            _received[i].Length = 0;
            if (_packetInfo)
            {
                _received[i].Header.Control = _receiveControl + (i * ControlSize);
                _received[i].Header.ControlLength = ControlSize;
            }
        }
        int n = RecvMMsg((int)socket.DangerousGetHandle(), _received, (uint)_slots, MsgWaitForOne, null);
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
            if (_packetInfo) SetSource(ref _send[count].Header, _received[i].Header, _sendControl + (count * ControlSize));
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

    /// <summary>
    /// Asks the kernel for each datagram's destination address: IP_PKTINFO on an IPv4 socket; IPV6_RECVPKTINFO on an
    /// IPv6 one, which Linux also fills for IPv4 datagrams on a dual-stack socket (as a mapped address).
    /// </summary>
    public static void EnablePacketInfo(Socket socket)
    {
        if (socket.AddressFamily == AddressFamily.InterNetworkV6) socket.SetRawSocketOption(SolIpv6, 49 /* IPV6_RECVPKTINFO */, BitConverter.GetBytes(1));
        else socket.SetRawSocketOption(SolIp, IpPktInfo, BitConverter.GetBytes(1));
    }

    /// <summary>
    /// Control data for an answer: the query's destination as its source. Knot's <c>cmsg_handle_pktinfo</c>: for IPv4
    /// ipi_spec_dst takes the destination and the interface is left to routing; IPV6_PKTINFO goes back as received
    /// (address and interface), which Linux also takes for a mapped IPv4 destination on a dual-stack socket.
    /// Without usable control data the answer goes without, from the address routing picks.
    /// </summary>
    private static void SetSource(ref MsgHdr send, in MsgHdr received, byte* control)
    {
        send.Control = null;
        send.ControlLength = 0;
        if ((received.Flags & 0x8 /* MSG_CTRUNC */) != 0 || received.ControlLength < CmsgHeaderSize) return;
        byte* cmsg = (byte*)received.Control;
        byte* end = cmsg + received.ControlLength;
        while (cmsg + CmsgHeaderSize <= end)
        {
            nuint length = *(nuint*)cmsg;
            int level = *(int*)(cmsg + 8), type = *(int*)(cmsg + 12);
            if (length < CmsgHeaderSize || cmsg + length > end) return;
            if (level == SolIp && type == IpPktInfo && length >= CmsgHeaderSize + 12)
            {
                // struct in_pktinfo { int ipi_ifindex; in_addr ipi_spec_dst; in_addr ipi_addr; }
                *(nuint*)control = CmsgHeaderSize + 12;
                *(int*)(control + 8) = SolIp;
                *(int*)(control + 12) = IpPktInfo;
                *(int*)(control + 16) = 0;
                *(uint*)(control + 20) = *(uint*)(cmsg + CmsgHeaderSize + 8);
                *(uint*)(control + 24) = 0;
                send.Control = control;
                send.ControlLength = CmsgHeaderSize + 16;
                return;
            }
            if (level == SolIpv6 && type == Ipv6PktInfo && length >= CmsgHeaderSize + 20)
            {
                // struct in6_pktinfo { in6_addr ipi6_addr; unsigned ipi6_ifindex; }
                Buffer.MemoryCopy(cmsg, control, ControlSize, CmsgHeaderSize + 20);
                *(nuint*)control = CmsgHeaderSize + 20;
                send.Control = control;
                send.ControlLength = CmsgHeaderSize + 24;
                return;
            }
            cmsg += (length + 7) & ~(nuint)7;
        }
    }

    public void Dispose()
    {
        NativeMemory.Free(_receiveControl);
        NativeMemory.Free(_sendControl);
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
