using System.Formats.Asn1;
using CertDns.Core;

namespace CertDns.Pki;

/// <summary>
/// What <see cref="ParsedCertificate"/> keeps of a certificate beyond the slices of its bytes, however it was read.
/// </summary>
internal sealed record CertificateFields(
    DateTimeOffset NotBefore,
    DateTimeOffset NotAfter,
    byte[]? SubjectKeyId,
    byte[]? AuthorityKeyId,
    bool HasBasicConstraints,
    bool IsCa,
    int? PathLengthConstraint,
    bool? CanSignCertificates,
    bool? CanSignCrl,
    List<string> CrlDistributionPoints,
    List<CrlDistributionPoint> CrlPoints);

/// <summary>
/// Reads a certificate's fields with System.Formats.Asn1 under DER rules, in one walk and without building objects
/// (RFC 5280 4.1). It reads only what it can prove BouncyCastle would read the same way: a DER tree that is valid
/// all the way down, a known version with the fields that version allows, each extension once, the extensions
/// CertDns uses well formed. Anything else gives null and the caller reads the certificate the BouncyCastle way,
/// which keeps every refusal and its message as they were.
/// </summary>
internal static class CertificateReader
{
    private static readonly Asn1Tag Context0 = new(TagClass.ContextSpecific, 0, isConstructed: true);
    private static readonly Asn1Tag Context1 = new(TagClass.ContextSpecific, 1);
    private static readonly Asn1Tag Context2 = new(TagClass.ContextSpecific, 2);
    private static readonly Asn1Tag Context3 = new(TagClass.ContextSpecific, 3, isConstructed: true);

    // DER content octets of the OIDs read here (RFC 5280 4.2.1).
    private static ReadOnlySpan<byte> SubjectKeyIdentifierOid => [0x55, 0x1D, 0x0E];
    private static ReadOnlySpan<byte> KeyUsageOid => [0x55, 0x1D, 0x0F];
    private static ReadOnlySpan<byte> BasicConstraintsOid => [0x55, 0x1D, 0x13];
    private static ReadOnlySpan<byte> CrlDistributionPointsOid => [0x55, 0x1D, 0x1F];
    private static ReadOnlySpan<byte> AuthorityKeyIdentifierOid => [0x55, 0x1D, 0x23];

    /// <summary>The fields of the certificate <paramref name="der"/>, or null when it needs the BouncyCastle reading.</summary>
    public static CertificateFields? TryRead(byte[] der, ReadOnlySpan<byte> issuerDer)
    {
        try
        {
            return Read(der, issuerDer);
        }
        catch (Exception e) when (e is AsnContentException or CrlFormatException or ArgumentException or NotDerException)
        {
            return null;
        }
    }

    private static CertificateFields? Read(byte[] der, ReadOnlySpan<byte> issuerDer)
    {
        // Every element under DER rules, all the way down, as BouncyCastle's reader builds each one.
        if (!DerTree.IsValid(der)) return null;
        var outer = new DerCursor(der, 0);
        var cert = outer.ReadSequence("Certificate");
        var tbs = cert.ReadSequence("TBSCertificate");
        if (!IsAlgorithmIdentifier(cert.ReadEncoded(out _))) return null;
        cert.ReadBitString(out _);
        if (cert.HasData || outer.HasData) return null;

        int version = 0;
        if (tbs.NextIs(Context0))
        {
            var explicitVersion = tbs.ReadConstructed(Context0, "version");
            var value = explicitVersion.ReadBigInteger();
            if (explicitVersion.HasData || value < 0 || value > 2) return null;
            version = (int)value;
        }
        tbs.ReadInteger(out _);
        if (!IsAlgorithmIdentifier(tbs.ReadEncoded(out _))) return null;
        // RFC 5280 4.1.2.4: the issuer is a non-empty name (BouncyCastle refuses an empty one).
        if (!IsName(tbs.ReadEncoded(out _), out int issuerRdns) || issuerRdns == 0) return null;
        var validity = tbs.ReadSequence("validity");
        var notBefore = validity.ReadTime("notBefore");
        var notAfter = validity.ReadTime("notAfter");
        if (validity.HasData) return null;
        if (!IsName(tbs.ReadEncoded(out _), out _)) return null;
        var spki = tbs.ReadSequence("subjectPublicKeyInfo");
        if (!IsAlgorithmIdentifier(spki.ReadEncoded(out _))) return null;
        spki.ReadBitString(out _);
        if (spki.HasData) return null;
        if (version >= 1)
        {
            if (tbs.NextIs(Context1)) tbs.ReadBitString(out _, Context1);
            if (tbs.NextIs(Context2)) tbs.ReadBitString(out _, Context2);
        }
        var fields = new CertificateFields(notBefore, notAfter, null, null, false, false, null, null, null, [], []);
        if (version == 2 && tbs.NextIs(Context3))
        {
            var wrapper = tbs.ReadConstructed(Context3, "extensions");
            var extensions = wrapper.ReadSequence("Extensions");
            if (wrapper.HasData || tbs.HasData) return null;
            return ReadExtensions(ref extensions, fields, issuerDer);
        }
        return tbs.HasData ? null : fields;
    }

