using Org.BouncyCastle.Asn1;
using Org.BouncyCastle.Asn1.X509;

namespace CertDns.Pki;

/// <summary>Distinguished names: readable text and RFC 5280 7.1 comparison, both via BouncyCastle.</summary>
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
}
