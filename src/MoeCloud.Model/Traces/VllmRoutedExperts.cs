namespace MoeCloud.Model.Traces;

/// <summary>
/// Reads vLLM's per-request routed experts (<c>CompletionOutput.routed_experts</c> with routed-expert capture on), each
/// saved with <c>numpy.save</c>: <c>[tokens, MoE layers, top-k]</c> expert ids, int16, int32 or int64. Each file is one
/// request, so one sequence of the trace, in the order given; token positions count from 0 within it.
/// </summary>
public static class VllmRoutedExperts
{
    /// <summary>
    /// The trace of <paramref name="files"/>, with <paramref name="experts"/> routed experts per layer (null: the
    /// largest id seen + 1). Throws <see cref="TraceFormatException"/> naming the file on a wrong dtype, a shape that
    /// is not 3-D or differs between files in layers or top-k, or an id outside [0, experts).
    /// </summary>
    public static RoutingTrace Read(IReadOnlyList<string> files, int? experts, string name, string model = "")
    {
        ArgumentNullException.ThrowIfNull(files);
        ArgumentNullException.ThrowIfNull(name);
        if (files.Count == 0)
        {
            throw new ArgumentException("at least one routed-experts file is needed", nameof(files));
        }

        if (experts is < 1 or > short.MaxValue)
        {
            throw new ArgumentOutOfRangeException(nameof(experts), experts, $"experts must be in [1, {short.MaxValue}]");
        }

        // 1. Read every request and check that they agree in layers and top-k.
        var requests = new List<(string Path, long[] Ids, int Tokens)>();
        int layers = 0, topK = 0;
        foreach (var path in files)
        {
            var array = NpyFile.Read(path);
            if (array.DType is not (NpyDType.Int16 or NpyDType.Int32 or NpyDType.Int64))
            {
                throw new TraceFormatException(path, $"has dtype {array.DType}; expert ids must be integers (int16, int32 or int64)");
            }

            if (array.Shape.Count != 3 || array.Shape[1] == 0 || array.Shape[2] == 0)
            {
                throw new TraceFormatException(path, $"has shape ({string.Join(", ", array.Shape)}); vLLM's routed experts are [tokens, MoE layers, top-k]");
            }

            if (requests.Count == 0)
            {
                (layers, topK) = (array.Shape[1], array.Shape[2]);
            }
            else if (array.Shape[1] != layers || array.Shape[2] != topK)
            {
                throw new TraceFormatException(path, $"has {array.Shape[1]} MoE layers and top-{array.Shape[2]}; {requests[0].Path} has {layers} and top-{topK}");
            }

            requests.Add((path, array.ToInt64(), array.Shape[0]));
        }

        // 2. Check the ids against the expert count (given, or the largest id + 1).
        var count = experts ?? (int)Math.Min(short.MaxValue, requests.Max(r => r.Ids.Length == 0 ? 0 : r.Ids.Max()) + 1);
        foreach (var (path, ids, _) in requests)
        {
            var bad = Array.FindIndex(ids, v => v < 0 || v >= count);
            if (bad >= 0)
            {
                var stride = layers * topK;
                throw new TraceFormatException(path, $"expert id {ids[bad]} at token {bad / stride}, layer {bad / topK % layers}, slot {bad % topK} is outside [0, {count})");
            }
        }

        if (topK > count)
        {
            throw new TraceFormatException(requests[0].Path, $"top-{topK} exceeds the {count} experts per layer");
        }

        // 3. One sequence per request.
        var tokens = requests.Sum(r => r.Tokens);
        var expertIds = new short[(long)tokens * layers * topK];
        var seqIds = new int[tokens];
        var tokenPos = new int[tokens];
        var at = 0;
        for (var s = 0; s < requests.Count; s++)
        {
            var ids = requests[s].Ids;
            for (var i = 0; i < ids.Length; i++)
            {
                expertIds[((long)at * layers * topK) + i] = (short)ids[i];
            }

            for (var t = 0; t < requests[s].Tokens; t++)
            {
                seqIds[at + t] = s;
                tokenPos[at + t] = t;
            }

            at += requests[s].Tokens;
        }

        var manifest = new TraceManifest
        {
            Name = name,
            Model = model,
            Layers = layers,
            Experts = count,
            TopK = topK,
            Tokens = tokens,
            Sequences = requests.Count,
            SlotOrder = "as vLLM returned them (routed_experts)",
        };
        return new RoutingTrace(manifest, expertIds, null, seqIds, tokenPos);
    }
}
