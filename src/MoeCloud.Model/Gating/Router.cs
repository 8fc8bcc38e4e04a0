using MoeCloud.Model.Kernels;
using MoeCloud.Model.Spec;
using MoeCloud.Model.Weights;

namespace MoeCloud.Model.Gating;

/// <summary>
/// A layer's gate: hidden states <c>[n, hidden]</c> → expert ids <c>[n, topK]</c> and combine weights <c>[n, topK]</c>,
/// per the model's <see cref="GatingSpec"/>. Slots are ordered by selection score, best first; ties go to the lower
/// expert id, so routing is deterministic. Immutable and thread-safe.
/// </summary>
public sealed class Router
{
    private readonly RouterWeights _weights;
    private readonly GatingSpec _gating;

    /// <summary>Creates the router; throws <see cref="ArgumentException"/> when the weights do not fit the spec.</summary>
    public Router(ModelSpec spec, RouterWeights weights)
    {
        ArgumentNullException.ThrowIfNull(spec);
        ArgumentNullException.ThrowIfNull(weights);
        spec.Validate();
        if (weights.Experts != spec.Experts || weights.Hidden != spec.Hidden || weights.Weight.Length != (long)spec.Experts * spec.Hidden)
        {
            throw new ArgumentException($"Router weights are [{weights.Experts}, {weights.Hidden}] with {weights.Weight.Length} values; the spec needs [{spec.Experts}, {spec.Hidden}].", nameof(weights));
        }

        if (spec.Gating.SelectionBias != weights.SelectionBias is not null || (weights.SelectionBias is { } b && b.Length != spec.Experts))
        {
            throw new ArgumentException($"The gating {(spec.Gating.SelectionBias ? "needs" : "has no")} a selection bias of {spec.Experts} values; got {weights.SelectionBias?.Length.ToString() ?? "none"}.", nameof(weights));
        }

        _weights = weights;
        _gating = spec.Gating;
        TopK = spec.TopK;
    }

    /// <summary>Experts per token.</summary>
    public int TopK { get; }

    /// <summary>The router matrix and selection bias (for example, for the gateway's prediction of routing).</summary>
    public RouterWeights Weights => _weights;

    /// <summary>Routed experts.</summary>
    public int Experts => _weights.Experts;

    /// <summary>Hidden size.</summary>
    public int Hidden => _weights.Hidden;

    /// <summary>Routes <paramref name="tokens"/> hidden states; fills <paramref name="ids"/> and <paramref name="weights"/> (<c>[tokens, topK]</c>).</summary>
    public void Route(ReadOnlySpan<float> hidden, int tokens, Span<int> ids, Span<float> weights)
    {
        if (tokens < 0 || hidden.Length < (long)tokens * Hidden || ids.Length < tokens * TopK || weights.Length < tokens * TopK)
        {
            throw new ArgumentException($"Routing {tokens} tokens needs hidden [{tokens}, {Hidden}] and ids/weights [{tokens}, {TopK}] (got {hidden.Length}, {ids.Length}, {weights.Length}).");
        }

        var logits = new float[Experts];
        var scratch = new GateScratch(Experts, _gating.Groups);
        for (var t = 0; t < tokens; t++)
        {
            var h = hidden.Slice(t * Hidden, Hidden);
            for (var e = 0; e < Experts; e++)
            {
                logits[e] = VectorMath.Dot(h, _weights.Weight.AsSpan(e * Hidden, Hidden));
            }

            if (!float.IsFinite(VectorMath.Sum(logits)))
            {
                throw new ArgumentException($"Hidden state of token {t} gives non-finite gate logits (NaN or infinity in the input).", nameof(hidden));
            }

            GateFunction.Select(_gating, logits, _weights.SelectionBias, TopK, scratch, ids.Slice(t * TopK, TopK), weights.Slice(t * TopK, TopK));
        }
    }
}
