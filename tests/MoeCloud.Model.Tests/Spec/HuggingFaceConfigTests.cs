using MoeCloud.Model.Spec;

namespace MoeCloud.Model.Tests.Spec;

public sealed class HuggingFaceConfigTests
{
    // Key subsets of the published config.json files (values as released).
    internal const string Mixtral8x7B = """
        {"architectures": ["MixtralForCausalLM"], "model_type": "mixtral", "hidden_size": 4096, "intermediate_size": 14336,
         "num_hidden_layers": 32, "num_local_experts": 8, "num_experts_per_tok": 2, "rms_norm_eps": 1e-05, "torch_dtype": "bfloat16",
         "vocab_size": 32000, "router_aux_loss_coef": 0.02}
        """;

    internal const string Qwen15MoeA27B = """
        {"model_type": "qwen2_moe", "hidden_size": 2048, "intermediate_size": 5632, "moe_intermediate_size": 1408,
         "shared_expert_intermediate_size": 5632, "num_experts": 60, "num_experts_per_tok": 4, "norm_topk_prob": false,
         "decoder_sparse_step": 1, "mlp_only_layers": [], "num_hidden_layers": 24, "rms_norm_eps": 1e-06, "torch_dtype": "bfloat16"}
        """;

    internal const string Qwen3Moe30B = """
        {"model_type": "qwen3_moe", "hidden_size": 2048, "intermediate_size": 6144, "moe_intermediate_size": 768,
         "num_experts": 128, "num_experts_per_tok": 8, "norm_topk_prob": true, "decoder_sparse_step": 1, "mlp_only_layers": [],
         "num_hidden_layers": 48, "rms_norm_eps": 1e-06, "torch_dtype": "bfloat16"}
        """;

    internal const string DeepSeekV2Lite = """
        {"model_type": "deepseek_v2", "hidden_size": 2048, "intermediate_size": 10944, "moe_intermediate_size": 1408,
         "n_routed_experts": 64, "n_shared_experts": 2, "num_experts_per_tok": 6, "first_k_dense_replace": 1, "moe_layer_freq": 1,
         "norm_topk_prob": false, "routed_scaling_factor": 1.0, "scoring_func": "softmax", "topk_method": "greedy",
         "n_group": 1, "topk_group": 1, "num_hidden_layers": 27, "rms_norm_eps": 1e-06, "torch_dtype": "bfloat16"}
        """;

    internal const string DeepSeekV2 = """
        {"model_type": "deepseek_v2", "hidden_size": 5120, "moe_intermediate_size": 1536, "n_routed_experts": 160,
         "n_shared_experts": 2, "num_experts_per_tok": 6, "first_k_dense_replace": 1, "moe_layer_freq": 1, "norm_topk_prob": false,
         "routed_scaling_factor": 16.0, "scoring_func": "softmax", "topk_method": "group_limited_greedy", "n_group": 8,
         "topk_group": 3, "num_hidden_layers": 60, "torch_dtype": "bfloat16"}
        """;

    internal const string DeepSeekV3 = """
        {"model_type": "deepseek_v3", "hidden_size": 7168, "intermediate_size": 18432, "moe_intermediate_size": 2048,
         "n_routed_experts": 256, "n_shared_experts": 1, "num_experts_per_tok": 8, "first_k_dense_replace": 3, "moe_layer_freq": 1,
         "norm_topk_prob": true, "routed_scaling_factor": 2.5, "scoring_func": "sigmoid", "topk_method": "noaux_tc",
         "n_group": 8, "topk_group": 4, "num_hidden_layers": 61, "rms_norm_eps": 1e-06, "torch_dtype": "bfloat16"}
        """;

    internal const string Olmoe = """
        {"model_type": "olmoe", "hidden_size": 2048, "intermediate_size": 1024, "num_experts": 64, "num_experts_per_tok": 8,
         "norm_topk_prob": false, "num_hidden_layers": 16, "rms_norm_eps": 1e-05, "torch_dtype": "float32"}
        """;

