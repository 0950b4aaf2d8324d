using System.Text;
using CertDns.Dns;
using Google.Protobuf;

namespace CertDns.Server.Dnstap;

/// <summary>
/// Encodes query log entries as dnstap messages (dnstap.proto, github.com/dnstap/dnstap.pb, released under CC0): an
/// outer <c>Dnstap</c> (identity 1, version 2, message 14, type 15 = MESSAGE) around a <c>Message</c> (type 1 =
/// AUTH_QUERY or AUTH_RESPONSE, socket_family 2, socket_protocol 3, query_address 4, response_address 5, query_port 6,
/// response_port 7, query_time_sec 8, query_time_nsec 9, query_message 10, response_time_sec 12, response_time_nsec 13,
/// response_message 14). Written field by field with Google.Protobuf's <see cref="CodedOutputStream"/> rather than
/// protoc's classes: two fixed message shapes, encoded into buffers reused for every entry, with no message object
/// and no copy of the DNS bytes per frame (each bytes field is a wrapper over the entry's own buffer). This runs on
/// the writer's thread, never on the answer path.
/// </summary>
internal sealed class DnstapEncoder(string identity, string version)
{
    /// <summary>Message.Type: an authoritative server's incoming query and its response.</summary>
    public const int AuthQuery = 1;

    /// <summary>Message.Type AUTH_RESPONSE.</summary>
    public const int AuthResponse = 2;

    private const int Inet = 1, Inet6 = 2, Udp = 1, Tcp = 2, MessageType = 1;

    private readonly byte[] _identity = Encoding.UTF8.GetBytes(identity);
    private readonly byte[] _version = Encoding.UTF8.GetBytes(version);
    // A query and a response of at most 64 KiB each, plus addresses and times: every frame fits.
    private readonly byte[] _message = new byte[70_000];
    private readonly byte[] _frame = new byte[70_512];
    private readonly byte[] _client = new byte[16];
    private readonly byte[] _server = new byte[16];

    /// <summary>
    /// Encodes one dnstap message for <paramref name="entry"/> (the payload of a data frame): its query when
    /// <paramref name="type"/> is <see cref="AuthQuery"/>, else its response. The bytes stay valid until the next call.
    /// </summary>
    public ReadOnlySpan<byte> Encode(QueryLogEntry entry, int type)
    {
        int clientLength = entry.Client.WriteAddress(_client);
        int serverLength = entry.Server.WriteAddress(_server);
        long seconds = entry.UnixTicks / TimeSpan.TicksPerSecond;
        uint nanoseconds = (uint)(entry.UnixTicks % TimeSpan.TicksPerSecond * 100);

        var message = new CodedOutputStream(_message);
        message.WriteTag(1, WireFormat.WireType.Varint);
        message.WriteEnum(type);
        message.WriteTag(2, WireFormat.WireType.Varint);
        message.WriteEnum(entry.Client.IsV6 ? Inet6 : Inet);
        message.WriteTag(3, WireFormat.WireType.Varint);
        message.WriteEnum(entry.Tcp ? Tcp : Udp);
        Bytes(message, 4, _client.AsMemory(0, clientLength));
        Bytes(message, 5, _server.AsMemory(0, serverLength));
        message.WriteTag(6, WireFormat.WireType.Varint);
        message.WriteUInt32((uint)entry.Client.Port);
        message.WriteTag(7, WireFormat.WireType.Varint);
        message.WriteUInt32((uint)entry.Server.Port);
        // One clock reading per entry: the query's time and the response's are the same instant.
        message.WriteTag(8, WireFormat.WireType.Varint);
        message.WriteUInt64((ulong)seconds);
        message.WriteTag(9, WireFormat.WireType.Fixed32);
        message.WriteFixed32(nanoseconds);
        if (type == AuthQuery)
        {
            Bytes(message, 10, entry.QueryMemory);
        }
        else
        {
            message.WriteTag(12, WireFormat.WireType.Varint);
            message.WriteUInt64((ulong)seconds);
            message.WriteTag(13, WireFormat.WireType.Fixed32);
            message.WriteFixed32(nanoseconds);
            Bytes(message, 14, entry.ResponseMemory);
        }
        message.Flush();
        int messageLength = (int)message.Position;

        var frame = new CodedOutputStream(_frame);
        Bytes(frame, 1, _identity);
        Bytes(frame, 2, _version);
        Bytes(frame, 14, _message.AsMemory(0, messageLength));
        frame.WriteTag(15, WireFormat.WireType.Varint);
        frame.WriteEnum(MessageType);
        frame.Flush();
        return _frame.AsSpan(0, (int)frame.Position);
    }

    private static void Bytes(CodedOutputStream output, int field, ReadOnlyMemory<byte> bytes)
    {
        output.WriteTag(field, WireFormat.WireType.LengthDelimited);
        output.WriteBytes(UnsafeByteOperations.UnsafeWrap(bytes));
    }
}
