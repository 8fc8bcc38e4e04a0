using System.Net;
using k8s;
using MoeCloud.Contracts.Admin;
using MoeCloud.Operator.Entities;
using MoeCloud.Operator.Placement;
using MoeCloud.Operator.Tests.Support;
using MoeCloud.Placement.Metrics;

namespace MoeCloud.Operator.Tests.EndToEnd;

/// <summary>The real operator against the in-process API server and the fake admin API.</summary>
public sealed class OperatorEndToEndTests
{
    [Fact]
    public async Task Reconcile_WhenDeploymentCreated_OwnsWorkloadsAndPublishesInitialPlan()
    {
        await using var cluster = await Cluster.StartAsync();
        await using var op = await OperatorHost.StartAsync(cluster.Api, cluster.Admin);
        await Scenario.CreateAsync(cluster, Scenario.Model(), Scenario.Deployment("web", "tiny", replicas: 4));

        var silo = await Eventually.WaitAsync(() => Scenario.SiloAsync(cluster, "web"), s => s.Spec.Replicas == 4, "silo StatefulSet");
        cluster.SiloReady("web");
        var d = await Scenario.ReadyAtAsync(cluster, "web", 1);

        var uid = d.Metadata.Uid;
        Assert.Equal(uid, Assert.Single(silo.Metadata.OwnerReferences).Uid);
        var headless = await cluster.Client.CoreV1.ReadNamespacedServiceAsync("web-silo", "default");
        Assert.Equal("None", headless.Spec.ClusterIP);
        Assert.Equal(uid, Assert.Single(headless.Metadata.OwnerReferences).Uid);
        var gateway = await cluster.Client.AppsV1.ReadNamespacedDeploymentAsync("web-gateway", "default");
        Assert.Equal(uid, Assert.Single(gateway.Metadata.OwnerReferences).Uid);
        Assert.True(gateway.Spec.Template.Spec.SecurityContext.RunAsNonRoot);
        Assert.NotNull(gateway.Spec.Template.Spec.Containers[0].Resources.Requests["cpu"]);
        Assert.Equal(uid, Assert.Single((await cluster.Client.PolicyV1.ReadNamespacedPodDisruptionBudgetAsync("web-silo", "default")).Metadata.OwnerReferences).Uid);
        Assert.Equal(uid, Assert.Single((await cluster.Client.CoreV1.ReadNamespacedServiceAsync("web-gateway", "default")).Metadata.OwnerReferences).Uid);
        Assert.Equal(uid, Assert.Single((await cluster.Client.CoreV1.ReadNamespacedConfigMapAsync("web-config", "default")).Metadata.OwnerReferences).Uid);

        var pod = silo.Spec.Template.Spec;
        Assert.False(pod.Containers[0].Resources.Requests.ContainsKey("nvidia.com/gpu")); // CPU kernels: no accelerator unless asked
        Assert.True(pod.SecurityContext.RunAsNonRoot);
        Assert.True(pod.Containers[0].SecurityContext.ReadOnlyRootFilesystem);
        Assert.Contains(pod.ReadinessGates, g => g.ConditionType == "moecloud.io/experts-ready");
        Assert.NotEmpty(pod.TopologySpreadConstraints);
        Assert.Equal("web", silo.Spec.Template.Metadata.Labels["orleans/serviceId"]);
        Assert.Contains(pod.Containers[0].Env, e => e.Name == "MoeCloud__Silo__Clustering" && e.Value == "Kubernetes");
        Assert.Contains(pod.Containers[0].Env, e => e.Name == "MoeCloud__Silo__Models__tiny" && e.Value == "/models/tiny");
        Assert.Equal("9100", pod.Containers[0].ReadinessProbe.HttpGet.Port.Value);

        var placement = Assert.Single(await cluster.PlacementsAsync("web"));
        Assert.Equal(uid, Assert.Single(placement.Metadata.OwnerReferences).Uid);
        Assert.Equal("Complete", placement.Status?.Phase);
        Assert.Equal("contiguous", placement.Spec.Solver);
        Assert.Equal([0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3], placement.Spec.Layers[0].Pods);
        Assert.Equal(1, Assert.Single(cluster.Admin.Published("web")).Version);
        Assert.Equal(d.Metadata.Generation, d.Status!.ObservedGeneration);
        Assert.Equal("True", d.Status.Conditions.Single(c => c.Type == "Available").Status);
        Assert.Equal("False", d.Status.Conditions.Single(c => c.Type == "Degraded").Status);
        Assert.Equal("moecloud.io/deployment=web,app.kubernetes.io/component=silo", d.Status.Selector);
    }

