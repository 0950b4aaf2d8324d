using CertDns.Core;
using System.Formats.Asn1;
using System.Security.Cryptography;
using Org.BouncyCastle.Asn1;
using Org.BouncyCastle.Asn1.X509;
using Org.BouncyCastle.Crypto;
using Org.BouncyCastle.Security;
using BcCertificate = Org.BouncyCastle.X509.X509Certificate;

namespace CertDns.Pki;

/// <summary>
/// One X.509 certificate as the rest of CertDns needs it: digests of the original DER (the bytes MTAs hash),
/// names as DER and text, serial, validity, key identifiers and CA capabilities. Made by
/// <see cref="CertificateFile.Read(byte[], string)"/>; fields that need the original bytes are sliced from them, the rest is read
/// in the same DER walk (<see cref="CertificateReader"/>), or through BouncyCastle for the certificates that walk
/// leaves to it.
/// </summary>
public sealed class ParsedCertificate
{
    private readonly byte[] _tbs;
    private readonly byte[] _signatureAlgorithm;
    private readonly byte[] _signature;
    private readonly byte[] _spki;
    private AsymmetricKeyParameter? _publicKey;

    private ParsedCertificate(byte[] der, byte[] tbs, byte[] signatureAlgorithm, byte[] signature, byte[] spki,
        byte[] serial, byte[] subjectDer, byte[] issuerDer, CertificateFields fields, bool readByBouncyCastle)
    {
        Der = der;
        _tbs = tbs;
        _signatureAlgorithm = signatureAlgorithm;
        _signature = signature;
        _spki = spki;
        Sha256 = SHA256.HashData(der);
        Sha1 = SHA1.HashData(der);
        Md5 = MD5.HashData(der);
        SpkiSha256 = SHA256.HashData(spki);
        Serial = serial;
        SubjectDer = subjectDer;
        IssuerDer = issuerDer;
        Subject = readByBouncyCastle ? Names.ToTextWithBouncyCastle(subjectDer) : Names.ToText(subjectDer);
        // BouncyCastle's text may throw, which Parse turns into the refusal: read now, as ever. The DER walk's names
        // are valid Names (CertificateReader), whose text is read when first asked (Issuer).
        if (readByBouncyCastle) _issuer = Names.ToTextWithBouncyCastle(issuerDer);
        NotBefore = fields.NotBefore;
        NotAfter = fields.NotAfter;
        SubjectKeyId = fields.SubjectKeyId;
        AuthorityKeyId = fields.AuthorityKeyId;
        HasBasicConstraints = fields.HasBasicConstraints;
        IsCa = fields.IsCa;
        PathLengthConstraint = fields.PathLengthConstraint;
        CanSignCertificates = fields.CanSignCertificates;
        CanSignCrl = fields.CanSignCrl;
        CrlDistributionPoints = fields.CrlDistributionPoints;
        CrlPoints = fields.CrlPoints;
        ReadByBouncyCastle = readByBouncyCastle;
    }

