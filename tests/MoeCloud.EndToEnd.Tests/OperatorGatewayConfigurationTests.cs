using k8s.Models;
using Microsoft.Extensions.Configuration;
using MoeCloud.Gateway.Hosting;
using MoeCloud.Gateway.Security;
using MoeCloud.Operator.Entities;
using MoeCloud.Operator.Hosting;
using MoeCloud.Operator.Reconcilers;

namespace MoeCloud.EndToEnd.Tests;

/// <summary>The gateway container the operator builds, read the way `moectl gateway` reads its environment.</summary>
public sealed class OperatorGatewayConfigurationTests
{
    [Fact]
    public void GatewayContainer_FromTheOperator_BindsToValidGatewayOptions_FollowingMembership()
    {
        var model = new MoeModel
        {
            Metadata = new V1ObjectMeta { Name = "lite", NamespaceProperty = "serving" },
            Spec = new MoeModelSpec
            {
                Architecture = new MoeArchitecture { Layers = 26, Experts = 64, TopK = 6, HiddenSize = 2048, MoeIntermediateSize = 1408 },
                Weights = new WeightSource { Path = "/models/lite", ClaimName = "weights" },
            },
        };
        var deployment = new MoeDeployment
        {
            Metadata = new V1ObjectMeta { Name = "lite", NamespaceProperty = "serving" },
            Spec = new MoeDeploymentSpec { ModelRef = new ModelReference { Name = "lite" }, Replicas = 4 },
        };
        var container = Workloads.Gateway(deployment, model, new OperatorOptions { MembershipRedis = "redis:6379" }).Spec.Template.Spec.Containers.Single();
        // What the user's Secret <name>-gateway-keys adds through envFrom (README, Install on Kubernetes).
        var secret = new Dictionary<string, string?>
        {
            ["MoeCloud__Gateway__AdminKeys__0__Name"] = "operator",
            ["MoeCloud__Gateway__AdminKeys__0__Sha256"] = ApiKeyAuthenticator.Hash("admin"),
            ["MoeCloud__Gateway__ApiKeys__0__Name"] = "app",
            ["MoeCloud__Gateway__ApiKeys__0__Sha256"] = ApiKeyAuthenticator.Hash("client"),
        };
        var environment = container.Env.Where(e => e.Value is not null).ToDictionary(e => e.Name, e => (string?)e.Value).Concat(secret)
            .ToDictionary(p => p.Key.Replace("__", ":", StringComparison.Ordinal), p => p.Value);

        var options = new GatewayOptions();
        new ConfigurationBuilder().AddInMemoryCollection(environment).Build().GetSection(GatewayOptions.Section).Bind(options);
        var validation = new GatewayOptionsValidator().Validate(null, options);

        Assert.True(validation.Succeeded, string.Join(" ", validation.Failures ?? []));
        Assert.Equal(PodDiscovery.Membership, options.Discovery);
        Assert.Equal("/models/lite", options.Models["lite"]);
        Assert.Equal("0.0.0.0", options.BindAddress);
        Assert.Equal([Workloads.GatewayGrpcPort, Workloads.GatewayHttpPort], container.Ports.Select(p => p.ContainerPort));
        Assert.Equal((Workloads.GatewayGrpcPort, Workloads.GatewayHttpPort), (options.GrpcPort, options.HttpPort));
        Assert.Equal(options.HttpPort.ToString(System.Globalization.CultureInfo.InvariantCulture), container.ReadinessProbe.HttpGet.Port.Value);
        Assert.Equal(["operator"], options.AdminKeys.Select(k => k.Name));
    }
}