    [Fact]
    public async Task Scale_WhenFourToSixToThree_MovesWithinBudgetAndShrinksOnlyAfterEviction()
    {
        const int budget = 24;
        await using var cluster = await Cluster.StartAsync();
        await using var op = await OperatorHost.StartAsync(cluster.Api, cluster.Admin);
        await Scenario.CreateAsync(cluster, Scenario.Model(), Scenario.Deployment("web", "tiny", replicas: 4, maxMoves: budget));
        await Eventually.WaitAsync(() => Scenario.SiloAsync(cluster, "web"), s => s.Spec.Replicas == 4, "silo at 4");
        cluster.SiloReady("web");
        await Scenario.ReadyAtAsync(cluster, "web", 1);

        // Scale out 4 -> 6 through the scale subresource (what kubectl scale and an HPA use).
        await ScaleAsync(cluster, "web", 6);
        await Eventually.WaitAsync(() => Scenario.SiloAsync(cluster, "web"), s => s.Spec.Replicas == 6, "silo at 6");
        var waiting = await Eventually.WaitAsync(() => cluster.DeploymentAsync("web"), d => d.Status?.Phase == "Provisioning", "waiting for new pods");
        Assert.Equal(1, waiting.Status!.CurrentPlanVersion);
        Assert.Single(await cluster.PlacementsAsync("web"));
        cluster.SiloReady("web");
        await Scenario.ReadyAtAsync(cluster, "web", 2);
        var scaleOut = (await cluster.PlacementsAsync("web"))[1];
        Assert.Equal("ScaleOut", scaleOut.Spec.Reason);
        Assert.Equal(6, scaleOut.Spec.Pods);
        Assert.All(scaleOut.Spec.Layers, l => Assert.Equal(6, l.Pods.Distinct().Count()));

        // Scale in 6 -> 3: experts leave pods 3..5 first (more than one budget's worth), then the StatefulSet shrinks.
        cluster.Admin.Hold = true;
        await ScaleAsync(cluster, "web", 3);
        var firstEviction = await Eventually.WaitAsync(async () => (await cluster.PlacementsAsync("web")).ElementAtOrDefault(2), p => p is not null, "first scale-in plan");
        Assert.Equal("ScaleIn", firstEviction.Spec.Reason);
        Assert.Equal(6, (await Scenario.SiloAsync(cluster, "web"))!.Spec.Replicas);
        cluster.Admin.Hold = false;
        var final = await Eventually.WaitAsync(() => cluster.DeploymentAsync("web"),
            d => d.Status?.Phase == "Ready" && d.Status.CurrentPlanVersion > 3, "scale-in complete");
        var silo = await Eventually.WaitAsync(() => Scenario.SiloAsync(cluster, "web"), s => s.Spec.Replicas == 3, "silo at 3");
        Assert.Equal(3, silo.Spec.Replicas);

        var plans = await cluster.PlacementsAsync("web");
        Assert.Equal(final.Status!.CurrentPlanVersion, plans[^1].Spec.Version);
        Assert.All(plans[^1].Spec.Layers, l => Assert.All(l.Pods, p => Assert.InRange(p, 0, 2)));
        for (var i = 1; i < plans.Count; i++)
        {
            var moves = ExpertPlacementMapping.ToPlan(plans[i - 1].Spec).MovesTo(ExpertPlacementMapping.ToPlan(plans[i].Spec));
            Assert.InRange(moves, 1, budget);
            Assert.Equal(moves, plans[i].Spec.Metrics!.Moves);
            Assert.Equal(plans[i - 1].Spec.Version, plans[i].Spec.PreviousVersion);
        }
    }

