using System.Formats.Asn1;
using CertDns.Core;

namespace CertDns.Pki;

/// <summary>
/// Decodes distribution points into CertDns.Core's plain values, once: certificates' cRLDistributionPoints and CRLs'
/// issuingDistributionPoint at parse time, and the DER that stores of schema 4 and earlier kept (through
/// <see cref="Legacy"/>, which a process that may open such a store hands to the store).
/// </summary>
public static class DistributionPoints
{
    private static readonly Asn1Tag Context0 = new(TagClass.ContextSpecific, 0, isConstructed: true);
    private static readonly Asn1Tag Context1 = new(TagClass.ContextSpecific, 1);
    private static readonly Asn1Tag Context2 = new(TagClass.ContextSpecific, 2, isConstructed: true);
    private static readonly Asn1Tag Context4 = new(TagClass.ContextSpecific, 4, isConstructed: true);

    /// <summary>The decoder of schema-4 DER columns.</summary>
    public static IStoredDerDecoder Legacy { get; } = new LegacyDecoder();

    /// <summary>
    /// The names of a DER DistributionPointName that was made whole (<see cref="Names.WholePointName"/>): each GeneralName
    /// of its fullName as DER. A name that is not a full name (a relative name with nothing to be relative to) or cannot be
    /// read is one opaque token, the DER itself, that matches only an equal one: such a certificate answers stale, never valid.
    /// </summary>
    public static byte[][] PointNames(byte[] wholePointName)
    {
        try
        {
            var reader = new AsnReader(wholePointName, AsnEncodingRules.DER);
            if (!reader.PeekTag().HasSameClassAndValue(Context0)) return [wholePointName];
            var general = reader.ReadSequence(Context0);
            var names = new List<byte[]>();
            while (general.HasData) names.Add(general.ReadEncodedValue().ToArray());
            return names.Count == 0 ? [wholePointName] : [.. names];
        }
        catch (AsnContentException)
        {
            return [wholePointName];
        }
    }

    /// <summary>ReasonFlags (RFC 5280 4.2.1.13) as a mask of CRLReason bits: bit n is CRLReason n, except privilegeWithdrawn (7 -> 9) and aACompromise (8 -> 10).</summary>
    public static int ReasonMask(ReadOnlySpan<byte> bits)
    {
        int mask = 0;
        for (int bit = 1; bit <= 8; bit++)
        {
            int octet = bit / 8;
            if (octet < bits.Length && (bits[octet] & (0x80 >> (bit % 8))) != 0) mask |= 1 << (bit switch { 7 => 9, 8 => 10, _ => bit });
        }
        return mask;
    }

    /// <summary>A DER DistributionPoint SEQUENCE whose name was made whole; a cRLIssuer keeps its directory names.</summary>
    internal static CrlDistributionPoint FromDer(ReadOnlyMemory<byte> distributionPoint)
    {
        var point = new AsnReader(distributionPoint, AsnEncodingRules.DER).ReadSequence();
        byte[][]? names = null;
        List<byte[]>? issuers = null;
        int? reasons = null;
        if (point.HasData && point.PeekTag().HasSameClassAndValue(Context0)) names = PointNames(point.ReadSequence(Context0).ReadEncodedValue().ToArray());
        if (point.HasData && point.PeekTag().HasSameClassAndValue(Context1)) reasons = ReasonMask(point.ReadBitString(out _, Context1));
        if (point.HasData && point.PeekTag().HasSameClassAndValue(Context2))
        {
            issuers = [];
            var general = point.ReadSequence(Context2);
            while (general.HasData)
            {
                if (general.PeekTag().HasSameClassAndValue(Context4)) issuers.Add(general.ReadSequence(Context4).ReadEncodedValue().ToArray());
                else general.ReadEncodedValue();
            }
        }
        return new CrlDistributionPoint(names, issuers, reasons);
    }

    private sealed class LegacyDecoder : IStoredDerDecoder
    {
        // Schema 4 kept a certificate's points back to back: a bare DistributionPointName for a point without cRLIssuer,
        // the whole DistributionPoint SEQUENCE for one with it; relative names already made whole.
        public IReadOnlyList<CrlDistributionPoint> CertificatePoints(byte[] der)
        {
            var points = new List<CrlDistributionPoint>();
            int offset = 0;
            try
            {
                while (offset < der.Length)
                {
                    AsnDecoder.ReadEncodedValue(der.AsSpan(offset), AsnEncodingRules.DER, out _, out _, out int consumed);
                    var value = der.AsMemory(offset, consumed);
                    points.Add(value.Span[0] == 0x30 ? FromDer(value) : new CrlDistributionPoint(PointNames(value.ToArray()), null, null));
                    offset += consumed;
                }
            }
            catch (AsnContentException)
            {
                // What cannot be read stays one opaque name that matches nothing else: stale, never valid.
                points.Add(new CrlDistributionPoint([der[offset..]], null, null));
            }
            return points;
        }

        public IReadOnlyList<byte[]> PointNames(byte[] pointNameDer) => DistributionPoints.PointNames(pointNameDer);
    }
}
