using MoeCloud.Model.Traces;
using MoeCloud.Placement.Plans;
using MoeCloud.Placement.Profiles;
using MoeCloud.Placement.Solvers;

namespace MoeCloud.Placement.Tests.Solvers;

public sealed class ScalingPlannerTests
{
    /// <summary>Expert e on pod ⌊e · pods / experts⌋ in every layer, one replica each.</summary>
    private static PlacementPlan Contiguous(int layers, int experts, int pods, int capacity = 1000) =>
        TestData.Plan(pods, TestData.Repeat(layers, Enumerable.Range(0, experts).Select(e => new[] { (int)((long)e * pods / experts) }).ToArray()), capacity);

    private static WorkloadProfile Loads(params long[][] layers) =>
        WorkloadProfile.FromLoad("loads", new ExpertLoad(layers.Length, layers[0].Length, layers.SelectMany(l => l).ToArray()), topK: 2);

    private static WorkloadProfile Uniform(int layers, int experts) =>
        Loads(Enumerable.Range(0, layers).Select(_ => Enumerable.Repeat(10L, experts).ToArray()).ToArray());

    private static int OnPodsFrom(PlacementPlan plan, int first) =>
        Enumerable.Range(first, Math.Max(0, plan.PodCount - first)).Sum(p => plan.ReplicasOn(p).Count);

    [Fact]
    public void Next_WhenScalingInBeyondOneBudget_EvictsOnLivePodsFirstThenShrinks()
    {
        var plan = Contiguous(layers: 2, experts: 12, pods: 6);
        var profile = Uniform(2, 12);
        var leaving = OnPodsFrom(plan, 3);
        Assert.Equal(12, leaving);
        var steps = new List<ScalingStep>();
        while (steps.Count < 10 && (steps.Count == 0 || !steps[^1].Complete))
        {
            var step = ScalingPlanner.Next(steps.Count == 0 ? plan : steps[^1].Plan, 3, maxMoves: 5, profile);
            steps.Add(step);
        }

        Assert.Equal(3, steps.Count);
        var previous = plan;
        foreach (var step in steps)
        {
            Assert.InRange(step.Moves, 1, 5);
            Assert.Equal(previous.Info.Version + 1, step.Plan.Info.Version);
            Assert.Equal(previous.TotalReplicas, step.Plan.TotalReplicas);
            if (!step.Complete)
            {
                // Still on the live pods, with fewer replicas on the leaving ones.
                Assert.Equal(6, step.Plan.PodCount);
                Assert.True(OnPodsFrom(step.Plan, 3) < OnPodsFrom(previous, 3));
                Assert.Equal(step.Moves, previous.MovesTo(step.Plan));
            }

            previous = step.Plan;
        }

        Assert.Equal([7, 2], steps.Take(2).Select(s => OnPodsFrom(s.Plan, 3)));
        var last = steps[^1];
        Assert.Equal(3, last.Plan.PodCount);
        Assert.Equal(0, last.Dropped);
        Assert.All(Enumerable.Range(0, 3), p => Assert.Equal(8, last.Plan.ReplicasOn(p).Count));
        Assert.Equal(1.0, last.ImbalanceAfter, 6);
    }

    [Fact]
    public void Next_WhenScalingIn_KeepsLayerSlotsAndPodCapacities()
    {
        var plan = Contiguous(layers: 3, experts: 12, pods: 6, capacity: 6);
        var profile = Loads([50, 40, 30, 20, 10, 9, 8, 7, 6, 5, 4, 3], [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 90], [5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5]);
        var options = new ScalingOptions { LayerSlots = 4, PodCapacity = 13 };
        var current = plan;
        for (var i = 0; i < 10; i++)
        {
            var step = ScalingPlanner.Next(current, 3, maxMoves: 7, profile, options);
            Assert.InRange(step.Moves, 1, 7);
            Assert.All(step.Plan.Pods, p => Assert.InRange(step.Plan.ReplicasOn(p.Id).Count, 0, 13));
            Assert.All(step.Plan.Pods, p => Assert.All(Enumerable.Range(0, 3), l => Assert.InRange(step.Plan.ReplicasOn(p.Id).Count(r => r.Layer == l), 0, 4)));
            current = step.Plan;
            if (step.Complete)
            {
                break;
            }
        }

        Assert.Equal(3, current.PodCount);
        Assert.Equal(36, current.TotalReplicas);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(3)]
    [InlineData(40)]
    public void Next_WhenScalingOut_MovesAtMostTheBudgetOntoTheNewPods(int budget)
    {
        var plan = Contiguous(layers: 2, experts: 16, pods: 4);
        var profile = Uniform(2, 16);

        var step = ScalingPlanner.Next(plan, 6, budget, profile);

        Assert.True(step.Complete);
        Assert.Equal(6, step.Plan.PodCount);
        Assert.InRange(step.Moves, 1, budget);
        Assert.Equal(step.Moves, OnPodsFrom(step.Plan, 4));
        Assert.Equal(plan.TotalReplicas, step.Plan.TotalReplicas);
        Assert.True(step.ImbalanceAfter <= step.ImbalanceBefore);
        if (budget >= 8)
        {
            Assert.True(step.ImbalanceAfter < step.ImbalanceBefore);
            // 16 experts over 6 pods: 3, 3, 3, 3, 2, 2 per layer, and nothing more moves.
            Assert.Equal(8, step.Moves);
            Assert.All(Enumerable.Range(0, 6), p => Assert.InRange(step.Plan.ReplicasOn(p).Count, 4, 6));
        }
    }

