using System.Text.Json;
using System.Text.Json.Nodes;

namespace MoeCloud.Model.Spec;

/// <summary>Writes a <see cref="ModelSpec"/> as the Hugging Face <c>config.json</c> of its family (the inverse of reading).</summary>
public static class HuggingFaceConfigWriter
{
    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true };

    /// <summary>The <c>config.json</c> text; throws <see cref="ArgumentException"/> when the family cannot express the spec.</summary>
    public static string ToJson(ModelSpec spec)
    {
        ArgumentNullException.ThrowIfNull(spec);
        spec.Validate();
        var layers = spec.MoeLayerIndices;
        var o = new JsonObject
        {
            ["model_type"] = spec.Family.ModelType(),
            ["architectures"] = new JsonArray(Architecture(spec.Family)),
            ["hidden_size"] = spec.Hidden,
            ["num_hidden_layers"] = spec.Layers,
            ["num_experts_per_tok"] = spec.TopK,
            ["rms_norm_eps"] = spec.RmsNormEps,
            ["torch_dtype"] = spec.DType.TorchName(),
        };
        switch (spec.Family)
        {
            case ModelFamily.Mixtral or ModelFamily.Olmoe:
                Require(layers.Count == spec.Layers, spec, "every layer must be a MoE layer");
                Require(spec.SharedExperts == 0, spec, "the family has no shared experts");
                Require(spec.Gating.Scoring == GateScoring.Softmax && spec.Gating.GroupSelection == GroupSelection.None && !spec.Gating.SelectionBias && spec.Gating.RoutedScalingFactor == 1.0, spec, "the family gates with plain softmax top-k");
                Require(spec.Family == ModelFamily.Olmoe || spec.Gating.NormalizeTopK, spec, "Mixtral always renormalises the top-k");
                o[spec.Family == ModelFamily.Mixtral ? "num_local_experts" : "num_experts"] = spec.Experts;
                o["intermediate_size"] = spec.ExpertIntermediate;
                if (spec.Family == ModelFamily.Olmoe)
                {
                    o["norm_topk_prob"] = spec.Gating.NormalizeTopK;
                }

                break;
            case ModelFamily.Qwen2Moe or ModelFamily.Qwen3Moe:
                Require(spec.Gating.Scoring == GateScoring.Softmax && spec.Gating.GroupSelection == GroupSelection.None && !spec.Gating.SelectionBias && spec.Gating.RoutedScalingFactor == 1.0, spec, "the family gates with plain softmax top-k");
                Require(spec.Family == ModelFamily.Qwen2Moe ? spec.SharedExperts <= 1 && spec.SharedExpertGate == (spec.SharedExperts == 1) : spec.SharedExperts == 0, spec, "Qwen2-MoE has at most one gated shared expert, Qwen3-MoE none");
                o["num_experts"] = spec.Experts;
                o["moe_intermediate_size"] = spec.ExpertIntermediate;
                o["intermediate_size"] = spec.ExpertIntermediate * Math.Max(1, spec.TopK);
                o["decoder_sparse_step"] = 1;
                o["mlp_only_layers"] = new JsonArray(Enumerable.Range(0, spec.Layers).Except(layers).Select(l => (JsonNode)l).ToArray());
                o["norm_topk_prob"] = spec.Gating.NormalizeTopK;
                if (spec.Family == ModelFamily.Qwen2Moe)
                {
                    o["shared_expert_intermediate_size"] = spec.SharedIntermediate;
                }

                break;
            default:
                var v3 = spec.Family == ModelFamily.DeepseekV3;
                var first = layers[0];
                Require(layers.SequenceEqual(ModelSpec.ContiguousMoeLayers(first, spec.Layers)), spec, "MoE layers must run from the first MoE layer to the last layer");
                Require(spec.SharedExperts == 0 || spec.SharedIntermediate == spec.SharedExperts * spec.ExpertIntermediate, spec, "shared intermediate must be shared experts × expert intermediate");
                Require(v3 ? spec.Gating is { Scoring: GateScoring.Sigmoid, SelectionBias: true, GroupSelection: GroupSelection.TopTwoSum } : spec.Gating is { Scoring: GateScoring.Softmax, SelectionBias: false, GroupSelection: GroupSelection.None or GroupSelection.MaxScore }, spec, "gating does not match the family");
                Require(v3 || !spec.Gating.NormalizeTopK || spec.Gating.RoutedScalingFactor == 1.0, spec, "DeepSeek-V2 does not scale renormalised weights");
                o["n_routed_experts"] = spec.Experts;
                o["n_shared_experts"] = spec.SharedExperts;
                o["moe_intermediate_size"] = spec.ExpertIntermediate;
                o["intermediate_size"] = spec.ExpertIntermediate * 8;
                o["first_k_dense_replace"] = first;
                o["moe_layer_freq"] = 1;
                o["scoring_func"] = v3 ? "sigmoid" : "softmax";
                o["topk_method"] = v3 ? "noaux_tc" : spec.Gating.GroupSelection == GroupSelection.MaxScore ? "group_limited_greedy" : "greedy";
                o["n_group"] = spec.Gating.Groups;
                o["topk_group"] = spec.Gating.TopKGroups;
                o["norm_topk_prob"] = spec.Gating.NormalizeTopK;
                o["routed_scaling_factor"] = spec.Gating.RoutedScalingFactor;
                break;
        }

        return o.ToJsonString(Indented);
    }

    private static string Architecture(ModelFamily family) => family switch
    {
        ModelFamily.Mixtral => "MixtralForCausalLM",
        ModelFamily.Qwen2Moe => "Qwen2MoeForCausalLM",
        ModelFamily.Qwen3Moe => "Qwen3MoeForCausalLM",
        ModelFamily.DeepseekV2 => "DeepseekV2ForCausalLM",
        ModelFamily.DeepseekV3 => "DeepseekV3ForCausalLM",
        _ => "OlmoeForCausalLM",
    };

    private static void Require(bool condition, ModelSpec spec, string problem)
    {
        if (!condition)
        {
            throw new ArgumentException($"A {spec.Family.ModelType()} config.json cannot express this spec: {problem}.", nameof(spec));
        }
    }
}