    private static CertificateFields? ReadExtensions(ref DerCursor extensions, CertificateFields fields, ReadOnlySpan<byte> issuerDer)
    {
        var seen = new List<byte[]>();
        while (extensions.HasData)
        {
            var extension = extensions.ReadSequence("Extension");
            var oid = extension.ReadObjectIdentifierBytes();
            foreach (var other in seen)
            {
                // A repeated extension: BouncyCastle refuses it with its own message.
                if (oid.SequenceEqual(other)) return null;
            }
            seen.Add(oid.ToArray());
            if (extension.NextIs(Asn1Tag.Boolean)) extension.ReadBoolean();
            var value = extension.ReadOctetString(out _);
            if (extension.HasData) return null;
            if (IsRead(oid) && !DerTree.IsValid(value)) return null;

            if (oid.SequenceEqual(SubjectKeyIdentifierOid))
            {
                var reader = new DerCursor(value, 0);
                var id = reader.ReadOctetString(out _).ToArray();
                if (reader.HasData) return null;
                fields = fields with { SubjectKeyId = id };
            }
            else if (oid.SequenceEqual(AuthorityKeyIdentifierOid))
            {
                if (ReadAuthorityKeyId(value, out var keyId) is false) return null;
                fields = fields with { AuthorityKeyId = keyId };
            }
            else if (oid.SequenceEqual(BasicConstraintsOid))
            {
                var reader = new DerCursor(value, 0);
                var constraints = reader.ReadSequence("BasicConstraints");
                if (reader.HasData) return null;
                bool ca = constraints.NextIs(Asn1Tag.Boolean) && constraints.ReadBoolean();
                System.Numerics.BigInteger? pathLen = constraints.NextIs(Asn1Tag.Integer) ? constraints.ReadBigInteger() : null;
                if (constraints.HasData) return null;
                if (pathLen is { } p && (p < long.MinValue || p > long.MaxValue)) return null;
                fields = fields with
                {
                    HasBasicConstraints = true,
                    IsCa = ca,
                    PathLengthConstraint = ca && pathLen is { } n ? (int)Math.Min((long)n, int.MaxValue) : null,
                };
            }
            else if (oid.SequenceEqual(KeyUsageOid))
            {
                var reader = new DerCursor(value, 0);
                var bits = reader.ReadBitString(out int unused);
                if (reader.HasData) return null;
                int length = bits.Length * 8 - unused;
                if (bits.IsEmpty) length = 0;
                // RFC 5280 4.2.1.3: bit 5 is keyCertSign, bit 6 cRLSign.
                fields = fields with
                {
                    CanSignCertificates = length > 5 && (bits[0] & 0x04) != 0,
                    CanSignCrl = length > 6 && (bits[0] & 0x02) != 0,
                };
            }
            else if (oid.SequenceEqual(CrlDistributionPointsOid))
            {
                if (!ReadDistributionPoints(value, issuerDer, fields.CrlDistributionPoints, fields.CrlPoints)) return null;
            }
        }
        return fields;
    }

    private static bool IsRead(ReadOnlySpan<byte> oid) =>
        oid.SequenceEqual(SubjectKeyIdentifierOid) || oid.SequenceEqual(AuthorityKeyIdentifierOid) || oid.SequenceEqual(BasicConstraintsOid)
        || oid.SequenceEqual(KeyUsageOid) || oid.SequenceEqual(CrlDistributionPointsOid);

