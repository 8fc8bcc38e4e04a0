using MoeCloud.Model.Spec;

namespace MoeCloud.Model.Synthetic;

/// <summary>Shapes of synthetic models: <c>tiny</c> (tests), <c>small</c> (demos), <c>deepseek-v2-lite</c> (the real shapes).</summary>
public static class SyntheticModelPresets
{
    /// <summary>Preset names.</summary>
    public static IReadOnlyList<string> Names { get; } = ["tiny", "small", "deepseek-v2-lite"];

    /// <summary>
    /// The spec and vocabulary size of preset <paramref name="name"/>, in the naming and gating of
    /// <paramref name="family"/> (default DeepSeek-V2) and in <paramref name="dtype"/> (default: the preset's).
    /// </summary>
    public static (ModelSpec Spec, int Vocabulary) Get(string name, ModelFamily? family = null, WeightDType? dtype = null)
    {
        var (spec, vocab) = name switch
        {
            "tiny" => (DeepSeekV2(layers: 4, experts: 8, topK: 2, shared: 1, hidden: 64, intermediate: 32, WeightDType.F32), 128),
            "small" => (DeepSeekV2(layers: 9, experts: 64, topK: 6, shared: 2, hidden: 128, intermediate: 64, WeightDType.BF16), 1024),
            "deepseek-v2-lite" => (DeepSeekV2(layers: 27, experts: 64, topK: 6, shared: 2, hidden: 2048, intermediate: 1408, WeightDType.BF16), 102400),
            _ => throw new ArgumentException($"Unknown preset '{name}' (known: {string.Join(", ", Names)}).", nameof(name)),
        };
        spec = Adapt(spec, family ?? ModelFamily.DeepseekV2);
        return (dtype is { } d ? spec with { DType = d } : spec, vocab);
    }

    /// <summary>The same sizes in <paramref name="family"/>'s layout and gating.</summary>
    public static ModelSpec Adapt(ModelSpec spec, ModelFamily family)
    {
        ArgumentNullException.ThrowIfNull(spec);
        var all = ModelSpec.ContiguousMoeLayers(0, spec.Layers);
        var noShared = spec with { Family = family, MoeLayerIndices = all, SharedExperts = 0, SharedIntermediate = 0, SharedExpertGate = false };
        return family switch
        {
            ModelFamily.Mixtral => noShared with { Gating = new GatingSpec { NormalizeTopK = true } },
            ModelFamily.Olmoe => noShared with { Gating = new GatingSpec { NormalizeTopK = false } },
            ModelFamily.Qwen3Moe => noShared with { Gating = new GatingSpec { NormalizeTopK = true } },
            ModelFamily.Qwen2Moe => noShared with { SharedExperts = 1, SharedIntermediate = spec.ExpertIntermediate * 4, SharedExpertGate = true, Gating = new GatingSpec() },
            ModelFamily.DeepseekV2 => spec with { Family = family },
            _ => spec with
            {
                Family = family,
                Gating = new GatingSpec
                {
                    Scoring = GateScoring.Sigmoid,
                    SelectionBias = true,
                    NormalizeTopK = true,
                    RoutedScalingFactor = 2.5,
                    GroupSelection = GroupSelection.TopTwoSum,
                    Groups = spec.Experts >= 16 ? 8 : 4,
                    TopKGroups = spec.Experts >= 16 ? 4 : 2,
                },
            },
        };
    }

    private static ModelSpec DeepSeekV2(int layers, int experts, int topK, int shared, int hidden, int intermediate, WeightDType dtype) => new()
    {
        Family = ModelFamily.DeepseekV2,
        Layers = layers,
        MoeLayerIndices = ModelSpec.ContiguousMoeLayers(1, layers),
        Experts = experts,
        TopK = topK,
        Hidden = hidden,
        ExpertIntermediate = intermediate,
        SharedExperts = shared,
        SharedIntermediate = shared * intermediate,
        DType = dtype,
        Gating = new GatingSpec(),
        RmsNormEps = 1e-6,
    };
}
