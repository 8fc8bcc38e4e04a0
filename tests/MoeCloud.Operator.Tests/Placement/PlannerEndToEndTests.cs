using System.Text.Json;
using k8s;
using k8s.Models;
using MoeCloud.Operator.Placement;
using MoeCloud.Operator.Tests.EndToEnd;
using MoeCloud.Operator.Tests.Support;
using MoeCloud.Placement.Metrics;
using MoeCloud.Placement.Plans;

namespace MoeCloud.Operator.Tests.Placement;

/// <summary>The real operator planning with the Placement library: solver, redundant replicas and infeasible policies.</summary>
public sealed class PlannerEndToEndTests
{
    private static readonly double[][] Skewed = Enumerable.Range(0, 4).Select(_ => Enumerable.Range(0, 16).Select(e => e < 2 ? 50.0 : 1.0).ToArray()).ToArray();

    [Fact]
    public async Task Initial_WhenEplbWithRedundantReplicasAndProfile_PublishesTheRedundantReplicas()
    {
        await using var cluster = await Cluster.StartAsync();
        await using var op = await OperatorHost.StartAsync(cluster.Api, cluster.Admin);
        await cluster.Client.CoreV1.CreateNamespacedConfigMapAsync(new V1ConfigMap
        {
            Metadata = new V1ObjectMeta { Name = "skew", NamespaceProperty = "default" },
            Data = new Dictionary<string, string> { ["profile.json"] = JsonSerializer.Serialize(new { load = Skewed }) },
        }, "default");
        var deployment = Scenario.Deployment("hot", "tiny", replicas: 4);
        deployment.Spec.Placement.Solver = "eplb";
        deployment.Spec.Placement.RedundantReplicas = 2;
        deployment.Spec.Placement.ProfileConfigMap = "skew";
        await Scenario.CreateAsync(cluster, Scenario.Model(), deployment);
        await Eventually.WaitAsync(() => Scenario.SiloAsync(cluster, "hot"), s => s is not null, "silo");
        cluster.SiloReady("hot");

        await Scenario.ReadyAtAsync(cluster, "hot", 1);

        var placement = Assert.Single(await cluster.PlacementsAsync("hot"));
        Assert.Equal("eplb", placement.Spec.Solver);
        Assert.All(placement.Spec.Layers, l => Assert.Equal([0, 1], l.Redundant!.Select(r => r.Expert).Order()));
        var published = Assert.Single(cluster.Admin.Published("hot"));
        Assert.All(published.Assignment!, l => Assert.Equal(2, l.Count(e => e.Length > 1)));
        var plan = ExpertPlacementMapping.ToPlan(placement.Spec);
        var contiguous = PlacementPlan.WithoutCapacities(new PlanMetadata(), 4, [.. Enumerable.Range(0, 4).Select(_ => Enumerable.Range(0, 16).Select(e => new[] { e / 4 }).ToArray())]);
        var profile = PlanningProfiles.FromLoads("test", Skewed, layers: 4, experts: 16, topK: 2);
        Assert.True(ExpertLoadImbalance.Predicted(plan, profile, 4) < ExpertLoadImbalance.Predicted(contiguous, profile, 4));
        Assert.Equal(Math.Round(ExpertLoadImbalance.Predicted(plan, profile, 4), 4), placement.Spec.Metrics!.LoadImbalance);
    }

    [Fact]
    public async Task Initial_WhenRedundantReplicasCannotFit_DegradedPlanInfeasible()
    {
        await using var cluster = await Cluster.StartAsync();
        await using var op = await OperatorHost.StartAsync(cluster.Api, cluster.Admin);
        var deployment = Scenario.Deployment("full", "tiny", replicas: 2);
        deployment.Spec.Placement.Solver = "eplb";
        deployment.Spec.Placement.RedundantReplicas = 40;
        await Scenario.CreateAsync(cluster, Scenario.Model(), deployment);

        var d = await Eventually.WaitAsync(() => cluster.DeploymentAsync("full"), d => d.Status?.Phase == "Degraded", "full degraded");

        var degraded = d.Status!.Conditions.Single(c => c.Type == "Degraded");
        Assert.Equal("PlanInfeasible", degraded.Reason);
        Assert.Contains("40 redundant replicas per layer cannot fit", degraded.Message, StringComparison.Ordinal);
        Assert.Empty(await cluster.PlacementsAsync("full"));
    }
}
