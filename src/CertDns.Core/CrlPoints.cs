namespace CertDns.Core;

/// <summary>
/// One entry of a certificate's cRLDistributionPoints (RFC 5280 4.2.1.13), decoded once by CertDns.Pki into plain
/// values so that coverage (<see cref="CrlCoverage"/>) and the store never read ASN.1.
/// </summary>
/// <param name="Names">The distribution point's names, each one GeneralName as DER (a relative name already made
/// whole: appended to the name it is relative to); a name that could not be made whole is one opaque token that
/// matches only itself. Null when the point names no distributionPoint.</param>
/// <param name="CrlIssuers">The cRLIssuer's directory names, each as DER Name; null when the point has no cRLIssuer
/// (it is then served by the certificate issuer's own CRLs). Present but empty: a cRLIssuer of other name forms only.</param>
/// <param name="Reasons">ReasonFlags as CRLReason bits (bit n set covers CRLReason n), or null for all reasons.</param>
public sealed record CrlDistributionPoint(IReadOnlyList<byte[]>? Names, IReadOnlyList<byte[]>? CrlIssuers, int? Reasons);

/// <summary>
/// Which certificates and reasons a CRL series covers (RFC 5280 5.2.5, the issuingDistributionPoint extension). Each
/// CRL issuer has one series per distinct issuingDistributionPoint, so partitions are replaced independently.
/// </summary>
/// <param name="Idp">DER of the issuingDistributionPoint value, used only as the series' key; empty when the CRL has none.</param>
/// <param name="PointNames">The IDP's distributionPoint names, each one GeneralName as DER (as in
/// <see cref="CrlDistributionPoint.Names"/>); null when the CRL names no distribution point.</param>
/// <param name="OnlyUser">onlyContainsUserCerts.</param>
/// <param name="OnlyCa">onlyContainsCACerts.</param>
/// <param name="OnlyAttribute">onlyContainsAttributeCerts.</param>
/// <param name="Reasons">Bit n set covers CRLReason n; null covers every reason.</param>
/// <param name="Indirect">indirectCRL.</param>
public sealed record CrlScope(byte[] Idp, IReadOnlyList<byte[]>? PointNames, bool OnlyUser, bool OnlyCa, bool OnlyAttribute, int? Reasons, bool Indirect)
{
    /// <summary>A CRL without issuingDistributionPoint: every certificate of its issuer, every reason.</summary>
    public static CrlScope Complete { get; } = new([], null, false, false, false, null, false);

    /// <summary>ReasonFlags bits a complete set of partitions must cover (RFC 5280 6.3.3: all-reasons).</summary>
    public const int AllReasons = (1 << 1) | (1 << 2) | (1 << 3) | (1 << 4) | (1 << 5) | (1 << 6) | (1 << 9) | (1 << 10);
}

/// <summary>
/// The store's encoding of distribution points and name lists: a small length-prefixed binary form of CertDns's own
/// (not ASN.1), so that the store keeps and compares them as blobs and coverage reads them without a DER parser.
/// Equal values encode to equal bytes, which lets consecutive certificates share one decoding.
/// </summary>
public static class CrlPointCodec
{
    private const byte Version = 1;
    private const byte HasNames = 1, HasIssuers = 2, HasReasons = 4;

    /// <summary>A certificate's points; null for none (the column stays NULL).</summary>
    public static byte[]? Encode(IReadOnlyList<CrlDistributionPoint>? points)
    {
        if (points is not { Count: > 0 }) return null;
        var output = new List<byte> { Version };
        WriteCount(output, points.Count);
        foreach (var p in points)
        {
            output.Add((byte)((p.Names is null ? 0 : HasNames) | (p.CrlIssuers is null ? 0 : HasIssuers) | (p.Reasons is null ? 0 : HasReasons)));
            if (p.Reasons is { } r) WriteCount(output, r);
            if (p.Names is not null) WriteList(output, p.Names);
            if (p.CrlIssuers is not null) WriteList(output, p.CrlIssuers);
        }
        return [.. output];
    }

    /// <summary>Reads what <see cref="Encode(IReadOnlyList{CrlDistributionPoint})"/> wrote.</summary>
    /// <exception cref="InvalidDataException">The bytes are not in this form.</exception>
    public static CrlDistributionPoint[] DecodePoints(ReadOnlySpan<byte> data)
    {
        int at = 0;
        if (data.IsEmpty || data[at++] != Version) throw new InvalidDataException("Stored distribution points are not in CertDns's form (version 1).");
        var points = new CrlDistributionPoint[ReadCount(data, ref at)];
        for (int i = 0; i < points.Length; i++)
        {
            var flags = Byte(data, ref at);
            int? reasons = (flags & HasReasons) != 0 ? ReadCount(data, ref at) : null;
            var names = (flags & HasNames) != 0 ? ReadList(data, ref at) : null;
            var issuers = (flags & HasIssuers) != 0 ? ReadList(data, ref at) : null;
            points[i] = new CrlDistributionPoint(names, issuers, reasons);
        }
        if (at != data.Length) throw new InvalidDataException("Stored distribution points have trailing bytes.");
        return points;
    }

    /// <summary>A list of names (a CRL's point names); null stays null.</summary>
    public static byte[]? EncodeNames(IReadOnlyList<byte[]>? names)
    {
        if (names is null) return null;
        var output = new List<byte> { Version };
        WriteList(output, names);
        return [.. output];
    }

    /// <summary>Reads what <see cref="EncodeNames"/> wrote.</summary>
    /// <exception cref="InvalidDataException">The bytes are not in this form.</exception>
    public static byte[][] DecodeNames(ReadOnlySpan<byte> data)
    {
        int at = 0;
        if (data.IsEmpty || data[at++] != Version) throw new InvalidDataException("Stored point names are not in CertDns's form (version 1).");
        var names = ReadList(data, ref at);
        if (at != data.Length) throw new InvalidDataException("Stored point names have trailing bytes.");
        return names;
    }

    private static void WriteList(List<byte> output, IReadOnlyList<byte[]> items)
    {
        WriteCount(output, items.Count);
        foreach (var item in items)
        {
            WriteCount(output, item.Length);
            output.AddRange(item);
        }
    }

    private static byte[][] ReadList(ReadOnlySpan<byte> data, ref int at)
    {
        var items = new byte[ReadCount(data, ref at)][];
        for (int i = 0; i < items.Length; i++)
        {
            int length = ReadCount(data, ref at);
            if (length > data.Length - at) throw new InvalidDataException("Stored name runs past the end.");
            items[i] = data.Slice(at, length).ToArray();
            at += length;
        }
        return items;
    }

    // Unsigned LEB128: small numbers (counts, lengths, reason masks) in one or two octets.
    private static void WriteCount(List<byte> output, int value)
    {
        var v = (uint)value;
        while (v >= 0x80)
        {
            output.Add((byte)(v | 0x80));
            v >>= 7;
        }
        output.Add((byte)v);
    }

    private static int ReadCount(ReadOnlySpan<byte> data, ref int at)
    {
        uint value = 0;
        for (int shift = 0; shift < 32; shift += 7)
        {
            var b = Byte(data, ref at);
            value |= (uint)(b & 0x7f) << shift;
            if (b < 0x80) return value <= int.MaxValue ? (int)value : throw new InvalidDataException("Stored count is out of range.");
        }
        throw new InvalidDataException("Stored count is too long.");
    }

    private static byte Byte(ReadOnlySpan<byte> data, ref int at) =>
        at < data.Length ? data[at++] : throw new InvalidDataException("Stored distribution points end early.");
}
