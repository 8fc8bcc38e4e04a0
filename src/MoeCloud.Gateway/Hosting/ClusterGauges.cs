using System.Globalization;
using System.Runtime.InteropServices;
using MoeCloud.Abstractions;
using MoeCloud.Gateway.Api;
using MoeCloud.Model.Traces;
using MoeCloud.Placement.Metrics;
using MoeCloud.Placement.Plans;
using MoeCloud.Placement.Profiles;

namespace MoeCloud.Gateway.Hosting;

/// <summary>
/// The cluster-level gauges of <see cref="GatewayMetrics"/>, set on each plan refresh from what the gateway already
/// reads: the plan registry's status (plan version, rollout progress and stall time, through
/// <see cref="AdminApi.Progress"/>), the cluster's windowed load (<see cref="ITelemetryGrain.GetLoad"/>) against the plan
/// in effect (imbalance through <see cref="ExpertLoadImbalance.Predicted(PlacementPlan, WorkloadProfile, int?)"/>, the
/// hottest experts through <see cref="ExpertLoad.Hottest"/>), and the pod directory's health. Cardinality is fixed:
/// per model one series of each gauge plus <see cref="HotExperts"/> ranks of the four hot-expert gauges, whatever the
/// model's shape.
/// </summary>
public sealed class ClusterGauges(GatewayMetrics metrics, TimeProvider time)
{
    /// <summary>Hottest experts reported per model (the <c>rank</c> label runs 1..HotExperts).</summary>
    public const int HotExperts = 10;

    private readonly Dictionary<string, (int Version, int Moved, long Since)> _progress = new(StringComparer.Ordinal);
    private readonly Dictionary<string, int> _ranks = new(StringComparer.Ordinal);
    private readonly Lock _gate = new();

    /// <summary>Pods of the plan and those of them healthy.</summary>
    public void Pods(int planned, int healthy)
    {
        metrics.Pods.WithLabels("planned").Set(planned);
        metrics.Pods.WithLabels("healthy").Set(healthy);
    }

    /// <summary>Plan version and the progress of the latest rollout of <paramref name="model"/>.</summary>
    public void Rollout(string model, PlanRolloutStatus status)
    {
        ArgumentNullException.ThrowIfNull(status);
        var latest = status.PendingVersion ?? status.ActiveVersion;
        var progress = AdminApi.Progress(latest, status);
        metrics.PlanVersion.WithLabels(model).Set(status.ActiveVersion);
        metrics.RolloutVersion.WithLabels(model).Set(status.PendingVersion ?? 0);
        metrics.RolloutMoved.WithLabels(model).Set(progress?.MovedReplicas ?? 0);
        metrics.RolloutMoves.WithLabels(model).Set(progress?.TotalMoves ?? 0);
        var now = time.GetTimestamp();
        double stalled = 0;
        lock (_gate)
        {
            if (status.PendingVersion is not { } pending)
            {
                _progress.Remove(model);
            }
            else
            {
                var moved = progress?.MovedReplicas ?? 0;
                if (!_progress.TryGetValue(model, out var last) || last.Version != pending || last.Moved != moved)
                {
                    last = (pending, moved, now);
                    _progress[model] = last;
                }

                stalled = time.GetElapsedTime(last.Since, now).TotalSeconds;
            }
        }

        metrics.RolloutStalled.WithLabels(model).Set(stalled);
    }

    /// <summary>
    /// Imbalance and hottest experts of <paramref name="model"/> under <paramref name="load"/> with <paramref name="plan"/>
    /// in effect; nothing changes while either is missing, the window is empty, or their shapes differ (a model replaced
    /// under its name).
    /// </summary>
    public void Load(string model, PlacementPlan? plan, TelemetryLoad? load)
    {
        if (plan is null || load is null || load.WindowTokens == 0 || load.Layers != plan.Layers || load.Experts != plan.Experts)
        {
            return;
        }

        var counts = new ExpertLoad(load.Layers, load.Experts, MemoryMarshal.Cast<byte, long>(load.Load).ToArray());
        metrics.Imbalance.WithLabels(model).Set(ExpertLoadImbalance.Predicted(plan, WorkloadProfile.FromLoad($"live:{model}", counts, load.TopK)));
        var hottest = counts.Hottest(HotExperts);
        for (var i = 0; i < hottest.Count; i++)
        {
            var rank = (i + 1).ToString(CultureInfo.InvariantCulture);
            var (layer, expert, dispatches) = hottest[i];
            metrics.HotDispatches.WithLabels(model, rank).Set(dispatches);
            metrics.HotLayer.WithLabels(model, rank).Set(layer);
            metrics.HotExpert.WithLabels(model, rank).Set(expert);
            metrics.HotReplicas.WithLabels(model, rank).Set(plan.PodsOf(layer, expert).Length);
        }

        int shown;
        lock (_gate)
        {
            shown = _ranks.GetValueOrDefault(model);
            _ranks[model] = hottest.Count;
        }

        // Fewer experts with load than before: the ranks past them leave rather than keep stale values.
        for (var i = hottest.Count; i < shown; i++)
        {
            var rank = (i + 1).ToString(CultureInfo.InvariantCulture);
            metrics.HotDispatches.RemoveLabelled(model, rank);
            metrics.HotLayer.RemoveLabelled(model, rank);
            metrics.HotExpert.RemoveLabelled(model, rank);
            metrics.HotReplicas.RemoveLabelled(model, rank);
        }
    }
}
