using MoeCloud.Operator.Entities;
using MoeCloud.Operator.Hosting;
using MoeCloud.Operator.Reconcilers;
using MoeCloud.Operator.Tests.EndToEnd;
using MoeCloud.Operator.Tests.Support;
using MoeCloud.Testing;

namespace MoeCloud.Operator.Tests.Reconcilers;

public sealed class ModelValidationTests
{
    /// <summary>Configs and the architecture a MoeModel must declare for them: the Model library's reading of config.json.</summary>
    private static readonly Dictionary<string, (string Json, MoeArchitecture Architecture)> Matching = new()
    {
        ["deepseek-v2 names, one dense layer first"] = ("""
            {"model_type": "deepseek_v2", "num_hidden_layers": 27, "first_k_dense_replace": 1, "n_routed_experts": 64, "num_experts_per_tok": 6,
             "hidden_size": 2048, "moe_intermediate_size": 1408, "n_shared_experts": 2}
            """, new MoeArchitecture { Layers = 26, Experts = 64, TopK = 6, HiddenSize = 2048, MoeIntermediateSize = 1408, SharedExperts = 2 }),
        ["deepseek-v2 group_limited_greedy is softmax-max-score"] = ("""
            {"model_type": "deepseek_v2", "num_hidden_layers": 4, "n_routed_experts": 32, "num_experts_per_tok": 4, "hidden_size": 64,
             "moe_intermediate_size": 32, "topk_method": "group_limited_greedy", "n_group": 8, "topk_group": 3}
            """, new MoeArchitecture { Layers = 4, Experts = 32, TopK = 4, HiddenSize = 64, MoeIntermediateSize = 32, Gating = "softmax-max-score", ExpertGroups = 8, TopKGroups = 3 }),
        ["qwen2-moe decoder_sparse_step 2 counts only the MoE layers"] = ("""
            {"model_type": "qwen2_moe", "num_hidden_layers": 24, "decoder_sparse_step": 2, "num_experts": 60, "num_experts_per_tok": 4,
             "hidden_size": 2048, "moe_intermediate_size": 1408, "shared_expert_intermediate_size": 5632}
            """, new MoeArchitecture { Layers = 12, Experts = 60, TopK = 4, HiddenSize = 2048, MoeIntermediateSize = 1408, SharedExperts = 1 }),
        // Layers 1..27 after one dense layer, every second one MoE: 2, 4, ..., 26.
        ["deepseek moe_layer_freq 2 counts only the MoE layers"] = ("""
            {"model_type": "deepseek_v2", "num_hidden_layers": 28, "first_k_dense_replace": 1, "moe_layer_freq": 2, "n_routed_experts": 64,
             "num_experts_per_tok": 6, "hidden_size": 2048, "moe_intermediate_size": 1408, "n_shared_experts": 2}
            """, new MoeArchitecture { Layers = 13, Experts = 64, TopK = 6, HiddenSize = 2048, MoeIntermediateSize = 1408, SharedExperts = 2 }),
        ["qwen3-moe mlp_only_layers count only the MoE layers"] = ("""
            {"model_type": "qwen3_moe", "num_hidden_layers": 8, "mlp_only_layers": [0, 7], "num_experts": 16, "num_experts_per_tok": 2,
             "hidden_size": 64, "moe_intermediate_size": 32}
            """, new MoeArchitecture { Layers = 6, Experts = 16, TopK = 2, HiddenSize = 64, MoeIntermediateSize = 32 }),
    };

    public static TheoryData<string> MatchingCases => [.. Matching.Keys];

    [Theory]
    [MemberData(nameof(MatchingCases))]
    public void CheckConfig_WhenTheArchitectureIsWhatTheConfigSays_ReportsNothing(string config)
    {
        var (json, architecture) = Matching[config];
        using var dir = Config(json);
        Assert.Empty(ModelValidation.CheckConfig(architecture, dir.Path)!);
    }

