namespace CertDns.Dns.Dnssec;

/// <summary>
/// Where a key is in its life at a moment (RFC 7583 section 3.1, the states a zone's DNSKEY RRset shows): generated,
/// not yet in the DNSKEY RRset; published, in it but signing nothing (pre-publication); active, published and signing;
/// retired, still published but no longer signing (its old signatures may still be in caches); removed, neither (kept
/// in the file for the record until the next rollover starts). Derived from the key's times (<see cref="DnssecKey.StateAt"/>).
/// </summary>
public enum DnssecKeyState
{
    Generated,
    Published,
    Active,
    Retired,
    Removed,
}