    [Fact]
    public void Parse_WhenMixtral_ReadsEveryLayerAsMoeWithRenormalisedSoftmax()
    {
        var spec = ModelSpec.FromHuggingFaceConfigJson(Mixtral8x7B);

        Assert.Equal(ModelFamily.Mixtral, spec.Family);
        Assert.Equal(32, spec.MoeLayers);
        Assert.Equal(0, spec.FirstMoeLayer);
        Assert.Equal((8, 2, 4096, 14336), (spec.Experts, spec.TopK, spec.Hidden, spec.ExpertIntermediate));
        Assert.Equal(0, spec.SharedExperts);
        Assert.Equal(WeightDType.BF16, spec.DType);
        Assert.Equal("softmax-topk", spec.Gating.Name);
        Assert.True(spec.Gating.NormalizeTopK);
        Assert.Equal(1e-5, spec.RmsNormEps);
    }

    [Fact]
    public void Parse_WhenQwen2Moe_ReadsTheGatedSharedExpert()
    {
        var spec = ModelSpec.FromHuggingFaceConfigJson(Qwen15MoeA27B);

        Assert.Equal(ModelFamily.Qwen2Moe, spec.Family);
        Assert.Equal((60, 4, 1408), (spec.Experts, spec.TopK, spec.ExpertIntermediate));
        Assert.Equal((1, 5632), (spec.SharedExperts, spec.SharedIntermediate));
        Assert.True(spec.SharedExpertGate);
        Assert.False(spec.Gating.NormalizeTopK);
        Assert.Equal(24, spec.MoeLayers);
    }

    [Fact]
    public void Parse_WhenQwen3MoeWithMlpOnlyLayersAndSparseStep_SkipsThoseLayers()
    {
        var json = Qwen3Moe30B.Replace("\"decoder_sparse_step\": 1, \"mlp_only_layers\": []", "\"decoder_sparse_step\": 2, \"mlp_only_layers\": [1]", StringComparison.Ordinal);

        var spec = ModelSpec.FromHuggingFaceConfigJson(json);

        Assert.Equal(ModelFamily.Qwen3Moe, spec.Family);
        Assert.True(spec.Gating.NormalizeTopK);
        Assert.Equal(3, spec.MoeLayerIndices[0]);
        Assert.Equal(23, spec.MoeLayers);
        Assert.All(spec.MoeLayerIndices, l => Assert.Equal(1, l % 2));
    }

    [Fact]
    public void Parse_WhenDeepSeekV2Lite_ReadsSharedExpertsAndFirstDenseLayer()
    {
        var spec = ModelSpec.FromHuggingFaceConfigJson(DeepSeekV2Lite);

        Assert.Equal(ModelFamily.DeepseekV2, spec.Family);
        Assert.Equal(26, spec.MoeLayers);
        Assert.Equal(1, spec.FirstMoeLayer);
        Assert.Equal(1, spec.ModelLayerOf(0));
        Assert.Equal((64, 6, 2048, 1408), (spec.Experts, spec.TopK, spec.Hidden, spec.ExpertIntermediate));
        Assert.Equal((2, 2816), (spec.SharedExperts, spec.SharedIntermediate));
        Assert.Equal(GroupSelection.None, spec.Gating.GroupSelection);
        Assert.False(spec.Gating.NormalizeTopK);
    }

    [Fact]
    public void Parse_WhenDeepSeekV2GroupLimited_ReadsGroupsAndScalingFactor()
    {
        var spec = ModelSpec.FromHuggingFaceConfigJson(DeepSeekV2);

        Assert.Equal(GroupSelection.MaxScore, spec.Gating.GroupSelection);
        Assert.Equal((8, 3), (spec.Gating.Groups, spec.Gating.TopKGroups));
        Assert.Equal(16.0, spec.Gating.RoutedScalingFactor);
        Assert.Equal(WeightDType.BF16, spec.DType);
    }