    [Fact]
    public void CheckConfig_WhenExpertsDiffer_NamesFieldAndBothValues()
    {
        using var dir = Config("""
            {"model_type": "mixtral", "num_hidden_layers": 32, "num_local_experts": 8, "num_experts_per_tok": 2, "hidden_size": 4096, "intermediate_size": 14336}
            """);
        var architecture = new MoeArchitecture { Layers = 32, Experts = 16, TopK = 2, HiddenSize = 4096, MoeIntermediateSize = 14336 };
        AssertOneProblem(ModelValidation.CheckConfig(architecture, dir.Path)!, "ConfigMismatch", "spec.architecture.experts is 16", "says 8");
    }

    [Fact]
    public void CheckConfig_WhenConfigCorruptOrAbsent_ReportsUnreadableOrNull()
    {
        using var dir = new TempDirectory();
        Assert.Null(ModelValidation.CheckConfig(new MoeArchitecture(), dir.Path));
        File.WriteAllText(dir.Combine("config.json"), "{ not json");
        AssertOneProblem(ModelValidation.CheckConfig(new MoeArchitecture(), dir.Path)!, "ConfigUnreadable", dir.Combine("config.json"));
    }

    [Fact]
    public void CheckConfig_WhenDeepSeekV3GroupLimitedSigmoidMatches_ReportsNothing()
    {
        using var dir = Config(DeepSeekV3Config);
        Assert.Empty(ModelValidation.CheckConfig(DeepSeekV3(), dir.Path)!);
    }

    [Fact]
    public void CheckConfig_WhenTopKGroupsDiffer_ReportsMismatchNamingTopkGroup()
    {
        using var dir = Config(DeepSeekV3Config);
        var architecture = DeepSeekV3();
        architecture.TopKGroups = 3;
        AssertOneProblem(ModelValidation.CheckConfig(architecture, dir.Path)!, "ConfigMismatch", "spec.architecture.topKGroups is 3", "says 4 (topk_group)");
    }

    [Fact]
    public void GatingKinds_WhenComparedWithTheCrdEnum_AreTheSame()
    {
        var gating = CrdSchemas.Schema(CrdSchemas.Load("moemodels"))["properties"]!["spec"]!["properties"]!["architecture"]!["properties"]!["gating"]!;
        Assert.Equal(ModelValidation.GatingKinds, gating["enum"]!.AsArray().Select(v => (string)v!).ToList());
    }

    [Fact]
    public void CheckSpec_WhenGroupsDoNotDivideExperts_ReportsTheLibraryGatingProblem()
    {
        var spec = Scenario.Model(experts: 16, topK: 2).Spec;
        spec.Architecture.Gating = "sigmoid-top-two-sum";
        spec.Architecture.ExpertGroups = 3;
        AssertOneProblem(ModelValidation.CheckSpec(spec), "InvalidArchitecture", "16 experts do not split into 3 equal groups");
    }

    [Theory]
    [InlineData("bf16", 2)]
    [InlineData("fp16", 2)]
    [InlineData("fp32", 4)]
    public void BytesPerExpert_WhenDtypeGiven_IsThreeProjectionsTimesTheElementSize(string dtype, int bytesPerParameter)
    {
        var spec = Scenario.Model().Spec;
        spec.Architecture.HiddenSize = 2048;
        spec.Architecture.MoeIntermediateSize = 1408;
        spec.Dtype = dtype;
        Assert.Equal(3L * 2048 * 1408 * bytesPerParameter, ModelValidation.BytesPerExpert(spec));
    }

    [Fact]
    public void CheckConfig_WhenLayersCountDenseLayers_ReportsTheMoeLayerCountAndItsKeys()
    {
        using var dir = Config("""
            {"model_type": "qwen2_moe", "num_hidden_layers": 24, "decoder_sparse_step": 2, "num_experts": 60, "num_experts_per_tok": 4,
             "hidden_size": 2048, "moe_intermediate_size": 1408, "shared_expert_intermediate_size": 5632}
            """);
        var architecture = new MoeArchitecture { Layers = 24, Experts = 60, TopK = 4, HiddenSize = 2048, MoeIntermediateSize = 1408, SharedExperts = 1 };
        AssertOneProblem(ModelValidation.CheckConfig(architecture, dir.Path)!, "ConfigMismatch", "spec.architecture.layers is 24", "says 12", "decoder_sparse_step");
    }

