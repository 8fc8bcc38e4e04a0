namespace MoeCloud.Model.Forward;

/// <summary>
/// The routing of one layer for a batch: expert ids and combine weights, row-major <c>[tokens, topK]</c>. Used for
/// forced routing (trace replay) and returned by the gate.
/// </summary>
public sealed record RoutingAssignment
{
    /// <summary>Creates an assignment; throws <see cref="ArgumentException"/> on mismatched lengths or non-finite weights.</summary>
    public RoutingAssignment(int tokens, int topK, int[] expertIds, float[] weights)
    {
        ArgumentNullException.ThrowIfNull(expertIds);
        ArgumentNullException.ThrowIfNull(weights);
        if (tokens < 0 || topK < 1 || expertIds.Length != tokens * topK || weights.Length != tokens * topK)
        {
            throw new ArgumentException($"A routing of {tokens} tokens × top-{topK} needs {tokens * topK} ids and weights (got {expertIds.Length} and {weights.Length}).");
        }

        var bad = Array.FindIndex(weights, w => !float.IsFinite(w));
        if (bad >= 0)
        {
            throw new ArgumentException($"Routing weight of token {bad / topK}, slot {bad % topK} is {weights[bad]}, not a finite number.", nameof(weights));
        }

        Tokens = tokens;
        TopK = topK;
        ExpertIds = expertIds;
        Weights = weights;
    }

    /// <summary>Tokens.</summary>
    public int Tokens { get; }

    /// <summary>Slots per token.</summary>
    public int TopK { get; }

    /// <summary>Expert ids <c>[tokens, topK]</c>.</summary>
    public int[] ExpertIds { get; }

    /// <summary>Combine weights <c>[tokens, topK]</c>.</summary>
    public float[] Weights { get; }

    /// <summary>Throws <see cref="ArgumentException"/> unless this assignment fits <paramref name="tokens"/> tokens, <paramref name="topK"/> slots and <paramref name="experts"/> experts.</summary>
    public void Check(int tokens, int topK, int experts)
    {
        if (Tokens != tokens || TopK != topK)
        {
            throw new ArgumentException($"Forced routing is {Tokens} tokens × top-{TopK}; the batch is {tokens} tokens × top-{topK}.");
        }

        var bad = Array.FindIndex(ExpertIds, e => (uint)e >= (uint)experts);
        if (bad >= 0)
        {
            throw new ArgumentException($"Forced routing names expert {ExpertIds[bad]} at token {bad / topK}, slot {bad % topK}; the layer has experts [0, {experts}).");
        }
    }
}
