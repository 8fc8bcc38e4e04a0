using Microsoft.Extensions.Configuration;
using k8s.Models;
using MoeCloud.Operator.Entities;
using MoeCloud.Operator.Hosting;
using MoeCloud.Operator.Reconcilers;
using MoeCloud.Operator.Tests.EndToEnd;

namespace MoeCloud.Operator.Tests.Reconcilers;

/// <summary>The gateway Deployment and Services agree with what `moectl gateway` reads and with the silos they join.</summary>
public sealed class GatewayWorkloadsTests
{
    private static readonly OperatorOptions Options = new() { MembershipRedis = "moecloud-redis.moecloud.svc:6379" };

    private static (MoeDeployment D, MoeModel Model) Sample()
    {
        var model = Scenario.Model();
        model.Spec.Weights.ClaimName = "weights";
        return (Scenario.Deployment("web", "tiny", replicas: 4), model);
    }

    [Fact]
    public void Gateway_WhenBuilt_RunsMoectlGatewayInTheSilosOrleansCluster()
    {
        var (d, model) = Sample();
        var gateway = Workloads.Gateway(d, model, Options).Spec.Template.Spec.Containers.Single();
        var silo = Workloads.Silo(d, model, 4, Options).Spec.Template.Spec.Containers.Single();
        string SiloEnv(string name) => silo.Env.Single(e => e.Name == name).Value;

        Assert.Equal(["gateway", "--redis", Options.MembershipRedis!, "--cluster-id", "web", "--service-id", "web"], gateway.Args);
        Assert.Equal(SiloEnv("MoeCloud__Silo__RedisConnectionString"), gateway.Args[2]);
        Assert.Equal(SiloEnv("ORLEANS_CLUSTER_ID"), gateway.Args[4]);
        Assert.Equal(SiloEnv("ORLEANS_SERVICE_ID"), gateway.Args[6]);
        Assert.Equal(SiloEnv("MoeCloud__Silo__ServiceId"), gateway.Args[6]);
    }

    [Fact]
    public void Gateway_WhenBuilt_ConfiguresPortsModelMembershipProbesAndKeysSecret()
    {
        var (d, model) = Sample();
        var deployment = Workloads.Gateway(d, model, Options);
        var pod = deployment.Spec.Template.Spec;
        var gateway = pod.Containers.Single();
        var env = gateway.Env.ToDictionary(e => e.Name, e => e.Value, StringComparer.Ordinal);

        Assert.Equal("0.0.0.0", env["MoeCloud__Gateway__BindAddress"]);
        Assert.Equal("5000", env["MoeCloud__Gateway__GrpcPort"]);
        Assert.Equal("8080", env["MoeCloud__Gateway__HttpPort"]);
        Assert.Equal("/models/tiny", env["MoeCloud__Gateway__Models__tiny"]);
        Assert.All(env.Values, v => Assert.False(string.IsNullOrEmpty(v)));

        // No pod list or templates: the gateway follows the Orleans membership, and each silo advertises the runner and
        // ops ports on its pod IP, which the StatefulSet passes as POD_IP.
        Assert.DoesNotContain(env.Keys, k => k.StartsWith("MoeCloud__Gateway__Pod", StringComparison.Ordinal));
        var silo = Workloads.Silo(d, model, 4, Options).Spec.Template.Spec.Containers.Single();
        Assert.Equal("status.podIP", silo.Env.Single(e => e.Name == "POD_IP").ValueFrom.FieldRef.FieldPath);
        Assert.Contains(silo.Ports, p => p.Name == "runner");
        Assert.Equal("None", Workloads.SiloService(d).Spec.ClusterIP);

        Assert.Equal([("grpc", 5000), ("http", 8080)], gateway.Ports.Select(p => (p.Name, p.ContainerPort)));
        Assert.Equal(("/readyz", "8080"), (gateway.ReadinessProbe.HttpGet.Path, gateway.ReadinessProbe.HttpGet.Port.Value));
        Assert.Equal(("/healthz", "8080"), (gateway.LivenessProbe.HttpGet.Path, gateway.LivenessProbe.HttpGet.Port.Value));

        var keys = Assert.Single(gateway.EnvFrom).SecretRef;
        Assert.Equal("web-gateway-keys", keys.Name);
        Assert.False(keys.Optional);

        var weights = gateway.VolumeMounts.Single(m => m.Name == "weights");
        Assert.Equal(("/models/tiny", true), (weights.MountPath, weights.ReadOnlyProperty == true));
        Assert.Equal("weights", pod.Volumes.Single(v => v.Name == "weights").PersistentVolumeClaim.ClaimName);
        Assert.True(pod.SecurityContext.RunAsNonRoot);
        Assert.True(gateway.SecurityContext.ReadOnlyRootFilesystem);
        Assert.Contains(gateway.VolumeMounts, m => m.MountPath == "/tmp");
    }

