using MoeCloud.Placement.Plans;

namespace MoeCloud.Placement.Tests.Plans;

public sealed class RepairPlannerTests
{
    [Fact]
    public void Repair_WhenAnExpertsOnlyReplicaDied_PlacesItOnTheLeastLoadedSurvivor()
    {
        // Pod 2 holds expert 2's only replica and a second replica of expert 0; pod 1 holds fewer replicas than pod 0.
        var live = TestData.Plan(3, [[[0, 2], [0], [2], [1]]]);

        var result = RepairPlanner.Repair(live, new HashSet<int> { 2 });

        Assert.NotNull(result.Plan);
        Assert.Equal([new RepairedExpert(0, 2, 1)], result.Repaired);
        Assert.Equal([1], result.Plan.PodsOf(0, 2).ToArray());
        Assert.Equal(2, result.Dropped);
        Assert.Empty(result.Plan.ReplicasOn(2));
        Assert.Equal(live.Info.Version + 1, result.Plan.Info.Version);
        Assert.Equal("repair", result.Plan.Info.Solver);
        Assert.Equal(3, result.Plan.PodCount);
    }

    [Theory]
    [InlineData(new int[0], false)]
    [InlineData(new[] { 0 }, false)] // expert 0 keeps pod 2, expert 1 pod 1
    [InlineData(new[] { 1 }, false)]
    [InlineData(new[] { 2 }, true)] // expert 2's only replica
    [InlineData(new[] { 0, 1 }, true)] // expert 1 had pods 0 and 1
    [InlineData(new[] { 7 }, false)] // outside the plan: ignored
    public void HasOrphans_IsTrueExactlyWhenRepairWouldReplaceSomeExpert(int[] dead, bool orphaned)
    {
        var live = TestData.Plan(3, [[[0, 2], [0, 1], [2]]]);
        var deadPods = dead.ToHashSet();

        Assert.Equal(orphaned, RepairPlanner.HasOrphans(live, deadPods));
        if (dead.All(p => p < live.PodCount))
        {
            Assert.Equal(orphaned, RepairPlanner.Repair(live, deadPods).Plan is not null);
        }
    }

    [Fact]
    public void Repair_WhenPodsDie_KeepsEverySurvivingReplicaOnItsPod()
    {
        var live = TestData.Plan(4, [[[0, 3], [1], [2, 0], [3]], [[3], [2, 1], [0], [1, 3]]]);

        var result = RepairPlanner.Repair(live, new HashSet<int> { 3 });

        Assert.NotNull(result.Plan);
        for (var l = 0; l < live.Layers; l++)
        {
            for (var e = 0; e < live.Experts; e++)
            {
                var survivors = live.PodsOf(l, e).ToArray().Where(p => p != 3).ToArray();
                if (survivors.Length > 0)
                {
                    Assert.Equal(survivors, result.Plan.PodsOf(l, e).ToArray());
                }
            }
        }

        Assert.Equal([(0, 3), (1, 0)], result.Repaired.Select(r => (r.Layer, r.Expert)));
    }

    [Fact]
    public void Repair_WhenTheLeastLoadedPodIsFull_UsesAPodWithRoom()
    {
        // Pod 1 holds the fewest replicas but is at its capacity of 2; pod 0 has room. Pod 2 dies with three sole replicas.
        PodSpec[] pods = [new(0, 10), new(1, 2), new(2, 10)];
        var live = new PlacementPlan(new PlanMetadata { Solver = "hand" }, pods, [[[0], [0], [1], [2]], [[0], [1], [2], [2]]]);

        var result = RepairPlanner.Repair(live, new HashSet<int> { 2 });

        Assert.NotNull(result.Plan);
        Assert.Equal([new RepairedExpert(0, 3, 0), new RepairedExpert(1, 2, 0), new RepairedExpert(1, 3, 0)], result.Repaired);
        Assert.Equal(2, result.Plan.ReplicasOn(1).Count);
        Assert.Equal(pods, result.Plan.Pods);
    }

    [Fact]
    public void Repair_WhenEveryExpertHasASurvivingReplica_HasNothingToDo()
    {
        var live = TestData.Plan(3, [[[0, 1], [1, 2], [2, 0]]]);

        var result = RepairPlanner.Repair(live, new HashSet<int> { 2 });

        Assert.Null(result.Plan);
        Assert.Empty(result.Repaired);
        Assert.Equal(0, result.Dropped);
    }

    [Fact]
    public void Repair_WhenTheSurvivorsCannotHoldTheOrphans_ThrowsNamingTheExpert()
    {
        var live = TestData.Plan(2, [[[0], [0], [1], [1]]], capacity: 3);

        var e = Assert.Throws<InvalidOperationException>(() => RepairPlanner.Repair(live, new HashSet<int> { 1 }));

        Assert.Contains("layer 0, expert 3", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Repair_WhenADeadPodIsOutsideThePlan_ThrowsArgumentException()
    {
        var live = TestData.Plan(2, [[[0], [1]]]);

        Assert.Throws<ArgumentException>(() => RepairPlanner.Repair(live, new HashSet<int> { 2 }));
    }
}
