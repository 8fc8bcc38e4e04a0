using MoeCloud.Model.Traces;
using MoeCloud.Placement.Autoscaling;
using MoeCloud.Placement.Metrics;
using MoeCloud.Placement.Plans;
using MoeCloud.Placement.Profiles;

namespace MoeCloud.Placement.Tests.Autoscaling;

public sealed class ExpertReplicaAutoscalerTests
{
    private static readonly DateTimeOffset Start = new(2026, 12, 1, 12, 0, 0, TimeSpan.Zero);

    /// <summary>8 experts on 4 pods, two per pod (expert e on pod e / 2), in every layer.</summary>
    private static PlacementPlan Contiguous(int layers = 2, int capacity = 1000, params (int Expert, int Pod)[] extra)
    {
        var layer = Enumerable.Range(0, 8).Select(e => new[] { e / 2 }.Concat(extra.Where(x => x.Expert == e).Select(x => x.Pod)).ToArray()).ToArray();
        return TestData.Plan(4, TestData.Repeat(layers, layer), capacity);
    }

    private static WorkloadProfile Loads(int layers, params long[] layer) =>
        WorkloadProfile.FromLoad("loads", new ExpertLoad(layers, layer.Length, [.. Enumerable.Range(0, layers).SelectMany(_ => layer)]), topK: 2);

    /// <summary>Expert 0 takes 40 of 75 dispatches per layer (share 0.533).</summary>
    private static WorkloadProfile HotExpertZero(int layers = 2) => Loads(layers, 40, 5, 5, 5, 5, 5, 5, 5);

    private static ExpertAutoscalingOptions Share(double target = 0.3) => new() { TargetLoadPerReplica = target, Cooldown = TimeSpan.FromSeconds(120) };

    [Fact]
    public void Decide_WhenExpertPassesTargetShare_AddsReplicaOnPodThatLowersImbalanceMost()
    {
        var live = Contiguous();

        var decision = ExpertReplicaAutoscaler.Decide(live, HotExpertZero(), Share(), null, Start);

        Assert.Equal(AutoscaleAction.Add, decision.Action);
        Assert.Equal(live.Info.Version + 1, decision.Plan.Info.Version);
        // Pod 0 keeps 45 of 75 without a second replica; a replica on pod 1, 2 or 3 leaves 25 / 30 / 10 / 10: pod 1 (lowest id of the ties).
        Assert.Equal([0, 1], decision.Plan.PodsOf(0, 0).ToArray());
        Assert.Equal([0, 1], decision.Plan.PodsOf(1, 0).ToArray());
        Assert.Equal(live.TotalReplicas + 2, decision.Plan.TotalReplicas);
        Assert.StartsWith("L0/E0 load/replica 0.533 > 0.300: +1 replica of E0 on pod 1", decision.Reason);
        Assert.True(ExpertLoadImbalance.Predicted(decision.Plan, HotExpertZero()) < ExpertLoadImbalance.Predicted(live, HotExpertZero()));
    }

