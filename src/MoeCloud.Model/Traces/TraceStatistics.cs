namespace MoeCloud.Model.Traces;

/// <summary>Summary figures of a routing trace (<c>moectl trace stats</c>).</summary>
/// <param name="Name">Trace name.</param>
/// <param name="Tokens">Tokens.</param>
/// <param name="Sequences">Sequences.</param>
/// <param name="Layers">MoE layers.</param>
/// <param name="Experts">Routed experts per layer.</param>
/// <param name="TopK">Slots per token and layer.</param>
/// <param name="LayerSkew">Per layer: the hottest expert's load over the mean load, all slots counted.</param>
/// <param name="SkewMean">Mean of <paramref name="LayerSkew"/>.</param>
/// <param name="SkewMin">Minimum of <paramref name="LayerSkew"/>.</param>
/// <param name="SkewMax">Maximum of <paramref name="LayerSkew"/>.</param>
/// <param name="SuccessorHitHeldOut">
/// How often a token's next-layer top-1 expert equals the most frequent successor of its current top-1 expert,
/// the successors fitted on even sequences and scored on odd ones; null when the trace has fewer than two sequences.
/// </param>
/// <param name="SuccessorHitChance">The same rate for a random guess (1 / experts).</param>
/// <param name="Top1FromGateWeights">True when top-1 was read from gate weights, false when slot 0 was taken as top-1.</param>
public sealed record TraceStats(
    string Name,
    int Tokens,
    int Sequences,
    int Layers,
    int Experts,
    int TopK,
    double[] LayerSkew,
    double SkewMean,
    double SkewMin,
    double SkewMax,
    double? SuccessorHitHeldOut,
    double SuccessorHitChance,
    bool Top1FromGateWeights);

/// <summary>Computes <see cref="TraceStats"/>.</summary>
public static class TraceStatistics
{
    /// <summary>Computes the statistics of <paramref name="trace"/>.</summary>
    public static TraceStats Compute(RoutingTrace trace)
    {
        ArgumentNullException.ThrowIfNull(trace);
        var load = ExpertLoad.FromTrace(trace);
        var skew = new double[trace.Layers];
        for (var l = 0; l < trace.Layers; l++)
        {
            skew[l] = load.Skew(l);
        }

        var top1 = Top1(trace);
        double? heldOut = trace.Sequences.Count >= 2 ? SuccessorHitRate(trace, top1) : null;
        return new TraceStats(
            trace.Manifest.Name,
            trace.Tokens,
            trace.Sequences.Count,
            trace.Layers,
            trace.Experts,
            trace.TopK,
            skew,
            skew.Length == 0 ? 0 : skew.Average(),
            skew.Length == 0 ? 0 : skew.Min(),
            skew.Length == 0 ? 0 : skew.Max(),
            heldOut,
            1.0 / trace.Experts,
            trace.GateWeights is not null);
    }

    /// <summary>
    /// The top-1 expert of every token and layer, flat <c>[tokens, layers]</c>: the slot with the largest gate weight
    /// when weights exist, slot 0 otherwise.
    /// </summary>
    public static short[] Top1(RoutingTrace trace)
    {
        ArgumentNullException.ThrowIfNull(trace);
        var top1 = new short[trace.Tokens * trace.Layers];
        for (var t = 0; t < trace.Tokens; t++)
        {
            for (var l = 0; l < trace.Layers; l++)
            {
                var best = 0;
                if (trace.GateWeights is { } w)
                {
                    var baseIndex = trace.Index(t, l, 0);
                    for (var k = 1; k < trace.TopK; k++)
                    {
                        if (w[baseIndex + k] > w[baseIndex + best])
                        {
                            best = k;
                        }
                    }
                }

                top1[(t * trace.Layers) + l] = (short)trace.ExpertId(t, l, best);
            }
        }

        return top1;
    }

    private static double SuccessorHitRate(RoutingTrace trace, short[] top1)
    {
        int layers = trace.Layers, experts = trace.Experts;
        if (layers < 2)
        {
            return 0;
        }

        // 1. Count top-1 successions (layer l expert e -> layer l+1 expert f) on even sequences.
        var counts = new int[(layers - 1) * experts * experts];
        foreach (var s in trace.Sequences.Where(s => s.Ordinal % 2 == 0))
        {
            foreach (var t in s.Tokens)
            {
                for (var l = 0; l + 1 < layers; l++)
                {
                    counts[(((l * experts) + top1[(t * layers) + l]) * experts) + top1[(t * layers) + l + 1]]++;
                }
            }
        }

        // 2. The most frequent successor of each (layer, expert); -1 where it was never seen.
        var successor = new int[(layers - 1) * experts];
        for (var row = 0; row < successor.Length; row++)
        {
            var span = counts.AsSpan(row * experts, experts);
            var best = -1;
            var bestCount = 0;
            for (var f = 0; f < experts; f++)
            {
                if (span[f] > bestCount)
                {
                    best = f;
                    bestCount = span[f];
                }
            }

            successor[row] = best;
        }

        // 3. Score on odd sequences.
        long hits = 0, total = 0;
        foreach (var s in trace.Sequences.Where(s => s.Ordinal % 2 == 1))
        {
            foreach (var t in s.Tokens)
            {
                for (var l = 0; l + 1 < layers; l++)
                {
                    total++;
                    if (successor[(l * experts) + top1[(t * layers) + l]] == top1[(t * layers) + l + 1])
                    {
                        hits++;
                    }
                }
            }
        }

        return total == 0 ? 0 : (double)hits / total;
    }
}
