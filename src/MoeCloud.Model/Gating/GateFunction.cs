using MoeCloud.Model.Spec;

namespace MoeCloud.Model.Gating;

/// <summary>Reusable buffers of one routing call.</summary>
internal sealed class GateScratch(int experts, int groups)
{
    public double[] Scores { get; } = new double[experts];

    public double[] Selection { get; } = new double[experts];

    public bool[] Allowed { get; } = new bool[experts];

    public double[] GroupScores { get; } = new double[groups];
}

/// <summary>The gating function on one token's logits: scores, group limit, top-k, combine weights.</summary>
public static class GateFunction
{
    /// <summary>
    /// Picks the top-<paramref name="topK"/> experts of one token from its <paramref name="logits"/> per
    /// <paramref name="gating"/>, writing ids (best first) and combine weights.
    /// </summary>
    public static void Select(GatingSpec gating, ReadOnlySpan<float> logits, ReadOnlySpan<float> selectionBias, int topK, Span<int> ids, Span<float> weights)
    {
        ArgumentNullException.ThrowIfNull(gating);
        if (topK < 1 || topK > logits.Length || ids.Length < topK || weights.Length < topK)
        {
            throw new ArgumentException($"Top-{topK} of {logits.Length} experts needs ids and weights of at least {topK} values.");
        }

        Select(gating, logits, selectionBias.IsEmpty ? null : selectionBias.ToArray(), topK, new GateScratch(logits.Length, gating.Groups), ids, weights);
    }

    internal static void Select(GatingSpec gating, ReadOnlySpan<float> logits, float[]? bias, int topK, GateScratch s, Span<int> ids, Span<float> weights)
    {
        var experts = logits.Length;
        // 1. Scores: softmax over all experts, or a sigmoid per expert.
        if (gating.Scoring == GateScoring.Softmax)
        {
            double max = double.NegativeInfinity, sum = 0;
            for (var e = 0; e < experts; e++)
            {
                max = Math.Max(max, logits[e]);
            }

            for (var e = 0; e < experts; e++)
            {
                s.Scores[e] = Math.Exp(logits[e] - max);
                sum += s.Scores[e];
            }

            for (var e = 0; e < experts; e++)
            {
                s.Scores[e] /= sum;
            }
        }
        else
        {
            for (var e = 0; e < experts; e++)
            {
                s.Scores[e] = 1 / (1 + Math.Exp(-logits[e]));
            }
        }

        // 2. Selection scores: plus the bias, which changes which experts are picked but never their weights.
        for (var e = 0; e < experts; e++)
        {
            s.Selection[e] = s.Scores[e] + (bias is null ? 0 : bias[e]);
            s.Allowed[e] = true;
        }

        // 3. Group limit, then top-k among the allowed experts.
        var slot = 0;
        if (gating.GroupSelection == GroupSelection.Balanced)
        {
            var perGroup = experts / gating.Groups;
            var perGroupK = topK / gating.Groups;
            for (var g = 0; g < gating.Groups; g++)
            {
                for (var e = 0; e < experts; e++)
                {
                    s.Allowed[e] = e / perGroup == g;
                }

                slot = TopK(s.Selection, s.Allowed, perGroupK, ids, slot);
            }

            SortSlots(s.Selection, ids[..topK]);
        }
        else
        {
            if (gating.GroupSelection != GroupSelection.None)
            {
                LimitGroups(gating, s);
            }

            TopK(s.Selection, s.Allowed, topK, ids, 0);
        }

        // 4. Combine weights from the scores, renormalised and scaled.
        double total = 0;
        for (var k = 0; k < topK; k++)
        {
            total += s.Scores[ids[k]];
        }

        for (var k = 0; k < topK; k++)
        {
            var w = gating.NormalizeTopK ? s.Scores[ids[k]] / (total + 1e-20) : s.Scores[ids[k]];
            weights[k] = (float)(w * gating.RoutedScalingFactor);
        }
    }

    private static void LimitGroups(GatingSpec gating, GateScratch s)
    {
        var perGroup = s.Selection.Length / gating.Groups;
        for (var g = 0; g < gating.Groups; g++)
        {
            double best = double.NegativeInfinity, second = double.NegativeInfinity;
            for (var e = g * perGroup; e < (g + 1) * perGroup; e++)
            {
                var v = s.Selection[e];
                if (v > best)
                {
                    (best, second) = (v, best);
                }
                else if (v > second)
                {
                    second = v;
                }
            }

            s.GroupScores[g] = gating.GroupSelection == GroupSelection.TopTwoSum ? best + second : best;
        }

        Span<int> kept = stackalloc int[gating.TopKGroups];
        var allGroups = new bool[gating.Groups];
        Array.Fill(allGroups, true);
        TopK(s.GroupScores, allGroups, gating.TopKGroups, kept, 0);
        for (var e = 0; e < s.Allowed.Length; e++)
        {
            s.Allowed[e] = kept.Contains(e / perGroup);
        }
    }

    /// <summary>Writes the <paramref name="k"/> best allowed indices (ties: lower index) to ids[offset..]; returns offset + k.</summary>
    private static int TopK(double[] values, bool[] allowed, int k, Span<int> ids, int offset)
    {
        for (var slot = 0; slot < k; slot++)
        {
            var best = -1;
            for (var e = 0; e < values.Length; e++)
            {
                if (allowed[e] && (best < 0 || values[e] > values[best]))
                {
                    best = e;
                }
            }

            ids[offset + slot] = best;
            allowed[best] = false;
        }

        return offset + k;
    }

    private static void SortSlots(double[] selection, Span<int> ids)
    {
        for (var i = 1; i < ids.Length; i++)
        {
            var id = ids[i];
            var j = i - 1;
            while (j >= 0 && (selection[ids[j]] < selection[id] || (selection[ids[j]] == selection[id] && ids[j] > id)))
            {
                ids[j + 1] = ids[j];
                j--;
            }

            ids[j + 1] = id;
        }
    }
}