    [Fact]
    public void Next_WhenScalingOutSkewed_MovesTheHeaviestOffTheHottestPod()
    {
        var plan = Contiguous(layers: 1, experts: 8, pods: 2);
        var profile = Loads([40, 10, 10, 10, 10, 10, 10, 10]);

        var step = ScalingPlanner.Next(plan, 3, maxMoves: 1, profile);

        Assert.Equal([2], step.Plan.PodsOf(0, 0).ToArray());
        Assert.True(step.Gain > 0);
    }

    [Fact]
    public void Next_WhenSamePodsAndLoadOnly_RebalancesWithinBudget()
    {
        var plan = Contiguous(layers: 1, experts: 8, pods: 4);
        var skewed = Loads([10, 10, 1, 1, 1, 1, 1, 1]);

        var step = ScalingPlanner.Next(plan, 4, maxMoves: 2, skewed);

        Assert.InRange(step.Moves, 1, 2);
        Assert.True(step.Gain > 0.2, $"gain {step.Gain}");
        Assert.NotEqual(step.Plan.PodsOf(0, 0)[0], step.Plan.PodsOf(0, 1)[0]);
        Assert.Equal(0, ScalingPlanner.Next(plan, 4, maxMoves: 5, Uniform(1, 8)).Moves);
    }

    [Fact]
    public void Next_WhenProfileHasSamples_AlignsMovesWithTokenHomes()
    {
        // Half the tokens use expert 0 then expert 1, the other half expert 1 then expert 0: a plan that keeps each
        // half's experts on one pod makes every dispatch local; balance alone cannot tell the two moves apart.
        var routing = Enumerable.Range(0, 64).Select(t => t < 32 ? new[] { new[] { 0 }, new[] { 1 } } : new[] { new[] { 1 }, new[] { 0 } }).ToArray();
        var profile = TestData.Profile(TestData.Trace(2, routing));
        var plan = TestData.Plan(1, TestData.Repeat(2, [0], [0]));

        var aligned = ScalingPlanner.Next(plan, 2, maxMoves: 2, profile);
        var balanceOnly = ScalingPlanner.Next(plan, 2, maxMoves: 2, profile, new ScalingOptions { RemoteWeight = 0 });

        Assert.Equal(2, aligned.Moves);
        Assert.Equal(2, balanceOnly.Moves);
        Assert.NotNull(aligned.RemoteAfter);
        Assert.True(aligned.RemoteAfter < balanceOnly.RemoteAfter, $"{aligned.RemoteAfter} vs {balanceOnly.RemoteAfter}");
        Assert.Equal(aligned.Plan.PodsOf(0, 1)[0], aligned.Plan.PodsOf(1, 0)[0]);
    }

    [Fact]
    public void Next_WhenRedundantReplicaHasNowhereToGo_DropsItWithoutAMove()
    {
        // Expert 0 has a replica on every pod; the one on pod 2 cannot move to pods 0 or 1.
        var plan = TestData.Plan(3, [[[0, 1, 2], [1]]]);

        var step = ScalingPlanner.Next(plan, 2, maxMoves: 1, Loads([30, 10]));

        Assert.True(step.Complete);
        Assert.Equal(1, step.Dropped);
        Assert.Equal(0, step.Moves);
        Assert.Equal([0, 1], step.Plan.PodsOf(0, 0).ToArray());
    }

    [Fact]
    public void Next_WhenSoleReplicaFindsNoSlot_DropsARedundantReplicaToMakeRoom()
    {
        var plan = TestData.Plan(3, [[[0, 1], [1, 0], [2]]]);

        var step = ScalingPlanner.Next(plan, 2, maxMoves: 1, Loads([30, 10, 10]), new ScalingOptions { LayerSlots = 2 });

        Assert.True(step.Complete);
        Assert.Equal((1, 1), (step.Moves, step.Dropped));
        Assert.Equal(2, step.Plan.PodsOf(0, 0).Length);
        Assert.Single(step.Plan.PodsOf(0, 1).ToArray());
        Assert.Single(step.Plan.PodsOf(0, 2).ToArray());
    }

    [Fact]
    public void Next_WhenInputIsBad_ThrowsClearArgumentException()
    {
        var plan = Contiguous(layers: 2, experts: 8, pods: 4);
        var profile = Uniform(2, 8);

        Assert.Contains("target pod count must be at least 1", Assert.Throws<ArgumentException>(() => ScalingPlanner.Next(plan, 0, 4, profile)).Message, StringComparison.Ordinal);
        Assert.Contains("move budget must be at least 1", Assert.Throws<ArgumentException>(() => ScalingPlanner.Next(plan, 2, 0, profile)).Message, StringComparison.Ordinal);
        Assert.Contains("[2 layers x 8 experts], the profile [1 x 8]", Assert.Throws<ArgumentException>(() => ScalingPlanner.Next(plan, 2, 4, Uniform(1, 8))).Message, StringComparison.Ordinal);
        Assert.Contains("over the 1 slots per layer", Assert.Throws<ArgumentException>(() => ScalingPlanner.Next(plan, 4, 4, profile, new ScalingOptions { LayerSlots = 1 })).Message, StringComparison.Ordinal);
        Assert.Contains("1 pods x 4 slots per layer cannot hold the 8 experts", Assert.Throws<ArgumentException>(() => ScalingPlanner.Next(plan, 1, 4, profile, new ScalingOptions { LayerSlots = 4 })).Message, StringComparison.Ordinal);
        Assert.Contains("cannot hold 2 layers x 8 experts", Assert.Throws<ArgumentException>(() => ScalingPlanner.Next(plan, 2, 4, profile, new ScalingOptions { PodCapacity = 7 })).Message, StringComparison.Ordinal);
        Assert.Contains("RemoteWeight must be in [0, 100]", Assert.Throws<ArgumentException>(() => ScalingPlanner.Next(plan, 2, 4, profile, new ScalingOptions { RemoteWeight = -1 })).Message, StringComparison.Ordinal);
    }
}
