using System.Buffers.Binary;

namespace CertDns.Dns;

/// <summary>
/// Appends DNS wire data to a fixed span. Writing past the end sets <see cref="Overflow"/> instead of throwing,
/// so a response that does not fit becomes a truncated one (RFC 1035 section 4.2.1) without an exception.
/// </summary>
internal ref struct WireWriter(Span<byte> buffer)
{
    private readonly Span<byte> _buffer = buffer;

    public int Position { get; private set; }

    public bool Overflow { get; private set; }

    public void U8(byte value)
    {
        if (Reserve(1) is var at and >= 0) _buffer[at] = value;
    }

    public void U16(int value)
    {
        if (Reserve(2) is var at and >= 0) BinaryPrimitives.WriteUInt16BigEndian(_buffer[at..], (ushort)value);
    }

    public void U32(uint value)
    {
        if (Reserve(4) is var at and >= 0) BinaryPrimitives.WriteUInt32BigEndian(_buffer[at..], value);
    }

    public void Bytes(scoped ReadOnlySpan<byte> value)
    {
        if (Reserve(value.Length) is var at and >= 0) value.CopyTo(_buffer[at..]);
    }

    /// <summary>Overwrites a 16-bit value already written, e.g. an RDLENGTH once the RDATA is known.</summary>
    public void PatchU16(int at, int value)
    {
        if (!Overflow) BinaryPrimitives.WriteUInt16BigEndian(_buffer[at..], (ushort)value);
    }

    /// <summary>A writable slice of <paramref name="length"/> bytes, or an empty span on overflow.</summary>
    public Span<byte> Take(int length) => Reserve(length) is var at and >= 0 ? _buffer.Slice(at, length) : [];

    private int Reserve(int length)
    {
        if (Overflow || Position + length > _buffer.Length)
        {
            Overflow = true;
            return -1;
        }
        int at = Position;
        Position += length;
        return at;
    }
}