    [Fact]
    public void CheckConfig_WhenDeepSeekV3GatingDeclaredAsSoftmax_ReportsGatingMismatch()
    {
        using var dir = Config(DeepSeekV3Config);
        var architecture = new MoeArchitecture { Layers = 3, Experts = 64, TopK = 8, HiddenSize = 256, MoeIntermediateSize = 128, SharedExperts = 1, Gating = "softmax" };
        AssertOneProblem(ModelValidation.CheckConfig(architecture, dir.Path)!.Where(p => p.Message.Contains("spec.architecture.gating", StringComparison.Ordinal)), "ConfigMismatch", "spec.architecture.gating is softmax", "says sigmoid-top-two-sum");
    }

    [Theory]
    [InlineData("softmax")]
    [InlineData("sigmoid")]
    [InlineData("softmax-max-score")]
    [InlineData("sigmoid-max-score")]
    [InlineData("softmax-top-two-sum")]
    [InlineData("sigmoid-top-two-sum")]
    [InlineData("softmax-balanced")]
    [InlineData("sigmoid-balanced")]
    public void CheckSpec_WhenGatingIsAKindTheModelLibraryRuns_AcceptsIt(string gating)
    {
        var spec = Scenario.Model(experts: 16, topK: 2).Spec;
        spec.Architecture.Gating = gating;
        Assert.Empty(ModelValidation.CheckSpec(spec));
    }

    [Fact]
    public void CheckConfig_WhenKeyMissing_ReportsConfigIncompleteNamingFileAndKey()
    {
        using var dir = Config("""
            {"model_type": "qwen3_moe", "num_hidden_layers": 8, "num_experts_per_tok": 2, "hidden_size": 64, "moe_intermediate_size": 32}
            """);
        AssertOneProblem(ModelValidation.CheckConfig(Scenario.Model().Spec.Architecture, dir.Path)!, "ConfigIncomplete", dir.Combine("config.json"), "'num_experts'");
    }

    [Fact]
    public void CheckConfig_WhenValueMistyped_ReportsConfigInvalidNamingFileAndKey()
    {
        using var dir = Config("""
            {"model_type": "qwen3_moe", "num_hidden_layers": 8, "num_experts": 16, "num_experts_per_tok": 2, "hidden_size": "wide", "moe_intermediate_size": 32}
            """);
        AssertOneProblem(ModelValidation.CheckConfig(Scenario.Model().Spec.Architecture, dir.Path)!, "ConfigInvalid", dir.Combine("config.json"), "'hidden_size'");
    }