    [Fact]
    public async Task Reconcile_WhenModelInvalid_DegradedWithReasonAndEvent()
    {
        await using var cluster = await Cluster.StartAsync();
        await using var op = await OperatorHost.StartAsync(cluster.Api, cluster.Admin);

        // The API server refuses topK > experts (the CRD's CEL rule); a model stored before the rule existed (or on a
        // server without CEL) still reaches the operator, which must catch it: write one into the store directly.
        var refused = await Assert.ThrowsAsync<k8s.Autorest.HttpOperationException>(() => cluster.Resources.CreateAsync(
            MoeCloudApi.MoeModels, "default", Scenario.Model("broken", experts: 4, topK: 8), CancellationToken.None));
        Assert.Equal(HttpStatusCode.UnprocessableEntity, refused.Response.StatusCode);
        await cluster.Resources.CreateAsync(MoeCloudApi.MoeModels, "default", Scenario.Model("broken", experts: 4, topK: 2), CancellationToken.None);
        var key = new MoeCloud.Kubernetes.Testing.StoreKey(MoeCloudApi.Group, "moemodels", "default", "broken");
        var stored = cluster.Api.Store.Get(key)!;
        stored["spec"]!["architecture"]!["topK"] = 8;
        stored["metadata"]!["generation"] = 2;
        cluster.Api.Store.Put(key, stored);
        await cluster.Resources.CreateAsync(MoeCloudApi.MoeDeployments, "default", Scenario.Deployment("bad", "broken", replicas: 2), CancellationToken.None);

        var d = await Eventually.WaitAsync(() => cluster.DeploymentAsync("bad"), d => d.Status?.Phase == "Degraded", "bad degraded");
        var degraded = d.Status!.Conditions.Single(c => c.Type == "Degraded");
        Assert.Equal("True", degraded.Status);
        Assert.Equal("ModelInvalid", degraded.Reason);
        Assert.Contains("topK (8) exceeds spec.architecture.experts (4)", degraded.Message, StringComparison.Ordinal);
        var model = await Eventually.WaitAsync(() => cluster.Resources.GetAsync<MoeModel>(MoeCloudApi.MoeModels, "default", "broken", CancellationToken.None),
            m => m.Status?.Phase == "Invalid", "model invalid");
        Assert.Equal("InvalidArchitecture", model.Status!.Conditions.Single(c => c.Type == "Degraded").Reason);

        var events = await Eventually.WaitAsync(() => cluster.Client.CoreV1.ListNamespacedEventAsync("default"),
            l => l.Items.Any(e => e.InvolvedObject.Name == "bad" && e.Reason == "ModelInvalid"), "Warning event on bad");
        Assert.Equal("Warning", events.Items.First(e => e.InvolvedObject.Name == "bad" && e.Reason == "ModelInvalid").Type);
        Assert.Null(await Scenario.SiloAsync(cluster, "bad"));
    }