    [Fact]
    public void Parse_WhenDeepSeekV3_ReadsSigmoidWithSelectionBiasAndGroups()
    {
        var spec = ModelSpec.FromHuggingFaceConfigJson(DeepSeekV3);

        Assert.Equal(ModelFamily.DeepseekV3, spec.Family);
        Assert.Equal("sigmoid-topk", spec.Gating.Name);
        Assert.True(spec.Gating.SelectionBias);
        Assert.True(spec.Gating.NormalizeTopK);
        Assert.Equal(2.5, spec.Gating.RoutedScalingFactor);
        Assert.Equal(GroupSelection.TopTwoSum, spec.Gating.GroupSelection);
        Assert.Equal((8, 4), (spec.Gating.Groups, spec.Gating.TopKGroups));
        Assert.Equal(58, spec.MoeLayers);
        Assert.Equal(3, spec.FirstMoeLayer);
    }

    [Fact]
    public void Parse_WhenOlmoe_ReadsPlainSoftmaxInFloat32()
    {
        var spec = ModelSpec.FromHuggingFaceConfigJson(Olmoe);

        Assert.Equal(ModelFamily.Olmoe, spec.Family);
        Assert.Equal((64, 8, 1024), (spec.Experts, spec.TopK, spec.ExpertIntermediate));
        Assert.Equal(WeightDType.F32, spec.DType);
        Assert.False(spec.Gating.NormalizeTopK);
    }