    /// <summary>AuthorityKeyIdentifier (RFC 5280 4.2.1.1); false when BouncyCastle would not read it.</summary>
    private static bool ReadAuthorityKeyId(ReadOnlySpan<byte> value, out byte[]? keyId)
    {
        keyId = null;
        var reader = new DerCursor(value, 0);
        var aki = reader.ReadSequence("AuthorityKeyIdentifier");
        if (reader.HasData) return false;
        if (aki.NextIs(new Asn1Tag(TagClass.ContextSpecific, 0))) keyId = aki.ReadOctetString(out _, new Asn1Tag(TagClass.ContextSpecific, 0)).ToArray();
        bool issuer = false, serial = false;
        if (aki.NextIs(new Asn1Tag(TagClass.ContextSpecific, 1)))
        {
            var names = aki.ReadConstructed(new Asn1Tag(TagClass.ContextSpecific, 1, isConstructed: true), "authorityCertIssuer");
            if (!IsGeneralNames(ref names)) return false;
            issuer = true;
        }
        if (aki.NextIs(new Asn1Tag(TagClass.ContextSpecific, 2)))
        {
            aki.ReadInteger(out _, new Asn1Tag(TagClass.ContextSpecific, 2));
            serial = true;
        }
        // Both or neither (RFC 5280 4.2.1.1), as BouncyCastle checks.
        return !aki.HasData && issuer == serial;
    }

    /// <summary>
    /// cRLDistributionPoints (RFC 5280 4.2.1.13): the URIs of full names, and each point as a plain value, its name
    /// made whole (<see cref="Names.WholePointName"/>) as the BouncyCastle reading made it.
    /// </summary>
    private static bool ReadDistributionPoints(ReadOnlySpan<byte> value, ReadOnlySpan<byte> issuerDer, List<string> uris, List<CrlDistributionPoint> points)
    {
        var reader = new DerCursor(value, 0);
        var list = reader.ReadSequence("CRLDistributionPoints");
        if (reader.HasData) return false;
        var nameTag = new Asn1Tag(TagClass.ContextSpecific, 0, isConstructed: true);
        var reasonsTag = new Asn1Tag(TagClass.ContextSpecific, 1);
        var issuerTag = new Asn1Tag(TagClass.ContextSpecific, 2, isConstructed: true);
        while (list.HasData)
        {
            var point = list.ReadSequence("DistributionPoint");
            byte[]? name = null;
            ReadOnlySpan<byte> reasons = default, crlIssuer = default;
            if (point.NextIs(nameTag))
            {
                var choice = point.ReadConstructed(nameTag, "distributionPoint");
                // The CHOICE inside the explicit [0], as BouncyCastle's DistributionPointName encodes itself.
                name = choice.PeekEncoded().ToArray();
                if (choice.NextIs(new Asn1Tag(TagClass.ContextSpecific, 0)))
                {
                    var general = choice.ReadConstructed(nameTag, "fullName");
                    if (!IsGeneralNames(ref general)) return false;
                }
                else
                {
                    // nameRelativeToCRLIssuer [1] IMPLICIT RelativeDistinguishedName: a SET of one or more attributes.
                    var relative = choice.ReadConstructed(new Asn1Tag(TagClass.ContextSpecific, 1, isConstructed: true), "nameRelativeToCRLIssuer");
                    if (!IsRdn(ref relative)) return false;
                }
                if (choice.HasData) return false;
            }
            bool hasReasons = point.NextIs(reasonsTag), hasIssuer;
            if (hasReasons)
            {
                reasons = point.PeekEncoded();
                point.ReadBitString(out _, reasonsTag);
            }
            hasIssuer = point.NextIs(issuerTag);
            if (hasIssuer)
            {
                crlIssuer = point.PeekEncoded();
                var general = point.ReadConstructed(issuerTag, "cRLIssuer");
                if (!IsGeneralNames(ref general)) return false;
            }
            if (point.HasData) return false;

            if (name is not null) AddUris(name, uris);
            if (hasIssuer)
            {
                // A relative name is relative to the cRLIssuer (RFC 5280 4.2.1.13): its first directory name.
                var directory = FirstDirectoryName(crlIssuer);
                var whole = name is not null && directory is not null ? Names.WholePointName(name, directory) : name;
                var writer = new AsnWriter(AsnEncodingRules.DER);
                using (writer.PushSequence())
                {
                    if (whole is not null)
                    {
                        using (writer.PushSequence(nameTag)) writer.WriteEncodedValue(whole);
                    }
                    if (hasReasons) writer.WriteEncodedValue(reasons);
                    writer.WriteEncodedValue(crlIssuer);
                }
                points.Add(DistributionPoints.FromDer(writer.Encode()));
            }
            else if (name is not null)
            {
                int? mask = null;
                if (hasReasons)
                {
                    var bits = new DerCursor(reasons, 0).ReadBitString(out _, reasonsTag);
                    mask = DistributionPoints.ReasonMask(bits);
                }
                points.Add(new CrlDistributionPoint(DistributionPoints.PointNames(Names.WholePointName(name, issuerDer)), null, mask));
            }
        }
        return true;
    }

