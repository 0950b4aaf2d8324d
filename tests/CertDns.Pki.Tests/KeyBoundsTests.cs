using System.Diagnostics;
using Org.BouncyCastle.Asn1;
using Org.BouncyCastle.Asn1.Pkcs;
using Org.BouncyCastle.Asn1.Sec;
using Org.BouncyCastle.Asn1.X509;
using Org.BouncyCastle.Asn1.X9;
using Org.BouncyCastle.Crypto.Generators;
using Org.BouncyCastle.Crypto.Parameters;
using Org.BouncyCastle.Security;
using Org.BouncyCastle.X509;
using BcBigInteger = Org.BouncyCastle.Math.BigInteger;

namespace CertDns.Pki.Tests;

/// <summary>
/// Key bounds (issue #11): the keys of real CAs and of every TestAuthority key type pass; keys whose signature checks
/// would cost seconds, or whose curves and sizes no CA may use, are refused from the DER alone.
/// </summary>
public sealed class KeyBoundsTests
{
    // Each vector set may be absent (a bare clone has no real-crls): one theory per set, each skipped with the reason.
    [PeerTheory(TestData.RealCrls)]
    [InlineData("real-crls", "issuers", "D-TRUST_Root_CA_1_2017.crt")] // RSA 4096
    [InlineData("real-crls", "issuers", "EE-GovCA2018.pem.crt")]       // P-521
    public void Refusal_RealCaKeys_None(params string[] path) =>
        Assert.Null(TestData.Certificate(path).KeyRefusal);

    [PeerTheory(TestData.Pkits)]
    [InlineData("pkits", "certs", "TrustAnchorRootCertificate.crt")]   // RSA 2048
    [InlineData("pkits", "certs", "DSACACert.crt")]                    // DSA 1024/160 (FIPS 186-4 4.2)
    public void Refusal_PkitsCaKeys_None(params string[] path) =>
        Assert.Null(TestData.Certificate(path).KeyRefusal);

    [Theory]
    [InlineData(TestKeyType.EcdsaP256)]
    [InlineData(TestKeyType.Rsa2048)]
    [InlineData(TestKeyType.Ed25519)]
    public void Refusal_TestKeyTypes_None(TestKeyType type) =>
        Assert.Null(KeyBounds.Refusal(TestKeyPair.Create(type).SubjectPublicKeyInfo));

    [Theory]
    [InlineData(2047, 65537, "2047 bits")]
    [InlineData(8193, 65537, "8193 bits")]
    [InlineData(16384, 65537, "16384 bits")]
    [InlineData(2048, -257, "exponent of 257 bits")]
    [InlineData(2048, 1, "odd and at least 3")]
    [InlineData(2048, 65536, "odd and at least 3")]
    public void Refusal_RsaOutOfBounds_Refused(int modulusBits, int exponent, string reason) =>
        Assert.Contains(reason, KeyBounds.Refusal(Rsa(modulusBits, exponent)));

    [Theory]
    [InlineData(2048, 65537)]
    [InlineData(8192, 3)]
    [InlineData(4096, -256)]
    public void Refusal_RsaInBounds_None(int modulusBits, int exponent) =>
        Assert.Null(KeyBounds.Refusal(Rsa(modulusBits, exponent)));

    [Fact]
    public void Refusal_HugeRsaKey_DecidedInMicroseconds()
    {
        var spki = Rsa(16384, -16384);
        var watch = Stopwatch.StartNew();
        for (int i = 0; i < 1000; i++) Assert.NotNull(KeyBounds.Refusal(spki));
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(1), $"1000 checks took {watch.Elapsed}");
    }

    [Fact]
    public void Refusal_EcCurveNotAllowed_Refused()
    {
        var generator = new ECKeyPairGenerator();
        generator.Init(new ECKeyGenerationParameters(SecObjectIdentifiers.SecP256k1, new SecureRandom()));
        var spki = SubjectPublicKeyInfoFactory.CreateSubjectPublicKeyInfo(generator.GenerateKeyPair().Public).GetDerEncoded();

        Assert.Contains("is not P-256, P-384 or P-521", KeyBounds.Refusal(spki));
    }

    [Fact]
    public void Refusal_EcSpecifiedCurve_Refused()
    {
        // RFC 5480 2.1.1: explicit curve parameters in place of a named curve.
        var curve = ECNamedCurveTable.GetByName("P-256");
        var parameters = new X962Parameters(curve);
        var spki = new SubjectPublicKeyInfo(new AlgorithmIdentifier(X9ObjectIdentifiers.IdECPublicKey, parameters),
            curve.G.GetEncoded(false)).GetDerEncoded();

        Assert.Contains("named curve", KeyBounds.Refusal(spki));
    }

    [Fact]
    public void Refusal_UnknownAlgorithm_Refused()
    {
        var spki = new SubjectPublicKeyInfo(new AlgorithmIdentifier(new DerObjectIdentifier("1.2.3.4")), new byte[32]).GetDerEncoded();

        Assert.Contains("unsupported public key algorithm 1.2.3.4", KeyBounds.Refusal(spki));
    }

    /// <summary>An RSA SubjectPublicKeyInfo with an odd modulus of that many bits; a negative exponent means one of that many bits.</summary>
    private static byte[] Rsa(int modulusBits, int exponent)
    {
        var modulus = BcBigInteger.One.ShiftLeft(modulusBits - 1).Add(BcBigInteger.One);
        var e = exponent < 0 ? BcBigInteger.One.ShiftLeft(-exponent - 1).Add(BcBigInteger.One) : BcBigInteger.ValueOf(exponent);
        return new SubjectPublicKeyInfo(new AlgorithmIdentifier(PkcsObjectIdentifiers.RsaEncryption, DerNull.Instance),
            new RsaPublicKeyStructure(modulus, e)).GetDerEncoded();
    }
}
