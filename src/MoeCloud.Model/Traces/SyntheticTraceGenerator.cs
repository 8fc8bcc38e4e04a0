using MoeCloud.Model.Gating;
using MoeCloud.Model.Spec;

namespace MoeCloud.Model.Traces;

/// <summary>Knobs of <see cref="SyntheticTraceGenerator"/>. Defaults land inside the ranges of the shared ESFT traces.</summary>
public sealed record SyntheticTraceOptions
{
    /// <summary>MoE layers.</summary>
    public int Layers { get; init; } = 26;

    /// <summary>Routed experts per layer.</summary>
    public int Experts { get; init; } = 64;

    /// <summary>Experts per token and layer.</summary>
    public int TopK { get; init; } = 6;

    /// <summary>Tokens.</summary>
    public int Tokens { get; init; } = 8192;

    /// <summary>Sequences (lengths vary around Tokens / Sequences).</summary>
    public int Sequences { get; init; } = 64;

    /// <summary>Seed; the same options and seed give the same trace.</summary>
    public int Seed { get; init; } = 1;

    /// <summary>Load skew: standard deviation of each expert's log-popularity. 0 is uniform; higher makes hot experts hotter.</summary>
    public double Skew { get; init; } = 1.5;

    /// <summary>Cross-layer affinity in [0, 1): how much of a token's routing state carries to the next layer.</summary>
    public double Affinity { get; init; } = 0.97;

    /// <summary>Sequence stickiness in [0, 1): the share of a token's routing state common to its whole sequence.</summary>
    public double Stickiness { get; init; } = 0.3;

    /// <summary>Sharpness of the gate (logit scale).</summary>
    public double Sharpness { get; init; } = 4;

    /// <summary>Dimension of the routing state.</summary>
    public int Dimension { get; init; } = 4;

    /// <summary>
    /// The gate that turns logits into experts and weights, run by <see cref="GateFunction"/> (the model's gating code).
    /// Default: softmax over all experts, plain top-k, weights not renormalised.
    /// </summary>
    public GatingSpec Gating { get; init; } = new();

    /// <summary>Subtracted from every logit before the gate; with sigmoid scores it sets where the top-k sit on the curve (default 0).</summary>
    public double LogitShift { get; init; }

    /// <summary>
    /// With a gate that has a selection bias: how much of each expert's popularity the bias cancels, in [0, 1]. Expert e's
    /// bias is <c>−BiasCorrection × (σ(p_e − shift) − mean σ(p − shift))</c>, in score units, a stand-in for the bias
    /// DeepSeek-V3 learns to even out load (aux-loss-free balancing). Default 0.
    /// </summary>
    public double BiasCorrection { get; init; }

    /// <summary>
    /// DeepSeek-V3's shape and gate: 58 MoE layers × 256 experts, top-8, sigmoid scores plus a selection bias, 8 groups of
    /// 32 scored by the sum of their two best biased scores, the best 4 kept, top-8 among them, weights the unbiased
    /// scores renormalised (routed scaling factor 1, so a token's weights sum to 1).
    /// </summary>
    public static SyntheticTraceOptions DeepSeekV3 { get; } = new()
    {
        Layers = 58,
        Experts = 256,
        TopK = 8,
        Tokens = 8192,
        Sequences = 64,
        LogitShift = 8,
        BiasCorrection = 0.5,
        Gating = new GatingSpec
        {
            Scoring = GateScoring.Sigmoid,
            SelectionBias = true,
            NormalizeTopK = true,
            GroupSelection = GroupSelection.TopTwoSum,
            Groups = 8,
            TopKGroups = 4,
        },
    };

