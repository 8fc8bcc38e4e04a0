using System.Globalization;
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

    /// <summary>
    /// Waits until the agent of each of <paramref name="pods"/> answers from that pod's own silo. A silo that has just
    /// joined is in the membership a moment before the others place grains on it (they learn its grain types after it
    /// joins): until then its pod's agent, its experts and a gateway's discovery of it land on another silo (the agent
    /// then migrates to its pod's silo once that silo takes grains).
    /// </summary>
    public static async Task WaitPlaceable(this IGrainFactory grains, IEnumerable<int> pods, TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(grains);
        ArgumentNullException.ThrowIfNull(pods);
        var pending = pods.ToHashSet();
        var answers = new Dictionary<int, string>();
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            foreach (var pod in pending.ToArray())
            {
                try
                {
                    var described = await grains.GetGrain<IPodAgentGrain>(pod.ToString(CultureInfo.InvariantCulture)).Describe().WaitAsync(TimeSpan.FromSeconds(10), cancellationToken);
                    if (PodNames.PodOfSiloName(described.SiloName) == pod)
                    {
                        pending.Remove(pod);
                    }
                    else
                    {
                        answers[pod] = $"its agent answered from {described.SiloName}";
                    }
                }
                catch (Exception e) when (e is TimeoutException or OrleansException)
                {
                    answers[pod] = $"its agent did not answer ({e.GetType().Name})";
                }
            }

            if (pending.Count == 0)
            {
                return;
            }

            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"Within {timeout.TotalSeconds:F0} s no grain could be placed on the silo of pod " +
                    string.Join("; ", pending.Order().Select(p => $"{p} ({answers.GetValueOrDefault(p, "not asked")})")) + ".");
            }

            await Task.Delay(200, cancellationToken);
        }
    }

    /// <summary>The cluster-wide telemetry totals of a model.</summary>
    public static Task<TelemetryTotals?> Telemetry(this ILocalCluster cluster, string model)
    {
        ArgumentNullException.ThrowIfNull(cluster);
        return cluster.Grains.GetGrain<ITelemetryGrain>(model).GetTotals();
    }
}
