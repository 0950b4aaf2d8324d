using System.CommandLine;
using System.Net;
using ARSoft.Tools.Net;
using ARSoft.Tools.Net.Dns;
using CertDns.Core;

namespace CertDns.Cli;

/// <summary><c>certdns query &lt;name&gt;</c>: asks a running server, like dig.</summary>
internal sealed class QueryCommand
{
    public static Command Create()
    {
        var name = new Argument<string>("name") { Description = "A query name; a bare fingerprint gets the zone appended" };
        var type = new Option<string>("--type", "-t") { Description = "Record type", DefaultValueFactory = _ => "A" };
        var server = new Option<string>("--server", "-s") { Description = "Server address", DefaultValueFactory = _ => "127.0.0.1" };
        var port = new Option<int>("--port", "-p") { Description = "Server port", DefaultValueFactory = _ => 5353 };
        var tcp = new Option<bool>("--tcp") { Description = "Ask over TCP" };
        var command = new Command("query", "Ask a running CertDns (or any DNS server) for a name") { name, type, server, port, tcp };
        command.SetAction(r => Run.Guarded(() =>
        {
            var zone = GlobalOptions.ZoneName(r);
            var text = r.GetValue(name)!.Trim().TrimEnd('.');
            if (!text.EndsWith(zone, StringComparison.OrdinalIgnoreCase))
            {
                var relative = FingerprintArgument.Parse(text, zone, isKey: false);
                var digest = relative.Value!;
                text = (digest.Length == 32 ? PublishedNames.Split(digest) : Hex.Lower(digest)) + "." + zone;
            }
            if (!Enum.TryParse<RecordType>(r.GetValue(type), ignoreCase: true, out var recordType))
                throw new BadInputException(r.GetValue(type)!, "unknown record type");
            if (!IPAddress.TryParse(r.GetValue(server), out var address))
                throw new BadInputException(r.GetValue(server)!, "not an IP address");
            var p = r.GetValue(port);
            IClientTransport[] transports = r.GetValue(tcp) ? [new TcpClientTransport(p)] : [new UdpClientTransport(p), new TcpClientTransport(p)];
            var client = new DnsClient([address], transports, false, 3000);
            DomainName domain;
            try { domain = DomainName.Parse(text); }
            catch (ArgumentException) { throw new BadInputException(text, "not a valid domain name"); }
            var answer = client.Resolve(domain, recordType);
            if (answer is null)
                return Run.Fail($"{address}:{p}: no answer (is `certdns serve` running?)", ExitCodes.Failed);
            Console.WriteLine($";; {answer.ReturnCode} {domain} {recordType}");
            foreach (var record in answer.AnswerRecords) Console.WriteLine(record);
            foreach (var record in answer.AuthorityRecords) Console.WriteLine($";; authority: {record}");
            return ExitCodes.Ok;
        }));
        return command;
    }
}