    /// <summary>Checks every knob; throws <see cref="ArgumentException"/> listing all problems.</summary>
    public void Validate()
    {
        var problems = new List<string>();
        if (Layers <= 0) problems.Add($"layers must be positive (got {Layers})");
        if (Experts <= 0 || Experts > short.MaxValue) problems.Add($"experts must be in [1, {short.MaxValue}] (got {Experts})");
        if (TopK <= 0 || TopK > Experts) problems.Add($"top-k must be in [1, experts] (got {TopK})");
        if (Tokens <= 0) problems.Add($"tokens must be positive (got {Tokens})");
        if (Sequences <= 0 || Sequences > Tokens) problems.Add($"sequences must be in [1, tokens] (got {Sequences})");
        if (Skew < 0 || !double.IsFinite(Skew)) problems.Add($"skew must be a finite number >= 0 (got {Skew})");
        if (Affinity is < 0 or >= 1 || double.IsNaN(Affinity)) problems.Add($"affinity must be in [0, 1) (got {Affinity})");
        if (Stickiness is < 0 or >= 1 || double.IsNaN(Stickiness)) problems.Add($"stickiness must be in [0, 1) (got {Stickiness})");
        if (Sharpness <= 0 || !double.IsFinite(Sharpness)) problems.Add($"sharpness must be a finite number > 0 (got {Sharpness})");
        if (Dimension is <= 0 or > 256) problems.Add($"dimension must be in [1, 256] (got {Dimension})");
        if ((long)Tokens * Layers * TopK > int.MaxValue) problems.Add("tokens × layers × top-k is too large for one trace");
        if (!double.IsFinite(LogitShift)) problems.Add($"logit shift must be finite (got {LogitShift})");
        if (BiasCorrection is < 0 or > 1 || double.IsNaN(BiasCorrection)) problems.Add($"bias correction must be in [0, 1] (got {BiasCorrection})");
        if (Gating is null)
        {
            problems.Add("gating is required");
        }
        else
        {
            if (BiasCorrection != 0 && !Gating.SelectionBias) problems.Add("bias correction needs a gating with a selection bias");
            if (Experts > 0 && TopK > 0 && TopK <= Experts) problems.AddRange(Gating.Problems(Experts, TopK).Select(p => "gating: " + p));
        }

        if (problems.Count > 0)
        {
            throw new ArgumentException("Invalid synthetic trace options: " + string.Join("; ", problems) + ".");
        }
    }
}

/// <summary>Sees one (token, layer)'s gate input: its logits and its selection bias (empty without one).</summary>
internal delegate void GateObserver(int token, int layer, ReadOnlySpan<float> logits, ReadOnlySpan<float> selectionBias);

/// <summary>
/// Generates routing traces that look like real MoE routing: each token carries a latent routing state that drifts
/// from layer to layer (cross-layer affinity) and is partly shared by its sequence (stickiness); each layer's gate
/// scores experts by the dot product of that state with random expert embeddings plus a per-expert popularity bias
/// (load skew), and hands the logits to <see cref="GateFunction"/> with <see cref="SyntheticTraceOptions.Gating"/>
/// (by default softmax over all experts and top-k; <see cref="SyntheticTraceOptions.DeepSeekV3"/> routes as V3 does).
/// Slots are best first by selection score.
/// </summary>
public static class SyntheticTraceGenerator
{
    /// <summary>Generates a trace.</summary>
    public static RoutingTrace Generate(SyntheticTraceOptions options, string name = "synthetic") => Generate(options, name, observe: null);

    /// <summary>Generates a trace, showing <paramref name="observe"/> every (token, layer)'s logits and selection bias as handed to the gate.</summary>
    internal static RoutingTrace Generate(SyntheticTraceOptions options, string name, GateObserver? observe)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        var rng = new Random(options.Seed);
        int layers = options.Layers, experts = options.Experts, topK = options.TopK, dim = options.Dimension;

        // 1. Per layer: expert embeddings (standard normal) and popularity biases.
        var embed = new float[layers * experts * dim];
        var bias = new float[layers * experts];
        var scale = 1.0 / Math.Sqrt(dim);
        for (var i = 0; i < embed.Length; i++)
        {
            embed[i] = (float)Gaussian(rng);
        }

        for (var i = 0; i < bias.Length; i++)
        {
            bias[i] = (float)(Gaussian(rng) * options.Skew);
        }

        // 2. Sequence lengths: uneven, summing to Tokens.
        var lengths = SequenceLengths(rng, options.Tokens, options.Sequences);