    [Fact]
    public async Task Reconcile_WhenConfigJsonDisagrees_ModelInvalidWithConfigMismatch()
    {
        await using var cluster = await Cluster.StartAsync();
        await File.WriteAllTextAsync(cluster.Temp.Combine("config.json"), """
            {"model_type": "qwen3_moe", "num_hidden_layers": 4, "num_experts": 32, "num_experts_per_tok": 2, "hidden_size": 64, "moe_intermediate_size": 32}
            """);
        await using var op = await OperatorHost.StartAsync(cluster.Api, cluster.Admin);
        var model = Scenario.Model("checked");
        model.Spec.Weights.Path = cluster.Temp.Path;
        await cluster.Resources.CreateAsync(MoeCloudApi.MoeModels, "default", model, CancellationToken.None);

        var invalid = await Eventually.WaitAsync(() => cluster.Resources.GetAsync<MoeModel>(MoeCloudApi.MoeModels, "default", "checked", CancellationToken.None),
            m => m.Status?.Phase == "Invalid", "model checked against config.json");
        Assert.True(invalid.Status!.ConfigChecked);
        var degraded = invalid.Status.Conditions.Single(c => c.Type == "Degraded");
        Assert.Equal("ConfigMismatch", degraded.Reason);
        Assert.Contains("spec.architecture.experts is 16", degraded.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Reconcile_WhenModelMissing_DegradedModelNotFound()
    {
        await using var cluster = await Cluster.StartAsync();
        await using var op = await OperatorHost.StartAsync(cluster.Api, cluster.Admin);
        await cluster.Resources.CreateAsync(MoeCloudApi.MoeDeployments, "default", Scenario.Deployment("orphan", "nowhere", 2), CancellationToken.None);

        var d = await Eventually.WaitAsync(() => cluster.DeploymentAsync("orphan"), d => d.Status?.Phase == "Degraded", "orphan degraded");
        Assert.Equal("ModelNotFound", d.Status!.Conditions.Single(c => c.Type == "Degraded").Reason);
    }

    [Fact]
    public async Task Restart_WhenMidMigration_NewLeaderResumesWithoutNewPlan()
    {
        await using var cluster = await Cluster.StartAsync();
        cluster.Admin.Hold = true;
        var first = await OperatorHost.StartAsync(cluster.Api, cluster.Admin, "operator-a");
        await Scenario.CreateAsync(cluster, Scenario.Model(), Scenario.Deployment("web", "tiny", replicas: 2));
        await Eventually.WaitAsync(() => Scenario.SiloAsync(cluster, "web"), s => s.Spec.Replicas == 2, "silo");
        cluster.SiloReady("web");
        await Eventually.WaitAsync(async () => (await cluster.PlacementsAsync("web")).FirstOrDefault(), p => p.Status?.Phase == "Migrating", "v1 migrating");
        await first.DisposeAsync();

        cluster.Admin.Hold = false;
        await using var second = await OperatorHost.StartAsync(cluster.Api, cluster.Admin, "operator-b");
        var d = await Scenario.ReadyAtAsync(cluster, "web", 1);

        Assert.Equal("Complete", Assert.Single(await cluster.PlacementsAsync("web")).Status?.Phase);
        Assert.Single(cluster.Admin.Published("web"));
        var lease = await cluster.Client.CoordinationV1.ReadNamespacedLeaseAsync("moecloud-operator", "default");
        Assert.Equal("operator-b", lease.Spec.HolderIdentity);
        Assert.Equal(1, d.Status!.CurrentPlanVersion);
    }

    [Fact]
    public async Task Ready_WhenTheClusterLosesThePlan_PublishesItAgainFromTheExpertPlacement()
    {
        await using var cluster = await Cluster.StartAsync();
        await using var op = await OperatorHost.StartAsync(cluster.Api, cluster.Admin, configure: s => s["Operator:PlanCheckSeconds"] = "1");
        await Scenario.CreateAsync(cluster, Scenario.Model(), Scenario.Deployment("web", "tiny", replicas: 2));
        await Eventually.WaitAsync(() => Scenario.SiloAsync(cluster, "web"), s => s.Spec.Replicas == 2, "silo");
        cluster.SiloReady("web");
        await Scenario.ReadyAtAsync(cluster, "web", 1);
        Assert.Equal(1, cluster.Admin.Puts("web"));

        cluster.Admin.Forget("web"); // the cluster's in-memory plan registry restarted

        await Eventually.WaitAsync(() => Task.FromResult<string?>(cluster.Admin.Puts("web").ToString(System.Globalization.CultureInfo.InvariantCulture)), p => p == "2", "plan v1 published again");
        // Followed to Complete again, like a new version (the placement went back to Pending when it was republished).
        await Eventually.WaitAsync(async () => (await cluster.PlacementsAsync("web")).SingleOrDefault(),
            p => p.Status?.Phase == "Complete" && p.Status.Message != "published again: the cluster had lost it", "plan v1 complete again");
        var d = await Scenario.ReadyAtAsync(cluster, "web", 1);
        Assert.Equal(1, Assert.Single(cluster.Admin.Published("web")).Version);
        var events = await Eventually.WaitAsync(() => cluster.Client.CoreV1.ListNamespacedEventAsync("default"),
            l => l.Items.Any(e => e.InvolvedObject.Name == "web" && e.Reason == "PlanRepublished"), "PlanRepublished event");
        Assert.Equal("Warning", events.Items.First(e => e.Reason == "PlanRepublished").Type);
        Assert.Equal(1, d.Status!.CurrentPlanVersion);
    }

    [Fact]
    public async Task Migration_WhenTheClusterReportsFailed_DegradedWithTheReason_RetriesAndRecovers()
    {
        await using var cluster = await Cluster.StartAsync();
        cluster.Admin.FailWith = "Replica tiny/0/1@1 on pod-1 cannot load its weights: NaN or infinite value at element 0";
        await using var op = await OperatorHost.StartAsync(cluster.Api, cluster.Admin);
        await Scenario.CreateAsync(cluster, Scenario.Model(), Scenario.Deployment("web", "tiny", replicas: 2));
        await Eventually.WaitAsync(() => Scenario.SiloAsync(cluster, "web"), s => s.Spec.Replicas == 2, "silo");
        cluster.SiloReady("web");

        var degraded = await Eventually.WaitAsync(() => cluster.DeploymentAsync("web"), d => d.Status?.Phase == "Degraded", "web degraded");
        var condition = degraded.Status!.Conditions.Single(c => c.Type == "Degraded");
        Assert.Equal("MigrationFailed", condition.Reason);
        Assert.Contains("cannot load its weights", condition.Message, StringComparison.Ordinal);
        await Eventually.WaitAsync(() => Task.FromResult<string?>(cluster.Admin.Puts("web") >= 3 ? "retried" : null), r => r is not null, "the failed version published again");
        var events = await cluster.Client.CoreV1.ListNamespacedEventAsync("default");
        Assert.Single(events.Items, e => e.InvolvedObject.Name == "web" && e.Reason == "MigrationFailed");

        cluster.Admin.FailWith = null; // the weights were fixed
        var d = await Scenario.ReadyAtAsync(cluster, "web", 1);

        Assert.Equal("Complete", Assert.Single(await cluster.PlacementsAsync("web")).Status?.Phase);
        Assert.Equal("False", d.Status!.Conditions.Single(c => c.Type == "Degraded").Status);
    }

    [Fact]
    public async Task ScaleIn_WithAHistoryLimit_KeepsOnlyTheNewestPlacements()
    {
        await using var cluster = await Cluster.StartAsync();
        await using var op = await OperatorHost.StartAsync(cluster.Api, cluster.Admin);
        var deployment = Scenario.Deployment("web", "tiny", replicas: 4, maxMoves: 4);
        deployment.Spec.Placement.HistoryLimit = 2;
        await Scenario.CreateAsync(cluster, Scenario.Model(), deployment);
        await Eventually.WaitAsync(() => Scenario.SiloAsync(cluster, "web"), s => s.Spec.Replicas == 4, "silo at 4");
        cluster.SiloReady("web");
        await Scenario.ReadyAtAsync(cluster, "web", 1);

        // 4 layers x 4 experts leave pod 3 at 4 moves a plan: at least 4 new versions.
        await ScaleAsync(cluster, "web", 3);
        var done = await Eventually.WaitAsync(() => cluster.DeploymentAsync("web"), d => d.Status?.Phase == "Ready" && d.Status.CurrentPlanVersion >= 5, "scale-in complete");
        var kept = await Eventually.WaitAsync(async () => await cluster.PlacementsAsync("web"), p => p.Count == 2, "two placements kept");

        Assert.Equal([done.Status!.CurrentPlanVersion!.Value - 1, done.Status.CurrentPlanVersion.Value], kept.Select(p => p.Spec.Version));
        Assert.All(kept[^1].Spec.Layers, l => Assert.All(l.Pods, p => Assert.InRange(p, 0, 2)));
        Assert.True(cluster.Admin.Published("web").Count >= 5);
    }

    [Fact]
    public async Task LeaderElection_WhenTwoReplicas_OneLeadsAndBothServeHealthAndMetrics()
    {
        await using var cluster = await Cluster.StartAsync();
        await using var a = await OperatorHost.StartAsync(cluster.Api, cluster.Admin, "operator-a");
        var lease = await Eventually.WaitAsync(async () =>
        {
            try
            {
                return await cluster.Client.CoordinationV1.ReadNamespacedLeaseAsync("moecloud-operator", "default");
            }
            catch (k8s.Autorest.HttpOperationException e) when (e.Response.StatusCode == HttpStatusCode.NotFound)
            {
                return null;
            }
        }, l => l.Spec.HolderIdentity == "operator-a", "operator-a leads");
        await using var b = await OperatorHost.StartAsync(cluster.Api, cluster.Admin, "operator-b");

        using var http = new HttpClient();
        Assert.Equal("\"leading\"", await Eventually.WaitAsync(() => http.GetStringAsync(new Uri(a.Url, "/readyz"))!, s => s == "\"leading\"", "a ready"));
        Assert.Equal("\"standby\"", await http.GetStringAsync(new Uri(b.Url, "/readyz")));
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync(new Uri(b.Url, "/healthz"))).StatusCode);
        Assert.Contains("moecloud_operator_leader 1", await http.GetStringAsync(new Uri(a.Url, "/metrics")), StringComparison.Ordinal);
        Assert.Equal("operator-a", (await cluster.Client.CoordinationV1.ReadNamespacedLeaseAsync("moecloud-operator", "default")).Spec.HolderIdentity);
        Assert.NotNull(lease.Spec.RenewTime);
    }

