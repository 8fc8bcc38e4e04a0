using k8s;
using Microsoft.Extensions.DependencyInjection;
using MoeCloud.Abstractions;
using MoeCloud.Cli.Cluster;
using MoeCloud.Client;
using MoeCloud.Gateway.Hosting;
using MoeCloud.Gateway.Security;
using MoeCloud.Model.Forward;
using MoeCloud.Model.Kernels;
using MoeCloud.Model.Synthetic;
using MoeCloud.Model.Weights;
using MoeCloud.Operator.Entities;
using MoeCloud.Operator.Tests.EndToEnd;
using MoeCloud.Operator.Tests.Support;
using MoeCloud.Runtime.Hosting;
using MoeCloud.Testing;

namespace MoeCloud.EndToEnd.Tests;

/// <summary>
/// The real operator against the in-process API server, driving a real MoeCloud cluster (4 Orleans silos serving a
/// synthetic model) through the real gateway's admin API — no fake admin server. Kubernetes itself is the only part
/// played by the test: the API server, and the kubelet that marks the StatefulSet's pods ready.
/// </summary>
public sealed class OperatorRealClusterTests
{
    private const string AdminKey = "operator-admin-key";
    private const string ClientKey = "client-key";

    [Fact]
    public async Task Operator_RollsPlansOutToARealClusterThroughTheGateway_AndScalesItIn()
    {
        using var temp = new TempDirectory();
        var modelDir = temp.Combine("tiny");
        var (spec, vocab) = SyntheticModelPresets.Get("tiny");
        SyntheticModelWriter.Write(modelDir, spec, vocab, new SyntheticModelOptions { Seed = 11 });
        using var checkpoint = ModelCheckpoint.Open(modelDir);
        var reference = new ReferenceForward(InMemoryModel.Load(checkpoint), new CpuExpertKernel(new ExpertKernelOptions { Threads = 1 }));

        await using var silos = await EmbeddedCluster.Start(4, new Dictionary<string, string> { ["tiny"] = modelDir });
        var ports = FreePorts.Take(2);
        var gateway = GatewayHost.Create(new GatewayOptions
        {
            GrpcPort = ports[0],
            HttpPort = ports[1],
            Models = { ["tiny"] = modelDir },
            ApiKeys = [new ApiKeyEntry { Name = "client", Sha256 = ApiKeyAuthenticator.Hash(ClientKey), RequestsPerSecond = 10_000 }],
            AdminKeys = [new ApiKeyEntry { Name = "operator", Sha256 = ApiKeyAuthenticator.Hash(AdminKey) }],
            PlanRefresh = TimeSpan.FromMilliseconds(200),
        }, silos.Grains);
        await gateway.StartAsync();
        try
        {
            await using var cluster = await Cluster.StartAsync();
            await using var op = await OperatorHost.StartAsync(cluster.Api, cluster.Admin, configure: s =>
            {
                s["Operator:AdminEndpointTemplate"] = $"http://127.0.0.1:{ports[1]}/";
                s["Operator:AdminApiKey"] = AdminKey;
            });
            var model = Scenario.Model("tiny", layers: spec.MoeLayers, experts: spec.Experts, topK: spec.TopK);
            model.Spec.Architecture.HiddenSize = spec.Hidden;
            model.Spec.Architecture.MoeIntermediateSize = spec.ExpertIntermediate;
            model.Spec.Architecture.SharedExperts = spec.SharedExperts;
            model.Spec.Weights.Path = modelDir; // the operator checks the architecture against this config.json
            await Scenario.CreateAsync(cluster, model, Scenario.Deployment("web", "tiny", replicas: 4));
            await Eventually.WaitAsync(() => Scenario.SiloAsync(cluster, "web"), s => s.Spec.Replicas == 4, "silo at 4");
            cluster.SiloReady("web");
            await Scenario.ReadyAtAsync(cluster, "web", 1);
            var checkedModel = await cluster.Resources.GetAsync<MoeModel>(MoeCloudApi.MoeModels, "default", "tiny", CancellationToken.None);
            Assert.True(checkedModel!.Status!.ConfigChecked);

            // The cluster serves exactly the plan the operator wrote.
            var registry = silos.Grains.GetGrain<IPlanRegistryGrain>("tiny");
            var v1 = Assert.Single(await cluster.PlacementsAsync("web"));
            AssertServes(await registry.GetActive(), v1);
            using var client = new MoeCloudClient(new Uri($"http://127.0.0.1:{ports[0]}"), new MoeCloudClientOptions { ApiKey = ClientKey });
            await ForwardAndCheck(client, reference, spec.Hidden, spec.MoeLayers, seed: 1, forbiddenPod: -1);

            // Scale in 4 -> 3 with a budget of half the replicas on pod 3: the operator evicts pod 3 in several plans,
            // the gateway rolls each out to the silos, and only then does the StatefulSet shrink.
            var onPod3 = v1.Spec.Layers.Sum(l => l.Pods.Count(p => p == 3) + (l.Redundant ?? []).Count(r => r.Pod == 3));
            Assert.True(onPod3 >= 2, $"plan 1 puts {onPod3} replicas on pod 3");
            await cluster.Client.CustomObjects.PatchNamespacedCustomObjectAsync(
                new k8s.Models.V1Patch($"{{\"spec\":{{\"placement\":{{\"maxMoves\":{onPod3 / 2}}}}}}}", k8s.Models.V1Patch.PatchType.MergePatch),
                MoeCloudApi.Group, MoeCloudApi.Version, "default", "moedeployments", "web");
            await cluster.Client.CustomObjects.PatchNamespacedCustomObjectScaleAsync(
                new k8s.Models.V1Patch("{\"spec\":{\"replicas\":3}}", k8s.Models.V1Patch.PatchType.MergePatch),
                MoeCloudApi.Group, MoeCloudApi.Version, "default", "moedeployments", "web");
            await Eventually.WaitAsync(() => Scenario.SiloAsync(cluster, "web"), s => s.Spec.Replicas == 3, "silo at 3");
            var done = await Eventually.WaitAsync(() => cluster.DeploymentAsync("web"), d => d.Status?.Phase == "Ready" && d.Status.CurrentPlanVersion > 1, "scale-in complete");

            var plans = await cluster.PlacementsAsync("web");
            Assert.True(plans.Count >= 3, $"expected the eviction of {onPod3} replicas to take several plans under a budget of {onPod3 / 2}, got {plans.Count - 1}");
            Assert.All(plans, p => Assert.Equal("Complete", p.Status?.Phase));
            var last = plans[^1];
            Assert.Equal(done.Status!.CurrentPlanVersion, last.Spec.Version);
            var active = await registry.GetActive();
            AssertServes(active, last);
            Assert.DoesNotContain(3, active!.PodIds);
            var status = await registry.GetStatus();
            Assert.Equal(last.Spec.Version, status.ActiveVersion);
            Assert.Null(status.PendingVersion);

            // The gateway now keeps pod 3 out of every request, and results still equal the reference.
            var scheduler = gateway.Services.GetRequiredService<MoeCloud.Gateway.Scheduling.GatewayModels>().Find("tiny")!;
            await Eventually.WaitAsync(() => Task.FromResult<string?>(scheduler.PlanVersion.ToString(System.Globalization.CultureInfo.InvariantCulture)), v => v == last.Spec.Version.ToString(System.Globalization.CultureInfo.InvariantCulture), "gateway on the last plan");
            await ForwardAndCheck(client, reference, spec.Hidden, spec.MoeLayers, seed: 2, forbiddenPod: 3);
        }
        finally
        {
            await gateway.StopAsync();
            await gateway.DisposeAsync();
        }
    }

