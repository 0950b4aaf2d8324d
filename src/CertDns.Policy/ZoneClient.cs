using System.Net;
using ARSoft.Tools.Net;
using ARSoft.Tools.Net.Dns;
using CertDns.Core;

namespace CertDns.Policy;

/// <summary>What the zone said about a fingerprint.</summary>
/// <param name="Status">The status its A record stands for; Unknown for NXDOMAIN or NODATA.</param>
/// <param name="Text">The TXT reason, when the status is listed.</param>
public sealed record ZoneAnswer(CertStatus Status, string? Text);

/// <summary>The zone did not answer usably (timeout, SERVFAIL, REFUSED): the caller decides fail-open or closed.</summary>
public sealed class ZoneUnavailableException(string message) : Exception(message);

/// <summary>
/// Asks a CertDns zone over DNS, as an MTA would: the policy service does not read the store, so it works
/// against any server carrying the zone (a secondary, a resolver).
/// </summary>
public sealed class ZoneClient(IPAddress server, int port, string apex, TimeSpan timeout)
{
    private readonly DnsClient _client = new([server], [new UdpClientTransport(port), new TcpClientTransport(port)], false, (int)timeout.TotalMilliseconds);

    /// <summary>Looks up a certificate (or, with <paramref name="isKey"/>, public key) digest.</summary>
    public async Task<ZoneAnswer> LookupAsync(byte[] digest, bool isKey, CancellationToken cancel = default)
    {
        var name = QueryNameFor(digest, isKey, apex);
        var a = await AskAsync(name, RecordType.A, cancel).ConfigureAwait(false);
        var address = a.AnswerRecords.OfType<ARecord>().FirstOrDefault()?.Address;
        if (address is null) return new ZoneAnswer(CertStatus.Unknown, null);
        var status = Enum.GetValues<CertStatus>().FirstOrDefault(s => s != CertStatus.Unknown && StatusCodes.Address(s).SequenceEqual(address.GetAddressBytes()));
        if (status == CertStatus.Unknown) return new ZoneAnswer(CertStatus.Unknown, null);
        var txt = await AskAsync(name, RecordType.Txt, cancel).ConfigureAwait(false);
        return new ZoneAnswer(status, txt.AnswerRecords.OfType<TxtRecord>().FirstOrDefault()?.TextData);
    }

    /// <summary>
    /// The query name for a digest, by its length as Postfix gives it: SHA-256 split in two labels (a 64-char
    /// label is illegal), SHA-1 and MD5 as one label.
    /// </summary>
    public static string QueryNameFor(byte[] digest, bool isKey, string apex)
    {
        var fingerprint = digest.Length switch
        {
            32 => PublishedNames.Split(digest),
            20 or 16 => Hex.Lower(digest),
            _ => throw new BadInputException(Hex.Lower(digest), "a fingerprint is SHA-256, SHA-1 or MD5 (32, 20 or 16 octets)"),
        };
        return $"{fingerprint}{(isKey ? ".key" : "")}.{apex}";
    }

    private async Task<DnsMessage> AskAsync(string name, RecordType type, CancellationToken cancel)
    {
        var answer = await _client.ResolveAsync(DomainName.Parse(name), type, RecordClass.INet, null, cancel).ConfigureAwait(false)
            ?? throw new ZoneUnavailableException($"no answer from {server}:{port} for {name}");
        if (answer.ReturnCode is not (ReturnCode.NoError or ReturnCode.NxDomain))
            throw new ZoneUnavailableException($"{server}:{port} answered {answer.ReturnCode} for {name}");
        return answer;
    }
}
