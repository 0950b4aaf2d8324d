using System.Formats.Asn1;
using Org.BouncyCastle.Asn1;
using Org.BouncyCastle.Asn1.X509;

namespace CertDns.Pki;

/// <summary>Distinguished names: readable text and RFC 5280 7.1 comparison via BouncyCastle, and distribution point names.</summary>
internal static class Names
{
    private static readonly Dictionary<DerObjectIdentifier, string> Symbols = BuildSymbols();

    private static Dictionary<DerObjectIdentifier, string> BuildSymbols()
    {
        var symbols = new Dictionary<DerObjectIdentifier, string>(X509Name.DefaultSymbols)
        {
            // Common in eIDAS CAs (ETSI EN 319 412-1); BouncyCastle would print the OID.
            [new DerObjectIdentifier("2.5.4.97")] = "organizationIdentifier",
        };
        return symbols;
    }

    /// <summary>RFC 4514 order (most specific first), e.g. <c>CN=Example CA,O=Example</c>.</summary>
    public static string ToText(ReadOnlySpan<byte> nameDer)
    {
        try
        {
            return X509Name.GetInstance(Asn1Object.FromByteArray(nameDer.ToArray())).ToString(true, Symbols);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            return "(unreadable name)";
        }
    }

    /// <summary>Whether two names are the same: DER-equal, or equal under BouncyCastle's RFC 5280 matching.</summary>
    public static bool Match(ReadOnlySpan<byte> a, ReadOnlySpan<byte> b)
    {
        if (a.SequenceEqual(b)) return true;
        try
        {
            var x = X509Name.GetInstance(Asn1Object.FromByteArray(a.ToArray()));
            var y = X509Name.GetInstance(Asn1Object.FromByteArray(b.ToArray()));
            return x.Equivalent(y, true);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            return false;
        }
    }

    /// <summary>
    /// A DER DistributionPointName as the full name it stands for (RFC 5280 4.2.1.13, 5.2.5): a nameRelativeToCRLIssuer
    /// is appended to the name of the issuer it is relative to, giving fullName { directoryName }. Certificates and
    /// CRLs store their points this way, so that matching compares names, never the two CHOICEs. A full name, or a
    /// name that cannot be read, comes back as it is.
    /// </summary>
    public static byte[] WholePointName(byte[] pointName, ReadOnlySpan<byte> issuerName)
    {
        var relative = new Asn1Tag(TagClass.ContextSpecific, 1, isConstructed: true);
        try
        {
            var reader = new AsnReader(pointName, AsnEncodingRules.DER);
            if (!reader.PeekTag().HasSameClassAndValue(relative)) return pointName;
            // [1] IMPLICIT RelativeDistinguishedName: its attributes go in a SET after the issuer's RDNs.
            var attributes = reader.ReadSetOf(relative);
            var issuer = new AsnReader(issuerName.ToArray(), AsnEncodingRules.DER).ReadSequence();
            var writer = new AsnWriter(AsnEncodingRules.DER);
            using (writer.PushSequence(new Asn1Tag(TagClass.ContextSpecific, 0, isConstructed: true)))
            using (writer.PushSequence(new Asn1Tag(TagClass.ContextSpecific, 4, isConstructed: true)))
            using (writer.PushSequence())
            {
                while (issuer.HasData) writer.WriteEncodedValue(issuer.ReadEncodedValue().Span);
                using (writer.PushSetOf())
                {
                    while (attributes.HasData) writer.WriteEncodedValue(attributes.ReadEncodedValue().Span);
                }
            }
            return writer.Encode();
        }
        catch (AsnContentException)
        {
            return pointName;
        }
    }
}