    [Fact]
    public void CheckSpec_WhenCrossFieldRulesBroken_ReportsEachProblem()
    {
        var spec = Scenario.Model(experts: 4, topK: 8).Spec;
        spec.Architecture.Gating = "relu";
        spec.Weights.Path = "";
        var problems = ModelValidation.CheckSpec(spec);
        Assert.Equal(3, problems.Count);
        Assert.Contains(problems, p => p.Message.Contains("topK (8) exceeds", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.Message.Contains("gating \"relu\"", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.Reason == "MissingWeights");
    }

    [Fact]
    public void DeploymentCheck_WhenMinAboveMaxAndCapacityTooSmall_ReportsBoth()
    {
        var d = Scenario.Deployment("d", "tiny", replicas: 2);
        d.Spec.Autoscaling = new AutoscalingPolicy { Pods = new PodAutoscalingPolicy { MinReplicas = 5, MaxReplicas = 3 } };
        d.Spec.Resources.ExpertsPerPod = 4;
        var problems = DeploymentValidation.Check(d, Scenario.Model());
        Assert.Contains(problems, p => p.Message.Contains("minReplicas (5) exceeds maxReplicas (3)", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.Reason == "InsufficientCapacity");
    }

    [Fact]
    public void DeploymentCheck_WhenPodAutoscalingEnabledWithoutTarget_SaysWhichTargetsToSet()
    {
        var d = Scenario.Deployment("d", "tiny", replicas: 2);
        d.Spec.Autoscaling.Pods = new PodAutoscalingPolicy { Enabled = true, MinReplicas = 1, MaxReplicas = 4 };
        var problem = Assert.Single(DeploymentValidation.Check(d, Scenario.Model()));
        Assert.Equal("InvalidSpec", problem.Reason);
        Assert.Equal("spec.autoscaling.pods is enabled without a target: set targetP99Ms or targetQueueDepth", problem.Message);
    }

    [Fact]
    public void DeploymentCheck_WhenStandbyBeyondMaxReplicas_ReportsBothFigures()
    {
        var d = Scenario.Deployment("d", "tiny", replicas: 2);
        d.Spec.Autoscaling.Pods = new PodAutoscalingPolicy { MaxReplicas = 3, Standby = 4 };
        var problem = Assert.Single(DeploymentValidation.Check(d, Scenario.Model()));
        Assert.Equal("spec.autoscaling.pods.standby (4) must lie in 0..maxReplicas (3)", problem.Message);
    }

    [Fact]
    public void DeploymentCheck_WhenPodTargetNotPositive_SaysTheyMustBePositive()
    {
        var d = Scenario.Deployment("d", "tiny", replicas: 2);
        d.Spec.Autoscaling.Pods = new PodAutoscalingPolicy { Enabled = true, TargetP99Ms = 0 };
        var problem = Assert.Single(DeploymentValidation.Check(d, Scenario.Model()));
        Assert.Equal("spec.autoscaling.pods.targetP99Ms and targetQueueDepth must be positive numbers", problem.Message);
    }

    [Fact]
    public void OptionsValidator_WhenSeveralSettingsBad_ReportsAllAtOnce()
    {
        var result = new OperatorOptionsValidator().Validate(null, new OperatorOptions
        {
            LeaseDurationSeconds = 1,
            Workers = 0,
            AdminEndpointTemplate = "not a url",
            ProgressPollSeconds = double.NaN,
            AutoscalePollSeconds = 0,
        });
        Assert.True(result.Failed);
        var failures = result.Failures!.ToList();
        Assert.Contains(failures, f => f.Contains("LeaseDurationSeconds", StringComparison.Ordinal));
        Assert.Contains(failures, f => f.Contains("Workers", StringComparison.Ordinal));
        Assert.Contains(failures, f => f.Contains("AdminEndpointTemplate", StringComparison.Ordinal));
        Assert.Contains(failures, f => f.Contains("ProgressPollSeconds", StringComparison.Ordinal));
        Assert.Contains(failures, f => f.Contains("AutoscalePollSeconds must be in 0.05..600", StringComparison.Ordinal));
    }

    private const string DeepSeekV3Config = """
        {"model_type": "deepseek_v3", "num_hidden_layers": 4, "first_k_dense_replace": 1, "n_routed_experts": 64, "num_experts_per_tok": 8,
         "hidden_size": 256, "moe_intermediate_size": 128, "n_shared_experts": 1, "scoring_func": "sigmoid", "topk_method": "noaux_tc",
         "n_group": 8, "topk_group": 4, "norm_topk_prob": true, "routed_scaling_factor": 2.5}
        """;

    private static MoeArchitecture DeepSeekV3() => new()
    {
        Layers = 3, Experts = 64, TopK = 8, HiddenSize = 256, MoeIntermediateSize = 128, SharedExperts = 1,
        Gating = "sigmoid-top-two-sum", ExpertGroups = 8, TopKGroups = 4,
    };

    /// <summary>A temporary directory holding <paramref name="json"/> as its config.json.</summary>
    private static TempDirectory Config(string json)
    {
        var dir = new TempDirectory();
        File.WriteAllText(dir.Combine("config.json"), json);
        return dir;
    }

    /// <summary>Asserts that <paramref name="problems"/> holds exactly one problem, of <paramref name="reason"/>, whose message says each of <paramref name="says"/>.</summary>
    private static void AssertOneProblem(IEnumerable<Problem>? problems, string reason, params string[] says)
    {
        var problem = Assert.Single(problems!);
        Assert.Equal(reason, problem.Reason);
        Assert.All(says, text => Assert.Contains(text, problem.Message, StringComparison.Ordinal));
    }
}
