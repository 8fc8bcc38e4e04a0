using k8s;
using k8s.Models;
using MoeCloud.Operator.Entities;
using MoeCloud.Operator.Placement;
using MoeCloud.Operator.Tests.Support;

namespace MoeCloud.Operator.Tests.EndToEnd;

/// <summary>
/// The silos publish a repair plan themselves (version active + 1) when an expert's only replica dies; the operator
/// must number its next plan above it and plan from it, or the admin API takes its plan as already in effect.
/// </summary>
public sealed class RepairPlanEndToEndTests
{
    [Fact]
    public async Task ScaleIn_AfterTheClusterPutARepairPlanInEffect_RecordsItAndRollsOutTheNextPlanAboveIt()
    {
        await using var cluster = await Cluster.StartAsync();
        await using var op = await OperatorHost.StartAsync(cluster.Api, cluster.Admin, configure: s => s["Operator:PlanCheckSeconds"] = "1");
        await Scenario.CreateAsync(cluster, Scenario.Model(), Scenario.Deployment("web", "tiny", replicas: 4));
        await Eventually.WaitAsync(() => Scenario.SiloAsync(cluster, "web"), s => s.Spec.Replicas == 4, "silo at 4");
        cluster.SiloReady("web");
        await Scenario.ReadyAtAsync(cluster, "web", 1);

        // The cluster re-placed layer 0's expert 12 from pod 3 on pod 2 by itself (plan v2, not the operator's).
        var repaired = cluster.Admin.Active("web")!.Assignment!.Select(l => l.Select(r => r.ToArray()).ToArray()).ToArray();
        repaired[0][12] = [2];
        Assert.Equal(2, cluster.Admin.Repair("web", repaired));

        await cluster.Client.CustomObjects.PatchNamespacedCustomObjectScaleAsync(
            new k8s.Models.V1Patch("{\"spec\":{\"replicas\":3}}", k8s.Models.V1Patch.PatchType.MergePatch),
            MoeCloudApi.Group, MoeCloudApi.Version, "default", "moedeployments", "web");

        // The scale-in plan is v3, planned from the repair plan, published and rolled out.
        await Scenario.ReadyAtAsync(cluster, "web", 3);
        var v3 = Assert.Single(cluster.Admin.Published("web"), p => p.Version == 3);
        Assert.Equal(2, v3.PreviousVersion);
        Assert.Equal(3, cluster.Admin.Active("web")!.Version);
        var plans = await cluster.PlacementsAsync("web");
        Assert.Equal(["Initial", "Repair", "ScaleIn"], plans.Select(p => p.Spec.Reason));
        Assert.Equal(repaired, ExpertPlacementMapping.ToAssignment(plans[1].Spec));
        Assert.Equal("Complete", plans[1].Status?.Phase);
        Assert.Equal(ExpertPlacementMapping.ToPlan(plans[1].Spec).MovesTo(ExpertPlacementMapping.ToPlan(plans[2].Spec)), plans[2].Spec.Metrics!.Moves);
        Assert.All(plans[2].Spec.Layers, l => Assert.All(l.Pods, p => Assert.InRange(p, 0, 2)));
    }

    [Fact]
    public async Task Restart_WhenTheClusterTookTheVersionOfAnUnpublishedPlan_WithdrawsItAndRecordsTheRepair()
    {
        await using var cluster = await Cluster.StartAsync();
        await Scenario.CreateAsync(cluster, Scenario.Model(), Scenario.Deployment("web", "tiny", replicas: 4));
        await using (var first = await OperatorHost.StartAsync(cluster.Api, cluster.Admin))
        {
            await Eventually.WaitAsync(() => Scenario.SiloAsync(cluster, "web"), s => s.Spec.Replicas == 4, "silo at 4");
            cluster.SiloReady("web");
            await Scenario.ReadyAtAsync(cluster, "web", 1);
        }

        // The stopped operator had written plan v2 but not published it; meanwhile the cluster put its own v2 in effect.
        var v1 = Assert.Single(await cluster.PlacementsAsync("web"));
        var unpublished = KubernetesJson.Deserialize<ExpertPlacement>(KubernetesJson.Serialize(v1));
        unpublished.Metadata = new V1ObjectMeta { Name = "web-v2", NamespaceProperty = "default", Labels = v1.Metadata.Labels, OwnerReferences = v1.Metadata.OwnerReferences };
        unpublished.Status = null;
        unpublished.Spec.Version = 2;
        unpublished.Spec.PreviousVersion = 1;
        unpublished.Spec.Reason = "Rebalance";
        unpublished.Spec.Layers[0].Pods[0] = 1;
        await cluster.Resources.CreateAsync(MoeCloudApi.ExpertPlacements, "default", unpublished, CancellationToken.None);
        var repaired = cluster.Admin.Active("web")!.Assignment!.Select(l => l.Select(r => r.ToArray()).ToArray()).ToArray();
        repaired[0][12] = [2];
        Assert.Equal(2, cluster.Admin.Repair("web", repaired));

        await using var second = await OperatorHost.StartAsync(cluster.Api, cluster.Admin, configure: s => s["Operator:PlanCheckSeconds"] = "1");

        // Its v2 is withdrawn unpublished, and the cluster's v2 is recorded in its place.
        var recorded = await Eventually.WaitAsync(async () => (await cluster.PlacementsAsync("web")).ElementAtOrDefault(1), p => p.Spec.Reason == "Repair", "the repair plan recorded as v2");
        Assert.Equal(2, recorded.Spec.Version);
        Assert.Equal(repaired, ExpertPlacementMapping.ToAssignment(recorded.Spec));
        await Scenario.ReadyAtAsync(cluster, "web", 2);
        Assert.Equal(1, cluster.Admin.Puts("web"));
        var events = await Eventually.WaitAsync(() => cluster.Client.CoreV1.ListNamespacedEventAsync("default"),
            l => l.Items.Any(e => e.InvolvedObject.Name == "web" && e.Reason == "PlanVersionTaken"), "PlanVersionTaken event");
        Assert.Equal("Warning", events.Items.First(e => e.Reason == "PlanVersionTaken").Type);
    }
}