    /// <summary>The uniformResourceIdentifier names of a fullName distribution point name.</summary>
    private static void AddUris(byte[] name, List<string> uris)
    {
        var outer = new DerCursor(name, 0);
        if (!outer.NextIs(new Asn1Tag(TagClass.ContextSpecific, 0))) return;
        var general = outer.ReadConstructed(Context0, "fullName");
        var uri = new Asn1Tag(TagClass.ContextSpecific, 6);
        while (general.HasData)
        {
            if (general.NextIs(uri)) uris.Add(Ascii(general.ReadPrimitive(uri, "uniformResourceIdentifier", out _)));
            else general.ReadEncoded(out _);
        }
    }

    private static byte[]? FirstDirectoryName(ReadOnlySpan<byte> crlIssuer)
    {
        var general = new DerCursor(crlIssuer, 0).ReadConstructed(new Asn1Tag(TagClass.ContextSpecific, 2, isConstructed: true), "cRLIssuer");
        var directory = new Asn1Tag(TagClass.ContextSpecific, 4, isConstructed: true);
        while (general.HasData)
        {
            if (general.NextIs(directory)) return general.ReadConstructed(directory, "directoryName").ReadEncoded(out _).ToArray();
            general.ReadEncoded(out _);
        }
        return null;
    }

    /// <summary>
    /// GeneralNames (RFC 5280 4.2.1.6) of the forms BouncyCastle reads without further checks: rfc822Name, dNSName and
    /// URI as IA5String, directoryName as a Name, iPAddress, registeredID. otherName, x400Address and ediPartyName
    /// (which it validates further) are left to it.
    /// </summary>
    private static bool IsGeneralNames(ref DerCursor names)
    {
        while (names.HasData)
        {
            var tag = names.PeekTag();
            if (tag.TagClass != TagClass.ContextSpecific) return false;
            switch (tag.TagValue)
            {
                case 1 or 2 or 6 when !tag.IsConstructed:
                    if (!IsIa5(names.ReadPrimitive(tag, "GeneralName", out _))) return false;
                    break;
                case 7 when !tag.IsConstructed:
                    names.ReadPrimitive(tag, "iPAddress", out _);
                    break;
                case 8 when !tag.IsConstructed:
                    var oid = names.ReadPrimitive(tag, "registeredID", out _);
                    if (oid.IsEmpty || (oid[^1] & 0x80) != 0) return false;
                    break;
                case 4 when tag.IsConstructed:
                    var directory = names.ReadConstructed(tag, "directoryName");
                    if (!IsName(directory.ReadEncoded(out _), out _) || directory.HasData) return false;
                    break;
                default:
                    return false;
            }
        }
        return true;
    }

    private static bool IsIa5(ReadOnlySpan<byte> text)
    {
        foreach (var b in text)
        {
            if (b > 0x7F) return false;
        }
        return true;
    }

    private static string Ascii(ReadOnlySpan<byte> text) => System.Text.Encoding.ASCII.GetString(text);

    /// <summary>AlgorithmIdentifier: an OBJECT IDENTIFIER and at most one parameters element (RFC 5280 4.1.1.2).</summary>
    private static bool IsAlgorithmIdentifier(ReadOnlySpan<byte> encoded)
    {
        var outer = new DerCursor(encoded, 0);
        var algorithm = outer.ReadSequence("AlgorithmIdentifier");
        algorithm.ReadObjectIdentifierBytes();
        if (algorithm.HasData) algorithm.ReadEncoded(out _);
        return !algorithm.HasData && !outer.HasData;
    }

