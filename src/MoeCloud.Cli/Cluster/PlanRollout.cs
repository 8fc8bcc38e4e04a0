using MoeCloud.Abstractions;
using MoeCloud.Cli.Hosting;
using MoeCloud.Runtime.Hosting;

namespace MoeCloud.Cli.Cluster;

/// <summary>A plan rolled out to a local cluster under a <see cref="CliProgress"/> bar that follows the replicas warmed.</summary>
public static class PlanRollout
{
    /// <summary>How often the bar reads the registry's status while the rollout runs.</summary>
    private static readonly TimeSpan Poll = TimeSpan.FromMilliseconds(250);

    /// <summary>
    /// Publishes <paramref name="plan"/> and returns when every pod serves it. With <paramref name="live"/> (a terminal)
    /// the bar moves with the registry's <see cref="PlanRolloutStatus.ReplicasWarmed"/> out of the plan's replicas;
    /// otherwise nothing more is written than what <see cref="CliProgress"/> writes (no line per poll).
    /// </summary>
    public static async Task<PlanRolloutStatus> Run(ILocalCluster cluster, WirePlan plan, CliProgressReporter progress, bool live, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(cluster);
        ArgumentNullException.ThrowIfNull(plan);
        ArgumentNullException.ThrowIfNull(progress);
        var publish = cluster.Publish(plan);
        if (live)
        {
            var registry = cluster.Grains.GetGrain<IPlanRegistryGrain>(plan.Model);
            var total = Math.Max(1, plan.PodIds.Length);
            using var timer = new PeriodicTimer(Poll);
            while (!publish.IsCompleted)
            {
                var tick = timer.WaitForNextTickAsync(ct).AsTask();
                if (await Task.WhenAny(publish, tick) == publish)
                {
                    break;
                }

                await tick;
                var status = await registry.GetStatus();
                var warmed = Math.Min(status.ReplicasWarmed, total);
                progress.Advance(warmed, total, $"plan {plan.Version}: {warmed}/{total} replicas warmed ({status.Phase})");
            }
        }

        return await publish;
    }
}