    /// <summary>
    /// The fields as BouncyCastle reads them: the reading for certificates <see cref="CertificateReader"/> leaves to it
    /// (BER leniency, unusual name forms), and the oracle its tests compare against. Throws what BouncyCastle throws.
    /// </summary>
    private static CertificateFields ReadWithBouncyCastle(byte[] der)
    {
        var bc = new BcCertificate(X509CertificateStructure.GetInstance(Asn1Object.FromByteArray(der)));
        var ski = bc.GetExtensionValue(X509Extensions.SubjectKeyIdentifier);
        var aki = bc.GetExtensionValue(X509Extensions.AuthorityKeyIdentifier);
        var basic = bc.GetExtensionValue(X509Extensions.BasicConstraints);
        var constraints = basic is null ? null : BasicConstraints.GetInstance(Asn1Object.FromByteArray(basic.GetOctets()));
        bool isCa = constraints is not null && constraints.IsCA();
        var keyUsage = bc.GetKeyUsage();
        return new CertificateFields(
            NotBefore: new DateTimeOffset(DateTime.SpecifyKind(bc.NotBefore, DateTimeKind.Utc)),
            NotAfter: new DateTimeOffset(DateTime.SpecifyKind(bc.NotAfter, DateTimeKind.Utc)),
            SubjectKeyId: ski is null ? null : SubjectKeyIdentifier.GetInstance(Asn1Object.FromByteArray(ski.GetOctets())).GetKeyIdentifier(),
            AuthorityKeyId: aki is null ? null : AuthorityKeyIdentifier.GetInstance(Asn1Object.FromByteArray(aki.GetOctets())).KeyIdentifier?.GetOctets(),
            HasBasicConstraints: basic is not null,
            IsCa: isCa,
            PathLengthConstraint: isCa && constraints!.PathLenConstraint is { } pathLen ? (int)Math.Min(pathLen.LongValue, int.MaxValue) : null,
            // KeyUsage bit 5 is keyCertSign, bit 6 cRLSign (RFC 5280 4.2.1.3).
            CanSignCertificates: keyUsage is null ? null : keyUsage.Length > 5 && keyUsage[5],
            CanSignCrl: keyUsage is null ? null : keyUsage.Length > 6 && keyUsage[6],
            CrlDistributionPoints: ReadDistributionPoints(bc),
            CrlPoints: ReadCrlPoints(bc));
    }

    /// <summary>Whether this certificate was read the BouncyCastle way (<see cref="ReadWithBouncyCastle"/>), for tests.</summary>
    internal bool ReadByBouncyCastle { get; }

    /// <summary>The certificate exactly as it appeared in the input (decoded from PEM/base64 when needed).</summary>
    public byte[] Der { get; }

    /// <summary>SHA-256 of <see cref="Der"/>.</summary>
    public byte[] Sha256 { get; }

    /// <summary>SHA-1 of <see cref="Der"/>.</summary>
    public byte[] Sha1 { get; }

    /// <summary>MD5 of <see cref="Der"/> (legacy Postfix and Sendmail digests).</summary>
    public byte[] Md5 { get; }

    /// <summary>SHA-256 of the DER SubjectPublicKeyInfo, as Postfix's <c>ccert_pubkey_fingerprint</c>.</summary>
    public byte[] SpkiSha256 { get; }

    /// <summary>The DER SubjectPublicKeyInfo as it appeared in the certificate.</summary>
    public byte[] SubjectPublicKeyInfo => _spki;

    /// <summary>Raw DER of the subject Name.</summary>
    public byte[] SubjectDer { get; }

    /// <summary>Raw DER of the issuer Name.</summary>
    public byte[] IssuerDer { get; }

    /// <summary>Subject in RFC 4514 order, e.g. <c>CN=Example CA,O=Example</c>.</summary>
    public string Subject { get; }

    /// <summary>Issuer in RFC 4514 order.</summary>
    /// <remarks>
    /// Worked out when first asked (for a message, mostly): <c>certs add</c> reads 100,000 certificates whose issuer
    /// name it never shows. Threads that share a certificate may each work it out; the text is the same.
    /// </remarks>
    public string Issuer => _issuer ??= Names.ToText(IssuerDer);

    private string? _issuer;

    /// <summary>Serial number contents, big-endian, leading zero octets removed (a single 00 for zero).</summary>
    public byte[] Serial { get; }

    public DateTimeOffset NotBefore { get; }

    public DateTimeOffset NotAfter { get; }

    /// <summary>subjectKeyIdentifier, when present.</summary>
    public byte[]? SubjectKeyId { get; }

    /// <summary>keyIdentifier of authorityKeyIdentifier, when present.</summary>
    public byte[]? AuthorityKeyId { get; }

    /// <summary>basicConstraints cA.</summary>
    public bool IsCa { get; }

    /// <summary>Whether the certificate has a basicConstraints extension at all (RFC 5280 4.2.1.9).</summary>
    public bool HasBasicConstraints { get; }

    /// <summary>basicConstraints pathLenConstraint of a CA certificate, when present.</summary>
    public int? PathLengthConstraint { get; }

