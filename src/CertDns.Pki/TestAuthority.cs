using System.Numerics;
using System.Security.Cryptography;
using CertDns.Core;
using Org.BouncyCastle.Asn1;
using Org.BouncyCastle.Asn1.Sec;
using Org.BouncyCastle.Asn1.X509;
using Org.BouncyCastle.Crypto;
using Org.BouncyCastle.Crypto.Generators;
using Org.BouncyCastle.Crypto.Operators;
using Org.BouncyCastle.Crypto.Parameters;
using Org.BouncyCastle.Pkcs;
using Org.BouncyCastle.Security;
using Org.BouncyCastle.X509;
using Org.BouncyCastle.X509.Extension;
using BcBigInteger = Org.BouncyCastle.Math.BigInteger;

namespace CertDns.Pki;

/// <summary>Key algorithms a <see cref="TestAuthority"/> or <see cref="TestKeyPair"/> can use.</summary>
public enum TestKeyType
{
    /// <summary>ECDSA on P-256, signing with SHA-256.</summary>
    EcdsaP256,

    /// <summary>RSA 2048, signing with PKCS#1 v1.5 and SHA-256.</summary>
    Rsa2048,

    /// <summary>Ed25519.</summary>
    Ed25519,
}

/// <summary>A generated key pair, to give several test certificates one SubjectPublicKeyInfo.</summary>
public sealed class TestKeyPair
{
    private static readonly SecureRandom Random = new();

    private TestKeyPair(TestKeyType type, AsymmetricCipherKeyPair pair)
    {
        Type = type;
        Pair = pair;
        SubjectPublicKeyInfo = SubjectPublicKeyInfoFactory.CreateSubjectPublicKeyInfo(pair.Public).GetDerEncoded();
    }

    public TestKeyType Type { get; }

    /// <summary>DER SubjectPublicKeyInfo of the public key.</summary>
    public byte[] SubjectPublicKeyInfo { get; }

    internal AsymmetricCipherKeyPair Pair { get; }

    /// <summary>The private key as PKCS#8 PEM, for TLS peers in tests (MTAs, swaks).</summary>
    public string PrivateKeyPem => TestAuthority.ToPem("PRIVATE KEY", PrivateKeyInfoFactory.CreatePrivateKeyInfo(Pair.Private).GetDerEncoded());

    /// <summary>A fresh key pair.</summary>
    public static TestKeyPair Create(TestKeyType type = TestKeyType.EcdsaP256)
    {
        IAsymmetricCipherKeyPairGenerator generator;
        switch (type)
        {
            case TestKeyType.EcdsaP256:
                generator = new ECKeyPairGenerator();
                generator.Init(new ECKeyGenerationParameters(SecObjectIdentifiers.SecP256r1, Random));
                break;
            case TestKeyType.Rsa2048:
                generator = new RsaKeyPairGenerator();
                generator.Init(new RsaKeyGenerationParameters(BcBigInteger.ValueOf(65537), Random, 2048, 100));
                break;
            case TestKeyType.Ed25519:
                generator = new Ed25519KeyPairGenerator();
                generator.Init(new Ed25519KeyGenerationParameters(Random));
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(type), type, null);
        }
        return new TestKeyPair(type, generator.GenerateKeyPair());
    }

    internal ISignatureFactory Signer() => new Asn1SignatureFactory(
        Type switch
        {
            TestKeyType.EcdsaP256 => "SHA256WITHECDSA",
            TestKeyType.Rsa2048 => "SHA256WITHRSA",
            _ => "Ed25519",
        },
        Pair.Private,
        Random);
}

/// <summary>
/// A throw-away certificate authority for tests and the server's <c>--demo</c> mode: a self-signed CA
/// (basicConstraints cA, keyUsage keyCertSign and cRLSign) that issues end-entity certificates and v2 CRLs.
/// Keys live in memory only.
/// </summary>
public sealed class TestAuthority
{
    private readonly TestKeyPair _key;
    private readonly X509Name _name;
    private readonly byte[] _keyId;

