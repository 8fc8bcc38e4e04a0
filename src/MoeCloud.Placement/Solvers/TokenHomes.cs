using MoeCloud.Placement.Profiles;

namespace MoeCloud.Placement.Solvers;

/// <summary>
/// The token side of the <c>ilp</c> solver's alternation: given a placement, home every sampled token on the pod where
/// most of its dispatches (all layers) are local — the first layer's counted (1 + firstLayerWeight) times, so that
/// homes follow what a gateway can see before the token runs —, with at most ⌈(1 + slack) · T / G⌉ tokens per pod (tokens with the
/// clearest preference choose first); and, given homes, the per-layer affinity a[e, p] = dispatches to e by tokens
/// homed on p.
/// </summary>
internal static class TokenHomes
{
    /// <summary>Balanced best-in-hindsight homes and the local dispatches they give.</summary>
    public static (int[] Homes, long Local) Assign(TokenSample sample, int[][][] assignment, int pods, double slack, int firstLayerWeight = 0)
    {
        var tokens = sample.Tokens;
        var scores = new int[tokens * pods];
        for (var t = 0; t < tokens; t++)
        {
            var row = scores.AsSpan(t * pods, pods);
            for (var l = 0; l < sample.Layers; l++)
            {
                foreach (var e in sample.Slots(t, l))
                {
                    foreach (var p in assignment[l][e])
                    {
                        row[p] += l == 0 ? 1 + firstLayerWeight : 1;
                    }
                }
            }
        }

        var margin = new int[tokens];
        var order = new int[tokens];
        for (var t = 0; t < tokens; t++)
        {
            int best = int.MinValue, second = int.MinValue;
            foreach (var s in scores.AsSpan(t * pods, pods))
            {
                if (s > best)
                {
                    second = best;
                    best = s;
                }
                else if (s > second)
                {
                    second = s;
                }
            }

            margin[t] = pods == 1 ? 0 : best - second;
            order[t] = t;
        }

        Array.Sort(order, (a, b) => margin[b] != margin[a] ? margin[b].CompareTo(margin[a]) : a.CompareTo(b));
        var cap = (long)Math.Ceiling((1 + slack) * tokens / pods);
        var load = new long[pods];
        var homes = new int[tokens];
        long local = 0;
        foreach (var t in order)
        {
            var row = scores.AsSpan(t * pods, pods);
            var pick = -1;
            for (var p = 0; p < pods; p++)
            {
                if (load[p] < cap && (pick < 0 || row[p] > row[pick]))
                {
                    pick = p;
                }
            }

            homes[t] = pick;
            load[pick]++;
            local += row[pick] - (firstLayerWeight * FirstLayerLocal(sample, assignment, t, pick));
        }

        return (homes, local);
    }

    private static int FirstLayerLocal(TokenSample sample, int[][][] assignment, int token, int pod)
    {
        var count = 0;
        foreach (var e in sample.Slots(token, 0))
        {
            count += assignment[0][e].Contains(pod) ? 1 : 0;
        }

        return count;
    }

    /// <summary>a[e · G + p] for one layer: dispatches to expert e by sampled tokens homed on pod p.</summary>
    public static double[] Affinity(TokenSample sample, int[] homes, int layer, int experts, int pods)
    {
        var affinity = new double[experts * pods];
        for (var t = 0; t < sample.Tokens; t++)
        {
            foreach (var e in sample.Slots(t, layer))
            {
                affinity[(e * pods) + homes[t]]++;
            }
        }

        return affinity;
    }
}