    /// <summary>Null without a keyUsage extension (any use allowed), else whether keyCertSign is set.</summary>
    public bool? CanSignCertificates { get; }

    /// <summary>Whether issuer and subject are the same name (RFC 5280 6.1: self-issued, which a self-signed CA is too).</summary>
    public bool IsSelfIssued => Names.Match(IssuerDer, SubjectDer);

    /// <summary>
    /// Why this certificate's public key is outside <see cref="KeyBounds"/> (and no signature is ever checked with
    /// it), or null when it is within them.
    /// </summary>
    public string? KeyRefusal
    {
        get
        {
            if (!_keyChecked) (_keyRefusal, _keyChecked) = (KeyBounds.Refusal(_spki), true);
            return _keyRefusal;
        }
    }

    private string? _keyRefusal;
    private bool _keyChecked;

    /// <summary>Null without a keyUsage extension (any use allowed), else whether cRLSign is set.</summary>
    public bool? CanSignCrl { get; }

    /// <summary>URIs of the cRLDistributionPoints fullName entries.</summary>
    public IReadOnlyList<string> CrlDistributionPoints { get; }

    /// <summary>
    /// Whether <paramref name="issuer"/> issued this certificate: this issuer name equals its subject (DER or
    /// RFC 5280 matching) and this signature verifies, over the original TBS bytes, with its public key. An issuer
    /// key outside <see cref="KeyBounds"/> verifies nothing, and costs no arithmetic.
    /// </summary>
    public bool IsIssuedBy(ParsedCertificate issuer)
    {
        ArgumentNullException.ThrowIfNull(issuer);
        if (!Names.Match(IssuerDer, issuer.SubjectDer)) return false;
        if (issuer.KeyRefusal is not null) return false;
        // ECDSA and PKCS#1 RSA with SHA-2 through the platform's crypto (a tenth of BouncyCastle's managed cost each),
        // as CRL signatures are checked; any other algorithm through BouncyCastle.
        if (Signatures.TryVerifyNative(_signatureAlgorithm, _tbs, _signature, issuer._spki) is { } native) return native;
        var key = issuer.TryGetPublicKey();
        return key is not null && Signatures.Verify(_signatureAlgorithm, _tbs, _signature, key);
    }

    /// <summary>The subject public key for BouncyCastle, or null when BouncyCastle cannot read it.</summary>
    internal AsymmetricKeyParameter? TryGetPublicKey()
    {
        if (_publicKey is not null) return _publicKey;
        try
        {
            _publicKey = PublicKeyFactory.CreateKey(_spki);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            return null;
        }
        return _publicKey;
    }

    /// <summary>
    /// The certificate's cRLDistributionPoints as plain values, to match a CRL's scope (RFC 5280 6.3.3 (b)): a point
    /// without cRLIssuer is served by the certificate issuer's CRLs, one with a cRLIssuer only by that issuer's indirect
    /// CRLs. A relative name is given as the full name it stands for (relative to the cRLIssuer, else to the issuer).
    /// </summary>
    public IReadOnlyList<CrlDistributionPoint> CrlPoints { get; }

    private static List<CrlDistributionPoint> ReadCrlPoints(BcCertificate bc)
    {
        var value = bc.GetExtensionValue(X509Extensions.CrlDistributionPoints);
        if (value is null) return [];
        var result = new List<CrlDistributionPoint>();
        var issuer = bc.CertificateStructure.TbsCertificate.Issuer.GetEncoded(Asn1Encodable.Der);
        foreach (var point in CrlDistPoint.GetInstance(Asn1Object.FromByteArray(value.GetOctets())).GetDistributionPoints())
        {
            if (point.CrlIssuer is { } crlIssuer)
            {
                // A relative name is relative to the cRLIssuer (RFC 5280 4.2.1.13).
                var directory = crlIssuer.GetNames().FirstOrDefault(n => n.TagNo == GeneralName.DirectoryName);
                var name = point.DistributionPointName is { } n && directory is not null
                    ? DistributionPointName.GetInstance(Asn1Object.FromByteArray(Names.WholePointName(n.GetEncoded(Asn1Encodable.Der), directory.Name.GetEncoded(Asn1Encodable.Der))))
                    : point.DistributionPointName;
                result.Add(DistributionPoints.FromDer(new DistributionPoint(name, point.Reasons, crlIssuer).GetEncoded(Asn1Encodable.Der)));
            }
            else if (point.DistributionPointName is { } name)
            {
                int? reasons = point.Reasons is { } r ? DistributionPoints.ReasonMask(r.GetBytes()) : null;
                result.Add(new CrlDistributionPoint(DistributionPoints.PointNames(Names.WholePointName(name.GetEncoded(Asn1Encodable.Der), issuer)), null, reasons));
            }
        }
        return result;
    }

