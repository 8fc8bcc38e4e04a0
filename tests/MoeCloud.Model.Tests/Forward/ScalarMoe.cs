using MoeCloud.Model.Forward;
using MoeCloud.Model.Spec;
using MoeCloud.Model.Weights;

namespace MoeCloud.Model.Tests.Forward;

/// <summary>
/// A plain scalar MoE written from the definitions, independent of the library's gate, kernel and forward: the
/// oracle the reference forward is tested against. Doubles throughout, one token at a time.
/// </summary>
internal sealed class ScalarMoe(InMemoryModel model, IReadOnlyList<RouterWeights> routers)
{
    private readonly ModelSpec _spec = model.Spec;

    public (int[] Ids, double[] Weights) Route(int layer, float[] x)
    {
        var (weight, bias) = (routers[layer].Weight, routers[layer].SelectionBias);
        var g = _spec.Gating;
        int e = _spec.Experts, h = _spec.Hidden;
        var logits = Enumerable.Range(0, e).Select(i => Enumerable.Range(0, h).Sum(k => (double)weight[(i * h) + k] * x[k])).ToArray();
        var scores = g.Scoring == GateScoring.Softmax
            ? logits.Select(l => Math.Exp(l - logits.Max()) / logits.Sum(m => Math.Exp(m - logits.Max()))).ToArray()
            : logits.Select(l => 1 / (1 + Math.Exp(-l))).ToArray();
        var select = scores.Select((s, i) => s + (bias?[i] ?? 0)).ToArray();
        var perGroup = e / g.Groups;
        IEnumerable<int> candidates = Enumerable.Range(0, e);
        int[] chosen;
        if (g.GroupSelection == GroupSelection.Balanced)
        {
            chosen = Enumerable.Range(0, g.Groups)
                .SelectMany(grp => Enumerable.Range(grp * perGroup, perGroup).OrderByDescending(i => select[i]).ThenBy(i => i).Take(_spec.TopK / g.Groups))
                .OrderByDescending(i => select[i]).ThenBy(i => i).ToArray();
        }
        else
        {
            if (g.GroupSelection != GroupSelection.None)
            {
                double GroupScore(int grp)
                {
                    var best = Enumerable.Range(grp * perGroup, perGroup).Select(i => select[i]).OrderDescending().ToArray();
                    return g.GroupSelection == GroupSelection.TopTwoSum ? best[0] + best[1] : best[0];
                }

                var kept = Enumerable.Range(0, g.Groups).OrderByDescending(GroupScore).ThenBy(grp => grp).Take(g.TopKGroups).ToHashSet();
                candidates = candidates.Where(i => kept.Contains(i / perGroup));
            }

            chosen = candidates.OrderByDescending(i => select[i]).ThenBy(i => i).Take(_spec.TopK).ToArray();
        }

        var total = chosen.Sum(i => scores[i]);
        var weights = chosen.Select(i => (g.NormalizeTopK ? scores[i] / total : scores[i]) * g.RoutedScalingFactor).ToArray();
        return (chosen, weights);
    }

    /// <summary>MoE_l(x) for one token, with the given routing or the gate's.</summary>
    public double[] Layer(int layer, float[] x, (int[] Ids, double[] Weights)? forced = null)
    {
        var (ids, weights) = forced ?? Route(layer, x);
        var w = model.Layers[layer];
        var y = new double[_spec.Hidden];
        for (var k = 0; k < ids.Length; k++)
        {
            var f = Ffn(w.Experts[ids[k]], x);
            for (var i = 0; i < y.Length; i++)
            {
                y[i] += weights[k] * f[i];
            }
        }

        if (w.Shared is { } shared)
        {
            var f = Ffn(shared, x);
            var scale = w.SharedGate is { } g ? 1 / (1 + Math.Exp(-g.Select((v, i) => (double)v * x[i]).Sum())) : 1;
            for (var i = 0; i < y.Length; i++)
            {
                y[i] += scale * f[i];
            }
        }

        return y;
    }

    /// <summary>h ← h + MoE_l(RMSNorm_l(h)) over layers a..b for one token.</summary>
    public double[] Stack(int first, int last, float[] token)
    {
        var h = token.Select(v => (double)v).ToArray();
        for (var l = first; l <= last; l++)
        {
            var rms = Math.Sqrt((h.Sum(v => v * v) / h.Length) + _spec.RmsNormEps);
            var normed = h.Select((v, i) => (float)(v / rms * model.Layers[l].Norm[i])).ToArray();
            var m = Layer(l, normed);
            for (var i = 0; i < h.Length; i++)
            {
                h[i] = (float)(h[i] + m[i]);
            }
        }

        return h;
    }

    private static double[] Ffn(ExpertWeights expert, float[] x)
    {
        var (gateUp, down) = expert.ToF32();
        int h = expert.Hidden, inter = expert.Intermediate;
        var a = new double[inter];
        for (var i = 0; i < inter; i++)
        {
            double g = 0, u = 0;
            for (var k = 0; k < h; k++)
            {
                g += (double)gateUp[(i * h) + k] * x[k];
                u += (double)gateUp[((inter + i) * h) + k] * x[k];
            }

            a[i] = g / (1 + Math.Exp(-g)) * u;
        }

        var y = new double[h];
        for (var o = 0; o < h; o++)
        {
            for (var i = 0; i < inter; i++)
            {
                y[o] += down[(o * inter) + i] * a[i];
            }
        }

        return y;
    }
}
