using MoeCloud.Model.Traces;

namespace MoeCloud.Model.Tests.Traces;

/// <summary>Small hand-made traces for tests.</summary>
internal static class TraceBuilder
{
    /// <summary>
    /// A trace from explicit routing: <paramref name="routing"/>[token][layer] lists the token's experts, slot 0 first;
    /// <paramref name="seqIds"/> gives each token's sequence.
    /// </summary>
    public static RoutingTrace FromRouting(int experts, int[][][] routing, int[] seqIds)
    {
        int tokens = routing.Length, layers = routing[0].Length, topK = routing[0][0].Length;
        var ids = new short[tokens * layers * topK];
        var weights = new float[ids.Length];
        for (var t = 0; t < tokens; t++)
        {
            for (var l = 0; l < layers; l++)
            {
                for (var k = 0; k < topK; k++)
                {
                    ids[(((t * layers) + l) * topK) + k] = (short)routing[t][l][k];
                    weights[(((t * layers) + l) * topK) + k] = 1f / (k + 2);
                }
            }
        }

        var manifest = new TraceManifest { Name = "hand", Model = "test", Layers = layers, Experts = experts, TopK = topK, Tokens = tokens, Sequences = seqIds.Distinct().Count() };
        var positions = new int[tokens];
        for (var t = 1; t < tokens; t++)
        {
            positions[t] = seqIds[t] == seqIds[t - 1] ? positions[t - 1] + 1 : 0;
        }

        return new RoutingTrace(manifest, ids, weights, seqIds, positions);
    }
}