    /// <summary>Name: a SEQUENCE OF RelativeDistinguishedName, each a SET OF AttributeTypeAndValue (RFC 5280 4.1.2.4).</summary>
    internal static bool IsName(ReadOnlySpan<byte> encoded, out int rdns)
    {
        rdns = 0;
        var outer = new DerCursor(encoded, 0);
        var name = outer.ReadSequence("Name");
        if (outer.HasData) return false;
        while (name.HasData)
        {
            var rdn = name.ReadConstructed(Asn1Tag.SetOf, "RelativeDistinguishedName");
            if (!IsRdn(ref rdn)) return false;
            rdns++;
        }
        return true;
    }

    private static bool IsRdn(ref DerCursor rdn)
    {
        if (!rdn.HasData) return false;
        while (rdn.HasData)
        {
            var attribute = rdn.ReadSequence("AttributeTypeAndValue");
            attribute.ReadObjectIdentifierBytes();
            attribute.ReadEncoded(out _);
            if (attribute.HasData) return false;
        }
        return true;
    }
}

/// <summary>Thrown inside <see cref="DerTree"/> for an element DER does not allow.</summary>
internal sealed class NotDerException : Exception;

/// <summary>Checks that every element of a DER encoding, nested ones included, is well formed DER.</summary>
internal static class DerTree
{
    /// <summary>Whether <paramref name="data"/> is exactly one DER element whose every part is valid DER.</summary>
    public static bool IsValid(ReadOnlySpan<byte> data)
    {
        try
        {
            int consumed = Walk(data, 0);
            return consumed == data.Length;
        }
        catch (Exception e) when (e is AsnContentException or NotDerException)
        {
            return false;
        }
    }

    private static int Walk(ReadOnlySpan<byte> data, int depth)
    {
        if (depth > 32) throw new NotDerException();
        var tag = Asn1Tag.Decode(data, out _);
        AsnDecoder.ReadEncodedValue(data, AsnEncodingRules.DER, out int offset, out int length, out int consumed);
        var contents = data.Slice(offset, length);
        if (tag.IsConstructed)
        {
            // Of the universal types only SEQUENCE and SET are constructed in DER (no constructed strings).
            if (tag.TagClass == TagClass.Universal && tag.TagValue is not (16 or 17)) throw new NotDerException();
            while (!contents.IsEmpty) contents = contents[Walk(contents, depth + 1)..];
            return consumed;
        }
        if (tag.TagClass != TagClass.Universal) return consumed;
        var element = data[..consumed];
        switch ((UniversalTagNumber)tag.TagValue)
        {
            case UniversalTagNumber.Boolean:
                AsnDecoder.ReadBoolean(element, AsnEncodingRules.DER, out _);
                break;
            case UniversalTagNumber.Integer:
            case UniversalTagNumber.Enumerated:
                AsnDecoder.ReadIntegerBytes(element, AsnEncodingRules.DER, out _, tag);
                break;
            case UniversalTagNumber.BitString:
                AsnDecoder.TryReadPrimitiveBitString(element, AsnEncodingRules.DER, out _, out _, out _);
                break;
            case UniversalTagNumber.Null:
                AsnDecoder.ReadNull(element, AsnEncodingRules.DER, out _);
                break;
            case UniversalTagNumber.ObjectIdentifier:
                AsnDecoder.ReadObjectIdentifier(element, AsnEncodingRules.DER, out _);
                break;
            case UniversalTagNumber.UtcTime:
                AsnDecoder.ReadUtcTime(element, AsnEncodingRules.DER, out _);
                break;
            case UniversalTagNumber.GeneralizedTime:
                AsnDecoder.ReadGeneralizedTime(element, AsnEncodingRules.DER, out _);
                break;
            case UniversalTagNumber.OctetString:
                break;
            case UniversalTagNumber.UTF8String:
                // BouncyCastle decodes UTF8String as it reads it, refusing what is not UTF-8.
                if (!System.Text.Unicode.Utf8.IsValid(contents)) throw new NotDerException();
                break;
            case UniversalTagNumber.PrintableString:
            case UniversalTagNumber.IA5String:
            case UniversalTagNumber.NumericString:
            case UniversalTagNumber.VisibleString:
            case UniversalTagNumber.BMPString:
            case UniversalTagNumber.T61String:
            case UniversalTagNumber.UniversalString:
                break;
            default:
                // A universal type this walk does not know: BouncyCastle may build it its own way.
                throw new NotDerException();
        }
        return consumed;
    }
}
