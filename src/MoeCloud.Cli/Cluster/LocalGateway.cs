using System.Diagnostics;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using MoeCloud.Contracts.Security;
using MoeCloud.Gateway.Forwarding;
using MoeCloud.Gateway.Hosting;
using MoeCloud.Gateway.Scheduling;
using MoeCloud.Gateway.Security;
using MoeCloud.Model.Traces;
using MoeCloud.Runtime.Hosting;

namespace MoeCloud.Cli.Cluster;

/// <summary>A gateway in front of a local cluster, on free loopback ports, with a fresh client key and admin key.</summary>
public sealed class LocalGateway : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly ILocalCluster _cluster;
    private int _stopped;

    private LocalGateway(WebApplication app, ILocalCluster cluster, GatewayOptions options, string apiKey, string adminKey)
    {
        _app = app;
        _cluster = cluster;
        Options = options;
        ApiKey = apiKey;
        AdminKey = adminKey;
    }

    /// <summary>The gateway's options.</summary>
    public GatewayOptions Options { get; }

    /// <summary>The client API key (printed for the user; only its hash is configured).</summary>
    public string ApiKey { get; }

    /// <summary>The admin API key.</summary>
    public string AdminKey { get; }

    /// <summary>The gateway's request path itself (what its gRPC and JSON APIs call), for benchmarks that drive it in-process.</summary>
    public GatewayForwarder Forwarder => _app.Services.GetRequiredService<GatewayForwarder>();

    /// <summary>The gateway's serving signals per model (what <c>GET admin/v1/serving</c> returns), for an autoscaler in this process.</summary>
    public ServingMonitor Serving => _app.Services.GetRequiredService<ServingMonitor>();

    /// <summary>The gRPC address.</summary>
    public Uri GrpcAddress => new($"http://127.0.0.1:{Options.GrpcPort}");

    /// <summary>The HTTP address (JSON, admin, metrics).</summary>
    public Uri HttpAddress => new($"http://127.0.0.1:{Options.HttpPort}");

    /// <summary>
    /// Starts a gateway for <paramref name="cluster"/> serving <paramref name="model"/>; the profile trace seeds the
    /// speculative policy, which homes tokens or whole requests by <paramref name="granularity"/>. <paramref name="servingWindow"/>
    /// is the window of the serving signals (default: <see cref="GatewayOptions.ServingWindow"/>). <paramref name="adminKey"/>
    /// is the admin key (default: a fresh one), so that one key can also open the silos' dashboards.
    /// </summary>
    public static async Task<LocalGateway> Start(ILocalCluster cluster, string model, string modelDirectory, RoutingTrace? profile, HomePolicyName policy, CancellationToken ct, HomeGranularity granularity = HomeGranularity.Token, TimeSpan? servingWindow = null, string? adminKey = null)
    {
        ArgumentNullException.ThrowIfNull(cluster);
        var apiKey = ApiKeys.NewKey();
        adminKey ??= ApiKeys.NewKey();
        var ports = FreePorts.Take(2);
        var options = new GatewayOptions
        {
            GrpcPort = ports[0],
            HttpPort = ports[1],
            // No pod list: the gateway follows the cluster's membership, as it does in Kubernetes.
            Models = new Dictionary<string, string> { [model] = modelDirectory },
            HomePolicy = policy,
            HomeGranularity = granularity,
            ApiKeys = [new ApiKeyEntry { Name = "local", Sha256 = ApiKeyAuthenticator.Hash(apiKey), RequestsPerSecond = 100_000 }],
            AdminKeys = [new ApiKeyEntry { Name = "local-admin", Sha256 = ApiKeyAuthenticator.Hash(adminKey) }],
        };
        if (servingWindow is { } window)
        {
            options.ServingWindow = window;
        }

        if (profile is not null)
        {
            options.ProfileTraces[model] = LocalClusters.SaveProfile(model, profile);
        }

        return await Launch(cluster, options, apiKey, adminKey, ct);
    }

    /// <summary>A second replica of this gateway, on its own free ports, with the same keys and models: what a Deployment's second pod is.</summary>
    public Task<LocalGateway> StartReplica(CancellationToken ct)
    {
        var ports = FreePorts.Take(2);
        return Launch(_cluster, Copy(Options, ports[0], ports[1]), ApiKey, AdminKey, ct);
    }

    /// <summary>This gateway started again on the same ports after <see cref="Crash"/>: a restarted pod.</summary>
    public Task<LocalGateway> Restart(CancellationToken ct)
    {
        if (Volatile.Read(ref _stopped) == 0)
        {
            throw new InvalidOperationException("the gateway is still running; crash or dispose it before restarting it");
        }

        return Launch(_cluster, Copy(Options, Options.GrpcPort, Options.HttpPort), ApiKey, AdminKey, ct);
    }

    /// <summary>
    /// Stops the gateway as a crash would, for chaos runs: its listeners close and every open connection is aborted at
    /// once, with no drain, so calls in flight through it fail at their clients. Disposing it afterwards does nothing more.
    /// </summary>
    public async Task Crash()
    {
        if (Interlocked.Exchange(ref _stopped, 1) != 0)
        {
            return;
        }

        await _app.StopAsync(new CancellationToken(canceled: true));
        await _app.DisposeAsync();
    }

    /// <summary>How long a starting gateway waits for its membership view to hold every pod of the cluster.</summary>
    private static readonly TimeSpan MembershipWait = TimeSpan.FromSeconds(15);

    private static async Task<LocalGateway> Launch(ILocalCluster cluster, GatewayOptions options, string apiKey, string adminKey, CancellationToken ct)
    {
        var app = GatewayHost.Create(options, cluster.Grains);
        await app.StartAsync(ct);
        // The membership view can lag a silo that has just joined (more so on a loaded machine): read it again, for a
        // bounded time, until it holds every pod.
        var watcher = app.Services.GetRequiredService<PlanWatcher>();
        var pods = app.Services.GetRequiredService<PodDirectory>();
        var waited = Stopwatch.StartNew();
        await watcher.Refresh(ct);
        while (pods.Pods.Count != cluster.Endpoints.Count && waited.Elapsed < MembershipWait)
        {
            await Task.Delay(TimeSpan.FromMilliseconds(200), ct);
            await watcher.Refresh(ct);
        }

        var found = pods.Pods.Count;
        if (found != cluster.Endpoints.Count)
        {
            await app.DisposeAsync();
            throw new InvalidOperationException($"The gateway found {found} of the cluster's {cluster.Endpoints.Count} pods in its membership.");
        }

        return new LocalGateway(app, cluster, options, apiKey, adminKey);
    }

    private static GatewayOptions Copy(GatewayOptions options, int grpcPort, int httpPort)
    {
        var copy = new GatewayOptions
        {
            GrpcPort = grpcPort,
            HttpPort = httpPort,
            Models = new Dictionary<string, string>(options.Models),
            HomePolicy = options.HomePolicy,
            HomeGranularity = options.HomeGranularity,
            HomeSplitLink = options.HomeSplitLink,
            ApiKeys = options.ApiKeys,
            AdminKeys = options.AdminKeys,
            ServingWindow = options.ServingWindow,
        };
        foreach (var (model, dir) in options.ProfileTraces)
        {
            copy.ProfileTraces[model] = dir;
        }

        return copy;
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _stopped, 1) != 0)
        {
            return;
        }

        using (var bound = new CancellationTokenSource(TimeSpan.FromSeconds(10)))
        {
            await _app.StopAsync(bound.Token);
        }

        await _app.DisposeAsync();
        foreach (var dir in Options.ProfileTraces.Values)
        {
            try
            {
                Directory.Delete(dir, recursive: true);
            }
            catch (IOException)
            {
                // Left for the next run.
            }
        }
    }
}
