namespace MoeCloud.Placement.Solvers;

/// <summary>
/// Re-places one layer with <see cref="LayerSubproblem"/>: as one exact model when it is small (experts × pods up to
/// <see cref="FullModelLimit"/>), else by large-neighbourhood search over pod groups — the pods are shuffled (seeded)
/// and cut into groups of <see cref="GroupSize"/>; within a group, the replicas it holds are re-placed exactly
/// (each expert keeps its number of replicas inside the group, each pod its slots, every pod the load cap), which
/// never makes the layer worse for the objective. Resampled caps (<see cref="ResampledCaps"/>), when given, go into
/// every model, restricted to the pods it re-places.
/// </summary>
internal static class LayerSearch
{
    public const int FullModelLimit = 256;

    public const int GroupSize = 4;

    public sealed record Result(int[][] Assignment, long Bound, bool Optimal, bool Improved);

    public static Result Solve(long[] affinity, long[] weight, int[] counts, int[] slots, long cap, int[][] current, int seed, double deterministicSeconds, int workers, ResampledCaps? robust = null)
    {
        int experts = counts.Length, pods = slots.Length;
        if ((long)experts * pods <= FullModelLimit)
        {
            var full = LayerSubproblem.Solve(affinity, weight, counts, slots, cap, current, seed, deterministicSeconds, workers, robust: robust);
            return full is null ? new Result(current, long.MaxValue, false, false) : new Result(full.Assignment, full.Bound, full.Optimal, true);
        }

        var order = Enumerable.Range(0, pods).ToArray();
        new Random(seed).Shuffle(order);
        var assignment = current.Select(p => (int[])p.Clone()).ToArray();
        var groups = (pods + GroupSize - 1) / GroupSize;
        var improved = false;
        for (var g = 0; g < groups; g++)
        {
            var group = order.Skip(g * GroupSize).Take(GroupSize).ToArray();
            improved |= SolveGroup(affinity, weight, slots, cap, assignment, group, seed + g, deterministicSeconds / groups, workers, robust);
        }

        // Neighbourhoods prove no global bound.
        return new Result(assignment, long.MaxValue, false, improved);
    }

    private static bool SolveGroup(long[] affinity, long[] weight, int[] slots, long cap, int[][] assignment, int[] group, int seed, double deterministicSeconds, int workers, ResampledCaps? robust)
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
        var outcome = LayerSubproblem.Solve(subAffinity, subWeight, subCounts, subSlots, cap, subHint, seed, Math.Max(0.01, deterministicSeconds), workers, robust: subRobust);
        if (outcome is null)
        {
            return false;
        }

        for (var i = 0; i < members.Length; i++)
        {
            var e = members[i];
            var outside = assignment[e].Where(p => !group.Contains(p));
            assignment[e] = outside.Concat(outcome.Assignment[i].Select(j => group[j])).ToArray();
        }

        return true;
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