    private static List<string> ReadDistributionPoints(BcCertificate bc)
    {
        var result = new List<string>();
        var value = bc.GetExtensionValue(X509Extensions.CrlDistributionPoints);
        if (value is null) return result;
        var points = CrlDistPoint.GetInstance(Asn1Object.FromByteArray(value.GetOctets()));
        foreach (var point in points.GetDistributionPoints())
        {
            var name = point.DistributionPointName;
            if (name is null || name.Type != DistributionPointName.FullName) continue;
            foreach (var general in GeneralNames.GetInstance(name.Name).GetNames())
            {
                if (general.TagNo == GeneralName.UniformResourceIdentifier)
                {
                    result.Add(DerIA5String.GetInstance(general.Name).GetString());
                }
            }
        }
        return result;
    }

    /// <summary>Parses one certificate from exactly <paramref name="der"/>; throws <see cref="BadInputException"/>.</summary>
    /// <param name="der">The certificate's DER.</param>
    /// <param name="source">The file name, for the refusal.</param>
    /// <param name="bouncyCastleOnly">Read every field the BouncyCastle way: the oracle of the equivalence tests.</param>
    internal static ParsedCertificate Parse(byte[] der, string source, bool bouncyCastleOnly = false)
    {
        byte[] tbs, sigAlg, signature, spki, serial, subject, issuer;
        try
        {
            var outer = new DerCursor(der, 0);
            var cert = outer.ReadSequence("Certificate");
            outer.EnsureEnd("the certificate");
            tbs = cert.ReadEncoded(out int tbsOffset).ToArray();
            sigAlg = cert.ReadEncoded(out _).ToArray();
            signature = cert.ReadBitString(out _).ToArray();
            cert.EnsureEnd("the signature");

            var read = new DerCursor(tbs, tbsOffset).ReadSequence("TBSCertificate");
            if (read.NextIs(new Asn1Tag(TagClass.ContextSpecific, 0))) read.ReadEncoded(out _);
            serial = DerUtil.TrimSerial(read.ReadPrimitive(Asn1Tag.Integer, "serialNumber", out _)).ToArray();
            Signatures.RequireSameAlgorithm(read.ReadEncoded(out _), sigAlg, "tbsCertificate");
            issuer = read.ReadEncoded(out _).ToArray();
            read.ReadSequence("validity");
            subject = read.ReadEncoded(out _).ToArray();
            spki = read.ReadEncoded(out _).ToArray();
            if (serial.Length == 0) throw new AsnContentException("empty serialNumber");
        }
        catch (Exception e) when (e is AsnContentException or CrlFormatException or ArgumentException)
        {
            throw new BadInputException(source, $"not a certificate: {e.Message}");
        }

        var fields = bouncyCastleOnly ? null : CertificateReader.TryRead(der, issuer);
        if (fields is not null) return new ParsedCertificate(der, tbs, sigAlg, signature, spki, serial, subject, issuer, fields, readByBouncyCastle: false);
        try
        {
            return new ParsedCertificate(der, tbs, sigAlg, signature, spki, serial, subject, issuer, ReadWithBouncyCastle(der), readByBouncyCastle: true);
        }
        catch (Exception e) when (e is not OutOfMemoryException and not BadInputException)
        {
            throw new BadInputException(source, $"not a certificate: {e.Message}");
        }
    }
}
