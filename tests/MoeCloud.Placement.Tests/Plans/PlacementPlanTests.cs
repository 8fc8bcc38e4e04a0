namespace MoeCloud.Placement.Tests.Plans;

public sealed class PlacementPlanTests
{
    [Fact]
    public void MovesTo_WhenNextHasMorePods_CountsReplicasOnNewPodsAsMoves()
    {
        var live = TestData.Plan(2, [[[0], [1], [0, 1]]]);
        var next = TestData.Plan(3, [[[0], [2], [0, 2]]]);

        // Expert 1 and expert 2's second replica land on the new pod 2; expert 2's replica on pod 1 is dropped.
        Assert.Equal(2, live.MovesTo(next));
    }

    [Fact]
    public void MovesTo_WhenNextHasFewerPods_CountsOnlyReplicasNewToTheirPod()
    {
        var live = TestData.Plan(3, [[[0], [2], [1]], [[2], [0], [1]]]);
        var next = TestData.Plan(2, [[[0], [1], [1]], [[1], [0], [1, 0]]]);

        // Layer 0: expert 1 moves 2 -> 1. Layer 1: expert 0 moves 2 -> 1, expert 2 gains a replica on pod 0.
        Assert.Equal(3, live.MovesTo(next));
    }

    [Fact]
    public void MovesTo_WhenPlansAreEqual_IsZero()
    {
        var plan = TestData.Plan(2, [[[0], [1, 0]]]);

        Assert.Equal(0, plan.MovesTo(TestData.Plan(2, [[[0], [1, 0]]])));
    }

    [Fact]
    public void MovesTo_WhenLayersOrExpertsDiffer_ThrowsArgumentException()
    {
        var plan = TestData.Plan(2, [[[0], [1]]]);

        Assert.Throws<ArgumentException>(() => plan.MovesTo(TestData.Plan(2, [[[0], [1], [1]]])));
        Assert.Throws<ArgumentException>(() => plan.MovesTo(TestData.Plan(2, [[[0], [1]], [[0], [1]]])));
    }

    [Fact]
    public void ReplicasPerPod_WhenPlanHasReplicas_CountsEachPodsReplicasInTheLayer()
    {
        var plan = TestData.Plan(3, [[[0], [1, 0], [0]], [[2], [2], [1, 2]]]);

        Assert.Equal([3, 1, 0], plan.ReplicasPerPod(0));
        Assert.Equal([0, 1, 3], plan.ReplicasPerPod(1));
        Assert.Throws<ArgumentOutOfRangeException>(() => plan.ReplicasPerPod(2));
    }
}
