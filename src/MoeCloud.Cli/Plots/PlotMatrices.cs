using MoeCloud.Model.Traces;
using MoeCloud.Placement.Metrics;
using MoeCloud.Placement.Plans;
using MoeCloud.Placement.Profiles;

namespace MoeCloud.Cli.Plots;

/// <summary>
/// The matrices <c>moectl plot</c> draws, built from the Placement library's own counts (no second load or transition
/// computation): rows are the heatmap's rows from the top, columns its columns from the left.
/// </summary>
internal static class PlotMatrices
{
    /// <summary>
    /// <c>[layers, pods]</c>: with <paramref name="trace"/>, the dispatches each pod serves in each layer, each expert's
    /// load split evenly over its replicas (<see cref="ExpertLoadImbalance.PredictedPodLoads"/>); without it, the expert
    /// replicas each pod holds in each layer (<see cref="PlacementPlan.ReplicasPerPod"/>).
    /// </summary>
    /// <exception cref="ArgumentException">The trace's layers or experts differ from the plan's.</exception>
    public static double[,] PodLoads(PlacementPlan plan, RoutingTrace? trace)
    {
        ArgumentNullException.ThrowIfNull(plan);
        var matrix = new double[plan.Layers, plan.PodCount];
        if (trace is null)
        {
            for (var l = 0; l < plan.Layers; l++)
            {
                var counts = plan.ReplicasPerPod(l);
                for (var p = 0; p < plan.PodCount; p++)
                {
                    matrix[l, p] = counts[p];
                }
            }

            return matrix;
        }

        var profile = WorkloadProfile.FromLoad(trace.Manifest.Name, ExpertLoad.FromTrace(trace), trace.TopK);
        var flat = ExpertLoadImbalance.PredictedPodLoads(plan, profile);
        for (var l = 0; l < plan.Layers; l++)
        {
            for (var p = 0; p < plan.PodCount; p++)
            {
                matrix[l, p] = flat[(l * plan.PodCount) + p];
            }
        }

        return matrix;
    }

    /// <summary>
    /// <c>[experts, experts]</c>: entry (e, f) counts the (slot at <paramref name="layer"/> = e, slot at
    /// <paramref name="layer"/> + 1 = f) pairs of the same token, all k × k slot pairs counted
    /// (<see cref="WorkloadProfile.Transitions"/>).
    /// </summary>
    /// <exception cref="ArgumentException">The profile is load-only, or <paramref name="layer"/> is outside
    /// <c>0..layers-2</c>.</exception>
    public static double[,] Transitions(WorkloadProfile profile, int layer)
    {
        ArgumentNullException.ThrowIfNull(profile);
        if (profile.Transitions is not { } counts)
        {
            throw new ArgumentException($"profile '{profile.Name}' is load-only: it has no layer-to-layer transitions.", nameof(profile));
        }

        if (layer < 0 || layer >= profile.Layers - 1)
        {
            throw new ArgumentException($"layer {layer} has no next layer in profile '{profile.Name}' ({profile.Layers} layers: transitions start at layers 0..{profile.Layers - 2}).", nameof(layer));
        }

        var experts = profile.Experts;
        var matrix = new double[experts, experts];
        var offset = (long)layer * experts * experts;
        for (var e = 0; e < experts; e++)
        {
            for (var f = 0; f < experts; f++)
            {
                matrix[e, f] = counts[offset + ((long)e * experts) + f];
            }
        }

        return matrix;
    }
}
