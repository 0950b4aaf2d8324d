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

    private static readonly Dictionary<string, string> SymbolsById = Symbols.ToDictionary(s => s.Key.Id, s => s.Value, StringComparer.Ordinal);

    /// <summary>RFC 4514 order (most specific first), e.g. <c>CN=Example CA,O=Example</c>.</summary>
    public static string ToText(ReadOnlySpan<byte> nameDer)
    {
        if (TryFastText(nameDer) is { } text) return text;
        return ToTextWithBouncyCastle(nameDer);
    }

    /// <summary>The BouncyCastle reading of <see cref="ToText"/>, which the fast reading must equal.</summary>
    internal static string ToTextWithBouncyCastle(ReadOnlySpan<byte> nameDer)
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

    /// <summary>
    /// <see cref="ToText"/> for the names certificates carry, read with System.Formats.Asn1 and written as
    /// BouncyCastle's <c>X509Name.ToString(true, symbols)</c> writes them: RDNs last to first joined by ',', the
    /// attributes of one RDN by '+', the symbol or the dotted OID, '=', the value with RFC 4514's specials escaped.
    /// Null for values other than UTF8String, PrintableString and IA5String that decode cleanly, for a value
    /// starting with '#', and for anything malformed: those go through BouncyCastle.
    /// </summary>
    internal static string? TryFastText(ReadOnlySpan<byte> nameDer)
    {
        try
        {
            var rdns = new List<string>();
            AsnDecoder.ReadSequence(nameDer, AsnEncodingRules.DER, out int offset, out int length, out int consumed);
            if (consumed != nameDer.Length) return null;
            var rest = nameDer.Slice(offset, length);
            var rdn = new System.Text.StringBuilder();
            while (!rest.IsEmpty)
            {
                AsnDecoder.ReadEncodedValue(rest, AsnEncodingRules.DER, out int setOffset, out int setLength, out int setConsumed);
                if (rest[0] != 0x31 || setLength == 0) return null;
                var attributes = rest.Slice(setOffset, setLength);
                rest = rest[setConsumed..];
                rdn.Clear();
                while (!attributes.IsEmpty)
                {
                    AsnDecoder.ReadSequence(attributes, AsnEncodingRules.DER, out int atvOffset, out int atvLength, out int atvConsumed);
                    var atv = attributes.Slice(atvOffset, atvLength);
                    attributes = attributes[atvConsumed..];
                    var oid = AsnDecoder.ReadObjectIdentifier(atv, AsnEncodingRules.DER, out int oidConsumed);
                    var valueDer = atv[oidConsumed..];
                    var tag = Asn1Tag.Decode(valueDer, out _);
                    if (tag.TagClass != TagClass.Universal || tag.IsConstructed) return null;
                    var type = (UniversalTagNumber)tag.TagValue;
                    if (type is not (UniversalTagNumber.UTF8String or UniversalTagNumber.PrintableString or UniversalTagNumber.IA5String)) return null;
                    var value = AsnDecoder.ReadCharacterString(valueDer, AsnEncodingRules.DER, type, out int valueConsumed);
                    if (valueConsumed != valueDer.Length || value.StartsWith('#') || value.Contains('\uFFFD')) return null;
                    if (rdn.Length > 0) rdn.Append('+');
                    rdn.Append(SymbolsById.TryGetValue(oid, out var symbol) ? symbol : oid).Append('=');
                    AppendEscaped(rdn, value);
                }
                rdns.Add(rdn.ToString());
            }
            rdns.Reverse();
            return string.Join(',', rdns);
        }
        catch (Exception e) when (e is AsnContentException or ArgumentException or System.Text.DecoderFallbackException)
        {
            return null;
        }
    }

    /// <summary>RFC 4514 2.4 as BouncyCastle applies it: the specials escaped, and leading and trailing spaces.</summary>
    private static void AppendEscaped(System.Text.StringBuilder text, string value)
    {
        int first = 0;
        while (first < value.Length && value[first] == ' ') first++;
        int last = value.Length - 1;
        while (last >= first && value[last] == ' ') last--;
        for (int i = 0; i < value.Length; i++)
        {
            char c = value[i];
            bool escape = c is ',' or '"' or '\\' or '+' or '=' or '<' or '>' or ';' || (c == ' ' && (i < first || i > last));
            if (escape) text.Append('\\');
            text.Append(c);
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
