using System.CommandLine;
using System.Net;
using CertDns.Core;
using CertDns.Policy;

namespace CertDns.Cli;

/// <summary><c>certdns policy</c>: the Postfix policy service and socketmap, asking the zone over DNS.</summary>
internal sealed class PolicyCommand
{
    public static Command Create()
    {
        var listen = new Option<string>("--listen") { Description = "Policy delegation endpoint (check_policy_service inet:...)", DefaultValueFactory = _ => "127.0.0.1:10040" };
        var socketmap = new Option<string?>("--socketmap") { Description = "Also serve socketmap lookups here (check_ccert_access socketmap:inet:HOST:PORT:cert)" };
        var server = new Option<string>("--server") { Description = "DNS server carrying the zone", DefaultValueFactory = _ => "127.0.0.1" };
        var port = new Option<int>("--port") { Description = "Its port", DefaultValueFactory = _ => 5353 };
        var timeout = new Option<double>("--timeout") { Description = "Seconds to wait for the zone per query", DefaultValueFactory = _ => 2.0 };
        var fail = new Option<string>("--fail") { Description = "When the zone cannot be asked: open (DUNNO, the default) or closed (defer)", DefaultValueFactory = _ => "open" };
        fail.AcceptOnlyFromAmong("open", "closed");
        var stamp = new Option<string?>("--stamp") { Description = "Instead of deciding, answer PREPEND X-CertDns-Client-Cert: HOST; sha256=... (a reporter's trace header)" };
        var stampHeader = new Option<string>("--stamp-header") { Description = "The header name --stamp writes (default X-CertDns-Client-Cert); Postfix's header_checks renames a private one (README)", DefaultValueFactory = _ => PolicyStamp.Header };
        var command = new Command("policy", "Postfix policy service: REJECT clients whose TLS certificate the zone lists") { listen, socketmap, server, port, timeout, fail, stamp, stampHeader };
        command.SetAction((r, cancel) => Run.GuardedAsync(async () =>
        {
            var zone = GlobalOptions.ZoneName(r).TrimEnd('.');
            if (!IPAddress.TryParse(r.GetValue(server), out var address)) throw new BadInputException(r.GetValue(server)!, "not an IP address");
            if (r.GetValue(timeout) is var t && t is <= 0 or > 60) throw new BadInputException("--timeout", "must be between 0 and 60 seconds");
            var client = new ZoneClient(address, r.GetValue(port), zone, TimeSpan.FromSeconds(t));
            var decision = new PolicyDecision(client, r.GetValue(fail) == "closed" ? FailureMode.Closed : FailureMode.Open, m => Console.WriteLine(m));
            var idle = TimeSpan.FromMinutes(5);
            var host = r.GetValue(stamp);
            // The host goes into a header after "X-CertDns-Client-Cert: ": one token, as report --mail reads it.
            if (host is not null && !System.Text.RegularExpressions.Regex.IsMatch(host, @"^[A-Za-z0-9.-]{1,253}$"))
                throw new BadInputException(host, "--stamp is not a host name");
            var headerName = r.GetValue(stampHeader)!;
            // An RFC 5322 field name Postfix's PREPEND and a header_checks regexp take as written.
            if (!System.Text.RegularExpressions.Regex.IsMatch(headerName, @"^[A-Za-z0-9-]{1,64}$"))
                throw new BadInputException(headerName, "--stamp-header is not a header name (letters, digits, '-')");
            if (host is null && headerName != PolicyStamp.Header) throw new BadInputException("--stamp-header", "only with --stamp");
            await using var policy = new PolicyServer(EndpointArgument.ParseListen(r.GetValue(listen)!), decision, LineServerLimits.Default(idle), null, host, headerName);
            await using var map = r.GetValue(socketmap) is { } s ? new SocketmapServer(EndpointArgument.ParseListen(s), decision, idle) : null;
            Console.WriteLine(host is not null
                ? $"policy service on {policy.LocalEndPoint}, stamping {headerName} as {host}{(map is null ? "" : $"; socketmap on {map.LocalEndPoint}, asking {zone} at {address}:{r.GetValue(port)}")}"
                : $"policy service on {policy.LocalEndPoint}{(map is null ? "" : $", socketmap on {map.LocalEndPoint}")}, asking {zone} at {address}:{r.GetValue(port)}, failing {r.GetValue(fail)}");
            try
            {
                await Task.Delay(Timeout.Infinite, cancel).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
            }
            return ExitCodes.Ok;
        }));
        return command;
    }
}
