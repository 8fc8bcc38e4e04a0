using MoeCloud.Model.Traces;
using MoeCloud.Placement.Profiles;

namespace MoeCloud.Placement.Simulation;

/// <summary>The routing the simulator replays: expert ids <c>[tokens, layers, topK]</c> and sequence ids, in order.</summary>
internal sealed record RoutingView(short[] Ids, int Tokens, int Layers, int TopK, int[] SeqIds)
{
    public static RoutingView Of(RoutingTrace trace) =>
        new(trace.ExpertIds, trace.Tokens, trace.Layers, trace.TopK, trace.SeqIds ?? Enumerable.Range(0, trace.Tokens).ToArray());

    public static RoutingView Of(TokenSample sample) => new(sample.ExpertIds, sample.Tokens, sample.Layers, sample.TopK, sample.SeqIds);

    public ReadOnlySpan<short> Slots(int token, int layer) => Ids.AsSpan(((token * Layers) + layer) * TopK, TopK);

    public ReadOnlySpan<short> Routing(int token) => Ids.AsSpan(token * Layers * TopK, Layers * TopK);

    /// <summary>Token indices of each sequence, sequences in order of first appearance.</summary>
    public List<List<int>> Sequences()
    {
        var index = new Dictionary<int, int>();
        var result = new List<List<int>>();
        for (var t = 0; t < Tokens; t++)
        {
            if (!index.TryGetValue(SeqIds[t], out var s))
            {
                s = result.Count;
                index[SeqIds[t]] = s;
                result.Add([]);
            }

            result[s].Add(t);
        }

        return result;
    }
}
