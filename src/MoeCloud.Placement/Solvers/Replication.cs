namespace MoeCloud.Placement.Solvers;

/// <summary>Shared steps of the solvers: replica counts and balanced packing of one layer.</summary>
internal static class Replication
{
    /// <summary>
    /// EPLB's replication step for one layer: start with one replica per expert, then give each of the
    /// <paramref name="redundant"/> extra replicas to the expert with the highest load per replica (ties: lowest id),
    /// never more than <paramref name="maxPerExpert"/> replicas.
    /// </summary>
    public static int[] Counts(ReadOnlySpan<long> load, int redundant, int maxPerExpert)
    {
        var counts = new int[load.Length];
        Array.Fill(counts, 1);
        for (var i = 0; i < redundant; i++)
        {
            var best = -1;
            for (var e = 0; e < load.Length; e++)
            {
                if (counts[e] >= maxPerExpert)
                {
                    continue;
                }

                // load[e] / counts[e] > load[best] / counts[best], compared without division.
                if (best < 0 || load[e] * counts[best] > load[best] * counts[e])
                {
                    best = e;
                }
            }

            counts[best]++;
        }

        return counts;
    }

    /// <summary>
    /// EPLB's balanced packing for one layer: replicas sorted by load per replica (heaviest first, ties by expert id)
    /// go one by one to the least-loaded pod that has a free slot and no replica of that expert yet (ties: lowest id).
    /// Returns <c>[expert] → pods</c>, or null when the slots cannot take every replica.
    /// </summary>
    public static int[][]? Pack(ReadOnlySpan<long> load, int[] counts, int[] slots)
    {
        var experts = load.Length;
        var replicas = new List<(int Expert, double Load)>();
        for (var e = 0; e < experts; e++)
        {
            for (var r = 0; r < counts[e]; r++)
            {
                replicas.Add((e, (double)load[e] / counts[e]));
            }
        }

        replicas.Sort((a, b) => b.Load != a.Load ? b.Load.CompareTo(a.Load) : a.Expert.CompareTo(b.Expert));
        var podLoad = new double[slots.Length];
        var free = (int[])slots.Clone();
        var placed = Enumerable.Range(0, experts).Select(_ => new List<int>()).ToArray();
        foreach (var (e, w) in replicas)
        {
            var best = -1;
            for (var p = 0; p < slots.Length; p++)
            {
                if (free[p] > 0 && !placed[e].Contains(p) && (best < 0 || podLoad[p] < podLoad[best]))
                {
                    best = p;
                }
            }

            if (best < 0 && !TrySwap(e, free, placed, out best))
            {
                return null;
            }

            placed[e].Add(best);
            podLoad[best] += w;
            free[best]--;
        }

        return placed.Select(p => p.ToArray()).ToArray();
    }

    /// <summary>
    /// Every pod with a free slot already holds <paramref name="expert"/>: move some other expert f from a full pod p
    /// that lacks <paramref name="expert"/> to a free pod q that lacks f, freeing a slot on p.
    /// </summary>
    private static bool TrySwap(int expert, int[] free, List<int>[] placed, out int pod)
    {
        for (var q = 0; q < free.Length; q++)
        {
            if (free[q] == 0)
            {
                continue;
            }

            for (var f = 0; f < placed.Length; f++)
            {
                if (f == expert || placed[f].Contains(q))
                {
                    continue;
                }

                var i = placed[f].FindIndex(p => !placed[expert].Contains(p));
                if (i < 0)
                {
                    continue;
                }

                pod = placed[f][i];
                placed[f][i] = q;
                free[q]--;
                free[pod]++;
                return true;
            }
        }

        pod = -1;
        return false;
    }
}
