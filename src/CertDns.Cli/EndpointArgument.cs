using System.Net;
using CertDns.Core;

namespace CertDns.Cli;

/// <summary>Reads <c>address:port</c> as typed for --listen and friends.</summary>
internal static class EndpointArgument
{
    /// <summary>A destination (--notify): port 0 names no one.</summary>
    public static IPEndPoint Parse(string text) =>
        IPEndPoint.TryParse(text, out var endpoint) && endpoint.Port != 0
            ? endpoint
            : throw new BadInputException(text, "expected address:port, e.g. 127.0.0.1:5353 or [::1]:53");

    /// <summary>An address to listen on: port 0 lets the system pick one, which the verb prints once bound.</summary>
    public static IPEndPoint ParseListen(string text) =>
        IPEndPoint.TryParse(text, out var endpoint) && (endpoint.Port != 0 || ExplicitPortZero(text, endpoint))
            ? endpoint
            : throw new BadInputException(text, "expected address:port, e.g. 127.0.0.1:5353 or [::1]:53 (port 0: any free port)");

    // IPEndPoint.TryParse reads a bare address ("127.0.0.1", "::1") as port 0: only a typed ":0" asks for any port.
    private static bool ExplicitPortZero(string text, IPEndPoint endpoint) =>
        endpoint.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork
            ? text.EndsWith(":0", StringComparison.Ordinal)
            : text.EndsWith("]:0", StringComparison.Ordinal);
}
