namespace CertDns.Core;

/// <summary>What the zone says about one certificate (SPEC section 2).</summary>
public enum CertStatus
{
    /// <summary>Fingerprint never registered: NXDOMAIN.</summary>
    Unknown = 0,
    Valid,
    Stale,
    Expired,
    Untrusted,
    Hold,
    Revoked,
    Blocked,
}

/// <summary>A records, precedence and view visibility of each <see cref="CertStatus"/>.</summary>
public static class StatusCodes
{
    /// <summary>The A record (127/8, RFC 5782 section 2.1) for a status; Unknown has none.</summary>
    public static ReadOnlySpan<byte> Address(CertStatus status) => status switch
    {
        CertStatus.Revoked => [127, 0, 0, 2],
        CertStatus.Blocked => [127, 0, 0, 3],
        CertStatus.Hold => [127, 0, 0, 4],
        CertStatus.Valid => [127, 0, 1, 2],
        CertStatus.Stale => [127, 0, 2, 2],
        CertStatus.Untrusted => [127, 0, 2, 3],
        CertStatus.Expired => [127, 0, 2, 4],
        _ => [],
    };

    /// <summary>Precedence when several statuses apply: blocked > revoked > hold > untrusted > expired > stale > valid.</summary>
    public static int Precedence(CertStatus status) => status switch
    {
        CertStatus.Blocked => 7,
        CertStatus.Revoked => 6,
        CertStatus.Hold => 5,
        CertStatus.Untrusted => 4,
        CertStatus.Expired => 3,
        CertStatus.Stale => 2,
        CertStatus.Valid => 1,
        _ => 0,
    };

    /// <summary>The status of higher precedence.</summary>
    public static CertStatus Max(CertStatus a, CertStatus b) => Precedence(a) >= Precedence(b) ? a : b;

    /// <summary>
    /// Whether a view publishes a status: RFC 5782 clients treat any A record as "listed", so the
    /// <c>bl</c> view shows only the block family (127.0.0.x) and <c>wl</c> only valid.
    /// </summary>
    public static bool VisibleIn(CertStatus status, ZoneView view) => status != CertStatus.Unknown && view switch
    {
        ZoneView.Combined => true,
        ZoneView.Block => status is CertStatus.Revoked or CertStatus.Blocked or CertStatus.Hold,
        ZoneView.Allow => status is CertStatus.Valid,
        _ => false,
    };

    /// <summary>Lower-case name used in output and TXT strings.</summary>
    public static string Name(CertStatus status) => status.ToString().ToLowerInvariant();
}

/// <summary>Which view of the zone a query addresses (the label right under the apex).</summary>
public enum ZoneView
{
    /// <summary>No view label: every status code.</summary>
    Combined,
    /// <summary><c>bl</c>: the block family only.</summary>
    Block,
    /// <summary><c>wl</c>: valid only.</summary>
    Allow,
}
