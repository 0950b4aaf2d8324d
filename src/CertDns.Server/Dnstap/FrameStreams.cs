using System.Buffers.Binary;
using System.Text;

namespace CertDns.Server.Dnstap;

/// <summary>
/// Frame Streams (fstrm), the framing dnstap rides on: a data frame is a 32-bit big-endian length and that many bytes;
/// a control frame is an escape (a zero length), its own length, a control type and fields (CONTENT_TYPE names what
/// the data frames carry). A file is START, data frames, STOP. A socket adds the handshake: the writer sends READY,
/// the reader ACCEPT, the writer START ... STOP, the reader FINISH (fstrm's "bidirectional" mode, as fstrm_capture,
/// BIND and Knot speak it).
/// </summary>
internal static class FrameStreams
{
    /// <summary>The content type dnstap's readers expect.</summary>
    public const string DnstapContentType = "protobuf:dnstap.Dnstap";

    public const uint Accept = 0x01;
    public const uint Start = 0x02;
    public const uint Stop = 0x03;
    public const uint Ready = 0x04;
    public const uint Finish = 0x05;

    private const uint ContentTypeField = 0x01;

    /// <summary>fstrm refuses control frames longer than this.</summary>
    public const int MaxControlLength = 512;

    /// <summary>A control frame of <paramref name="type"/>, with the dnstap content type where the protocol has one.</summary>
    public static byte[] Control(uint type)
    {
        var content = Encoding.ASCII.GetBytes(DnstapContentType);
        // STOP and FINISH carry no fields.
        bool withType = type is Accept or Start or Ready;
        int length = 4 + (withType ? 8 + content.Length : 0);
        var frame = new byte[8 + length];
        BinaryPrimitives.WriteUInt32BigEndian(frame.AsSpan(0), 0);
        BinaryPrimitives.WriteUInt32BigEndian(frame.AsSpan(4), (uint)length);
        BinaryPrimitives.WriteUInt32BigEndian(frame.AsSpan(8), type);
        if (withType)
        {
            BinaryPrimitives.WriteUInt32BigEndian(frame.AsSpan(12), ContentTypeField);
            BinaryPrimitives.WriteUInt32BigEndian(frame.AsSpan(16), (uint)content.Length);
            content.CopyTo(frame.AsSpan(20));
        }
        return frame;
    }

    /// <summary>
    /// Reads one control frame from <paramref name="stream"/>: its type and content types. Throws
    /// <see cref="InvalidDataException"/> when what arrives is not one.
    /// </summary>
    public static (uint Type, List<string> ContentTypes) ReadControl(Stream stream)
    {
        Span<byte> head = stackalloc byte[8];
        stream.ReadExactly(head);
        if (BinaryPrimitives.ReadUInt32BigEndian(head) != 0) throw new InvalidDataException("expected a control frame, got a data frame");
        uint length = BinaryPrimitives.ReadUInt32BigEndian(head[4..]);
        if (length is < 4 or > MaxControlLength) throw new InvalidDataException($"control frame of {length} bytes");
        var body = new byte[length];
        stream.ReadExactly(body);
        uint type = BinaryPrimitives.ReadUInt32BigEndian(body);
        var types = new List<string>();
        int at = 4;
        while (at + 8 <= body.Length)
        {
            uint field = BinaryPrimitives.ReadUInt32BigEndian(body.AsSpan(at));
            uint size = BinaryPrimitives.ReadUInt32BigEndian(body.AsSpan(at + 4));
            at += 8;
            if (size > body.Length - at) throw new InvalidDataException("control field runs past its frame");
            if (field == ContentTypeField) types.Add(Encoding.ASCII.GetString(body, at, (int)size));
            at += (int)size;
        }
        return (type, types);
    }
}