    /// <summary>Creates the CA.</summary>
    /// <param name="commonName">The CA's CN; the subject is <c>CN=commonName,O=CertDns Test</c>.</param>
    /// <param name="keyType">Key algorithm of the CA.</param>
    /// <param name="notBefore">Start of validity; default one day ago.</param>
    /// <param name="notAfter">End of validity; default ten years from now.</param>
    public TestAuthority(string commonName, TestKeyType keyType = TestKeyType.EcdsaP256, DateTimeOffset? notBefore = null, DateTimeOffset? notAfter = null)
        : this(commonName, keyType, notBefore, notAfter, issuer: null, pathLength: null, crlUrl: null)
    {
    }

    private TestAuthority(string commonName, TestKeyType keyType, DateTimeOffset? notBefore, DateTimeOffset? notAfter, TestAuthority? issuer, int? pathLength, string? crlUrl)
    {
        ArgumentException.ThrowIfNullOrEmpty(commonName);
        _key = TestKeyPair.Create(keyType);
        _name = new X509Name(new List<DerObjectIdentifier> { X509Name.O, X509Name.CN }, new List<string> { "CertDns Test", commonName });
        _keyId = SHA1.HashData(SubjectPublicKeyInfo.GetInstance(_key.SubjectPublicKeyInfo).PublicKey.GetBytes());
        var now = DateTimeOffset.UtcNow;

        var generator = new X509V3CertificateGenerator();
        generator.SetSerialNumber(new BcBigInteger(1, RandomSerial()));
        generator.SetIssuerDN(issuer?._name ?? _name);
        generator.SetSubjectDN(_name);
        generator.SetNotBefore(Seconds(notBefore ?? now.AddDays(-1)));
        generator.SetNotAfter(Seconds(notAfter ?? now.AddYears(10)));
        generator.SetPublicKey(_key.Pair.Public);
        generator.AddExtension(X509Extensions.BasicConstraints, true, pathLength is { } p ? new BasicConstraints(p) : new BasicConstraints(true));
        generator.AddExtension(X509Extensions.KeyUsage, true, new KeyUsage(KeyUsage.KeyCertSign | KeyUsage.CrlSign));
        generator.AddExtension(X509Extensions.SubjectKeyIdentifier, false, new SubjectKeyIdentifier(_keyId));
        if (issuer is not null) generator.AddExtension(X509Extensions.AuthorityKeyIdentifier, false, new AuthorityKeyIdentifier(issuer._keyId));
        if (crlUrl is not null)
        {
            var point = new DistributionPointName(new GeneralNames(new GeneralName(GeneralName.UniformResourceIdentifier, crlUrl)));
            generator.AddExtension(X509Extensions.CrlDistributionPoints, false, new CrlDistPoint([new DistributionPoint(point, null, null)]));
        }
        CertificateDer = generator.Generate((issuer?._key ?? _key).Signer()).GetEncoded();
        Certificate = CertificateFile.Read(CertificateDer, commonName)[0];
    }

    /// <summary>
    /// Issues an intermediate CA (basicConstraints cA, keyUsage keyCertSign and cRLSign, SKI, and an AKI naming
    /// this CA's key) signed by this CA.
    /// </summary>
    /// <param name="commonName">The intermediate's CN; the subject is <c>CN=commonName,O=CertDns Test</c>.</param>
    /// <param name="pathLength">basicConstraints pathLenConstraint, or null for none.</param>
    /// <param name="notBefore">Start of validity; default one day ago.</param>
    /// <param name="notAfter">End of validity; default ten years from now.</param>
    /// <param name="keyType">Key algorithm of the intermediate.</param>
    /// <param name="crlUrl">A cRLDistributionPoints URI where this (the parent) CA's CRL is found, or null.</param>
    public TestAuthority IssueCa(string commonName, int? pathLength = null, DateTimeOffset? notBefore = null, DateTimeOffset? notAfter = null,
        TestKeyType keyType = TestKeyType.EcdsaP256, string? crlUrl = null) =>
        new(commonName, keyType, notBefore, notAfter, this, pathLength, crlUrl);

