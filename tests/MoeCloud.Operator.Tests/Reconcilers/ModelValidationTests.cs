using MoeCloud.Operator.Entities;
using MoeCloud.Operator.Hosting;
using MoeCloud.Operator.Reconcilers;
using MoeCloud.Operator.Tests.EndToEnd;
using MoeCloud.Testing;

namespace MoeCloud.Operator.Tests.Reconcilers;

public sealed class ModelValidationTests
{
    [Fact]
    public void CheckConfig_WhenConfigMatchesDeepSeekNames_ReportsNothing()
    {
        using var dir = new TempDirectory();
        File.WriteAllText(dir.Combine("config.json"), """
            {"num_hidden_layers": 27, "first_k_dense_replace": 1, "n_routed_experts": 64, "num_experts_per_tok": 6,
             "hidden_size": 2048, "moe_intermediate_size": 1408, "n_shared_experts": 2}
            """);
        var architecture = new MoeArchitecture { Layers = 26, Experts = 64, TopK = 6, HiddenSize = 2048, MoeIntermediateSize = 1408, SharedExperts = 2 };
        Assert.Empty(ModelValidation.CheckConfig(architecture, dir.Path)!);
    }

    [Fact]
    public void CheckConfig_WhenExpertsDiffer_NamesFieldAndBothValues()
    {
        using var dir = new TempDirectory();
        File.WriteAllText(dir.Combine("config.json"), """
            {"num_hidden_layers": 32, "num_local_experts": 8, "num_experts_per_tok": 2, "hidden_size": 4096, "intermediate_size": 14336}
            """);
        var architecture = new MoeArchitecture { Layers = 32, Experts = 16, TopK = 2, HiddenSize = 4096, MoeIntermediateSize = 14336 };
        var problem = Assert.Single(ModelValidation.CheckConfig(architecture, dir.Path)!);
        Assert.Equal("ConfigMismatch", problem.Reason);
        Assert.Contains("spec.architecture.experts is 16", problem.Message, StringComparison.Ordinal);
        Assert.Contains("says 8", problem.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void CheckConfig_WhenConfigCorruptOrAbsent_ReportsUnreadableOrNull()
    {
        using var dir = new TempDirectory();
        Assert.Null(ModelValidation.CheckConfig(new MoeArchitecture(), dir.Path));
        File.WriteAllText(dir.Combine("config.json"), "{ not json");
        Assert.Equal("ConfigUnreadable", Assert.Single(ModelValidation.CheckConfig(new MoeArchitecture(), dir.Path)!).Reason);
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
        d.Spec.Autoscaling = new AutoscalingPolicy { MinReplicas = 5, MaxReplicas = 3 };
        d.Spec.Resources.ExpertsPerPod = 4;
        var problems = DeploymentValidation.Check(d, Scenario.Model());
        Assert.Contains(problems, p => p.Message.Contains("minReplicas (5) exceeds maxReplicas (3)", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.Reason == "InsufficientCapacity");
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
        });
        Assert.True(result.Failed);
        var failures = result.Failures!.ToList();
        Assert.Contains(failures, f => f.Contains("LeaseDurationSeconds", StringComparison.Ordinal));
        Assert.Contains(failures, f => f.Contains("Workers", StringComparison.Ordinal));
        Assert.Contains(failures, f => f.Contains("AdminEndpointTemplate", StringComparison.Ordinal));
        Assert.Contains(failures, f => f.Contains("ProgressPollSeconds", StringComparison.Ordinal));
    }
}
