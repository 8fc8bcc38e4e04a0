using MoeCloud.Placement.Profiles;

namespace MoeCloud.Placement.Simulation;

/// <summary>
/// Layer-to-layer transition probabilities from a profile, kept sparse: for each layer l &lt; L − 1 and expert e, the
/// <see cref="Successors"/> most frequent next-layer experts f with P(f | e) = T(l, e, f) / Σ_f' T(l, e, f').
/// Propagating expected dispatch counts v (Σ v = k) through it predicts later layers' experts:
/// v_{l+1}(f) = Σ_e v_l(e) · P(f | e).
/// <para>
/// With a token sample in the profile it also keeps a two-layer model (as Speculative MoE conditions on more than one
/// layer): for layers l ≥ 1, P₂(f | a, e) over the next layer's experts f given the token's top-1 expert a at l − 1
/// and an expert e at l, from <see cref="PairCount"/>(l, a, e) observations. <see cref="Propagate(int, ReadOnlySpan{double}, int, double, Span{double})"/>
/// mixes it with the one-layer estimate by a pseudo-count κ: λ = n / (n + κ), so an unseen pair (n = 0) backs off to
/// P(f | e) alone. Layers of more than <see cref="MaxPairExperts"/> experts keep no pair model (it would take
/// experts² rows per layer) and always back off. Immutable and safe to share between threads.
/// </para>
/// </summary>
public sealed class TransitionModel
{
    /// <summary>Experts per layer above which no two-layer model is kept.</summary>
    public const int MaxPairExperts = 128;

    private readonly short[] _next;
    private readonly float[] _probability;
    private readonly PairTable? _pairs;

    private TransitionModel(int layers, int experts, int successors, short[] next, float[] probability, PairTable? pairs)
    {
        Layers = layers;
        Experts = experts;
        Successors = successors;
        _next = next;
        _probability = probability;
        _pairs = pairs;
    }

    /// <summary>Whether a two-layer model was built (a token sample was there and the layers are small enough).</summary>
    public bool HasPairs => _pairs is not null;

    /// <summary>Layers of the profile.</summary>
    public int Layers { get; }

    /// <summary>Experts per layer.</summary>
    public int Experts { get; }

    /// <summary>Successors kept per expert.</summary>
    public int Successors { get; }

    /// <summary>
    /// Builds the model; throws <see cref="ArgumentException"/> for a load-only profile. The two-layer model is built
    /// from the profile's token sample when it has one (see <see cref="HasPairs"/>).
    /// </summary>
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

        var pairs = profile.Sample.Tokens > 0 && experts <= MaxPairExperts && layers >= 3 ? PairTable.Build(profile.Sample, experts, successors) : null;
        return new TransitionModel(layers, experts, successors, next, probability, pairs);
    }

    /// <summary>Observations of top-1 expert <paramref name="previousTop"/> at layer <paramref name="layer"/> − 1 together with <paramref name="expert"/> at <paramref name="layer"/> (0 without a two-layer model).</summary>
    public int PairCount(int layer, int previousTop, int expert)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(layer, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(layer, Math.Max(Layers - 1, 1));
        return _pairs is null ? 0 : _pairs.Count(layer, previousTop, expert);
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
    public void Propagate(int layer, ReadOnlySpan<double> current, Span<double> next) => Propagate(layer, current, -1, 0, next);

    /// <summary>
    /// v_{l+1} from v_l and the token's top-1 expert at l − 1 (<paramref name="previousTop"/>, or -1 when unknown): for
    /// each expert e at l, λ · P₂(· | previousTop, e) + (1 − λ) · P(· | e) with λ = n / (n + <paramref name="pairBackoff"/>),
    /// n the pair's observations (λ = 0 without a two-layer model, at layer 0 or for an unseen pair).
    /// <paramref name="next"/> is overwritten.
    /// </summary>
    public void Propagate(int layer, ReadOnlySpan<double> current, int previousTop, double pairBackoff, Span<double> next)
    {
        next.Clear();
        var pairs = previousTop >= 0 && layer >= 1 ? _pairs : null;
        var baseRow = layer * Experts;
        for (var e = 0; e < Experts; e++)
        {
            var v = current[e];
            if (v < 1e-4)
            {
                continue;
            }

            var single = v;
            if (pairs is not null && pairs.Find(layer, previousTop, e) is var (start, length, n) && n > 0)
            {
                var lambda = n / (n + pairBackoff);
                pairs.AddTo(start, length, v * lambda, next);
                single = v * (1 - lambda);
            }

            if (single < 1e-9)
            {
                continue;
            }

            var offset = (baseRow + e) * Successors;
            for (var i = 0; i < Successors; i++)
            {
                next[_next[offset + i]] += single * _probability[offset + i];
            }
        }
    }
}
