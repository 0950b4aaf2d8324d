using Org.BouncyCastle.Asn1;
using Org.BouncyCastle.Asn1.X509;
using Org.BouncyCastle.Crypto;
using Org.BouncyCastle.Crypto.Operators;

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
