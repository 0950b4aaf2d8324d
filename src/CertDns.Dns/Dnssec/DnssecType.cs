namespace CertDns.Dns.Dnssec;

/// <summary>The RR types and flags DNSSEC adds (RFC 4034, RFC 5155, RFC 9824).</summary>
public static class DnssecType
{
    public const ushort Ds = 43;
    public const ushort Rrsig = 46;
    public const ushort Nsec = 47;
    public const ushort Dnskey = 48;
    public const ushort Nsec3 = 50;
    public const ushort Nsec3Param = 51;

    /// <summary>RFC 9824 section 3.2: the pseudo-type in an NSEC bitmap that says the name does not exist.</summary>
    public const ushort NxName = 128;

    /// <summary>DNSKEY flags (RFC 4034 section 2.1.1, RFC 3757): a zone key; a zone key with the SEP bit (a KSK).</summary>
    public const ushort ZoneKeyFlags = 256, SecureEntryPointFlags = 257;

    /// <summary>The DNSKEY protocol field, always 3 (RFC 4034 section 2.1.2).</summary>
    public const byte Protocol = 3;

    /// <summary>DS digest type SHA-256 (RFC 4509).</summary>
    public const byte DigestSha256 = 2;

    /// <summary>The EDNS header flag DO (RFC 3225) and Compact Answers OK, CO (RFC 9824 section 4), in the OPT TTL's low 16 bits.</summary>
    public const ushort DnssecOkFlag = 0x8000, CompactOkFlag = 0x4000;
}
