using System.Net;
using CertDns.Core;

namespace CertDns.Cli;

/// <summary>Reads <c>address:port</c> as typed for --listen and friends.</summary>
internal static class EndpointArgument
{
    public static IPEndPoint Parse(string text) =>
        IPEndPoint.TryParse(text, out var endpoint) && endpoint.Port != 0
            ? endpoint
            : throw new BadInputException(text, "expected address:port, e.g. 127.0.0.1:5353 or [::1]:53");
}
