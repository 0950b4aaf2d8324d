using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Hosting.Systemd;
using Microsoft.Extensions.Logging;

namespace CertDns.Cli;

/// <summary>
/// Runs <see cref="ServeService"/> in a generic host. With NOTIFY_SOCKET set (systemd's <c>Type=notify</c>) the
/// systemd lifetime sends READY=1 once the service has started (snapshot loaded, every socket bound) and STOPPING=1
/// on the way down; SIGTERM and SIGINT stop it cleanly either way.
/// </summary>
internal static class ServeHost
{
    /// <summary>How long stopping may take before the host gives up on the service: inside systemd's and the 5 s promised.</summary>
    private static readonly TimeSpan StopTimeout = TimeSpan.FromSeconds(4);

    /// <summary>"certdns" and the build's version, as the query log's dnstap <c>version</c> names the server.</summary>
    public static string Version { get; } = "certdns " + (typeof(ServeHost).Assembly
        .GetCustomAttributes(typeof(System.Reflection.AssemblyInformationalVersionAttribute), false)
        .OfType<System.Reflection.AssemblyInformationalVersionAttribute>().FirstOrDefault()?.InformationalVersion.Split('+')[0] ?? "0");

    public static async Task<int> RunAsync(ServeSettings settings, string logFormat, CancellationToken cancel)
    {
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true, Args = [] });
        ServeLogging.Configure(builder.Logging, logFormat);
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = StopTimeout);
        builder.Services.Configure<ConsoleLifetimeOptions>(o => o.SuppressStatusMessages = true);
        // UseSystemd's own check wants systemd as the parent process; the notify socket is what Type=notify gives.
        // Without it the host's console lifetime (SIGTERM, SIGINT) stays.
        if (Environment.GetEnvironmentVariable("NOTIFY_SOCKET") is { Length: > 0 })
        {
            builder.Services.AddSingleton<ISystemdNotifier, SystemdNotifier>();
            builder.Services.AddSingleton<IHostLifetime, SystemdLifetime>();
        }
        builder.Services.AddSingleton(settings);
        builder.Services.AddHostedService<ServeService>();
        using var host = builder.Build();
        try
        {
            await host.StartAsync(cancel).ConfigureAwait(false);
        }
        catch (ListenException e)
        {
            return Run.Fail(e.Message, ExitCodes.Failed);
        }
        await host.WaitForShutdownAsync(cancel).ConfigureAwait(false);
        return ExitCodes.Ok;
    }
}