        var ids = new short[options.Tokens * layers * topK];
        var weights = new float[ids.Length];
        var seqIds = new int[options.Tokens];
        var pos = new int[options.Tokens];
        var state = new double[dim];
        var seqState = new double[dim];
        var logits = new float[experts];
        var picked = new int[topK];
        var scratch = new GateScratch(experts, options.Gating.Groups);
        var selection = SelectionBias(options, bias);
        double stick = Math.Sqrt(options.Stickiness), own = Math.Sqrt(1 - options.Stickiness);
        double keep = options.Affinity, fresh = Math.Sqrt(1 - (options.Affinity * options.Affinity));
        var token = 0;
        for (var s = 0; s < lengths.Length; s++)
        {
            for (var d = 0; d < dim; d++)
            {
                seqState[d] = Gaussian(rng);
            }

            for (var p = 0; p < lengths[s]; p++, token++)
            {
                seqIds[token] = s;
                pos[token] = p;
                for (var d = 0; d < dim; d++)
                {
                    state[d] = (stick * seqState[d]) + (own * Gaussian(rng));
                }

                for (var l = 0; l < layers; l++)
                {
                    if (l > 0)
                    {
                        for (var d = 0; d < dim; d++)
                        {
                            state[d] = (keep * state[d]) + (fresh * Gaussian(rng));
                        }
                    }

                    // 3. Gate: logits, then the model's gating function (scores, selection bias, group limit, top-k, weights).
                    for (var e = 0; e < experts; e++)
                    {
                        var row = embed.AsSpan(((l * experts) + e) * dim, dim);
                        double dot = 0;
                        for (var d = 0; d < dim; d++)
                        {
                            dot += row[d] * state[d];
                        }

                        logits[e] = (float)((options.Sharpness * dot * scale) + bias[(l * experts) + e] - options.LogitShift);
                    }

                    var cell = ((token * layers) + l) * topK;
                    observe?.Invoke(token, l, logits, selection is null ? default : selection[l]);
                    GateFunction.Select(options.Gating, logits, selection?[l], topK, scratch, picked, weights.AsSpan(cell, topK));
                    for (var k = 0; k < topK; k++)
                    {
                        ids[cell + k] = (short)picked[k];
                    }
                }
            }
        }

        var manifest = new TraceManifest
        {
            Name = name,
            Model = $"synthetic ({layers} layers × {experts} experts, top-{topK}; seed {options.Seed}, skew {options.Skew}, affinity {options.Affinity}, stickiness {options.Stickiness}; gate {options.Gating.Name}{(options.Gating.GroupSelection == GroupSelection.None ? "" : $", {options.Gating.GroupSelection} groups {options.Gating.TopKGroups} of {options.Gating.Groups}")}{(options.Gating.SelectionBias ? $", selection bias {options.BiasCorrection}" : "")})",
            Layers = layers,
            Experts = experts,
            TopK = topK,
            Tokens = options.Tokens,
            Sequences = lengths.Length,
            SlotOrder = "descending gate weight (slot 0 = top-1)",
        };
        return new RoutingTrace(manifest, ids, weights, seqIds, pos);
    }

    /// <summary>Per layer, the selection bias of <see cref="SyntheticTraceOptions.BiasCorrection"/>, or null when the gate has none.</summary>
    private static float[][]? SelectionBias(SyntheticTraceOptions options, float[] popularity)
    {
        if (!options.Gating.SelectionBias)
        {
            return null;
        }

        var experts = options.Experts;
        var result = new float[options.Layers][];
        for (var l = 0; l < options.Layers; l++)
        {
            var scores = new double[experts];
            for (var e = 0; e < experts; e++)
            {
                scores[e] = 1 / (1 + Math.Exp(options.LogitShift - popularity[(l * experts) + e]));
            }

            var mean = scores.Average();
            result[l] = scores.Select(v => (float)(-options.BiasCorrection * (v - mean))).ToArray();
        }

        return result;
    }

    private static int[] SequenceLengths(Random rng, int tokens, int sequences)
    {
        var raw = new double[sequences];
        for (var i = 0; i < sequences; i++)
        {
            raw[i] = Math.Exp(0.6 * Gaussian(rng));
        }

        var total = raw.Sum();
        var lengths = raw.Select(r => Math.Max(1, (int)(r / total * tokens))).ToArray();
        var diff = tokens - lengths.Sum();
        for (var i = 0; diff != 0; i = (i + 1) % sequences)
        {
            if (diff > 0)
            {
                lengths[i]++;
                diff--;
            }
            else if (lengths[i] > 1)
            {
                lengths[i]--;
                diff++;
            }
        }

        return lengths;
    }

    private static double Gaussian(Random rng)
    {
        // Box–Muller; 1 - NextDouble() avoids log(0).
        var u1 = 1.0 - rng.NextDouble();
        var u2 = rng.NextDouble();
        return Math.Sqrt(-2.0 * Math.Log(u1)) * Math.Cos(2.0 * Math.PI * u2);
    }
}
