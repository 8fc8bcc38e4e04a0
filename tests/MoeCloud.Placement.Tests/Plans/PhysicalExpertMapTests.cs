using MoeCloud.Placement.Plans;
using MoeCloud.Placement.Solvers;
using MoeCloud.Testing;

namespace MoeCloud.Placement.Tests.Plans;

public sealed class PhysicalExpertMapTests
{
    // 2 layers, 4 experts, 2 pods. Layer 0: expert 0 on both pods (5 replicas: pod 0 holds 3, pod 1 holds 2).
    // Layer 1: 4 replicas, 2 per pod.
    private static readonly int[][][] Assignment = [[[0, 1], [0], [1], [0]], [[0], [1], [0], [1]]];

    [Fact]
    public void FromPlan_WhenPodsHoldDifferentCounts_LaysRanksOutInEqualContiguousBlocksAndPads()
    {
        var plan = TestData.Plan(2, Assignment);

        var layout = PhysicalExpertMap.FromPlan(plan, ranks: 2);

        Assert.Equal(3, layout.SlotsPerRank);
        Assert.Equal(6, layout.PhysicalExperts);
        // rank 0 = slots 0..2, rank 1 = slots 3..5; rank 1 of layer 0 holds experts 0 and 2 and is padded with a second 0.
        Assert.Equal([0, 1, 3, 0, 2, 0], layout.Map[0]);
        Assert.Equal([0, 2, 0, 1, 3, 1], layout.Map[1]);
        Assert.Equal(3, layout.Padded);
    }

    [Fact]
    public void ToPlan_WhenExportedMapIsReadBack_HasTheSameReplicaSets()
    {
        var plan = TestData.Plan(2, Assignment);

        var back = PhysicalExpertMap.ToPlan(PhysicalExpertMap.FromPlan(plan, 2, physicalExperts: 8).Map, ranks: 2, experts: 4, new PlanMetadata());

        for (var l = 0; l < plan.Layers; l++)
        {
            for (var e = 0; e < plan.Experts; e++)
            {
                Assert.Equal(plan.PodsOf(l, e).ToArray().Order(), back.PodsOf(l, e).ToArray().Order());
            }
        }
    }

    [Fact]
    public void FromPlan_WhenEpSizeDiffersFromPods_ThrowsNamingBoth()
    {
        var e = Assert.Throws<ArgumentException>(() => PhysicalExpertMap.FromPlan(TestData.Plan(2, Assignment), ranks: 4));

        Assert.Contains("the plan has 2 pods and the EP size is 4", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void FromPlan_WhenPhysicalCountDoesNotDivideByEpSize_Throws()
    {
        var e = Assert.Throws<ArgumentException>(() => PhysicalExpertMap.FromPlan(TestData.Plan(2, Assignment), 2, physicalExperts: 7));

        Assert.Contains("physical expert count 7 does not divide by the EP size 2", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void FromPlan_WhenPhysicalCountIsTooSmallForThePlan_ThrowsWithTheMinimum()
    {
        var e = Assert.Throws<ArgumentException>(() => PhysicalExpertMap.FromPlan(TestData.Plan(2, Assignment), 2, physicalExperts: 4));

        Assert.Contains("at least 6 physical experts", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void FromPlan_WhenAPodHoldsNothingInALayer_PadsWithTheExpertsWithFewestReplicas()
    {
        // pod 2 holds nothing; experts 1 and 2 have one replica each, expert 0 two.
        var plan = TestData.Plan(3, [[[0, 1], [0], [1]]]);

        var layout = PhysicalExpertMap.FromPlan(plan, 3);

        Assert.Equal([0, 1, 0, 2, 1, 2], layout.Map[0]);
    }

    [Theory]
    [InlineData(new[] { 0, 1, 2 }, "does not divide by the EP size 2")]
    [InlineData(new[] { 0, 1, 4, 0 }, "logical expert id 4 is outside [0, 3)")]
    [InlineData(new[] { 0, 1, 0, 1 }, "logical expert 2 has no physical expert")]
    public void ToPlan_WhenMapIsInvalid_NamesTheProblem(int[] row, string expected)
    {
        var e = Assert.Throws<ArgumentException>(() => PhysicalExpertMap.ToPlan([row], ranks: 2, experts: 3, new PlanMetadata()));

        Assert.Contains(expected, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ToPlan_WhenEplbPhysicalToLogicalIsReadBack_GivesTheSolversPlan()
    {
        var profile = TestData.Profile(TestData.Synthetic(layers: 3, experts: 8, tokens: 512));
        var problem = new PlacementProblem(profile, pods: 4, redundant: 4);

        var map = EplbSolver.PhysicalToLogical(problem)!;
        var solved = new EplbSolver().Solve(problem).Plan!;
        var back = PhysicalExpertMap.ToPlan(map, ranks: 4, experts: 8, new PlanMetadata());

        Assert.Equal(solved.ToAssignment().Select(l => l.Select(p => p.Order().ToArray())), back.ToAssignment().Select(l => l.Select(p => p.Order().ToArray())));
    }
}
