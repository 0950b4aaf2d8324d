namespace CertDns.Core;

/// <summary>CRLReason codes of RFC 5280 section 5.3.1 (7 is unused).</summary>
public enum RevocationReason
{
    Unspecified = 0,
    KeyCompromise = 1,
    CaCompromise = 2,
    AffiliationChanged = 3,
    Superseded = 4,
    CessationOfOperation = 5,
    CertificateHold = 6,
    RemoveFromCrl = 8,
    PrivilegeWithdrawn = 9,
    AaCompromise = 10,
}

/// <summary>Names of <see cref="RevocationReason"/> as RFC 5280 spells them.</summary>
public static class RevocationReasons
{
    /// <summary>Whether a reason code is one RFC 5280 defines.</summary>
    public static bool IsDefined(int code) => code is >= 0 and <= 10 and not 7;

    /// <summary>RFC 5280 name, e.g. <c>keyCompromise</c>.</summary>
    public static string Name(RevocationReason reason) => reason switch
    {
        RevocationReason.Unspecified => "unspecified",
        RevocationReason.KeyCompromise => "keyCompromise",
        RevocationReason.CaCompromise => "cACompromise",
        RevocationReason.AffiliationChanged => "affiliationChanged",
        RevocationReason.Superseded => "superseded",
        RevocationReason.CessationOfOperation => "cessationOfOperation",
        RevocationReason.CertificateHold => "certificateHold",
        RevocationReason.RemoveFromCrl => "removeFromCRL",
        RevocationReason.PrivilegeWithdrawn => "privilegeWithdrawn",
        RevocationReason.AaCompromise => "aACompromise",
        _ => $"reason{(int)reason}",
    };
}
