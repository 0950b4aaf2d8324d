namespace CertDns.Dns.Dnssec;

/// <summary>
/// Where a key is in its life (RFC 7583 section 3.1, simplified): a published key is in the DNSKEY RRset but signs
/// nothing yet (pre-publication), an active key is published and signs, a retired key is neither (kept in the file
/// for the record until it is removed).
/// </summary>
public enum DnssecKeyState
{
    Published,
    Active,
    Retired,
}