    [Theory]
    [InlineData("{\"model_type\": \"llama\", \"hidden_size\": 4096}", "model_type 'llama' is not supported")]
    [InlineData("{\"hidden_size\": 4096}", "required key 'model_type' is missing")]
    [InlineData("{\"model_type\": \"olmoe\", \"hidden_size\": 2048, \"num_experts\": 64, \"num_experts_per_tok\": 8, \"num_hidden_layers\": 16}", "required key 'intermediate_size' is missing")]
    [InlineData("{\"model_type\": \"olmoe\", \"num_hidden_layers\": 2, \"num_experts_per_tok\": 2, \"hidden_size\": \"2048\"}", "key 'hidden_size' must be a whole number")]
    [InlineData("{\"model_type\": ", "is not valid JSON")]
    [InlineData("[1, 2]", "must hold a JSON object")]
    public void Parse_WhenUnknownOrMalformed_FailsWithClearMessage(string json, string expected)
    {
        var e = Assert.Throws<ModelConfigException>(() => ModelSpec.FromHuggingFaceConfigJson(json, "models/x/config.json"));

        Assert.Contains(expected, e.Message, StringComparison.Ordinal);
        Assert.StartsWith("models/x/config.json: ", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(DeepSeekV2Lite, "\"num_experts_per_tok\": 6", "\"num_experts_per_tok\": 65", "top-k 65 exceeds the 64 routed experts")]
    [InlineData(DeepSeekV3, "\"n_group\": 8", "\"n_group\": 7", "256 experts do not split into 7 equal groups")]
    [InlineData(DeepSeekV3, "\"topk_group\": 4", "\"topk_group\": 9", "groups kept (9) must be in [1, 8]")]
    [InlineData(DeepSeekV3, "\"scoring_func\": \"sigmoid\"", "\"scoring_func\": \"softmax\"", "scoring_func 'softmax' contradicts topk_method 'noaux_tc'")]
    [InlineData(DeepSeekV2Lite, "\"topk_method\": \"greedy\"", "\"topk_method\": \"noaux_tc\"", "topk_method 'noaux_tc' is not supported for deepseek_v2")]
    [InlineData(DeepSeekV2Lite, "\"first_k_dense_replace\": 1", "\"first_k_dense_replace\": 27", "the model has no MoE layer")]
    [InlineData(DeepSeekV2, "\"num_experts_per_tok\": 6", "\"num_experts_per_tok\": 61", "top-k 61 exceeds the 60 experts in the 3 kept groups")]
    [InlineData(Qwen3Moe30B, "\"mlp_only_layers\": []", "\"mlp_only_layers\": [48]", "mlp_only_layers names layer 48")]
    [InlineData(Olmoe, "\"torch_dtype\": \"float32\"", "\"torch_dtype\": \"int8\"", "torch_dtype 'int8' is not supported")]
    [InlineData(Mixtral8x7B, "\"hidden_size\": 4096", "\"hidden_size\": 0", "hidden size must be positive")]
    [InlineData(Olmoe, "\"rms_norm_eps\": 1e-05", "\"rms_norm_eps\": -1", "RMSNorm epsilon must be a positive finite number")]
    public void Parse_WhenContradictory_FailsNamingTheConflict(string config, string from, string to, string expected)
    {
        var json = config.Replace(from, to, StringComparison.Ordinal);
        Assert.NotEqual(config, json);

        var e = Assert.Throws<ModelConfigException>(() => ModelSpec.FromHuggingFaceConfigJson(json));

        Assert.Contains(expected, e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("{\"hidden_size\": 4096}", "model_type")]
    [InlineData("{\"model_type\": \"olmoe\", \"hidden_size\": 2048, \"num_experts\": 64, \"num_experts_per_tok\": 8, \"num_hidden_layers\": 16}", "intermediate_size")]
    [InlineData("{\"model_type\": \"olmoe\", \"num_hidden_layers\": 2, \"num_experts_per_tok\": 2, \"hidden_size\": \"2048\"}", null)]
    [InlineData("{\"model_type\": ", null)]
    public void Parse_WhenConfigRejected_NamesOnlyAMissingRequiredKeyInMissingKey(string json, string? missing)
    {
        var e = Assert.Throws<ModelConfigException>(() => ModelSpec.FromHuggingFaceConfigJson(json));

        Assert.Equal(missing, e.MissingKey);
    }

    [Theory]
    [InlineData(WeightDType.BF16, 2)]
    [InlineData(WeightDType.F16, 2)]
    [InlineData(WeightDType.F32, 4)]
    public void ExpertBytes_WhenDtypeGiven_IsThreeProjectionsTimesTheElementSize(WeightDType dtype, int bytesPerParameter)
    {
        var spec = ModelSpec.FromHuggingFaceConfigJson(DeepSeekV2Lite);

        Assert.Equal(3L * 2048 * 1408 * bytesPerParameter, ModelSpec.ExpertBytes(2048, 1408, dtype));
        Assert.Equal(ModelSpec.ExpertBytes(2048, 1408, dtype), spec.ExpertBytes(dtype));
    }

    [Fact]
    public void FromHuggingFaceConfig_WhenFileIsMissing_NamesTheFile()
    {
        var path = Path.Combine(Path.GetTempPath(), "moecloud-no-such-dir", "config.json");

        var e = Assert.Throws<ModelConfigException>(() => ModelSpec.FromHuggingFaceConfig(path));

        Assert.Equal(path, e.ConfigPath);
    }

    [Theory]
    [InlineData(Mixtral8x7B)]
    [InlineData(Qwen15MoeA27B)]
    [InlineData(Qwen3Moe30B)]
    [InlineData(DeepSeekV2Lite)]
    [InlineData(DeepSeekV2)]
    [InlineData(DeepSeekV3)]
    [InlineData(Olmoe)]
    public void ToJson_ThenParse_GivesTheSameSpec(string config)
    {
        var spec = ModelSpec.FromHuggingFaceConfigJson(config);

        var again = ModelSpec.FromHuggingFaceConfigJson(HuggingFaceConfigWriter.ToJson(spec));

        Assert.Equal(spec, again);
    }

    [Fact]
    public void Validate_WhenSeveralProblems_ReportsAllAtOnce()
    {
        var spec = ModelSpec.FromHuggingFaceConfigJson(Olmoe) with { TopK = 0, Hidden = -1, SharedExpertGate = true };

        var e = Assert.Throws<ArgumentException>(() => spec.Validate());

        Assert.Contains("top-k must be positive", e.Message, StringComparison.Ordinal);
        Assert.Contains("hidden size must be positive", e.Message, StringComparison.Ordinal);
        Assert.Contains("a shared-expert gate needs a shared expert", e.Message, StringComparison.Ordinal);
    }
}
