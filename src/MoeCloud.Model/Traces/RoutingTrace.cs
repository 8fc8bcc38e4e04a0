namespace MoeCloud.Model.Traces;

/// <summary>One sequence of a trace: its id and the indices of its tokens, in order.</summary>
/// <param name="Id">The sequence id from <c>seq_ids.npy</c> (or the token index when the trace has none).</param>
/// <param name="Ordinal">Position of the sequence in order of first appearance (0-based); even/odd splits use it.</param>
/// <param name="Tokens">Token indices into the trace, in order within the sequence.</param>
public sealed record TraceSequence(int Id, int Ordinal, int[] Tokens);

/// <summary>
/// A routing trace in memory: for every token and MoE layer, the top-k expert ids (and optionally gate weights),
/// with the sequence each token belongs to. Arrays are flat in C order, <c>[tokens, layers, topK]</c>.
/// </summary>
public sealed class RoutingTrace
{
    private TraceSequence[]? _sequences;

    /// <summary>Creates a trace and checks every array against the shape; throws <see cref="ArgumentException"/> on mismatch.</summary>
    public RoutingTrace(TraceManifest manifest, short[] expertIds, float[]? gateWeights = null, int[]? seqIds = null, int[]? tokenPos = null)
    {
        ArgumentNullException.ThrowIfNull(manifest);
        ArgumentNullException.ThrowIfNull(expertIds);
        if (manifest.Layers <= 0 || manifest.Experts <= 0 || manifest.TopK <= 0 || manifest.Tokens < 0)
        {
            throw new ArgumentException($"Manifest needs positive layers, experts and topK (got layers={manifest.Layers}, experts={manifest.Experts}, topK={manifest.TopK}, tokens={manifest.Tokens}).", nameof(manifest));
        }

        if (manifest.TopK > manifest.Experts)
        {
            throw new ArgumentException($"topK {manifest.TopK} exceeds experts {manifest.Experts}.", nameof(manifest));
        }

        var cells = (long)manifest.Tokens * manifest.Layers * manifest.TopK;
        if (expertIds.LongLength != cells)
        {
            throw new ArgumentException($"expert ids hold {expertIds.LongLength} values, the shape needs {cells}.", nameof(expertIds));
        }

        if (gateWeights is not null && gateWeights.LongLength != cells)
        {
            throw new ArgumentException($"gate weights hold {gateWeights.LongLength} values, the shape needs {cells}.", nameof(gateWeights));
        }

        if (seqIds is not null && seqIds.Length != manifest.Tokens)
        {
            throw new ArgumentException($"sequence ids hold {seqIds.Length} values, the trace has {manifest.Tokens} tokens.", nameof(seqIds));
        }

        if (tokenPos is not null && tokenPos.Length != manifest.Tokens)
        {
            throw new ArgumentException($"token positions hold {tokenPos.Length} values, the trace has {manifest.Tokens} tokens.", nameof(tokenPos));
        }

        for (var i = 0; i < expertIds.Length; i++)
        {
            if ((uint)expertIds[i] >= (uint)manifest.Experts)
            {
                var token = i / (manifest.Layers * manifest.TopK);
                var layer = i / manifest.TopK % manifest.Layers;
                throw new ArgumentException($"expert id {expertIds[i]} at token {token}, layer {layer}, slot {i % manifest.TopK} is outside [0, {manifest.Experts}).", nameof(expertIds));
            }
        }

        Manifest = manifest;
        ExpertIds = expertIds;
        GateWeights = gateWeights;
        SeqIds = seqIds;
        TokenPos = tokenPos;
    }

    /// <summary>The manifest.</summary>
    public TraceManifest Manifest { get; }

    /// <summary>Tokens in the trace.</summary>
    public int Tokens => Manifest.Tokens;

    /// <summary>MoE layers.</summary>
    public int Layers => Manifest.Layers;

    /// <summary>Routed experts per layer.</summary>
    public int Experts => Manifest.Experts;

    /// <summary>Slots per token and layer.</summary>
    public int TopK => Manifest.TopK;

    /// <summary>Expert ids, flat <c>[tokens, layers, topK]</c>.</summary>
    public short[] ExpertIds { get; }

    /// <summary>Gate weights, flat <c>[tokens, layers, topK]</c>, or null.</summary>
    public float[]? GateWeights { get; }

    /// <summary>Sequence id per token, or null (then every token is its own sequence).</summary>
    public int[]? SeqIds { get; }

    /// <summary>Position of each token within its sequence, or null.</summary>
    public int[]? TokenPos { get; }

    /// <summary>Sequences in order of first appearance.</summary>
    public IReadOnlyList<TraceSequence> Sequences => _sequences ??= GroupSequences();

    /// <summary>The expert of one slot.</summary>
    public int ExpertId(int token, int layer, int slot) => ExpertIds[Index(token, layer, slot)];

    /// <summary>The top-k expert ids of one token at one layer.</summary>
    public ReadOnlySpan<short> Slots(int token, int layer) => ExpertIds.AsSpan(Index(token, layer, 0), TopK);

    /// <summary>The flat index of a slot.</summary>
    public int Index(int token, int layer, int slot) => ((token * Layers) + layer) * TopK + slot;

    /// <summary>A new trace with the given tokens (in the given order) and <paramref name="name"/>.</summary>
    public RoutingTrace SelectTokens(IReadOnlyList<int> tokens, string name)
    {
        ArgumentNullException.ThrowIfNull(tokens);
        var stride = Layers * TopK;
        var ids = new short[tokens.Count * stride];
        var weights = GateWeights is null ? null : new float[ids.Length];
        var seq = SeqIds is null ? null : new int[tokens.Count];
        var pos = TokenPos is null ? null : new int[tokens.Count];
        for (var i = 0; i < tokens.Count; i++)
        {
            var t = tokens[i];
            Array.Copy(ExpertIds, t * stride, ids, i * stride, stride);
            if (weights is not null)
            {
                Array.Copy(GateWeights!, t * stride, weights, i * stride, stride);
            }

            seq?[i] = SeqIds![t];
            pos?[i] = TokenPos![t];
        }

        var sequences = seq is null ? tokens.Count : seq.Distinct().Count();
        var manifest = Manifest with { Name = name, Tokens = tokens.Count, Sequences = sequences };
        return new RoutingTrace(manifest, ids, weights, seq, pos);
    }

    /// <summary>Splits the trace by sequence ordinal: even sequences (0, 2, 4, …) and odd ones.</summary>
    public (RoutingTrace Even, RoutingTrace Odd) SplitEvenOdd()
    {
        var even = new List<int>();
        var odd = new List<int>();
        foreach (var s in Sequences)
        {
            (s.Ordinal % 2 == 0 ? even : odd).AddRange(s.Tokens);
        }

        return (SelectTokens(even, Manifest.Name + "-even"), SelectTokens(odd, Manifest.Name + "-odd"));
    }

    private TraceSequence[] GroupSequences()
    {
        if (SeqIds is null)
        {
            return Enumerable.Range(0, Tokens).Select(t => new TraceSequence(t, t, [t])).ToArray();
        }

        var order = new List<int>();
        var members = new Dictionary<int, List<int>>();
        for (var t = 0; t < Tokens; t++)
        {
            if (!members.TryGetValue(SeqIds[t], out var list))
            {
                list = [];
                members[SeqIds[t]] = list;
                order.Add(SeqIds[t]);
            }

            list.Add(t);
        }

        return order.Select((id, ordinal) => new TraceSequence(id, ordinal, members[id].ToArray())).ToArray();
    }
}