    /// <summary>The CA certificate.</summary>
    public ParsedCertificate Certificate { get; }

    /// <summary>The CA certificate's DER.</summary>
    public byte[] CertificateDer { get; }

    /// <summary>The CA certificate as PEM.</summary>
    public string CertificatePem => ToPem("CERTIFICATE", CertificateDer);

    /// <summary>
    /// Issues an end-entity certificate (subject <c>CN=commonName</c>, keyUsage digitalSignature, extendedKeyUsage
    /// serverAuth and clientAuth, SKI and AKI) and returns its DER.
    /// </summary>
    /// <param name="commonName">Subject CN.</param>
    /// <param name="notBefore">Start of validity.</param>
    /// <param name="notAfter">End of validity.</param>
    /// <param name="serial">Unsigned big-endian serial; random (positive, 16 octets) when null.</param>
    /// <param name="key">Key to certify; a fresh ECDSA P-256 key when null. Reuse one to share an SPKI.</param>
    /// <param name="crlUrl">A cRLDistributionPoints fullName URI, or null.</param>
    /// <param name="crlIssuer">The point's cRLIssuer (RFC 5280 4.2.1.13: an indirect CRL's issuer), or null.</param>
    public byte[] Issue(string commonName, DateTimeOffset notBefore, DateTimeOffset notAfter, byte[]? serial = null, TestKeyPair? key = null,
        string? crlUrl = null, TestAuthority? crlIssuer = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(commonName);
        key ??= TestKeyPair.Create();
        var generator = new X509V3CertificateGenerator();
        generator.SetSerialNumber(new BcBigInteger(1, serial ?? RandomSerial()));
        generator.SetIssuerDN(_name);
        generator.SetSubjectDN(new X509Name(new List<DerObjectIdentifier> { X509Name.CN }, new List<string> { commonName }));
        generator.SetNotBefore(Seconds(notBefore));
        generator.SetNotAfter(Seconds(notAfter));
        generator.SetPublicKey(key.Pair.Public);
        generator.AddExtension(X509Extensions.BasicConstraints, true, new BasicConstraints(false));
        generator.AddExtension(X509Extensions.KeyUsage, true, new KeyUsage(KeyUsage.DigitalSignature));
        generator.AddExtension(X509Extensions.ExtendedKeyUsage, false,
            new ExtendedKeyUsage(KeyPurposeID.id_kp_serverAuth, KeyPurposeID.id_kp_clientAuth));
        generator.AddExtension(X509Extensions.SubjectKeyIdentifier, false, X509ExtensionUtilities.CreateSubjectKeyIdentifier(key.Pair.Public));
        generator.AddExtension(X509Extensions.AuthorityKeyIdentifier, false, new AuthorityKeyIdentifier(_keyId));
        if (crlUrl is not null || crlIssuer is not null)
        {
            var name = crlUrl is null ? null : new DistributionPointName(new GeneralNames(new GeneralName(GeneralName.UniformResourceIdentifier, crlUrl)));
            var issuers = crlIssuer is null ? null : new GeneralNames(new GeneralName(crlIssuer._name));
            generator.AddExtension(X509Extensions.CrlDistributionPoints, false, new CrlDistPoint([new DistributionPoint(name, null, issuers)]));
        }
        return generator.Generate(_key.Signer()).GetEncoded();
    }

