namespace MoeCloud.Model.Spec;

/// <summary>A model family: its Hugging Face <c>model_type</c>, <c>config.json</c> keys and tensor naming.</summary>
public enum ModelFamily
{
    /// <summary>Mixtral (<c>mixtral</c>): softmax top-k renormalised, experts <c>w1</c>/<c>w3</c>/<c>w2</c>.</summary>
    Mixtral,

    /// <summary>Qwen2-MoE (<c>qwen2_moe</c>): softmax top-k, one shared expert behind a sigmoid gate.</summary>
    Qwen2Moe,

    /// <summary>Qwen3-MoE (<c>qwen3_moe</c>): softmax top-k, usually renormalised, no shared expert.</summary>
    Qwen3Moe,

    /// <summary>DeepSeek-V2 and V2-Lite (<c>deepseek_v2</c>): softmax top-k, optional group-limited greedy, shared experts.</summary>
    DeepseekV2,

    /// <summary>DeepSeek-V3 (<c>deepseek_v3</c>): sigmoid top-k with a selection bias, group-limited, shared experts.</summary>
    DeepseekV3,

    /// <summary>OLMoE (<c>olmoe</c>): softmax top-k, no shared expert.</summary>
    Olmoe,
}

/// <summary>The Hugging Face <c>model_type</c> of each family.</summary>
public static class ModelFamilies
{
    private static readonly (ModelFamily Family, string ModelType)[] Types =
    [
        (ModelFamily.Mixtral, "mixtral"),
        (ModelFamily.Qwen2Moe, "qwen2_moe"),
        (ModelFamily.Qwen3Moe, "qwen3_moe"),
        (ModelFamily.DeepseekV2, "deepseek_v2"),
        (ModelFamily.DeepseekV3, "deepseek_v3"),
        (ModelFamily.Olmoe, "olmoe"),
    ];

    /// <summary>Every supported <c>model_type</c>, in declaration order.</summary>
    public static IReadOnlyList<string> ModelTypes { get; } = Types.Select(t => t.ModelType).ToArray();

    /// <summary>The <c>model_type</c> of <paramref name="family"/>.</summary>
    public static string ModelType(this ModelFamily family) => Types.First(t => t.Family == family).ModelType;

    /// <summary>The family whose <c>model_type</c> is <paramref name="modelType"/>, if supported.</summary>
    public static bool TryParse(string modelType, out ModelFamily family)
    {
        foreach (var (f, type) in Types)
        {
            if (string.Equals(type, modelType, StringComparison.Ordinal))
            {
                family = f;
                return true;
            }
        }

        family = default;
        return false;
    }
}
