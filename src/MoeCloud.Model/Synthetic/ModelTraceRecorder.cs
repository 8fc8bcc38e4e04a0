using MoeCloud.Model.Forward;
using MoeCloud.Model.Traces;
using MoeCloud.Model.Weights;

namespace MoeCloud.Model.Synthetic;

/// <summary>Options of <see cref="ModelTraceRecorder"/>.</summary>
public sealed record ModelTraceOptions
{
    /// <summary>Tokens to route, in [1, 1,000,000]. Default 4096.</summary>
    public int Tokens { get; init; } = 4096;

    /// <summary>Sequences the tokens form, in [1, Tokens]. Default 32.</summary>
    public int Sequences { get; init; } = 32;

    /// <summary>Seed of the token ids. Default 1.</summary>
    public int Seed { get; init; } = 1;

    /// <summary>Tokens per forward batch, in [1, 65536]. Default 512.</summary>
    public int BatchTokens { get; init; } = 512;

    /// <summary>Throws <see cref="ArgumentException"/> listing every out-of-range option.</summary>
    public ModelTraceOptions Validate()
    {
        var problems = new List<string>();
        if (Tokens is < 1 or > 1_000_000)
        {
            problems.Add($"Tokens must be in [1, 1000000], got {Tokens}");
        }

        if (Sequences < 1 || Sequences > Tokens)
        {
            problems.Add($"Sequences must be in [1, Tokens={Tokens}], got {Sequences}");
        }

        if (BatchTokens is < 1 or > 65536)
        {
            problems.Add($"BatchTokens must be in [1, 65536], got {BatchTokens}");
        }

        return problems.Count == 0 ? this : throw new ArgumentException($"Invalid trace options: {string.Join("; ", problems)}.");
    }
}

/// <summary>
/// Records a routing trace from a model: token ids (Zipf-distributed, each sequence favouring its own small set of
/// tokens, as text repeats its words) are embedded with the checkpoint's <c>model.embed_tokens.weight</c>, mixed
/// with their sequence's context, and run
/// through the reference forward's MoE stack; each layer's gate decisions become the trace.
/// </summary>
public static class ModelTraceRecorder
{
    private const float TokenWeight = 0.8f;
    private const float ContextWeight = 0.6f;
    private const float ContextDecay = 0.9f;

    /// <summary>Records a trace of <paramref name="model"/>, whose embeddings come from <paramref name="checkpoint"/>.</summary>
    public static RoutingTrace Record(ModelCheckpoint checkpoint, ReferenceForward forward, ModelTraceOptions options, string name)
    {
        ArgumentNullException.ThrowIfNull(checkpoint);
        ArgumentNullException.ThrowIfNull(forward);
        options = (options ?? new ModelTraceOptions()).Validate();
        var spec = checkpoint.Spec;
        var (file, info) = checkpoint.Locate(SyntheticModelWriter.EmbeddingTensor);
        if (info.Shape.Length != 2 || info.Shape[1] != spec.Hidden)
        {
            throw new CheckpointFormatException(file.Path, info.Name, $"has shape {info.ShapeText}, expected [vocabulary, {spec.Hidden}]");
        }

        var vocabulary = (int)info.Shape[0];
        var embedding = new float[info.ElementCount];
        file.ReadFloat32(info, embedding);
        var (tokenIds, seqIds, positions) = TokenStream(options, vocabulary);

        int layers = spec.MoeLayers, k = spec.TopK, h = spec.Hidden;
        var ids = new short[options.Tokens * layers * k];
        var weights = new float[ids.Length];
        var context = new float[h];
        for (var start = 0; start < options.Tokens; start += options.BatchTokens)
        {
            var n = Math.Min(options.BatchTokens, options.Tokens - start);
            var x = new float[n * h];
            for (var t = 0; t < n; t++)
            {
                Mix(embedding.AsSpan(tokenIds[start + t] * h, h), context, seqIds[start + t] != (start + t == 0 ? -1 : seqIds[start + t - 1]), x.AsSpan(t * h, h));
            }

            var batchStart = start;
            forward.ForwardStack(0, layers - 1, x, n, onRouting: (layer, routing) =>
            {
                for (var t = 0; t < n; t++)
                {
                    for (var slot = 0; slot < k; slot++)
                    {
                        var cell = (((batchStart + t) * layers) + layer) * k + slot;
                        ids[cell] = (short)routing.ExpertIds[(t * k) + slot];
                        weights[cell] = routing.Weights[(t * k) + slot];
                    }
                }
            });
        }

        var manifest = new TraceManifest
        {
            Name = name,
            Model = $"synthetic {spec.Family.ToString()}",
            Layers = layers,
            Experts = spec.Experts,
            TopK = k,
            Tokens = options.Tokens,
            Sequences = options.Sequences,
        };
        return new RoutingTrace(manifest, ids, weights, seqIds, positions);
    }

    /// <summary>
    /// The hidden state entering the MoE stack: the token's embedding mixed with a decaying average of its sequence's
    /// earlier embeddings, a stand-in for attention, so that a repeated token routes differently in other contexts.
    /// </summary>
    private static void Mix(ReadOnlySpan<float> embedding, float[] context, bool newSequence, Span<float> x)
    {
        if (newSequence)
        {
            embedding.CopyTo(context);
        }

        for (var i = 0; i < x.Length; i++)
        {
            x[i] = (ContextWeight * context[i]) + (TokenWeight * embedding[i]);
            context[i] = (ContextDecay * context[i]) + ((1 - ContextDecay) * embedding[i]);
        }
    }

    private static (int[] Tokens, int[] Sequences, int[] Positions) TokenStream(ModelTraceOptions options, int vocabulary)
    {
        var rng = SplitMix.For(options.Seed, "token-stream");
        var tokens = new int[options.Tokens];
        var seq = new int[options.Tokens];
        var pos = new int[options.Tokens];
        var topicSize = Math.Max(1, Math.Min(16, vocabulary / 4));
        var topic = new int[topicSize];
        var t = 0;
        for (var s = 0; s < options.Sequences; s++)
        {
            var length = (options.Tokens - t) / (options.Sequences - s);
            for (var i = 0; i < topicSize; i++)
            {
                topic[i] = Zipf(ref rng, vocabulary);
            }

            for (var p = 0; p < length; p++, t++)
            {
                tokens[t] = rng.NextDouble() < 0.5 ? topic[Zipf(ref rng, topicSize)] : Zipf(ref rng, vocabulary);
                seq[t] = s;
                pos[t] = p;
            }
        }

        return (tokens, seq, pos);
    }

    /// <summary>A rank in [0, n) with probability ∝ 1/(rank+1) (inverse-CDF of the continuous approximation).</summary>
    private static int Zipf(ref SplitMix rng, int n) => Math.Min(n - 1, (int)Math.Floor(Math.Exp(rng.NextDouble() * Math.Log(n + 1)) - 1));
}
