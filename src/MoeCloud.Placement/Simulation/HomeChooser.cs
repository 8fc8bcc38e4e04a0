namespace MoeCloud.Placement.Simulation;

/// <summary>
/// The load-aware choice shared by every policy (and by the gateway): among pods whose homed tokens would stay within
/// ⌈(1 + slack) × (total + weight) / G⌉, the one with the highest score; ties go to the less loaded pod, then the
/// lowest id. When every pod is over its share, the least-loaded pod. With a preferred pod (sequence affinity) and a
/// margin, the preferred pod is kept while it is within its share and the best pod does not beat it by the margin.
/// </summary>
public static class HomeChooser
{
    /// <summary>
    /// Picks a home for <paramref name="weight"/> tokens given pod <paramref name="scores"/> and current
    /// <paramref name="homeLoads"/>; <paramref name="preferred"/> (or -1) is kept unless another pod scores at least
    /// <paramref name="margin"/> more.
    /// </summary>
    public static int Pick(ReadOnlySpan<double> scores, ReadOnlySpan<long> homeLoads, long weight, double slack, int preferred = -1, double margin = 0)
    {
        if (scores.Length != homeLoads.Length || scores.Length == 0)
        {
            throw new ArgumentException($"scores ({scores.Length}) and home loads ({homeLoads.Length}) must cover the same, non-zero number of pods.", nameof(scores));
        }

        long total = weight;
        foreach (var l in homeLoads)
        {
            total += l;
        }

        var share = Math.Ceiling((1 + slack) * total / homeLoads.Length);
        int best = -1, lightest = 0;
        for (var p = 0; p < scores.Length; p++)
        {
            if (homeLoads[p] < homeLoads[lightest])
            {
                lightest = p;
            }

            if (homeLoads[p] + weight > share)
            {
                continue;
            }

            if (best < 0 || scores[p] > scores[best] || (scores[p] == scores[best] && homeLoads[p] < homeLoads[best]))
            {
                best = p;
            }
        }

        if (best >= 0 && preferred >= 0 && preferred < scores.Length && preferred != best && margin > 0
            && homeLoads[preferred] + weight <= share && scores[best] - scores[preferred] < margin)
        {
            return preferred;
        }

        return best >= 0 ? best : lightest;
    }

    /// <summary>The pod with the highest score, ties to the lowest id (no load awareness).</summary>
    public static int ArgMax(ReadOnlySpan<double> scores)
    {
        var best = 0;
        for (var p = 1; p < scores.Length; p++)
        {
            if (scores[p] > scores[best])
            {
                best = p;
            }
        }

        return best;
    }
}
