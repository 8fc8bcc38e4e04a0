using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace MoeCloud.Runtime.Hosting;

/// <summary>
/// Stops a silo built by <see cref="MoeCloudSiloHost"/> within its <see cref="MoeCloudSiloOptions.ShutdownTimeout"/>,
/// whether or not its membership store answers. With Redis membership it first checks that Redis is reachable; when it
/// is not, the silo cannot tell the cluster it is leaving, so it says so and stops without the graceful handshake
/// (the other silos declare it dead when it misses their probes). A host that has not stopped by the deadline is
/// abandoned: the caller exits the process.
/// </summary>
public static partial class SiloShutdown
{
    private static readonly TimeSpan ProbeTimeout = TimeSpan.FromSeconds(1);

    /// <summary>
    /// Stops <paramref name="app"/>; true when it stopped within the timeout. On false the host is still stopping and
    /// must not be disposed (that would wait for it): the pod process exits instead. The logs are flushed either way.
    /// </summary>
    public static async Task<bool> Stop(WebApplication app)
    {
        ArgumentNullException.ThrowIfNull(app);
        var options = app.Services.GetRequiredService<IOptions<MoeCloudSiloOptions>>().Value;
        var logger = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger(typeof(SiloShutdown).FullName!);
        var started = Stopwatch.GetTimestamp();
        using var deadline = new CancellationTokenSource(options.ShutdownTimeout);
        if (options.Clustering is ClusteringMode.Redis or ClusteringMode.Kubernetes && options.RedisConnectionString is { } redis
            && !await IsReachable(redis, deadline.Token))
        {
            LogMembershipUnreachable(logger, options.SiloName, redis);
            await deadline.CancelAsync(); // nothing to hand over through the store: stop without the graceful handshake
        }

        var stopping = app.StopAsync(deadline.Token);
        var left = options.ShutdownTimeout - Stopwatch.GetElapsedTime(started);
        bool stopped;
        try
        {
            await stopping.WaitAsync(left > TimeSpan.Zero ? left : TimeSpan.Zero);
            stopped = true;
        }
        catch (TimeoutException)
        {
            LogStopTimedOut(logger, options.SiloName, options.ShutdownTimeout.TotalSeconds);
            stopped = false;
        }
        catch (OperationCanceledException e)
        {
            LogStopCut(logger, e, options.SiloName);
            stopped = true;
        }

        if (!stopped)
        {
            // The console logger writes from a queue; its provider's Dispose drains it before the process exits.
            foreach (var provider in app.Services.GetServices<ILoggerProvider>())
            {
                provider.Dispose();
            }
        }

        return stopped;
    }

    /// <summary>True when a TCP connection to one of the Redis endpoints in <paramref name="connectionString"/> opens within a second.</summary>
    internal static async Task<bool> IsReachable(string connectionString, CancellationToken cancellationToken)
    {
        ConfigurationOptions parsed;
        try
        {
            parsed = ConfigurationOptions.Parse(connectionString, ignoreUnknown: true);
        }
        catch (ArgumentException)
        {
            return false;
        }

        foreach (var endpoint in parsed.EndPoints)
        {
            using var probe = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            probe.CancelAfter(ProbeTimeout);
            using var client = new TcpClient();
            try
            {
                var connect = endpoint switch
                {
                    IPEndPoint ip => client.ConnectAsync(ip, probe.Token),
                    DnsEndPoint dns => client.ConnectAsync(dns.Host, dns.Port, probe.Token),
                    _ => ValueTask.FromException(new SocketException((int)SocketError.AddressFamilyNotSupported)),
                };
                await connect;
                return true;
            }
            catch (Exception e) when (e is SocketException or OperationCanceledException)
            {
                // Try the next endpoint.
            }
        }

        return false;
    }

    [LoggerMessage(EventId = 5410, Level = LogLevel.Warning, Message = "{Silo} could not remove itself from membership: Redis ({Redis}) unreachable; it stops without the graceful handshake and the other silos will declare it dead when it misses their probes")]
    private static partial void LogMembershipUnreachable(ILogger logger, string silo, string redis);

    [LoggerMessage(EventId = 5411, Level = LogLevel.Error, Message = "{Silo} did not finish stopping within its shutdown timeout of {Seconds} s (grains not all deactivated, membership possibly not updated); the process exits without waiting further")]
    private static partial void LogStopTimedOut(ILogger logger, string silo, double seconds);

    [LoggerMessage(EventId = 5412, Level = LogLevel.Warning, Message = "{Silo} stopped, but parts of its shutdown were cut short by the shutdown timeout")]
    private static partial void LogStopCut(ILogger logger, Exception exception, string silo);
}
