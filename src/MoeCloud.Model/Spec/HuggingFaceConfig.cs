using System.Text.Json;

namespace MoeCloud.Model.Spec;

/// <summary>
/// Reads a <see cref="ModelSpec"/> from the Hugging Face <c>config.json</c> of Mixtral, Qwen2-MoE, Qwen3-MoE,
/// DeepSeek-V2, DeepSeek-V3 and OLMoE, with the semantics of the transformers modelling code of each family.
/// Unknown model types, missing or mistyped keys and contradictory values throw <see cref="ModelConfigException"/>.
/// </summary>
internal static class HuggingFaceConfig
{
    public static ModelSpec ReadFile(string path)
    {
        if (!File.Exists(path))
        {
            throw new ModelConfigException(path, "does not exist");
        }

        return Parse(File.ReadAllText(path), path);
    }

    public static ModelSpec Parse(string json, string source)
    {
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(json);
        }
        catch (JsonException e)
        {
            throw new ModelConfigException(source, $"is not valid JSON ({e.Message})", e);
        }

        using (doc)
        {
            if (doc.RootElement.ValueKind != JsonValueKind.Object)
            {
                throw new ModelConfigException(source, "must hold a JSON object");
            }

            var c = new ConfigReader(doc.RootElement, source);
            var modelType = c.String("model_type");
            if (!ModelFamilies.TryParse(modelType, out var family))
            {
                throw new ModelConfigException(source, $"model_type '{modelType}' is not supported (supported: {string.Join(", ", ModelFamilies.ModelTypes)})");
            }

            var spec = family switch
            {
                ModelFamily.Mixtral => Mixtral(c),
                ModelFamily.Qwen2Moe or ModelFamily.Qwen3Moe => Qwen(c, family),
                ModelFamily.DeepseekV2 or ModelFamily.DeepseekV3 => DeepSeek(c, family),
                _ => Olmoe(c),
            };
            var problems = spec.Problems();
            if (problems.Count > 0)
            {
                throw new ModelConfigException(source, $"contradictory {modelType} config: {string.Join("; ", problems)}");
            }

            return spec;
        }
    }

    private static ModelSpec Mixtral(ConfigReader c)
    {
        var layers = c.Int("num_hidden_layers");
        return Common(c, ModelFamily.Mixtral, layers) with
        {
            MoeLayerIndices = ModelSpec.ContiguousMoeLayers(0, layers),
            Experts = c.Int("num_local_experts"),
            ExpertIntermediate = c.Int("intermediate_size"),
            Gating = new GatingSpec { Scoring = GateScoring.Softmax, NormalizeTopK = true },
        };
    }

    private static ModelSpec Qwen(ConfigReader c, ModelFamily family)
    {
        var layers = c.Int("num_hidden_layers");
        var step = c.Int("decoder_sparse_step", 1);
        if (step < 1)
        {
            c.Fail($"decoder_sparse_step must be at least 1, got {step}");
        }

        var mlpOnly = c.IntArray("mlp_only_layers");
        foreach (var l in mlpOnly.Where(l => l < 0 || l >= layers))
        {
            c.Fail($"mlp_only_layers names layer {l}, outside [0, {layers})");
        }

        var moe = Enumerable.Range(0, layers).Where(l => !mlpOnly.Contains(l) && (l + 1) % step == 0).ToArray();
        var shared = family == ModelFamily.Qwen2Moe ? c.Int("shared_expert_intermediate_size", 0) : 0;
        return Common(c, family, layers) with
        {
            MoeLayerIndices = moe,
            Experts = c.Int("num_experts"),
            ExpertIntermediate = c.Int("moe_intermediate_size"),
            SharedExperts = shared > 0 ? 1 : 0,
            SharedIntermediate = shared,
            SharedExpertGate = shared > 0,
            Gating = new GatingSpec { Scoring = GateScoring.Softmax, NormalizeTopK = c.Bool("norm_topk_prob", family == ModelFamily.Qwen3Moe) },
        };
    }

    private static ModelSpec DeepSeek(ConfigReader c, ModelFamily family)
    {
        var layers = c.Int("num_hidden_layers");
        var firstDense = c.Int("first_k_dense_replace", 0);
        var freq = c.Int("moe_layer_freq", 1);
        if (firstDense < 0 || freq < 1)
        {
            c.Fail($"first_k_dense_replace ({firstDense}) must be >= 0 and moe_layer_freq ({freq}) >= 1");
        }

        var v3 = family == ModelFamily.DeepseekV3;
        var scoring = c.String("scoring_func", v3 ? "sigmoid" : "softmax");
        var method = c.String("topk_method", v3 ? "noaux_tc" : "greedy");
        var normalize = c.Bool("norm_topk_prob", false);
        var scale = c.Double("routed_scaling_factor", 1.0);
        var groups = c.Int("n_group", 1);
        var keep = c.Int("topk_group", 1);
        var (expectedScoring, selection) = (v3, method) switch
        {
            (false, "greedy") => ("softmax", GroupSelection.None),
            (false, "group_limited_greedy") => ("softmax", GroupSelection.MaxScore),
            (true, "noaux_tc") => ("sigmoid", GroupSelection.TopTwoSum),
            _ => throw c.Error($"topk_method '{method}' is not supported for {family.ModelType()} (supported: {(v3 ? "noaux_tc" : "greedy, group_limited_greedy")})"),
        };
        if (scoring != expectedScoring)
        {
            c.Fail($"scoring_func '{scoring}' contradicts topk_method '{method}', which needs '{expectedScoring}'");
        }

        if (selection == GroupSelection.None && groups != 1 && c.Has("n_group") && keep < groups)
        {
            c.Fail($"n_group {groups} with topk_group {keep} limits groups, but topk_method 'greedy' ignores groups; use 'group_limited_greedy'");
        }

        var shared = c.Int("n_shared_experts", 0);
        var expertInter = c.Int("moe_intermediate_size");
        var gating = new GatingSpec
        {
            Scoring = v3 ? GateScoring.Sigmoid : GateScoring.Softmax,
            NormalizeTopK = normalize,
            // DeepSeek-V2's modelling code scales only the weights it does not renormalise; V3 scales after renormalising.
            RoutedScalingFactor = !v3 && normalize ? 1.0 : scale,
            SelectionBias = v3,
            GroupSelection = selection,
            Groups = selection == GroupSelection.None ? 1 : groups,
            TopKGroups = selection == GroupSelection.None ? 1 : keep,
        };
        return Common(c, family, layers) with
        {
            MoeLayerIndices = Enumerable.Range(0, layers).Where(l => l >= firstDense && l % freq == 0).ToArray(),
            Experts = c.Int("n_routed_experts"),
            ExpertIntermediate = expertInter,
            SharedExperts = shared,
            SharedIntermediate = shared * expertInter,
            Gating = gating,
        };
    }

    private static ModelSpec Olmoe(ConfigReader c)
    {
        var layers = c.Int("num_hidden_layers");
        return Common(c, ModelFamily.Olmoe, layers) with
        {
            MoeLayerIndices = ModelSpec.ContiguousMoeLayers(0, layers),
            Experts = c.Int("num_experts"),
            ExpertIntermediate = c.Int("intermediate_size"),
            Gating = new GatingSpec { Scoring = GateScoring.Softmax, NormalizeTopK = c.Bool("norm_topk_prob", false) },
        };
    }

    private static ModelSpec Common(ConfigReader c, ModelFamily family, int layers)
    {
        var dtypeName = c.Has("torch_dtype") ? c.String("torch_dtype") : c.String("dtype", "float32");
        if (!WeightDTypes.TryParse(dtypeName, out var dtype))
        {
            c.Fail($"torch_dtype '{dtypeName}' is not supported (float32, bfloat16, float16)");
        }

        return new ModelSpec
        {
            Family = family,
            Layers = layers,
            MoeLayerIndices = [],
            Experts = 0,
            TopK = c.Int("num_experts_per_tok"),
            Hidden = c.Int("hidden_size"),
            ExpertIntermediate = 0,
            DType = dtype,
            RmsNormEps = c.Double("rms_norm_eps", 1e-6),
        };
    }
}