    [Fact]
    public async Task Replacement_WhenLiveProfileSkewed_WritesRebalancePlanWithinBudget()
    {
        await using var cluster = await Cluster.StartAsync();
        // Layer loads: experts 0..3 (all on pod 0 in the contiguous plan) take most of the dispatches.
        var load = Enumerable.Range(0, 4).Select(_ => Enumerable.Range(0, 16).Select(e => e < 4 ? 10.0 : 1.0).ToArray()).ToArray();
        cluster.Admin.Profile = new LiveProfile { Model = "tiny", Layers = 4, Experts = 16, TopK = 2, Load = [.. load.Select(l => l.Select(x => (long)x).ToArray())], RemoteFraction = 0.61, Tokens = 1000 };
        await using var op = await OperatorHost.StartAsync(cluster.Api, cluster.Admin);
        var deployment = Scenario.Deployment("hot", "tiny", replicas: 4, maxMoves: 6);
        deployment.Spec.Placement.ReplacementIntervalSeconds = 3600;
        await Scenario.CreateAsync(cluster, Scenario.Model(), deployment);
        await Eventually.WaitAsync(() => Scenario.SiloAsync(cluster, "hot"), s => s is not null, "silo");
        cluster.SiloReady("hot");

        var d = await Scenario.ReadyAtAsync(cluster, "hot", 2);
        var plans = await cluster.PlacementsAsync("hot");
        Assert.Equal(["Initial", "Rebalance"], plans.Select(p => p.Spec.Reason));
        var profile = PlanningProfiles.FromLoads("test", load, layers: 4, experts: 16, topK: 2);
        var before = ExpertPlacementMapping.ToPlan(plans[0].Spec);
        var after = ExpertPlacementMapping.ToPlan(plans[1].Spec);
        Assert.InRange(before.MovesTo(after), 1, 6);
        Assert.True(ExpertLoadImbalance.Predicted(after, profile, 4) < ExpertLoadImbalance.Predicted(before, profile, 4) * 0.95);
        Assert.Equal(0.61, d.Status!.RemoteFraction);
        Assert.NotNull(d.Status.LastReplacementTime);
    }

    private static Task ScaleAsync(Cluster cluster, string name, int replicas) =>
        cluster.Client.CustomObjects.PatchNamespacedCustomObjectScaleAsync(
            new k8s.Models.V1Patch($"{{\"spec\":{{\"replicas\":{replicas}}}}}", k8s.Models.V1Patch.PatchType.MergePatch),
            MoeCloudApi.Group, MoeCloudApi.Version, "default", "moedeployments", name);
}
