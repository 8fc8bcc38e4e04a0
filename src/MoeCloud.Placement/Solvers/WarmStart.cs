using MoeCloud.Placement.Profiles;

namespace MoeCloud.Placement.Solvers;

/// <summary>
/// The <c>ilp</c> solver's starting point, a greedy co-clustering along the layers: layer 0 by EPLB's balanced
/// packing; each later layer's replicas (heaviest first) go to the pod that holds most of their predecessors'
/// transitions, among pods with a free slot, without that expert, and under the load cap; a layer the greedy cannot
/// complete under the cap falls back to EPLB's packing (which the cap admits by construction).
/// </summary>
internal static class WarmStart
{
    /// <param name="packed">EPLB's packing of every layer, the fallback.</param>
    public static int[][][] Build(WorkloadProfile profile, int[][] counts, int[][] slots, long[][] weight, long[] caps, int[][][] packed)
    {
        int layers = profile.Layers, pods = slots[0].Length;
        var assignment = new int[layers][][];
        assignment[0] = packed[0];
        for (var l = 1; l < layers; l++)
        {
            var affinity = TransitionAffinity(profile, assignment[l - 1], l - 1, incoming: true, pods);
            assignment[l] = Greedy(affinity, counts[l], slots[l], weight[l], caps[l])
                ?? packed[l];
        }

        return assignment;
    }

    /// <summary>
    /// a[e · G + p] = transitions between expert e of the layer next to <paramref name="neighbourLayer"/> and the
    /// experts that <paramref name="neighbour"/> places on p (each split evenly over its replicas).
    /// <paramref name="incoming"/>: the neighbour is the previous layer (T[l − 1][f][e]); else the next (T[l][e][f]).
    /// </summary>
    public static double[] TransitionAffinity(WorkloadProfile profile, int[][] neighbour, int neighbourLayer, bool incoming, int pods)
    {
        var experts = profile.Experts;
        var transitions = profile.Transitions!;
        var affinity = new double[experts * pods];
        var baseIndex = (long)(incoming ? neighbourLayer : neighbourLayer - 1) * experts * experts;
        for (var f = 0; f < experts; f++)
        {
            var share = 1.0 / neighbour[f].Length;
            for (var e = 0; e < experts; e++)
            {
                var count = incoming ? transitions[baseIndex + (f * experts) + e] : transitions[baseIndex + (e * experts) + f];
                if (count == 0)
                {
                    continue;
                }

                foreach (var p in neighbour[f])
                {
                    affinity[(e * pods) + p] += count * share;
                }
            }
        }

        return affinity;
    }

    private static int[][]? Greedy(double[] affinity, int[] counts, int[] slots, long[] weight, long cap)
    {
        int experts = counts.Length, pods = slots.Length;
        var order = Enumerable.Range(0, experts).SelectMany(e => Enumerable.Repeat(e, counts[e])).OrderByDescending(e => weight[e]).ThenBy(e => e).ToArray();
        var free = (int[])slots.Clone();
        var load = new long[pods];
        var placed = Enumerable.Range(0, experts).Select(_ => new List<int>()).ToArray();
        foreach (var e in order)
        {
            var best = -1;
            for (var p = 0; p < pods; p++)
            {
                if (free[p] == 0 || placed[e].Contains(p))
                {
                    continue;
                }

                if (load[p] + weight[e] <= cap && (best < 0 || affinity[(e * pods) + p] > affinity[(e * pods) + best]))
                {
                    best = p;
                }
            }

            // A replica that fits under the cap nowhere: the layer goes to EPLB's packing, which the cap admits, so that
            // every state of the search (and a plan cut short by the time limit) respects the caps.
            if (best < 0)
            {
                return null;
            }

            var pick = best;

            placed[e].Add(pick);
            free[pick]--;
            load[pick] += weight[e];
        }

        return placed.Select(p => p.ToArray()).ToArray();
    }
}
