using MoeCloud.Gateway.Hosting;
using MoeCloud.Gateway.Security;

namespace MoeCloud.Gateway.Tests;

public sealed class GatewayOptionsTests
{
    [Fact]
    public void PodsFromTemplates_NameEveryPodOfThePlan()
    {
        var options = new GatewayOptions { PodRunnerTemplate = "http://lite-silo-{pod}.lite-silo.ns.svc:5100", PodOpsTemplate = "http://lite-silo-{pod}.lite-silo.ns.svc:9100" };

        var pods = options.PodsFromTemplates(3);

        Assert.Equal([0, 1, 2], pods.Select(p => p.Pod));
        Assert.Equal("http://lite-silo-2.lite-silo.ns.svc:5100", pods[2].Runner);
        Assert.Equal("http://lite-silo-0.lite-silo.ns.svc:9100", pods[0].Ops);
    }

    [Fact]
    public void Validate_WhenTemplatesReplacePods_IsValid_AndWhenOnlyOneTemplateIsSet_SaysSo()
    {
        var validator = new GatewayOptionsValidator();
        List<ApiKeyEntry> keys = [new ApiKeyEntry { Name = "app", Sha256 = ApiKeyAuthenticator.Hash("k") }];
        var templated = new GatewayOptions { Models = { ["m"] = "/models/m" }, ApiKeys = keys, PodRunnerTemplate = "http://s-{pod}:5100", PodOpsTemplate = "http://s-{pod}:9100" };
        var half = new GatewayOptions { Models = { ["m"] = "/models/m" }, PodRunnerTemplate = "http://s-{pod}:5100" };
        var bad = new GatewayOptions { GrpcPort = 1, HttpPort = 1, MaxAttempts = 0, RunnerConnectTimeout = TimeSpan.Zero, ApiKeys = [new ApiKeyEntry { Name = "k", Sha256 = "nothex" }] };

        var both = new GatewayOptions { Models = { ["m"] = "/models/m" }, PodRunnerTemplate = "http://s-{pod}:5100", PodOpsTemplate = "http://s-{pod}:9100", Pods = [new GatewayPod { Pod = 0, Runner = "http://a:1", Ops = "http://a:2" }] };
        var membership = new GatewayOptions { Models = { ["m"] = "/models/m" }, ApiKeys = keys };

        Assert.True(validator.Validate(null, templated).Succeeded);
        Assert.Equal(PodDiscovery.Templates, templated.Discovery);
        Assert.True(validator.Validate(null, membership).Succeeded);
        Assert.Equal(PodDiscovery.Membership, membership.Discovery);
        Assert.Contains(validator.Validate(null, both).Failures!, f => f.Contains("not both", StringComparison.Ordinal));
        Assert.Contains(validator.Validate(null, half).Failures!, f => f.Contains("go together", StringComparison.Ordinal));
        var failures = validator.Validate(null, bad).Failures!.ToArray();
        Assert.Contains(failures, f => f.Contains("distinct ports", StringComparison.Ordinal));
        Assert.Contains(failures, f => f.Contains("At least one model", StringComparison.Ordinal));
        Assert.Contains(failures, f => f.Contains("SHA-256", StringComparison.Ordinal));
        Assert.Contains(failures, f => f.Contains("MaxAttempts", StringComparison.Ordinal));
        Assert.Contains(failures, f => f.Contains("RunnerConnectTimeout", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData(0.5)]
    [InlineData(1.5)]
    [InlineData(601)]
    public void Validate_WhenServingWindowIsNotWholeSecondsUpToTenMinutes_SaysSo(double seconds)
    {
        var options = new GatewayOptions { Models = { ["m"] = "/models/m" }, AllowAnonymous = true, ServingWindow = TimeSpan.FromSeconds(seconds) };

        var result = new GatewayOptionsValidator().Validate(null, options);

        Assert.Contains(result.Failures!, f => f.Contains("ServingWindow must be whole seconds", StringComparison.Ordinal));
    }
}
