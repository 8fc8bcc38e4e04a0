namespace MoeCloud.Placement.Solvers;

/// <summary>
/// Re-places one layer with <see cref="LayerSubproblem"/>: as one exact model when it is small (experts × pods up to
/// <see cref="FullModelLimit"/>), else by large-neighbourhood search over pod groups — the pods are shuffled (seeded)
/// and cut into groups of <see cref="GroupSize"/>; within a group, the replicas it holds are re-placed exactly
/// (each expert keeps its number of replicas inside the group, each pod its slots, every pod the load cap), which
/// never makes the layer worse for the objective. Resampled caps (<see cref="ResampledCaps"/>), when given, go into
/// every model, restricted to the pods it re-places. A robust model (with resampled caps) is larger and may find no
/// first solution within its deterministic budget; the same model is then solved without the resampled caps (the
/// fitted cap still holds), with the same budget again, so that the layer still improves instead of keeping its
/// warm start.
/// </summary>
internal static class LayerSearch
{
    public const int FullModelLimit = 256;

    public const int GroupSize = 4;

    /// <summary>Least deterministic seconds one group model gets, however many groups share the layer's budget.</summary>
    public const double MinGroupSeconds = 0.01;

    /// <summary>
    /// The layer's new assignment; CP-SAT's bound (<see cref="long.MaxValue"/> = none proven); whether every model was
    /// proven optimal; whether any model found a solution; how many robust models found none and were solved without
    /// the resampled caps instead (<paramref name="PlainFallbacks"/>).
    /// </summary>
    public sealed record Result(int[][] Assignment, long Bound, bool Optimal, bool Improved, int PlainFallbacks = 0);

    public static Result Solve(long[] affinity, long[] weight, int[] counts, int[] slots, long cap, int[][] current, int seed, double deterministicSeconds, int workers, ResampledCaps? robust = null)
    {
        int experts = counts.Length, pods = slots.Length;
        if ((long)experts * pods <= FullModelLimit)
        {
            var (full, fellBack) = SolveRobustOrPlain(affinity, weight, counts, slots, cap, current, seed, deterministicSeconds, workers, robust);
            var fallbacks = fellBack ? 1 : 0;
            return full is null ? new Result(current, long.MaxValue, false, false, fallbacks) : new Result(full.Assignment, full.Bound, full.Optimal, true, fallbacks);
        }

        var order = Enumerable.Range(0, pods).ToArray();
        new Random(seed).Shuffle(order);
        var assignment = current.Select(p => (int[])p.Clone()).ToArray();
        var groups = (pods + GroupSize - 1) / GroupSize;
        var improved = false;
        var plainFallbacks = 0;
        for (var g = 0; g < groups; g++)
        {
            var group = order.Skip(g * GroupSize).Take(GroupSize).ToArray();
            var (solved, fellBack) = SolveGroup(affinity, weight, slots, cap, assignment, group, seed + g, deterministicSeconds / groups, workers, robust);
            improved |= solved;
            plainFallbacks += fellBack ? 1 : 0;
        }

        // Neighbourhoods prove no global bound.
        return new Result(assignment, long.MaxValue, false, improved, plainFallbacks);
    }

    /// <summary>
    /// Solves the model with the resampled caps when given; when that finds no solution in its budget, solves it again
    /// without them (the plain model, fitted cap only) with the same budget. FellBack says the plain model was tried.
    /// </summary>
    private static (LayerSubproblem.Outcome? Outcome, bool FellBack) SolveRobustOrPlain(long[] affinity, long[] weight, int[] counts, int[] slots, long cap, int[][] hint, int seed, double deterministicSeconds, int workers, ResampledCaps? robust)
    {
        var outcome = LayerSubproblem.Solve(affinity, weight, counts, slots, cap, hint, seed, deterministicSeconds, workers, robust: robust);
        if (outcome is not null || robust is null)
        {
            return (outcome, false);
        }

        return (LayerSubproblem.Solve(affinity, weight, counts, slots, cap, hint, seed, deterministicSeconds, workers), true);
    }

    private static (bool Solved, bool FellBack) SolveGroup(long[] affinity, long[] weight, int[] slots, long cap, int[][] assignment, int[] group, int seed, double deterministicSeconds, int workers, ResampledCaps? robust)
    {
        int pods = slots.Length, size = group.Length;
        var members = Enumerable.Range(0, assignment.Length).Where(e => assignment[e].Any(group.Contains)).ToArray();
        var subAffinity = new long[members.Length * size];
        var subWeight = new long[members.Length * size];
        var subCounts = new int[members.Length];
        var subHint = new int[members.Length][];
        for (var i = 0; i < members.Length; i++)
        {
            var e = members[i];
            subCounts[i] = assignment[e].Count(group.Contains);
            subHint[i] = assignment[e].Where(group.Contains).Select(p => Array.IndexOf(group, p)).ToArray();
            for (var j = 0; j < size; j++)
            {
                subAffinity[(i * size) + j] = affinity[(e * pods) + group[j]];
                subWeight[(i * size) + j] = weight[(e * pods) + group[j]];
            }
        }

        var subSlots = group.Select(p => slots[p]).ToArray();
        var subRobust = robust is null ? null : robust with { Weights = robust.Weights.Select(w => Slice(w, members, group, pods)).ToArray() };
        var (outcome, fellBack) = SolveRobustOrPlain(subAffinity, subWeight, subCounts, subSlots, cap, subHint, seed, Math.Max(MinGroupSeconds, deterministicSeconds), workers, subRobust);
        if (outcome is null)
        {
            return (false, fellBack);
        }

        for (var i = 0; i < members.Length; i++)
        {
            var e = members[i];
            var outside = assignment[e].Where(p => !group.Contains(p));
            assignment[e] = outside.Concat(outcome.Assignment[i].Select(j => group[j])).ToArray();
        }

        return (true, fellBack);
    }

    /// <summary>The entries of <c>[experts · pods]</c> <paramref name="values"/> for the group's members and pods.</summary>
    private static long[] Slice(long[] values, int[] members, int[] group, int pods)
    {
        var slice = new long[members.Length * group.Length];
        for (var i = 0; i < members.Length; i++)
        {
            for (var j = 0; j < group.Length; j++)
            {
                slice[(i * group.Length) + j] = values[(members[i] * pods) + group[j]];
            }
        }

        return slice;
    }
}
