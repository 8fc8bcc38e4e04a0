using MoeCloud.Abstractions;

namespace MoeCloud.Runtime.Hosting;

/// <summary>A silo's addresses in a local cluster.</summary>
/// <param name="Pod">Pod index.</param>
/// <param name="Runner">Runner API (gRPC over HTTP/2 without TLS).</param>
/// <param name="Ops">Health and metrics (HTTP/1.1).</param>
public sealed record SiloEndpoint(int Pod, Uri Runner, Uri Ops);

/// <summary>A running local cluster, embedded (one process) or one process per silo.</summary>
public interface ILocalCluster : IAsyncDisposable
{
    /// <summary>How the silos run ("embedded" or "processes").</summary>
    string Mode { get; }

    /// <summary>The silos' addresses, by pod.</summary>
    IReadOnlyList<SiloEndpoint> Endpoints { get; }

    /// <summary>A grain factory connected to the cluster.</summary>
    IGrainFactory Grains { get; }
}

/// <summary>Operations every local cluster offers through its grain factory.</summary>
public static class LocalClusterExtensions
{
    /// <summary>Rolls a plan out (with <paramref name="policy"/>, default <see cref="RolloutPolicy.Default"/>) and returns when every pod serves it.</summary>
    public static Task<PlanRolloutStatus> Publish(this ILocalCluster cluster, WirePlan plan, RolloutPolicy? policy = null)
    {
        ArgumentNullException.ThrowIfNull(cluster);
        ArgumentNullException.ThrowIfNull(plan);
        return cluster.Grains.GetGrain<IPlanRegistryGrain>(plan.Model).Publish(plan, policy ?? RolloutPolicy.Default);
    }

    /// <summary>The cluster-wide telemetry totals of a model.</summary>
    public static Task<TelemetryTotals?> Telemetry(this ILocalCluster cluster, string model)
    {
        ArgumentNullException.ThrowIfNull(cluster);
        return cluster.Grains.GetGrain<ITelemetryGrain>(model).GetTotals();
    }
}
