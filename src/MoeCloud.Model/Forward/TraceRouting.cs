using MoeCloud.Model.Traces;

namespace MoeCloud.Model.Forward;

/// <summary>Forced routing for trace replay: a routing trace's slots as per-layer <see cref="RoutingAssignment"/>s.</summary>
public static class TraceRouting
{
    /// <summary>
    /// The routing of tokens [<paramref name="firstToken"/>, +<paramref name="tokens"/>) of <paramref name="trace"/> at
    /// MoE layers <paramref name="firstLayer"/>..<paramref name="lastLayer"/>, one assignment per layer. A trace without
    /// gate weights gives every slot the weight 1/topK.
    /// </summary>
    public static IReadOnlyList<RoutingAssignment> Layers(RoutingTrace trace, int firstLayer, int lastLayer, int firstToken, int tokens)
    {
        ArgumentNullException.ThrowIfNull(trace);
        if (firstLayer < 0 || lastLayer < firstLayer || lastLayer >= trace.Layers)
        {
            throw new ArgumentException($"Layers {firstLayer}..{lastLayer} are not within the trace's [0, {trace.Layers}).");
        }

        if (firstToken < 0 || tokens < 1 || firstToken + tokens > trace.Tokens)
        {
            throw new ArgumentException($"Tokens [{firstToken}, {firstToken + tokens}) are not within the trace's [0, {trace.Tokens}).");
        }

        var k = trace.TopK;
        var result = new RoutingAssignment[lastLayer - firstLayer + 1];
        for (var l = firstLayer; l <= lastLayer; l++)
        {
            var ids = new int[tokens * k];
            var weights = new float[tokens * k];
            for (var t = 0; t < tokens; t++)
            {
                for (var s = 0; s < k; s++)
                {
                    var cell = trace.Index(firstToken + t, l, s);
                    ids[(t * k) + s] = trace.ExpertIds[cell];
                    weights[(t * k) + s] = trace.GateWeights?[cell] ?? 1f / k;
                }
            }

            result[l - firstLayer] = new RoutingAssignment(tokens, k, ids, weights);
        }

        return result;
    }
}
