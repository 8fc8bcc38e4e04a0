using MoeCloud.Placement.Profiles;

namespace MoeCloud.Placement.Simulation;

/// <summary>
/// Layer-to-layer transition probabilities from a profile, kept sparse: for each layer l &lt; L − 1 and expert e, the
/// <see cref="Successors"/> most frequent next-layer experts f with P(f | e) = T(l, e, f) / Σ_f' T(l, e, f').
/// Propagating expected dispatch counts v (Σ v = k) through it predicts later layers' experts:
/// v_{l+1}(f) = Σ_e v_l(e) · P(f | e). Immutable and safe to share between threads.
/// </summary>
public sealed class TransitionModel
{
    private readonly short[] _next;
    private readonly float[] _probability;

    private TransitionModel(int layers, int experts, int successors, short[] next, float[] probability)
    {
        Layers = layers;
        Experts = experts;
        Successors = successors;
        _next = next;
        _probability = probability;
    }

    /// <summary>Layers of the profile.</summary>
    public int Layers { get; }

    /// <summary>Experts per layer.</summary>
    public int Experts { get; }

    /// <summary>Successors kept per expert.</summary>
    public int Successors { get; }

    /// <summary>Builds the model; throws <see cref="ArgumentException"/> for a load-only profile.</summary>
    public static TransitionModel FromProfile(WorkloadProfile profile, int successors = 16)
    {
        ArgumentNullException.ThrowIfNull(profile);
        if (profile.Transitions is not { } counts)
        {
            throw new ArgumentException($"profile '{profile.Name}' is load-only (no layer-to-layer transitions); the speculative policy and re-homing need a profile from a routing trace.", nameof(profile));
        }

        int experts = profile.Experts, layers = profile.Layers;
        successors = Math.Clamp(successors, 1, experts);
        var rows = Math.Max(layers - 1, 0) * experts;
        var next = new short[rows * successors];
        var probability = new float[rows * successors];
        var order = new int[experts];
        for (var row = 0; row < rows; row++)
        {
            var span = counts.AsSpan(row * experts, experts);
            long sum = 0;
            foreach (var c in span)
            {
                sum += c;
            }

            for (var f = 0; f < experts; f++)
            {
                order[f] = f;
            }

            var copy = span.ToArray();
            Array.Sort(order, (a, b) => copy[b] != copy[a] ? copy[b].CompareTo(copy[a]) : a.CompareTo(b));
            for (var i = 0; i < successors; i++)
            {
                next[(row * successors) + i] = (short)order[i];
                probability[(row * successors) + i] = sum == 0 ? 0 : (float)((double)copy[order[i]] / sum);
            }
        }

        return new TransitionModel(layers, experts, successors, next, probability);
    }

    /// <summary>P(<paramref name="next"/> at layer l + 1 | <paramref name="expert"/> at layer <paramref name="layer"/>), or 0 when <paramref name="next"/> is not a kept successor.</summary>
    public double Probability(int layer, int expert, int next)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(layer);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(layer, Math.Max(Layers - 1, 0));
        ArgumentOutOfRangeException.ThrowIfNegative(expert);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(expert, Experts);
        var offset = ((layer * Experts) + expert) * Successors;
        for (var i = 0; i < Successors; i++)
        {
            if (_next[offset + i] == next)
            {
                return _probability[offset + i];
            }
        }

        return 0;
    }

    /// <summary>v_{l+1} = v_l · P_l (only the kept successors); <paramref name="next"/> is overwritten.</summary>
    public void Propagate(int layer, ReadOnlySpan<double> current, Span<double> next)
    {
        next.Clear();
        var baseRow = layer * Experts;
        for (var e = 0; e < Experts; e++)
        {
            var v = current[e];
            if (v < 1e-4)
            {
                continue;
            }

            var offset = (baseRow + e) * Successors;
            for (var i = 0; i < Successors; i++)
            {
                next[_next[offset + i]] += v * _probability[offset + i];
            }
        }
    }
}
