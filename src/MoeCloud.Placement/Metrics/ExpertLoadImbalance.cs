using MoeCloud.Placement.Plans;
using MoeCloud.Placement.Profiles;

namespace MoeCloud.Placement.Metrics;

/// <summary>
/// Expert-load imbalance (DESIGN.md §2), the only implementation: the mean over layers with load of
/// (max over pods of the layer's load on the pod) / (the layer's load / pods). A perfectly balanced layer scores 1;
/// a layer without load is left out, and the metric is 1 when no layer has load. Predicted from a profile
/// (<see cref="Predicted(PlacementPlan, WorkloadProfile, int?)"/>: each expert's load split evenly over its replicas)
/// or measured from dispatches served (<see cref="OfServed"/>: what the simulator and the running cluster report).
/// </summary>
public static class ExpertLoadImbalance
{
    /// <summary>
    /// The imbalance <paramref name="plan"/> is predicted to have under <paramref name="profile"/>'s loads, each expert's
    /// load split evenly over its replicas. <paramref name="targetPods"/> (default: the plan's pod count) is the pod count
    /// the load is meant to spread over: during a scale-out a plan still on fewer pods scores against the target mean.
    /// </summary>
    /// <exception cref="ArgumentException">The plan's shape differs from the profile's, or <paramref name="targetPods"/> is below 1.</exception>
    public static double Predicted(PlacementPlan plan, WorkloadProfile profile, int? targetPods = null)
    {
        var load = PredictedPodLoads(plan, profile);
        return Core(load, plan.Layers, plan.PodCount, Target(targetPods, plan.PodCount));
    }

    /// <summary>
    /// The load <see cref="Predicted(PlacementPlan, WorkloadProfile, int?)"/> scores: each pod's dispatches in each layer
    /// under <paramref name="profile"/>'s loads, each expert's load split evenly over its replicas, flat
    /// <c>[layer * pods + pod]</c> (<c>plan.Layers × plan.PodCount</c> values).
    /// </summary>
    /// <exception cref="ArgumentException">The plan's shape differs from the profile's.</exception>
    public static double[] PredictedPodLoads(PlacementPlan plan, WorkloadProfile profile)
    {
        ArgumentNullException.ThrowIfNull(plan);
        ArgumentNullException.ThrowIfNull(profile);
        if (plan.Layers != profile.Layers || plan.Experts != profile.Experts)
        {
            throw new ArgumentException($"the plan is [{plan.Layers} layers x {plan.Experts} experts], the profile [{profile.Layers} x {profile.Experts}].", nameof(plan));
        }

        var load = new double[plan.Layers * plan.PodCount];
        for (var l = 0; l < plan.Layers; l++)
        {
            for (var e = 0; e < plan.Experts; e++)
            {
                var replicas = plan.PodsOf(l, e);
                var share = (double)profile.LoadOf(l, e) / replicas.Length;
                foreach (var p in replicas)
                {
                    load[(l * plan.PodCount) + p] += share;
                }
            }
        }

        return load;
    }

    /// <summary>
    /// The same as <see cref="Predicted(PlacementPlan, WorkloadProfile, int?)"/> on a raw assignment
    /// <c>[layer][expert] → pods</c> over pods <c>0..<paramref name="pods"/>-1</c> (for solvers working on arrays).
    /// </summary>
    /// <exception cref="ArgumentException">The assignment's shape differs from the profile's, an expert has no replica or a
    /// replica outside <c>0..pods-1</c>, or <paramref name="pods"/> or <paramref name="targetPods"/> is below 1.</exception>
    public static double Predicted(WorkloadProfile profile, int[][][] assignment, int pods, int? targetPods = null)
    {
        ArgumentNullException.ThrowIfNull(profile);
        ArgumentNullException.ThrowIfNull(assignment);
        if (pods < 1)
        {
            throw new ArgumentException($"pods must be at least 1 (got {pods}).", nameof(pods));
        }

        if (assignment.Length != profile.Layers)
        {
            throw new ArgumentException($"the assignment has {assignment.Length} layers, the profile {profile.Layers}.", nameof(assignment));
        }

        var load = new double[profile.Layers * pods];
        for (var l = 0; l < profile.Layers; l++)
        {
            if (assignment[l] is not { } layer || layer.Length != profile.Experts)
            {
                throw new ArgumentException($"layer {l} of the assignment has {assignment[l]?.Length ?? 0} experts, the profile {profile.Experts}.", nameof(assignment));
            }

            for (var e = 0; e < profile.Experts; e++)
            {
                var replicas = layer[e];
                if (replicas is null || replicas.Length == 0)
                {
                    throw new ArgumentException($"layer {l}, expert {e} has no replica.", nameof(assignment));
                }

                var share = (double)profile.LoadOf(l, e) / replicas.Length;
                foreach (var p in replicas)
                {
                    if ((uint)p >= (uint)pods)
                    {
                        throw new ArgumentException($"layer {l}, expert {e} has a replica on pod {p}, outside 0..{pods - 1}.", nameof(assignment));
                    }

                    load[(l * pods) + p] += share;
                }
            }
        }

        return Core(load, profile.Layers, pods, Target(targetPods, pods));
    }

