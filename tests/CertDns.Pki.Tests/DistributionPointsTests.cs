using System.Formats.Asn1;
using CertDns.Pki;

namespace CertDns.Pki.Tests;

/// <summary>Schema-4 stores kept a certificate's points as DER; the legacy decoder turns them into plain values.</summary>
public sealed class DistributionPointsTests
{
    private static readonly Asn1Tag C0 = new(TagClass.ContextSpecific, 0, isConstructed: true);

    private static byte[] Uri(string uri)
    {
        var w = new AsnWriter(AsnEncodingRules.DER);
        w.WriteCharacterString(UniversalTagNumber.IA5String, uri, new Asn1Tag(TagClass.ContextSpecific, 6));
        return w.Encode();
    }

    private static byte[] Name(string cn)
    {
        var w = new AsnWriter(AsnEncodingRules.DER);
        using (w.PushSequence())
        using (w.PushSetOf())
        using (w.PushSequence())
        {
            w.WriteObjectIdentifier("2.5.4.3");
            w.WriteCharacterString(UniversalTagNumber.UTF8String, cn);
        }
        return w.Encode();
    }

    [Fact]
    public void LegacyCertificatePoints_NameAndDistributionPointWithCrlIssuer_DecodedApart()
    {
        var w = new AsnWriter(AsnEncodingRules.DER);
        // A bare DistributionPointName (no cRLIssuer) ...
        using (w.PushSequence(C0)) w.WriteEncodedValue(Uri("http://a.example/crl"));
        // ... then a whole DistributionPoint naming a point, reasons and a cRLIssuer.
        using (w.PushSequence())
        {
            using (w.PushSequence(C0))
            using (w.PushSequence(C0))
                w.WriteEncodedValue(Uri("http://b.example/crl"));
            w.WriteBitString([0x40], 1, new Asn1Tag(TagClass.ContextSpecific, 1));
            using (w.PushSequence(new Asn1Tag(TagClass.ContextSpecific, 2, isConstructed: true)))
            using (w.PushSequence(new Asn1Tag(TagClass.ContextSpecific, 4, isConstructed: true)))
                w.WriteEncodedValue(Name("Indirect Issuer"));
        }

        var points = DistributionPoints.Legacy.CertificatePoints(w.Encode());

        Assert.Equal(2, points.Count);
        Assert.Equal([Uri("http://a.example/crl")], points[0].Names);
        Assert.Null(points[0].CrlIssuers);
        Assert.Equal([Uri("http://b.example/crl")], points[1].Names);
        Assert.Equal([Name("Indirect Issuer")], points[1].CrlIssuers);
        // ReasonFlags bit 1 is keyCompromise (CRLReason 1).
        Assert.Equal(1 << 1, points[1].Reasons);
    }

    [Fact]
    public void LegacyCertificatePoints_Unreadable_OneOpaqueNameThatMatchesNothingElse()
    {
        var points = DistributionPoints.Legacy.CertificatePoints([0xA0, 0x05, 0x01]);

        var point = Assert.Single(points);
        Assert.Equal([new byte[] { 0xA0, 0x05, 0x01 }], point.Names);
        Assert.Null(point.CrlIssuers);
    }
}
