using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using MoeCloud.Abstractions;

namespace MoeCloud.Runtime.Hosting;

/// <summary>One silo of an <see cref="EmbeddedCluster"/>.</summary>
/// <param name="Pod">Pod index.</param>
/// <param name="Options">Its options (ports included).</param>
/// <param name="App">The running host.</param>
public sealed record EmbeddedSilo(int Pod, MoeCloudSiloOptions Options, WebApplication App)
{
    /// <summary>The runner API address (gRPC, HTTP/2 without TLS).</summary>
    public Uri RunnerAddress => new($"http://127.0.0.1:{Options.RunnerPort}");

    /// <summary>The health and metrics address.</summary>
    public Uri OpsAddress => new($"http://127.0.0.1:{Options.OpsPort}");
}

/// <summary>
/// Several silos in one process with localhost clustering: the embedded local cluster of <c>moectl up</c>, the cluster
/// benchmark and the integration tests. Every silo has its own runner and ops endpoints on loopback ports.
/// </summary>
public sealed class EmbeddedCluster : ILocalCluster
{
    private EmbeddedCluster(IReadOnlyList<EmbeddedSilo> silos) => Silos = silos;

    /// <summary>The silos, by pod index.</summary>
    public IReadOnlyList<EmbeddedSilo> Silos { get; }

    /// <inheritdoc />
    public string Mode => "embedded";

    /// <inheritdoc />
    public IReadOnlyList<SiloEndpoint> Endpoints => Silos.Select(s => new SiloEndpoint(s.Pod, s.RunnerAddress, s.OpsAddress)).ToArray();

    /// <summary>A grain factory (the first silo's).</summary>
    public IGrainFactory Grains => Silos[0].App.Services.GetRequiredService<IGrainFactory>();

    /// <summary>
    /// Starts <paramref name="silos"/> silos serving <paramref name="models"/> (name → checkpoint directory) and waits
    /// until all have joined; <paramref name="services"/> adds services to the silo of a pod (tests use it for grain
    /// call filters).
    /// </summary>
    public static async Task<EmbeddedCluster> Start(int silos, IReadOnlyDictionary<string, string> models, Action<ILoggingBuilder>? logging = null, Action<MoeCloudSiloOptions>? configure = null, CancellationToken cancellationToken = default, Action<int, IServiceCollection>? services = null)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(silos);
        ArgumentNullException.ThrowIfNull(models);

        // A free port is only checked, not held (FreePorts): another process can bind it first. Such a start is
        // stopped and made again on other ports, a bounded number of times.
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                return await StartOnce(silos, models, logging, configure, cancellationToken, services);
            }
            catch (Exception e) when (attempt < PortAttempts && IsAddressInUse(e))
            {
            }
        }
    }

    /// <summary>How many times a start is tried before a port taken by another process fails it.</summary>
    private const int PortAttempts = 3;

    private static bool IsAddressInUse(Exception? e)
    {
        for (; e is not null; e = e.InnerException)
        {
            if (e is Microsoft.AspNetCore.Connections.AddressInUseException || e is System.Net.Sockets.SocketException { SocketErrorCode: System.Net.Sockets.SocketError.AddressAlreadyInUse })
            {
                return true;
            }
        }

        return false;
    }

    private static async Task<EmbeddedCluster> StartOnce(int silos, IReadOnlyDictionary<string, string> models, Action<ILoggingBuilder>? logging, Action<MoeCloudSiloOptions>? configure, CancellationToken cancellationToken, Action<int, IServiceCollection>? services)
    {
        var ports = FreePorts.Take(silos * 4);
        var started = new List<EmbeddedSilo>();
        var clusterId = $"embedded-{Guid.NewGuid():N}";
        try
        {
            for (var pod = 0; pod < silos; pod++)
            {
                var options = new MoeCloudSiloOptions
                {
                    PodIndex = pod,
                    Clustering = ClusteringMode.Localhost,
                    ClusterId = clusterId,
                    SiloPort = ports[pod * 4],
                    GatewayPort = ports[(pod * 4) + 1],
                    RunnerPort = ports[(pod * 4) + 2],
                    OpsPort = ports[(pod * 4) + 3],
                    PrimarySiloPort = ports[0],
                    WarmupsInFlight = 1, // the silos share this machine's cores: one weight load at a time
                    Models = new Dictionary<string, string>(models, StringComparer.Ordinal),
                };
                configure?.Invoke(options);
                var index = pod;
                var app = MoeCloudSiloHost.Create(options, logging ?? QuietLogging, configureServices: s =>
                {
                    s.AddSingleton<IFatalErrorHandler, StopSiloOnFatalError>(); // a silo declared dead stops alone, not the process
                    services?.Invoke(index, s);
                });
                await app.StartAsync(cancellationToken);
                started.Add(new EmbeddedSilo(pod, options, app));
            }

            var cluster = new EmbeddedCluster(started);
            await cluster.WaitForMembers(silos, TimeSpan.FromSeconds(60), cancellationToken);
            await cluster.Grains.WaitPlaceable(Enumerable.Range(0, silos), TimeSpan.FromSeconds(60), cancellationToken);
            return cluster;
        }
        catch
        {
            foreach (var s in started)
            {
                await s.App.DisposeAsync();
            }

            throw;
        }
    }

    /// <summary>
    /// Default logging of an embedded cluster: warnings and errors, except the stream and messaging chatter that every
    /// silo of one process prints while they start and stop together.
    /// </summary>
    public static void QuietLogging(ILoggingBuilder logging)
    {
        ArgumentNullException.ThrowIfNull(logging);
        logging.SetMinimumLevel(LogLevel.Warning);
        logging.AddFilter("Orleans.Streams", LogLevel.Critical);
        logging.AddFilter("Orleans.Providers", LogLevel.Critical);
        logging.AddFilter("Orleans.Messaging", LogLevel.Critical);
        logging.AddFilter("Microsoft.Extensions.Logging.ILogger", LogLevel.Critical);
        logging.AddFilter("Polly", LogLevel.Error);
        logging.AddFilter("Orleans.Runtime.Silo", LogLevel.Error);
        logging.AddFilter("Orleans.Runtime.Watchdog", LogLevel.Error);
    }

    /// <summary>Waits until every silo sees <paramref name="count"/> active members.</summary>
    public async Task WaitForMembers(int count, TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            var seen = Silos.Select(s => s.App.Services.GetRequiredService<IClusterMembershipService>().CurrentSnapshot.Members.Values.Count(m => m.Status == SiloStatus.Active)).Min();
            if (seen >= count)
            {
                return;
            }

            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"Only {seen} of {count} silos joined the embedded cluster within {timeout.TotalSeconds:F0} s.");
            }

            await Task.Delay(100, cancellationToken);
        }
    }

    /// <summary>Stops every silo, each within its shutdown timeout; a silo that did not stop in time is left undisposed (disposing would wait for it).</summary>
    public async ValueTask DisposeAsync()
    {
        foreach (var silo in Silos.Reverse())
        {
            if (await SiloShutdown.Stop(silo.App))
            {
                await silo.App.DisposeAsync();
            }
        }
    }
}