    /// <summary>
    /// Signs a CRL with an issuingDistributionPoint (no point name) and returns its DER: an indirect CRL whose entries may
    /// name another certificate issuer (certificateIssuer, RFC 5280 5.3.3), or an ARL (onlyContainsCACerts).
    /// </summary>
    /// <param name="number">cRLNumber.</param>
    /// <param name="thisUpdate">thisUpdate.</param>
    /// <param name="nextUpdate">nextUpdate.</param>
    /// <param name="entries">Serials, times, reasons, and the certificate issuer of each (null: this CA).</param>
    /// <param name="indirect">indirectCRL.</param>
    /// <param name="onlyCaCerts">onlyContainsCACerts.</param>
    public byte[] CreateScopedCrl(BigInteger number, DateTimeOffset thisUpdate, DateTimeOffset nextUpdate,
        IEnumerable<(byte[] Serial, DateTimeOffset RevokedAt, RevocationReason Reason, TestAuthority? Issuer)> entries, bool indirect = false, bool onlyCaCerts = false)
    {
        ArgumentNullException.ThrowIfNull(entries);
        var generator = new X509V2CrlGenerator();
        generator.SetIssuerDN(_name);
        generator.SetThisUpdate(Seconds(thisUpdate));
        generator.SetNextUpdate(Seconds(nextUpdate));
        foreach (var (serial, revokedAt, reason, issuer) in entries)
        {
            var extensions = new X509ExtensionsGenerator();
            extensions.AddExtension(X509Extensions.ReasonCode, false, new CrlReason((int)reason));
            if (issuer is not null) extensions.AddExtension(X509Extensions.CertificateIssuer, true, new GeneralNames(new GeneralName(issuer._name)));
            generator.AddCrlEntry(new BcBigInteger(1, serial), Seconds(revokedAt), extensions.Generate());
        }
        generator.AddExtension(X509Extensions.CrlNumber, false, new DerInteger(new BcBigInteger(number.ToByteArray(isUnsigned: false, isBigEndian: true))));
        generator.AddExtension(X509Extensions.AuthorityKeyIdentifier, false, new AuthorityKeyIdentifier(_keyId));
        generator.AddExtension(X509Extensions.IssuingDistributionPoint, true, new Org.BouncyCastle.Asn1.X509.IssuingDistributionPoint(null, false, onlyCaCerts, null, indirect, false));
        return generator.Generate(_key.Signer()).GetEncoded();
    }

    /// <summary>Signs a v2 CRL with cRLNumber and authorityKeyIdentifier and returns its DER.</summary>
    /// <param name="number">cRLNumber.</param>
    /// <param name="thisUpdate">thisUpdate (fractions of a second are dropped, as in every time here).</param>
    /// <param name="nextUpdate">nextUpdate, or null to omit it.</param>
    /// <param name="entries">Serials (unsigned big-endian), revocation times and reasons; Unspecified writes no reasonCode.</param>
    public byte[] CreateCrl(BigInteger number, DateTimeOffset thisUpdate, DateTimeOffset? nextUpdate,
        IEnumerable<(byte[] Serial, DateTimeOffset RevokedAt, RevocationReason Reason)> entries)
    {
        ArgumentNullException.ThrowIfNull(entries);
        var generator = new X509V2CrlGenerator();
        generator.SetIssuerDN(_name);
        generator.SetThisUpdate(Seconds(thisUpdate));
        if (nextUpdate is { } next) generator.SetNextUpdate(Seconds(next));
        foreach (var (serial, revokedAt, reason) in entries)
        {
            generator.AddCrlEntry(new BcBigInteger(1, serial), Seconds(revokedAt), (int)reason);
        }
        generator.AddExtension(X509Extensions.CrlNumber, false, new DerInteger(new BcBigInteger(number.ToByteArray(isUnsigned: false, isBigEndian: true))));
        generator.AddExtension(X509Extensions.AuthorityKeyIdentifier, false, new AuthorityKeyIdentifier(_keyId));
        return generator.Generate(_key.Signer()).GetEncoded();
    }

    /// <summary>PEM text: <c>-----BEGIN label-----</c>, base64 in 64-character lines, <c>-----END label-----</c>.</summary>
    public static string ToPem(string label, byte[] der) => new string(PemEncoding.Write(label, der)) + "\n";

    private static byte[] RandomSerial()
    {
        var serial = RandomNumberGenerator.GetBytes(16);
        serial[0] = (byte)((serial[0] & 0x7F) | 0x01);
        return serial;
    }

    private static DateTime Seconds(DateTimeOffset time) =>
        new(time.UtcTicks - time.UtcTicks % TimeSpan.TicksPerSecond, DateTimeKind.Utc);
}
