using k8s;
using MoeCloud.Contracts.Admin;
using MoeCloud.Operator.Entities;
using MoeCloud.Operator.Placement;
using MoeCloud.Operator.Reconcilers;
using MoeCloud.Operator.Tests.Support;

namespace MoeCloud.Operator.Tests.EndToEnd;

/// <summary>spec.autoscaling.experts through the real operator, the in-process API server and the fake admin API.</summary>
public sealed class ExpertAutoscalingEndToEndTests
{
    /// <summary>Per layer, <paramref name="hot"/> takes 60 of 90 dispatches (share 0.667), the other 15 experts 2 each.</summary>
    private static LiveProfile Skewed(int hot) => new()
    {
        Model = "tiny",
        Layers = 4,
        Experts = 16,
        TopK = 2,
        Load = [.. Enumerable.Range(0, 4).Select(_ => Enumerable.Range(0, 16).Select(e => e == hot ? 60L : 2L).ToArray())],
        RemoteFraction = 0.5,
        Tokens = 1000,
    };

    private static async Task<(Cluster Cluster, OperatorHost Operator)> StartAsync(int cooldownSeconds)
    {
        var cluster = await Cluster.StartAsync();
        cluster.Admin.Profile = Skewed(hot: 0);
        var op = await OperatorHost.StartAsync(cluster.Api, cluster.Admin, configure: s => s["Operator:PlanCheckSeconds"] = "1");
        var deployment = Scenario.Deployment("hot", "tiny", replicas: 4);
        deployment.Spec.Autoscaling.Experts = new ExpertAutoscalingPolicy { Enabled = true, TargetLoadPerReplica = 0.25, MaxRedundant = 4, CooldownSeconds = cooldownSeconds };
        await Scenario.CreateAsync(cluster, Scenario.Model(), deployment);
        await Eventually.WaitAsync(() => Scenario.SiloAsync(cluster, "hot"), s => s is not null, "silo");
        cluster.SiloReady("hot");
        return (cluster, op);
    }

    [Fact]
    public async Task Autoscale_WhenLiveLoadSkewed_AddsReplicasOfTheHotExpertWithEventAndStatus()
    {
        var (cluster, op) = await StartAsync(cooldownSeconds: 0);
        await using var _ = cluster;
        await using var __ = op;

        var d = await Scenario.ReadyAtAsync(cluster, "hot", 2);

        var plans = await cluster.PlacementsAsync("hot");
        Assert.Equal(["Initial", ExpertReplicaScaling.Reason], plans.Select(p => p.Spec.Reason));
        var before = ExpertPlacementMapping.ToPlan(plans[0].Spec);
        var after = ExpertPlacementMapping.ToPlan(plans[1].Spec);
        // 0.667 per replica alone; three replicas carry 0.222 each, under the 0.25 target.
        Assert.All(Enumerable.Range(0, 4), l => Assert.Equal(3, after.PodsOf(l, 0).Length));
        Assert.Equal(before.TotalReplicas + 8, after.TotalReplicas);
        var experts = d.Status!.Autoscaling!.Experts!;
        Assert.Equal(8, experts.RedundantReplicas);
        Assert.Equal(3, experts.MaxReplicasPerExpert);
        Assert.NotNull(experts.LastChangeTime);
        Assert.StartsWith("L0/E0 load/replica 0.667 > 0.250", experts.LastChangeReason);
        var events = await Eventually.WaitAsync(() => cluster.Client.CoreV1.ListNamespacedEventAsync("default"),
            l => l.Items.Any(e => e.InvolvedObject.Name == "hot" && e.Reason == "ExpertReplicasScaled"), "ExpertReplicasScaled event");
        Assert.Contains("L0/E0 load/replica", events.Items.First(e => e.Reason == "ExpertReplicasScaled").Message);
    }

    [Fact]
    public async Task Autoscale_WhenLoadStaysConstant_MakesNoSecondChange()
    {
        var (cluster, op) = await StartAsync(cooldownSeconds: 0);
        await using var _ = cluster;
        await using var __ = op;
        await Scenario.ReadyAtAsync(cluster, "hot", 2);
        var published = cluster.Admin.Puts("hot");

        // Several plan checks (one a second) on the same load.
        await Task.Delay(TimeSpan.FromSeconds(4));

        Assert.Equal(2, (await cluster.PlacementsAsync("hot")).Count);
        Assert.Equal(published, cluster.Admin.Puts("hot"));
    }

    [Fact]
    public async Task Autoscale_WithinCooldown_IgnoresANewHotExpert()
    {
        var (cluster, op) = await StartAsync(cooldownSeconds: 3600);
        await using var _ = cluster;
        await using var __ = op;
        await Scenario.ReadyAtAsync(cluster, "hot", 2);

        cluster.Admin.Profile = Skewed(hot: 5);
        await Task.Delay(TimeSpan.FromSeconds(4));

        var plans = await cluster.PlacementsAsync("hot");
        Assert.Equal(2, plans.Count);
        Assert.Single(ExpertPlacementMapping.ToPlan(plans[1].Spec).PodsOf(0, 5).ToArray());
    }
}