    private static void AssertServes(WirePlan? served, ExpertPlacement placement)
    {
        Assert.NotNull(served);
        Assert.Equal(placement.Spec.Version, served.Version);
        for (var l = 0; l < served.Layers; l++)
        {
            var layer = placement.Spec.Layers.Single(x => x.Layer == l);
            for (var e = 0; e < served.Experts; e++)
            {
                var cell = (l * served.Experts) + e;
                var expected = new[] { layer.Pods[e] }.Concat((layer.Redundant ?? []).Where(r => r.Expert == e).Select(r => r.Pod)).Order();
                Assert.Equal(expected, served.PodIds[served.Offsets[cell]..served.Offsets[cell + 1]].Order());
            }
        }
    }

    private static async Task ForwardAndCheck(MoeCloudClient client, ReferenceForward reference, int hidden, int layers, int seed, int forbiddenPod)
    {
        var rng = new Random(seed);
        for (var i = 0; i < 4; i++)
        {
            var input = Enumerable.Range(0, 8 * hidden).Select(_ => (float)((rng.NextDouble() * 2) - 1)).ToArray();
            var output = await client.ForwardAsync("tiny", input, 8, hidden, 0, layers - 1);
            var expected = reference.ForwardStack(0, layers - 1, input, 8);
            var error = ResultError.MaxRelative(expected, output.Hidden); // max |Δ| / max |reference|, as every other check of a result
            Assert.True(error <= 1e-4, $"max relative error {error}");
            Assert.DoesNotContain(forbiddenPod, output.HomePods);
        }
    }
}