    [Fact]
    public void Decide_WhenExtraReplicaIsCold_RetiresIt()
    {
        // Expert 5 has a second replica on pod 0 but only 1/8 of the dispatches: 0.125 per replica alone, under 0.5 x 0.3.
        var live = Contiguous(extra: (5, 0));

        var decision = ExpertReplicaAutoscaler.Decide(live, Loads(2, 10, 10, 10, 10, 10, 10, 10, 10), Share(), null, Start);

        Assert.Equal(AutoscaleAction.Retire, decision.Action);
        Assert.Equal(live.TotalReplicas - 2, decision.Plan.TotalReplicas);
        Assert.Single(decision.Plan.PodsOf(0, 5).ToArray());
        Assert.All(decision.Changes, c => Assert.False(c.Added));
        Assert.Contains("-1 replica of E5", decision.Reason);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Decide_WhenLoadStaysConstant_ChangesOnlyOnce(bool byImbalance)
    {
        var options = byImbalance
            ? new ExpertAutoscalingOptions { MaxLoadImbalance = 1.3, Cooldown = TimeSpan.FromSeconds(30) }
            : Share() with { Cooldown = TimeSpan.FromSeconds(30) };
        var plan = Contiguous();
        DateTimeOffset? last = null;
        var changes = 0;
        for (var step = 0; step < 30; step++)
        {
            var now = Start + TimeSpan.FromSeconds(45 * step);
            var decision = ExpertReplicaAutoscaler.Decide(plan, HotExpertZero(), options, last, now);
            if (decision.Changed)
            {
                changes++;
                plan = decision.Plan;
                last = now;
            }
        }

        Assert.Equal(1, changes);
    }

    [Fact]
    public void Decide_WithinCooldown_KeepsAndAfterItAdds()
    {
        var live = Contiguous();

        var early = ExpertReplicaAutoscaler.Decide(live, HotExpertZero(), Share(), Start - TimeSpan.FromSeconds(119), Start);
        var due = ExpertReplicaAutoscaler.Decide(live, HotExpertZero(), Share(), Start - TimeSpan.FromSeconds(120), Start);

        Assert.Equal(AutoscaleAction.Keep, early.Action);
        Assert.Same(live, early.Plan);
        Assert.StartsWith("cooldown", early.Reason);
        Assert.Equal(AutoscaleAction.Add, due.Action);
    }

    [Fact]
    public void Decide_WhenMaxRedundantReached_AddsNoMoreThanMax()
    {
        // Experts 0 and 2 are both hot; one extra replica per layer is allowed.
        var load = Loads(1, 30, 5, 30, 5, 5, 5, 5, 5);

        var decision = ExpertReplicaAutoscaler.Decide(Contiguous(layers: 1), load, Share(0.2) with { MaxRedundant = 1 }, null, Start);

        Assert.Equal(AutoscaleAction.Add, decision.Action);
        Assert.Single(decision.Changes);
        Assert.Equal(9, decision.Plan.TotalReplicas);
    }

    [Fact]
    public void Decide_WhenBelowMinRedundant_AddsUpToMinOnEvenLoad()
    {
        var decision = ExpertReplicaAutoscaler.Decide(Contiguous(layers: 1), Loads(1, 10, 10, 10, 10, 10, 10, 10, 10), Share() with { MinRedundant = 2 }, null, Start);

        Assert.Equal(AutoscaleAction.Add, decision.Action);
        Assert.Equal(10, decision.Plan.TotalReplicas);
    }

    [Fact]
    public void Decide_WhenColdExtrasAtMinRedundant_RetiresNone()
    {
        var live = Contiguous(layers: 1, extra: [(5, 0), (6, 1)]);

        var decision = ExpertReplicaAutoscaler.Decide(live, Loads(1, 10, 10, 10, 10, 10, 10, 10, 10), Share() with { MinRedundant = 1 }, null, Start);

        Assert.Equal(AutoscaleAction.Retire, decision.Action);
        Assert.Equal(9, decision.Plan.TotalReplicas);
    }

    [Fact]
    public void Decide_WhenNoPodHasRoom_KeepsAndSaysSo()
    {
        // Every pod is full (2 replicas each, capacity 2).
        var live = Contiguous(layers: 1, capacity: 2);

        var decision = ExpertReplicaAutoscaler.Decide(live, HotExpertZero(layers: 1), Share(), null, Start);

        Assert.Equal(AutoscaleAction.Keep, decision.Action);
        Assert.Contains("no pod has room", decision.Reason);
        Assert.Contains("L0/E0", decision.Reason);
    }

    [Fact]
    public void Decide_WhenLayerSlotsFull_AddsOnlyWhereASlotIsFree()
    {
        // Pods 1..3 hold two replicas of the layer each; with three slots per layer only one more fits per pod.
        var live = Contiguous(layers: 1);
        var options = Share(0.1) with { LayerSlots = 3, MaxRedundant = 8 };

        var decision = ExpertReplicaAutoscaler.Decide(live, HotExpertZero(layers: 1), options, null, Start);

        Assert.All(Enumerable.Range(0, 4), p => Assert.InRange(decision.Plan.ReplicasPerPod(0)[p], 0, 3));
        Assert.Equal(AutoscaleAction.Add, decision.Action);
    }

    [Fact]
    public void Decide_WhenLayerImbalanceOverMax_AddsUntilUnderIt()
    {
        var options = new ExpertAutoscalingOptions { MaxLoadImbalance = 1.25, MaxMoves = 16 };

        var decision = ExpertReplicaAutoscaler.Decide(Contiguous(layers: 1), HotExpertZero(layers: 1), options, null, Start);

        Assert.Equal(AutoscaleAction.Add, decision.Action);
        Assert.True(ExpertLoadImbalance.Predicted(Contiguous(layers: 1), HotExpertZero(layers: 1)) > 2);
        Assert.InRange(ExpertLoadImbalance.Predicted(decision.Plan, HotExpertZero(layers: 1)), 1, 1.25);
        Assert.Contains("L0 imbalance", decision.Reason);
    }

    public static TheoryData<string, ExpertAutoscalingOptions, string> BadOptions => new()
    {
        { "neither", new ExpertAutoscalingOptions(), "set exactly one of MaxLoadImbalance and TargetLoadPerReplica (got neither)" },
        { "both", new ExpertAutoscalingOptions { MaxLoadImbalance = 1.1, TargetLoadPerReplica = 0.2 }, "(got both)" },
        { "imbalance", new ExpertAutoscalingOptions { MaxLoadImbalance = 0.9 }, "MaxLoadImbalance must be a number of at least 1 (got 0.9)" },
        { "share", new ExpertAutoscalingOptions { TargetLoadPerReplica = 1.5 }, "TargetLoadPerReplica must be in (0, 1] (got 1.5)" },
        { "minMax", new ExpertAutoscalingOptions { TargetLoadPerReplica = 0.2, MinRedundant = 5, MaxRedundant = 4 }, "MinRedundant (5) must not exceed MaxRedundant (4)" },
        { "ratio", new ExpertAutoscalingOptions { TargetLoadPerReplica = 0.2, RetireRatio = 1 }, "RetireRatio must be in (0, 1) (got 1)" },
        { "moves", new ExpertAutoscalingOptions { TargetLoadPerReplica = 0.2, MaxMoves = 0 }, "MaxMoves must be at least 1 (got 0)" },
        { "cooldown", new ExpertAutoscalingOptions { TargetLoadPerReplica = 0.2, Cooldown = TimeSpan.FromSeconds(-1) }, "Cooldown must not be negative" },
        { "slots", new ExpertAutoscalingOptions { TargetLoadPerReplica = 0.2, LayerSlots = 0 }, "LayerSlots must be at least 1 when set (got 0)" },
    };

    [Theory]
    [MemberData(nameof(BadOptions))]
    public void Decide_WhenOptionsInvalid_ThrowsNamingTheProblem(string name, ExpertAutoscalingOptions options, string message)
    {
        var e = Assert.Throws<ArgumentException>(() => ExpertReplicaAutoscaler.Decide(Contiguous(), HotExpertZero(), options, null, Start));

        Assert.Contains(message, e.Message);
        Assert.False(string.IsNullOrEmpty(name));
    }

    [Fact]
    public void Decide_WhenLoadShapeDiffersFromPlan_Throws()
    {
        var e = Assert.Throws<ArgumentException>(() => ExpertReplicaAutoscaler.Decide(Contiguous(layers: 2), HotExpertZero(layers: 3), Share(), null, Start));

        Assert.Contains("the plan is [2 layers x 8 experts], the load [3 x 8]", e.Message);
    }
}