    [Fact]
    public void Gateway_WhenTheSpecNamesHomesAndASplitLink_PassesBothToTheGateway_AndByDefaultTokenHomesAndNoLink()
    {
        var (d, model) = Sample();
        Dictionary<string, string> Env() => Workloads.Gateway(d, model, Options).Spec.Template.Spec.Containers.Single().Env.ToDictionary(e => e.Name, e => e.Value, StringComparer.Ordinal);

        Assert.Equal("token", Env()["MoeCloud__Gateway__HomeGranularity"]);
        Assert.DoesNotContain("MoeCloud__Gateway__HomeSplitLink", Env().Keys);

        d.Spec.Gateway.Homes = "auto";
        d.Spec.Gateway.HomeSplitLink = "ib400";
        Assert.Equal("auto", Env()["MoeCloud__Gateway__HomeGranularity"]);
        Assert.Equal("ib400", Env()["MoeCloud__Gateway__HomeSplitLink"]);

        // What the gateway binds those variables to.
        var options = new ConfigurationBuilder().AddInMemoryCollection(Env().Select(kv => KeyValuePair.Create(kv.Key.Replace("__", ":", StringComparison.Ordinal), (string?)kv.Value))).Build()
            .GetSection(MoeCloud.Gateway.Hosting.GatewayOptions.Section).Get<MoeCloud.Gateway.Hosting.GatewayOptions>()!;
        Assert.Equal(MoeCloud.Gateway.Hosting.HomeGranularity.Auto, options.HomeGranularity);
        Assert.Equal("ib400", options.HomeSplitLink);
    }

    [Fact]
    public void Gateway_WhenNoMembershipStoreOrNoClaim_OmitsRedisArgumentAndWeightsVolume()
    {
        var d = Scenario.Deployment("web", "tiny", replicas: 2);
        var gateway = Workloads.Gateway(d, Scenario.Model(), new OperatorOptions());
        var container = gateway.Spec.Template.Spec.Containers.Single();

        // moectl gateway then exits with "option '--redis' is required" instead of joining a wrong store.
        Assert.DoesNotContain("--redis", container.Args);
        Assert.DoesNotContain(container.VolumeMounts, m => m.Name == "weights");
        Assert.Equal("ghcr.io/moecloud/gateway:0.1.0", container.Image);
        d.Spec.GatewayImage = "example/gw:1";
        Assert.Equal("example/gw:1", Workloads.Gateway(d, Scenario.Model(), new OperatorOptions()).Spec.Template.Spec.Containers.Single().Image);
    }

    [Fact]
    public void Services_WhenBuilt_ExposeGrpcAndHttpAndAdminIncludesUnreadyPods()
    {
        var (d, model) = Sample();
        var containerPorts = Workloads.Gateway(d, model, Options).Spec.Template.Spec.Containers.Single().Ports.Select(p => p.Name).ToList();

        var service = Workloads.GatewayService(d);
        Assert.Equal([("grpc", 5000, "grpc"), ("http", 8080, "http")], service.Spec.Ports.Select(p => (p.Name, p.Port, p.TargetPort.Value)));
        Assert.All(service.Spec.Ports, p => Assert.Contains(p.TargetPort.Value, containerPorts));
        Assert.NotEqual(true, service.Spec.PublishNotReadyAddresses);

        // The gateway is ready only once a plan is live, and the operator publishes the first plan through this Service.
        var admin = Workloads.GatewayAdminService(d);
        Assert.Equal("web-gateway-admin", admin.Metadata.Name);
        Assert.True(admin.Spec.PublishNotReadyAddresses);
        Assert.Equal(("http", 8080, "http"), admin.Spec.Ports.Select(p => (p.Name, p.Port, p.TargetPort.Value)).Single());
        Assert.Equal(service.Spec.Selector, admin.Spec.Selector);
        Assert.Equal(Workloads.Gateway(d, model, Options).Spec.Selector.MatchLabels, admin.Spec.Selector);
    }

