using MoeCloud.Contracts.Steps;

namespace MoeCloud.Runtime.Serving;

/// <summary>How <see cref="StackRunner"/> cuts a step into micro-batches for two-batch overlap (<see cref="Hosting.MoeCloudSiloOptions.MicroBatches"/>).</summary>
internal static class MicroBatch
{
    /// <summary>
    /// The contiguous token ranges of a <paramref name="tokens"/>-token step cut into at most <paramref name="parts"/>
    /// micro-batches of at least <paramref name="minTokens"/> tokens each, as even as they go (the first ones one token
    /// larger); one range, the whole step, when it is too small to cut.
    /// </summary>
    public static (int Start, int Count)[] Split(int tokens, int parts, int minTokens)
    {
        var count = Math.Min(parts, tokens / Math.Max(1, minTokens));
        if (count <= 1)
        {
            return [(0, tokens)];
        }

        var ranges = new (int Start, int Count)[count];
        int size = tokens / count, extra = tokens % count, start = 0;
        for (var i = 0; i < count; i++)
        {
            var length = size + (i < extra ? 1 : 0);
            ranges[i] = (start, length);
            start += length;
        }

        return ranges;
    }

    /// <summary>
    /// The step of tokens <paramref name="start"/>..<paramref name="start"/> + <paramref name="count"/> of
    /// <paramref name="request"/> (already validated): its own copy of their hidden states, and their slices of the
    /// forced routing or the carried gate.
    /// </summary>
    public static StepRequest Slice(StepRequest request, int start, int count, int hidden) =>
        request with
        {
            Tokens = count,
            Hidden = request.Hidden.AsSpan(start * hidden, count * hidden).ToArray(),
            ForcedIds = Rows(request.ForcedIds, start, count, request.Tokens),
            ForcedWeights = Rows(request.ForcedWeights, start, count, request.Tokens),
            GateIds = Rows(request.GateIds, start, count, request.Tokens),
            GateWeights = Rows(request.GateWeights, start, count, request.Tokens),
        };

    /// <summary>Rows <paramref name="start"/>..+<paramref name="count"/> of a per-token array (each token's entries contiguous), or null.</summary>
    private static T[]? Rows<T>(T[]? values, int start, int count, int tokens)
    {
        if (values is null)
        {
            return null;
        }

        var stride = values.Length / tokens;
        return values.AsSpan(start * stride, count * stride).ToArray();
    }
}
