namespace MoeCloud.Operator.Placement;

/// <summary>
/// The operator's built-in planner: contiguous or greedy load-balanced initial plans, and budgeted incremental steps
/// (forced evictions for scale-in, then greedy hottest-to-coolest moves). It stands in for the Placement library's
/// <c>ilp</c> and <c>eplb</c> solvers until the operator calls them through <see cref="IPlacementPlanner"/>.
/// </summary>
public sealed class BudgetedPlanner : IPlacementPlanner
{
    public PlacementPlan Initial(int layers, int experts, int pods, int capacity, LoadProfile? profile)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(layers, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(experts, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(pods, 1);
        EnsureCapacity(experts, pods, capacity);
        if (profile is null)
        {
            // Contiguous: expert e on pod floor(e * pods / experts), the expert-parallel default.
            return new PlacementPlan(pods, Enumerable.Range(0, layers)
                .Select(_ => Enumerable.Range(0, experts).Select(e => (int)((long)e * pods / experts)).ToArray()).ToArray());
        }

        profile.EnsureShape(layers, experts);
        var assignment = new int[layers][];
        for (var l = 0; l < layers; l++)
        {
            // Longest-processing-time first: heaviest expert to the least loaded pod that has room.
            var loads = new double[pods];
            var counts = new int[pods];
            assignment[l] = new int[experts];
            foreach (var e in Enumerable.Range(0, experts).OrderByDescending(e => profile.Load[l][e]).ThenBy(e => e))
            {
                var pod = Enumerable.Range(0, pods).Where(p => counts[p] < capacity).MinBy(p => (loads[p], counts[p]));
                assignment[l][e] = pod;
                loads[pod] += profile.Load[l][e];
                counts[pod]++;
            }
        }

        return new PlacementPlan(pods, assignment);
    }

    public PlanStep Next(PlacementPlan current, int targetPods, int capacity, int maxMoves, LoadProfile profile)
    {
        ArgumentNullException.ThrowIfNull(current);
        ArgumentNullException.ThrowIfNull(profile);
        ArgumentOutOfRangeException.ThrowIfLessThan(targetPods, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxMoves, 1);
        profile.EnsureShape(current.Layers, current.Experts);
        EnsureCapacity(current.Experts, targetPods, capacity);

        var assignment = current.ToArrays();
        var budget = maxMoves;
        var before = current.Imbalance(profile, targetPods);

        // 1. Evict experts from pods that are going away (scale-in), heaviest first, onto the least loaded pod with room.
        for (var l = 0; l < current.Layers && budget > 0; l++)
        {
            foreach (var e in Enumerable.Range(0, current.Experts).Where(e => assignment[l][e] >= targetPods)
                         .OrderByDescending(e => profile.Load[l][e]).ToList())
            {
                if (budget == 0)
                {
                    break;
                }

                var (loads, counts) = Tally(assignment[l], profile.Load[l], targetPods);
                assignment[l][e] = Enumerable.Range(0, targetPods).Where(p => counts[p] < capacity).MinBy(p => (loads[p], counts[p]));
                budget--;
            }
        }

        var complete = assignment.All(layer => layer.All(p => p < targetPods));

        // 2. Spend what is left, one move at a time, on the move from a layer's hottest pod to its coolest pod with room
        //    that most lowers the sum of squared pod loads (scale-out fills the new pods this way).
        while (complete && budget > 0 && BestMove(assignment, profile, targetPods, capacity) is { } move)
        {
            assignment[move.Layer][move.Expert] = move.To;
            budget--;
        }

        var plan = new PlacementPlan(complete ? targetPods : Math.Max(targetPods, assignment.SelectMany(l => l).Max() + 1), assignment);
        return new PlanStep(plan, plan.MovesFrom(current), before, plan.Imbalance(profile, targetPods), complete, "incremental");
    }

    private static (int Layer, int Expert, int To)? BestMove(int[][] assignment, LoadProfile profile, int pods, int capacity)
    {
        (int Layer, int Expert, int To)? best = null;
        var bestGain = 1e-9;
        for (var l = 0; l < assignment.Length; l++)
        {
            var (loads, counts) = Tally(assignment[l], profile.Load[l], pods);
            var mean = loads.Sum() / pods;
            if (mean <= 0)
            {
                continue;
            }

            var hot = Array.IndexOf(loads, loads.Max());
            var cool = Enumerable.Range(0, pods).Where(p => counts[p] < capacity).DefaultIfEmpty(-1).MinBy(p => p < 0 ? double.MaxValue : loads[p]);
            if (cool < 0 || cool == hot)
            {
                continue;
            }

            foreach (var e in Enumerable.Range(0, assignment[l].Length).Where(e => assignment[l][e] == hot))
            {
                // Drop in the layer's sum of squared pod loads: positive exactly when load < hot - cool, and it
                // still progresses when several pods tie for the maximum.
                var load = profile.Load[l][e];
                var gain = 2 * load * (loads[hot] - loads[cool] - load) / (mean * mean);
                if (gain > bestGain)
                {
                    bestGain = gain;
                    best = (l, e, cool);
                }
            }
        }

        return best;
    }

    private static (double[] Loads, int[] Counts) Tally(int[] layer, double[] load, int pods)
    {
        var loads = new double[pods];
        var counts = new int[pods];
        for (var e = 0; e < layer.Length; e++)
        {
            if (layer[e] < pods)
            {
                loads[layer[e]] += load[e];
                counts[layer[e]]++;
            }
        }

        return (loads, counts);
    }

    private static void EnsureCapacity(int experts, int pods, int capacity)
    {
        if ((long)capacity * pods < experts)
        {
            throw new ArgumentException($"{pods} pods x {capacity} experts per pod cannot hold {experts} experts per layer");
        }
    }

    /// <summary>Experts one pod may hold per layer: the explicit setting, or ceil(experts / pods) with 25% headroom for rebalancing.</summary>
    public static int Capacity(int experts, int pods, int expertsPerPod)
    {
        if (expertsPerPod > 0)
        {
            return expertsPerPod;
        }

        var even = (experts + pods - 1) / pods;
        return even + Math.Max(1, even / 4);
    }
}
