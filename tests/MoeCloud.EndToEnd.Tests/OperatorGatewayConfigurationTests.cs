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
        var container = Workloads.Gateway(deployment, model, new OperatorOptions { MembershipRedis = "redis:6379", AdminApiKey = "admin" }).Spec.Template.Spec.Containers.Single();
        // What the Secrets <name>-gateway-keys and <name>-operator-key add through envFrom, as the operator writes them.
        var secret = new[] { GatewayKeys.ClientKeysSecret(deployment, ApiKeyAuthenticator.Hash("client"), DateTimeOffset.UnixEpoch), GatewayKeys.OperatorKeySecret(deployment, "admin") }
            .SelectMany(s => s.Data)
            .ToDictionary(p => p.Key, p => (string?)System.Text.Encoding.UTF8.GetString(p.Value));
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
        Assert.Equal(["default"], options.ApiKeys.Select(k => k.Name));
        Assert.Equal(["lite-gateway-keys", "lite-operator-key"], container.EnvFrom.Select(e => e.SecretRef.Name));
    }
}
