using MoeCloud.Placement.Profiles;

namespace MoeCloud.Placement.Simulation;

/// <summary>
/// The two-layer part of <see cref="TransitionModel"/>: for layers 1 ≤ l ≤ L − 2, top-1 expert a at l − 1 and expert
/// e at l, the most frequent next-layer experts f with P₂(f | a, e) = C(l, a, e, f) / Σ_f' C(l, a, e, f') and the
/// pair's observation count n(l, a, e). Only observed pairs take room.
/// </summary>
internal sealed class PairTable
{
    private readonly int _experts;
    private readonly int[] _start;
    private readonly byte[] _length;
    private readonly int[] _observations;
    private readonly short[] _next;
    private readonly float[] _probability;

    private PairTable(int experts, int[] start, byte[] length, int[] observations, short[] next, float[] probability)
    {
        _experts = experts;
        _start = start;
        _length = length;
        _observations = observations;
        _next = next;
        _probability = probability;
    }

    /// <summary>Counts every pair of the sample; keeps at most <paramref name="successors"/> (≤ 255) next experts per pair.</summary>
    public static PairTable Build(TokenSample sample, int experts, int successors)
    {
        int layers = sample.Layers, rows = experts * experts;
        successors = Math.Clamp(successors, 1, Math.Min(experts, byte.MaxValue));
        var start = new int[(layers - 2) * rows];
        var length = new byte[start.Length];
        var observations = new int[start.Length];
        var next = new List<short>();
        var probability = new List<float>();
        var counts = new int[rows * experts];
        var order = new int[experts];
        for (var l = 1; l + 1 < layers; l++)
        {
            // 1. Count (top-1 at l − 1, e at l) → f at l + 1, and each pair's observations.
            Array.Clear(counts);
            var layerBase = (l - 1) * rows;
            for (var t = 0; t < sample.Tokens; t++)
            {
                var a = sample.Slots(t, l - 1)[0];
                var to = sample.Slots(t, l + 1);
                foreach (var e in sample.Slots(t, l))
                {
                    var pair = (a * experts) + e;
                    observations[layerBase + pair]++;
                    foreach (var f in to)
                    {
                        counts[(pair * experts) + f]++;
                    }
                }
            }

            // 2. Keep each observed pair's most frequent successors.
            for (var pair = 0; pair < rows; pair++)
            {
                start[layerBase + pair] = next.Count;
                if (observations[layerBase + pair] == 0)
                {
                    continue;
                }

                var row = counts.AsSpan(pair * experts, experts);
                long sum = 0;
                for (var f = 0; f < experts; f++)
                {
                    sum += row[f];
                    order[f] = f;
                }

                var copy = row.ToArray();
                Array.Sort(order, (x, y) => copy[y] != copy[x] ? copy[y].CompareTo(copy[x]) : x.CompareTo(y));
                var kept = 0;
                for (var i = 0; i < successors && copy[order[i]] > 0; i++, kept++)
                {
                    next.Add((short)order[i]);
                    probability.Add((float)((double)copy[order[i]] / sum));
                }

                length[layerBase + pair] = (byte)kept;
            }
        }

        return new PairTable(experts, start, length, observations, [.. next], [.. probability]);
    }

    /// <summary>Observations of the pair (0 when unseen).</summary>
    public int Count(int layer, int previousTop, int expert) =>
        layer >= 1 && (layer - 1) * _experts * _experts < _start.Length ? _observations[Key(layer, previousTop, expert)] : 0;

    /// <summary>The pair's successors (start, length) and observations, or null past the last pair layer.</summary>
    public (int Start, int Length, int Observations)? Find(int layer, int previousTop, int expert)
    {
        if ((layer - 1) * _experts * _experts >= _start.Length)
        {
            return null;
        }

        var key = Key(layer, previousTop, expert);
        return (_start[key], _length[key], _observations[key]);
    }

    /// <summary>next[f] += weight · P₂(f | pair) for the pair's kept successors.</summary>
    public void AddTo(int start, int length, double weight, Span<double> next)
    {
        for (var i = start; i < start + length; i++)
        {
            next[_next[i]] += weight * _probability[i];
        }
    }

    private int Key(int layer, int previousTop, int expert) => ((((layer - 1) * _experts) + previousTop) * _experts) + expert;
}
