using MoeCloud.Model.Spec;

namespace MoeCloud.Model.Weights;

/// <summary>The three projections of a SwiGLU expert: <c>down(silu(gate(x)) * up(x))</c>.</summary>
public enum ExpertProjection
{
    /// <summary>Gate projection [intermediate, hidden] (Mixtral <c>w1</c>).</summary>
    Gate,

    /// <summary>Up projection [intermediate, hidden] (Mixtral <c>w3</c>).</summary>
    Up,

    /// <summary>Down projection [hidden, intermediate] (Mixtral <c>w2</c>).</summary>
    Down,
}

/// <summary>
/// Hugging Face tensor names of each family. <c>layer</c> is the <b>model</b> layer index (see
/// <see cref="ModelSpec.ModelLayerOf"/>). Linear weights are <c>[out, in]</c>.
/// </summary>
public static class TensorNaming
{
    /// <summary>A routed expert's projection.</summary>
    public static string Expert(ModelFamily family, int layer, int expert, ExpertProjection projection) => family == ModelFamily.Mixtral
        ? $"model.layers.{layer}.block_sparse_moe.experts.{expert}.{projection switch { ExpertProjection.Gate => "w1", ExpertProjection.Up => "w3", _ => "w2" }}.weight"
        : $"model.layers.{layer}.mlp.experts.{expert}.{Proj(projection)}.weight";

    /// <summary>The router matrix [experts, hidden].</summary>
    public static string Router(ModelFamily family, int layer) =>
        family == ModelFamily.Mixtral ? $"model.layers.{layer}.block_sparse_moe.gate.weight" : $"model.layers.{layer}.mlp.gate.weight";

    /// <summary>The router's selection bias [experts] (DeepSeek-V3 only).</summary>
    public static string RouterBias(ModelFamily family, int layer) => family == ModelFamily.DeepseekV3
        ? $"model.layers.{layer}.mlp.gate.e_score_correction_bias"
        : throw new ArgumentException($"{family.ModelType()} has no router selection bias.", nameof(family));

    /// <summary>The fused shared MLP's projection (DeepSeek <c>shared_experts</c>, Qwen2-MoE <c>shared_expert</c>).</summary>
    public static string Shared(ModelFamily family, int layer, ExpertProjection projection) => family switch
    {
        ModelFamily.DeepseekV2 or ModelFamily.DeepseekV3 => $"model.layers.{layer}.mlp.shared_experts.{Proj(projection)}.weight",
        ModelFamily.Qwen2Moe => $"model.layers.{layer}.mlp.shared_expert.{Proj(projection)}.weight",
        _ => throw new ArgumentException($"{family.ModelType()} has no shared experts.", nameof(family)),
    };

    /// <summary>Qwen2-MoE's shared-expert gate [1, hidden].</summary>
    public static string SharedGate(ModelFamily family, int layer) => family == ModelFamily.Qwen2Moe
        ? $"model.layers.{layer}.mlp.shared_expert_gate.weight"
        : throw new ArgumentException($"{family.ModelType()} has no shared-expert gate.", nameof(family));

    /// <summary>The RMSNorm weight [hidden] applied before the layer's MoE block.</summary>
    public static string Norm(int layer) => $"model.layers.{layer}.post_attention_layernorm.weight";

    private static string Proj(ExpertProjection projection) => projection switch
    {
        ExpertProjection.Gate => "gate_proj",
        ExpertProjection.Up => "up_proj",
        _ => "down_proj",
    };
}