    [Fact]
    public void AdminEndpointTemplate_WhenDefault_ReachesTheGatewaysHttpPortThroughTheAdminService()
    {
        var (d, _) = Sample();
        var template = new OperatorOptions().AdminEndpointTemplate;
        var uri = new Uri(template.Replace("{name}", d.Metadata.Name, StringComparison.Ordinal).Replace("{namespace}", "default", StringComparison.Ordinal));

        var admin = Workloads.GatewayAdminService(d);
        Assert.Equal($"{admin.Metadata.Name}.default.svc", uri.Host);
        Assert.Equal(admin.Spec.Ports.Single().Port, uri.Port);
        Assert.Equal(Workloads.GatewayHttpPort, uri.Port);
    }

    [Fact]
    public void Silo_WhenBuilt_StartsPodsInParallelSoTheReadinessGateCannotBlockScaleOut()
    {
        var (d, model) = Sample();
        var silo = Workloads.Silo(d, model, 6, Options);
        Assert.Equal("Parallel", silo.Spec.PodManagementPolicy);
        Assert.Equal(Workloads.ExpertsReadyGate, Assert.Single(silo.Spec.Template.Spec.ReadinessGates).ConditionType);
        Assert.Equal(ExpertsReadyGate.SiloContainer, silo.Spec.Template.Spec.Containers.Single().Name);
        Assert.NotNull(silo.Spec.Template.Spec.Containers.Single().StartupProbe);
    }

    [Fact]
    public void Silo_WhenTheSpecAsksForNoAccelerator_RequestsNone_AndWhenItAsks_RequestsAndLimitsIt()
    {
        var (d, model) = Sample();
        var cpuOnly = Workloads.Silo(d, model, 4, Options).Spec.Template.Spec.Containers.Single().Resources;
        d.Spec.Resources.AcceleratorsPerPod = 2;
        var withGpus = Workloads.Silo(d, model, 4, Options).Spec.Template.Spec.Containers.Single().Resources;

        Assert.Equal(0, new MoeDeploymentSpec().Resources.AcceleratorsPerPod);
        Assert.DoesNotContain("nvidia.com/gpu", cpuOnly.Requests.Keys);
        Assert.DoesNotContain("nvidia.com/gpu", cpuOnly.Limits?.Keys ?? []);
        Assert.Equal("2", withGpus.Requests["nvidia.com/gpu"].ToString());
        Assert.Equal("2", withGpus.Limits["nvidia.com/gpu"].ToString());
    }

    [Fact]
    public void Silo_WhenDashboardIsOn_TurnsItOnAndReadsTheDeploymentsKeysSecret_AndWhenOff_Neither()
    {
        var (d, model) = Sample();
        var off = Workloads.Silo(d, model, 4, Options).Spec.Template.Spec.Containers.Single();
        var on = Workloads.Silo(d, model, 4, new OperatorOptions { MembershipRedis = Options.MembershipRedis, SiloDashboard = true }).Spec.Template.Spec.Containers.Single();

        Assert.DoesNotContain(off.Env, e => e.Name == "MoeCloud__Silo__Dashboard");
        Assert.Null(off.EnvFrom);
        Assert.Equal("true", on.Env.Single(e => e.Name == "MoeCloud__Silo__Dashboard").Value);
        var keys = Assert.Single(on.EnvFrom).SecretRef;
        Assert.Equal(Workloads.GatewayKeysName(d), keys.Name);
        Assert.False(keys.Optional);
        Assert.Contains(on.Ports, p => p.Name == "ops" && p.ContainerPort == Workloads.OpsPort);
    }
}
