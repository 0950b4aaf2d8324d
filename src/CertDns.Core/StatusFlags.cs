namespace CertDns.Core;

/// <summary>
/// The one octet a compact snapshot keeps per certificate for its status: the revocation reason plus one (zero for
/// none) in the low seven bits, the local block mark in the high bit. Written by <see cref="StatusSnapshotBuilder"/>,
/// read by <see cref="StatusSnapshot"/>; nothing else knows the layout.
/// </summary>
public static class StatusFlags
{
    private const byte BlockedBit = 0x80;
    private const byte ReasonMask = 0x7F;

    /// <summary>The octet for a certificate's revocation reason (null when not revoked) and block mark.</summary>
    public static byte Encode(RevocationReason? reason, bool blocked) =>
        (byte)((reason is { } r ? 1 + (int)r : 0) | (blocked ? BlockedBit : 0));

    /// <summary>The same octet with the block mark set.</summary>
    public static byte WithBlock(byte flags) => (byte)(flags | BlockedBit);

    /// <summary>Whether the certificate is blocked by local policy.</summary>
    public static bool IsBlocked(byte flags) => (flags & BlockedBit) != 0;

    /// <summary>The revocation reason, or null when the certificate is not revoked.</summary>
    public static RevocationReason? Reason(byte flags) => (flags & ReasonMask) is var r and not 0 ? (RevocationReason)(r - 1) : null;
}