    /// <summary>
    /// The predicted imbalance of one layer: <paramref name="layer"/>'s term of
    /// <see cref="Predicted(WorkloadProfile, int[][][], int, int?)"/> for the layer's assignment
    /// <paramref name="replicas"/> (<c>[expert] → pods</c> over pods <c>0..<paramref name="pods"/>-1</c>); 1 when the layer
    /// has no load. The expert-replica autoscaler scores single-replica changes with it.
    /// </summary>
    /// <exception cref="ArgumentException">The layer is outside the profile, the assignment does not cover its experts, an
    /// expert has no replica or one outside <c>0..pods-1</c>, or <paramref name="pods"/> is below 1.</exception>
    public static double OfLayer(WorkloadProfile profile, int layer, IReadOnlyList<IReadOnlyCollection<int>> replicas, int pods)
    {
        ArgumentNullException.ThrowIfNull(profile);
        ArgumentNullException.ThrowIfNull(replicas);
        if (pods < 1 || (uint)layer >= (uint)profile.Layers || replicas.Count != profile.Experts)
        {
            throw new ArgumentException($"need pods >= 1, a layer in 0..{profile.Layers - 1} and {profile.Experts} experts (got {pods} pods, layer {layer}, {replicas.Count} experts).", nameof(replicas));
        }

        Span<double> load = pods <= 256 ? stackalloc double[pods] : new double[pods];
        for (var e = 0; e < replicas.Count; e++)
        {
            var holders = replicas[e];
            if (holders is null || holders.Count == 0)
            {
                throw new ArgumentException($"layer {layer}, expert {e} has no replica.", nameof(replicas));
            }

            var share = (double)profile.LoadOf(layer, e) / holders.Count;
            foreach (var p in holders)
            {
                if ((uint)p >= (uint)pods)
                {
                    throw new ArgumentException($"layer {layer}, expert {e} has a replica on pod {p}, outside 0..{pods - 1}.", nameof(replicas));
                }

                load[p] += share;
            }
        }

        return Core(load, 1, pods, pods);
    }

    /// <summary>
    /// The imbalance of dispatches served: <paramref name="servedByLayerAndPod"/> is <c>[layer * pods + pod]</c>, the
    /// dispatches each pod served in each layer (measured by the cluster or counted by the simulator).
    /// </summary>
    /// <exception cref="ArgumentException">The span does not hold <c>layers × pods</c> counts, a count is negative, or
    /// <paramref name="pods"/> is below 1 or <paramref name="layers"/> below 0.</exception>
    public static double OfServed(ReadOnlySpan<long> servedByLayerAndPod, int layers, int pods)
    {
        if (pods < 1 || layers < 0)
        {
            throw new ArgumentException($"need layers >= 0 and pods >= 1 (got {layers} layers, {pods} pods).", nameof(pods));
        }

        if (servedByLayerAndPod.Length != (long)layers * pods)
        {
            throw new ArgumentException($"served holds {servedByLayerAndPod.Length} counts, [{layers} layers x {pods} pods] needs {(long)layers * pods}.", nameof(servedByLayerAndPod));
        }

        var load = new double[servedByLayerAndPod.Length];
        for (var i = 0; i < load.Length; i++)
        {
            if (servedByLayerAndPod[i] < 0)
            {
                throw new ArgumentException($"served count {i} (layer {i / pods}, pod {i % pods}) is negative.", nameof(servedByLayerAndPod));
            }

            load[i] = servedByLayerAndPod[i];
        }

        return Core(load, layers, pods, pods);
    }

    /// <summary>
    /// The shared formula: <paramref name="load"/> is <c>[layer * pods + pod]</c>; per layer with a positive total,
    /// (max over pods) / (total / <paramref name="target"/>); the mean of those, or 1 when no layer has load.
    /// </summary>
    private static double Core(ReadOnlySpan<double> load, int layers, int pods, int target)
    {
        var sum = 0.0;
        var counted = 0;
        for (var l = 0; l < layers; l++)
        {
            var row = load.Slice(l * pods, pods);
            double max = 0, total = 0;
            foreach (var x in row)
            {
                max = Math.Max(max, x);
                total += x;
            }

            if (total > 0)
            {
                sum += max / (total / target);
                counted++;
            }
        }

        return counted == 0 ? 1 : sum / counted;
    }

    private static int Target(int? targetPods, int pods)
    {
        if (targetPods is < 1)
        {
            throw new ArgumentException($"the target pod count must be at least 1 (got {targetPods}).", nameof(targetPods));
        }

        return targetPods ?? pods;
    }
}
