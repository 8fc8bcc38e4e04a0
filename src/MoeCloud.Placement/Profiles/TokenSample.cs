using MoeCloud.Model.Traces;

namespace MoeCloud.Placement.Profiles;

/// <summary>
/// Whole routings of a bounded number of tokens: expert ids flat <c>[tokens, layers, topK]</c> and each token's
/// sequence id. The <c>ilp</c> solver clusters these tokens onto home pods together with the experts they use.
/// </summary>
public sealed class TokenSample
{
    /// <summary>Creates a sample; <paramref name="expertIds"/> must be <c>[tokens, layers, topK]</c>.</summary>
    public TokenSample(int layers, int topK, short[] expertIds, int[] seqIds)
    {
        ArgumentNullException.ThrowIfNull(expertIds);
        ArgumentNullException.ThrowIfNull(seqIds);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(layers);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(topK);
        if (expertIds.Length != seqIds.Length * layers * topK)
        {
            throw new ArgumentException($"expert ids hold {expertIds.Length} values, {seqIds.Length} tokens x {layers} layers x top-{topK} need {seqIds.Length * layers * topK}.", nameof(expertIds));
        }

        Layers = layers;
        TopK = topK;
        ExpertIds = expertIds;
        SeqIds = seqIds;
    }

    /// <summary>Layers per token.</summary>
    public int Layers { get; }

    /// <summary>Slots per token and layer.</summary>
    public int TopK { get; }

    /// <summary>Expert ids, flat <c>[tokens, layers, topK]</c>.</summary>
    public short[] ExpertIds { get; }

    /// <summary>Sequence id of each token.</summary>
    public int[] SeqIds { get; }

    /// <summary>Sampled tokens.</summary>
    public int Tokens => SeqIds.Length;

    /// <summary>The top-k experts of one sampled token at one layer.</summary>
    public ReadOnlySpan<short> Slots(int token, int layer) => ExpertIds.AsSpan(((token * Layers) + layer) * TopK, TopK);

    /// <summary>All slots of one sampled token, <c>[layers, topK]</c>.</summary>
    public ReadOnlySpan<short> Routing(int token) => ExpertIds.AsSpan(token * Layers * TopK, Layers * TopK);

    /// <summary>An empty sample.</summary>
    public static TokenSample Empty(int layers, int topK) => new(layers, topK, [], []);

    /// <summary>At most <paramref name="cap"/> tokens of <paramref name="trace"/>, taken at even strides (deterministic).</summary>
    public static TokenSample FromTrace(RoutingTrace trace, int cap)
    {
        ArgumentNullException.ThrowIfNull(trace);
        var picks = EvenPicks(trace.Tokens, cap);
        var stride = trace.Layers * trace.TopK;
        var ids = new short[picks.Length * stride];
        var seq = new int[picks.Length];
        for (var i = 0; i < picks.Length; i++)
        {
            Array.Copy(trace.ExpertIds, picks[i] * stride, ids, i * stride, stride);
            seq[i] = trace.SeqIds?[picks[i]] ?? picks[i];
        }

        return new TokenSample(trace.Layers, trace.TopK, ids, seq);
    }

    /// <summary>Both samples' tokens (a's first), thinned at even strides to <paramref name="cap"/>.</summary>
    public static TokenSample Concat(TokenSample a, TokenSample b, int cap)
    {
        ArgumentNullException.ThrowIfNull(a);
        ArgumentNullException.ThrowIfNull(b);
        var stride = a.Layers * a.TopK;
        var total = a.Tokens + b.Tokens;
        var picks = EvenPicks(total, cap);
        var ids = new short[picks.Length * stride];
        var seq = new int[picks.Length];
        for (var i = 0; i < picks.Length; i++)
        {
            var (source, t) = picks[i] < a.Tokens ? (a, picks[i]) : (b, picks[i] - a.Tokens);
            Array.Copy(source.ExpertIds, t * stride, ids, i * stride, stride);
            seq[i] = source.SeqIds[t];
        }

        return new TokenSample(a.Layers, a.TopK, ids, seq);
    }

    private static int[] EvenPicks(int total, int cap)
    {
        var n = Math.Min(total, cap);
        var picks = new int[n];
        for (var i = 0; i < n; i++)
        {
            picks[i] = (int)((long)i * total / n);
        }

        return picks;
    }
}
