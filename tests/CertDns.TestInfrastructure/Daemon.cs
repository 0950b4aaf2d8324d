using System.Diagnostics;

namespace CertDns.TestInfrastructure;

/// <summary>A peer daemon for one test (NSD, Knot, BIND ...): killed, with its children, when the test ends.</summary>
public sealed class Daemon(Process process) : IDisposable
{
    public void Dispose()
    {
        if (!process.HasExited) process.Kill(entireProcessTree: true);
        process.WaitForExit(5000);
        process.Dispose();
    }
}
