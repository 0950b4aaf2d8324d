namespace CertDns.TestInfrastructure;

/// <summary>
/// "The peer answers like CertDns": asks CertDns and a peer serving a copy of its zone (a secondary, an exported
/// zone or rbldnsd list) the same name with the real dig and checks the peer's answer against CertDns's own.
/// </summary>
public sealed class PeerAnswers(int certdnsPort, string peer, int peerPort)
{
    /// <summary>The views every certificate name can be asked under: combined, block list, allow list.</summary>
    public static readonly IReadOnlyList<string> Views = ["", "bl.", "wl."];

    /// <summary>
    /// Asks both for the A records of <paramref name="qname"/>: the same status and the same addresses. With
    /// <paramref name="nodataMayBeNxdomain"/>, where CertDns lists nothing the peer may say NXDOMAIN where CertDns
    /// says NODATA (a short form could be the right-hand part of a longer split name): neither lists it.
    /// </summary>
    /// <returns>How many addresses the peer answered.</returns>
    public async Task<int> SameA(string qname, string what, bool nodataMayBeNxdomain = false)
    {
        var ours = await Dig.RunAsync(certdnsPort, qname, "A");
        var theirs = await Dig.RunAsync(peerPort, qname, "A");
        if (nodataMayBeNxdomain && ours.Answer.Count == 0) Assert.Contains(theirs.Status, new[] { "NOERROR", "NXDOMAIN" });
        else Assert.True(ours.Status == theirs.Status, $"{what} {qname}: certdns {ours.Status}, {peer} {theirs.Status}");
        Assert.Equal(ours.Answer.Select(a => a[4]), theirs.Answer.Select(a => a[4]));
        return theirs.Answer.Count;
    }

    /// <summary>Asks both for the TXT record of a listed name: the peer carries CertDns's reason text unchanged.</summary>
    public async Task SameTxt(string qname)
    {
        var theirs = await Dig.RunAsync(peerPort, qname, "TXT");
        var ours = await Dig.RunAsync(certdnsPort, qname, "TXT");
        // Each side checked on its own, so a failure names the server that answered without the record.
        Assert.True(ours.Answer.Count(r => r[3] == "TXT") == 1, $"certdns answered {qname} TXT without one TXT record:\n{ours.Output}");
        Assert.True(theirs.Answer.Count(r => r[3] == "TXT") == 1, $"{peer} answered {qname} TXT without one TXT record (certdns: {ours.SingleAnswer("TXT")[4]}):\n{theirs.Output}");
        Assert.Equal(ours.SingleAnswer("TXT")[4], theirs.SingleAnswer("TXT")[4]);
    }
}
