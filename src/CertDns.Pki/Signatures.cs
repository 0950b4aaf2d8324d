using System.Security.Cryptography;
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
    /// The common algorithms (ECDSA and PKCS#1 v1.5 RSA with SHA-2) through the platform's crypto, which hashes a
    /// 40 MB tbsCertList in milliseconds where BouncyCastle's managed digest takes half a second. Null when the
    /// algorithm or key is not one of them, so the caller falls back to <see cref="Verify"/>.
    /// </summary>
    public static bool? TryVerifyNative(ReadOnlySpan<byte> algorithmDer, ReadOnlySpan<byte> signed, ReadOnlySpan<byte> signature, byte[] spki)
    {
        // AlgorithmIdentifier DER prefixes: 30 0A 06 08 <ecdsa-with-SHA2 OID>, 30 0D 06 09 <sha*WithRSAEncryption OID> 05 00 (RFC 5758, RFC 4055).
        ReadOnlySpan<byte> ecdsa = [0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x04, 0x03];
        ReadOnlySpan<byte> rsa = [0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x01];
        HashAlgorithmName hash;
        bool isEcdsa;
        if (algorithmDer.Length == 12 && algorithmDer[..4].SequenceEqual((ReadOnlySpan<byte>)[0x30, 0x0A, 0x06, 0x08]) && algorithmDer.Slice(4, 7).SequenceEqual(ecdsa))
        {
            isEcdsa = true;
            hash = algorithmDer[11] switch { 2 => HashAlgorithmName.SHA256, 3 => HashAlgorithmName.SHA384, 4 => HashAlgorithmName.SHA512, _ => default };
        }
        else if (algorithmDer.Length == 15 && algorithmDer[..4].SequenceEqual((ReadOnlySpan<byte>)[0x30, 0x0D, 0x06, 0x09]) && algorithmDer.Slice(4, 8).SequenceEqual(rsa)
                 && algorithmDer[13] == 0x05 && algorithmDer[14] == 0x00)
        {
            isEcdsa = false;
            hash = algorithmDer[12] switch { 11 => HashAlgorithmName.SHA256, 12 => HashAlgorithmName.SHA384, 13 => HashAlgorithmName.SHA512, _ => default };
        }
        else
        {
            return null;
        }
        if (hash == default) return null;
        try
        {
            // Hashed here, then VerifyHash: VerifyData over a span copies it into a pooled array first, which for a
            // 48 MB tbsCertList was a second copy of the CRL in memory for the whole ingest.
            Span<byte> digest = stackalloc byte[64];
            int length = hash == HashAlgorithmName.SHA256 ? SHA256.HashData(signed, digest)
                : hash == HashAlgorithmName.SHA384 ? SHA384.HashData(signed, digest)
                : SHA512.HashData(signed, digest);
            digest = digest[..length];
            var key = ImportedKey(spki, isEcdsa);
            return isEcdsa
                ? ((ECDsa)key).VerifyHash(digest, signature, DSASignatureFormat.Rfc3279DerSequence)
                : ((RSA)key).VerifyHash(digest, signature, hash, RSASignaturePadding.Pkcs1);
        }
        catch (CryptographicException)
        {
            return null;
        }
    }

    // The last key each thread imported. Importing checks the public point (OpenSSL multiplies it by the group order),
    // which cost as much as the verification itself; certs add verifies every certificate with one CA's key.
    [ThreadStatic] private static byte[]? _importedSpki;
    [ThreadStatic] private static AsymmetricAlgorithm? _importedKey;

    /// <summary>
    /// The key of <paramref name="spki"/> for this thread, imported once while the same array is asked for. Keyed by the
    /// array itself: a <see cref="ParsedCertificate"/>'s SPKI never changes, and the key is never shared between threads.
    /// </summary>
    private static AsymmetricAlgorithm ImportedKey(byte[] spki, bool isEcdsa)
    {
        if (ReferenceEquals(_importedSpki, spki) && _importedKey is { } cached && cached is ECDsa == isEcdsa) return cached;
        AsymmetricAlgorithm key = isEcdsa ? ECDsa.Create() : RSA.Create();
        try
        {
            key.ImportSubjectPublicKeyInfo(spki, out _);
        }
        catch
        {
            key.Dispose();
            throw;
        }
        _importedKey?.Dispose();
        (_importedSpki, _importedKey) = (spki, key);
        return key;
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

    /// <summary>
    /// RFC 5280 4.1.1.2 and 5.1.1.2: the AlgorithmIdentifier inside the signed part must equal the outer one,
    /// or what was signed is not what the signature claims.
    /// </summary>
    /// <exception cref="CrlFormatException">They differ; the reason names both.</exception>
    internal static void RequireSameAlgorithm(ReadOnlySpan<byte> inner, ReadOnlySpan<byte> outer, string signedPart)
    {
        if (!inner.SequenceEqual(outer))
            throw new CrlFormatException($"signature algorithm in {signedPart} ({Name(inner)}) differs from the outer one ({Name(outer)})");
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
