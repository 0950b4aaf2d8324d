using Org.BouncyCastle.Asn1;
using Org.BouncyCastle.Asn1.X509;
using Org.BouncyCastle.Crypto;
using Org.BouncyCastle.Asn1.Pkcs;
using Org.BouncyCastle.Crypto.Engines;
using Org.BouncyCastle.Crypto.Operators;
using Org.BouncyCastle.Crypto.Signers;
using Org.BouncyCastle.Security;

namespace CertDns.Pki;

/// <summary>Signature checks over original bytes, for any algorithm BouncyCastle knows by its identifier.</summary>
internal static class Signatures
{
    /// <summary>
    /// Whether <paramref name="signature"/> is a valid signature of <paramref name="signed"/> (the original TBS
    /// bytes, never a re-encoding) under <paramref name="algorithmDer"/> (an AlgorithmIdentifier, with any
    /// RSASSA-PSS parameters) and <paramref name="key"/>. Unknown algorithms and malformed signatures give false.
    /// </summary>
    public static bool Verify(ReadOnlySpan<byte> algorithmDer, ReadOnlySpan<byte> signed, ReadOnlySpan<byte> signature, AsymmetricKeyParameter key)
    {
        try
        {
            var algorithm = AlgorithmIdentifier.GetInstance(Asn1Object.FromByteArray(algorithmDer.ToArray()));
            if (algorithm.Algorithm.Equals(PkcsObjectIdentifiers.IdRsassaPss))
            {
                return VerifyPss(algorithm, signed, signature, key);
            }
            var factory = new Asn1VerifierFactory(algorithm, key);
            var calculator = factory.CreateCalculator();
            using (var stream = calculator.Stream)
            {
                stream.Write(signed);
            }
            return calculator.GetResult().IsVerified(signature.ToArray());
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            return false;
        }
    }

    /// <summary>
    /// RSASSA-PSS with the parameters as given (RFC 4055 3.1). BouncyCastle's Asn1VerifierFactory takes the
    /// hash from them but not the salt length, so a CRL signed with salt 446 (Penneo's root) would not verify.
    /// </summary>
    private static bool VerifyPss(AlgorithmIdentifier algorithm, ReadOnlySpan<byte> signed, ReadOnlySpan<byte> signature, AsymmetricKeyParameter key)
    {
        var parameters = algorithm.Parameters is null || algorithm.Parameters is DerNull
            ? RsassaPssParameters.GetInstance(new DerSequence())
            : RsassaPssParameters.GetInstance(algorithm.Parameters);
        if (!parameters.MaskGenAlgorithm.Algorithm.Equals(PkcsObjectIdentifiers.IdMgf1)) return false;
        if (!parameters.TrailerField.HasValue(1)) return false;
        var contentDigest = DigestUtilities.GetDigest(parameters.HashAlgorithm.Algorithm);
        var mgfDigest = DigestUtilities.GetDigest(AlgorithmIdentifier.GetInstance(parameters.MaskGenAlgorithm.Parameters).Algorithm);
        var signer = new PssSigner(new RsaBlindedEngine(), contentDigest, mgfDigest, parameters.SaltLength.IntValueExact, PssSigner.TrailerImplicit);
        signer.Init(false, key);
        signer.BlockUpdate(signed);
        return signer.VerifySignature(signature.ToArray());
    }

    /// <summary>The algorithm's name for messages, e.g. <c>1.2.840.113549.1.1.10</c> or its BouncyCastle name.</summary>
    public static string Name(ReadOnlySpan<byte> algorithmDer)
    {
        try
        {
            var algorithm = AlgorithmIdentifier.GetInstance(Asn1Object.FromByteArray(algorithmDer.ToArray()));
            return algorithm.Algorithm.Id;
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            return "(unreadable algorithm)";
        }
    }
}
