namespace MoeCloud.Model.Spec;

/// <summary>
/// The shape of a MoE model as the data plane needs it. Layer indices in every MoeCloud API are <b>MoE-layer indices</b>
/// (0-based over the MoE layers only, as in routing traces); <see cref="ModelLayerOf"/> maps one to the model's layer
/// index, which tensor names use. Create one with an object initializer and call <see cref="Validate"/>, or read
/// one with <see cref="FromHuggingFaceConfig(string)"/> (already validated).
/// </summary>
public sealed record ModelSpec
{
    /// <summary>Family (tensor naming and <c>config.json</c> keys).</summary>
    public required ModelFamily Family { get; init; }

    /// <summary>All decoder layers of the model (dense and MoE).</summary>
    public required int Layers { get; init; }

    /// <summary>Model-layer index of every MoE layer, strictly increasing.</summary>
    public required IReadOnlyList<int> MoeLayerIndices { get; init; }

    /// <summary>Routed experts per MoE layer.</summary>
    public required int Experts { get; init; }

    /// <summary>Experts per token.</summary>
    public required int TopK { get; init; }

    /// <summary>Hidden size d.</summary>
    public required int Hidden { get; init; }

    /// <summary>Intermediate size of one routed expert.</summary>
    public required int ExpertIntermediate { get; init; }

    /// <summary>Shared experts per MoE layer (0 for none). They run fused as one MLP of <see cref="SharedIntermediate"/>.</summary>
    public int SharedExperts { get; init; }

    /// <summary>Intermediate size of the fused shared MLP (DeepSeek: shared experts × expert intermediate); 0 without shared experts.</summary>
    public int SharedIntermediate { get; init; }

    /// <summary>Whether the shared MLP's output is scaled by sigmoid(<c>shared_expert_gate</c> · x) (Qwen2-MoE).</summary>
    public bool SharedExpertGate { get; init; }

    /// <summary>Weight dtype of the checkpoint.</summary>
    public WeightDType DType { get; init; } = WeightDType.BF16;

    /// <summary>The gating function.</summary>
    public GatingSpec Gating { get; init; } = new();

    /// <summary>RMSNorm epsilon.</summary>
    public double RmsNormEps { get; init; } = 1e-6;

    /// <summary>Number of MoE layers.</summary>
    public int MoeLayers => MoeLayerIndices.Count;

    /// <summary>Model-layer index of the first MoE layer.</summary>
    public int FirstMoeLayer => MoeLayerIndices.Count > 0 ? MoeLayerIndices[0] : -1;

    /// <summary>The model-layer index of MoE layer <paramref name="moeLayer"/>.</summary>
    public int ModelLayerOf(int moeLayer)
    {
        if ((uint)moeLayer >= (uint)MoeLayerIndices.Count)
        {
            throw new ArgumentOutOfRangeException(nameof(moeLayer), moeLayer, $"MoE layer must be in [0, {MoeLayerIndices.Count}).");
        }

        return MoeLayerIndices[moeLayer];
    }

    /// <summary>MoE layers at every model layer from <paramref name="first"/> to <paramref name="layers"/> − 1.</summary>
    public static int[] ContiguousMoeLayers(int first, int layers) => Enumerable.Range(first, Math.Max(0, layers - first)).ToArray();

    /// <summary>Reads and validates a Hugging Face <c>config.json</c> file.</summary>
    public static ModelSpec FromHuggingFaceConfig(string path) => HuggingFaceConfig.ReadFile(path);

    /// <summary>Parses and validates the text of a Hugging Face <c>config.json</c>; <paramref name="source"/> names it in errors.</summary>
    public static ModelSpec FromHuggingFaceConfigJson(string json, string source = "config.json") => HuggingFaceConfig.Parse(json, source);

