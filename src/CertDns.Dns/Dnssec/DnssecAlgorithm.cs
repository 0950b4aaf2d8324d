namespace CertDns.Dns.Dnssec;

/// <summary>The DNSSEC signing algorithms CertDns signs with (IANA "DNS Security Algorithm Numbers").</summary>
public enum DnssecAlgorithm : byte
{
    /// <summary>ECDSA over P-256 with SHA-256 (RFC 6605): 64-octet public keys and signatures.</summary>
    EcdsaP256Sha256 = 13,

    /// <summary>Ed25519 (RFC 8080): 32-octet public keys, 64-octet signatures.</summary>
    Ed25519 = 15,
}