    /// <summary>Every problem with this spec (empty when valid).</summary>
    public IReadOnlyList<string> Problems()
    {
        var problems = new List<string>();
        void Positive(int value, string name)
        {
            if (value <= 0)
            {
                problems.Add($"{name} must be positive, got {value}");
            }
        }

        Positive(Layers, "layers");
        Positive(Experts, "experts");
        Positive(TopK, "top-k");
        Positive(Hidden, "hidden size");
        Positive(ExpertIntermediate, "expert intermediate size");
        if (TopK > Experts && Experts > 0)
        {
            problems.Add($"top-k {TopK} exceeds the {Experts} routed experts");
        }

        if (MoeLayerIndices is null || MoeLayerIndices.Count == 0)
        {
            problems.Add("the model has no MoE layer");
        }
        else
        {
            for (var i = 0; i < MoeLayerIndices.Count; i++)
            {
                var layer = MoeLayerIndices[i];
                if (layer < 0 || layer >= Layers || (i > 0 && layer <= MoeLayerIndices[i - 1]))
                {
                    problems.Add($"MoE layer indices must be increasing within [0, {Layers}); got {string.Join(", ", MoeLayerIndices)}");
                    break;
                }
            }
        }

        if (SharedExperts < 0 || SharedIntermediate < 0)
        {
            problems.Add($"shared experts ({SharedExperts}) and their intermediate size ({SharedIntermediate}) cannot be negative");
        }
        else if ((SharedExperts == 0) != (SharedIntermediate == 0))
        {
            problems.Add($"shared experts ({SharedExperts}) and shared intermediate size ({SharedIntermediate}) must both be zero or both positive");
        }

        if (SharedExpertGate && SharedExperts == 0)
        {
            problems.Add("a shared-expert gate needs a shared expert");
        }

        if (!double.IsFinite(RmsNormEps) || RmsNormEps <= 0)
        {
            problems.Add($"RMSNorm epsilon must be a positive finite number, got {RmsNormEps}");
        }

        if (Gating is null)
        {
            problems.Add("gating is missing");
        }
        else
        {
            problems.AddRange(Gating.Problems(Experts, TopK));
        }

        return problems;
    }

    /// <summary>Throws <see cref="ArgumentException"/> listing every problem; returns this spec when valid.</summary>
    public ModelSpec Validate()
    {
        var problems = Problems();
        if (problems.Count > 0)
        {
            throw new ArgumentException($"Invalid model spec: {string.Join("; ", problems)}.");
        }

        return this;
    }

    /// <summary>Bytes of one routed expert's three projections in <paramref name="dtype"/>.</summary>
    public long ExpertBytes(WeightDType dtype) => ExpertBytes(Hidden, ExpertIntermediate, dtype);

    /// <summary>
    /// Bytes of one routed SwiGLU expert of width <paramref name="hidden"/> and intermediate size
    /// <paramref name="expertIntermediate"/> in <paramref name="dtype"/>: 3 × hidden × intermediate parameters
    /// (gate, up and down projections) of <see cref="WeightDTypes.SizeOf"/> bytes each.
    /// </summary>
    public static long ExpertBytes(int hidden, int expertIntermediate, WeightDType dtype) => 3L * hidden * expertIntermediate * dtype.SizeOf();

    /// <inheritdoc />
    public bool Equals(ModelSpec? other) =>
        other is not null && Family == other.Family && Layers == other.Layers && MoeLayerIndices.SequenceEqual(other.MoeLayerIndices)
        && Experts == other.Experts && TopK == other.TopK && Hidden == other.Hidden && ExpertIntermediate == other.ExpertIntermediate
        && SharedExperts == other.SharedExperts && SharedIntermediate == other.SharedIntermediate && SharedExpertGate == other.SharedExpertGate
        && DType == other.DType && Gating == other.Gating && RmsNormEps.Equals(other.RmsNormEps);

    /// <inheritdoc />
    public override int GetHashCode() => HashCode.Combine(Family, Layers, MoeLayerIndices.Count, Experts, TopK, Hidden, ExpertIntermediate, Gating);
}
