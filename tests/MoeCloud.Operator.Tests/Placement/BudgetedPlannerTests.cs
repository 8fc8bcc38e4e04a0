using MoeCloud.Operator.Placement;

namespace MoeCloud.Operator.Tests.Placement;

public sealed class BudgetedPlannerTests
{
    private readonly BudgetedPlanner _planner = new();

    [Fact]
    public void Initial_WhenNoProfile_IsContiguous()
    {
        var plan = _planner.Initial(layers: 2, experts: 8, pods: 4, capacity: 2, profile: null);
        Assert.Equal([0, 0, 1, 1, 2, 2, 3, 3], plan.ToArrays()[1]);
    }

    [Fact]
    public void Initial_WhenSkewedProfile_BalancesBetterThanContiguous()
    {
        var profile = new LoadProfile([[8, 7, 1, 1, 1, 1, 1, 1]]);
        var contiguous = _planner.Initial(1, 8, 2, 5, null);
        var balanced = _planner.Initial(1, 8, 2, 5, profile);
        Assert.True(balanced.Imbalance(profile, 2) < contiguous.Imbalance(profile, 2));
        Assert.NotEqual(balanced.PodOf(0, 0), balanced.PodOf(0, 1));
    }

    [Fact]
    public void Next_WhenScalingIn_EvictsLeavingPodsWithinBudgetThenCompletes()
    {
        var plan = _planner.Initial(2, 12, 6, 3, null);
        var profile = LoadProfile.Uniform(2, 12);
        var first = _planner.Next(plan, 3, capacity: 5, maxMoves: 7, profile);
        Assert.Equal(7, first.Moves);
        Assert.False(first.Complete);
        Assert.Equal(6, first.Plan.Pods);
        var second = _planner.Next(first.Plan, 3, capacity: 5, maxMoves: 7, profile);
        Assert.True(second.Complete);
        Assert.InRange(second.Moves, 5, 7);
        Assert.Equal(3, second.Plan.Pods);
        Assert.All(second.Plan.ToArrays().SelectMany(l => l), p => Assert.InRange(p, 0, 2));
    }

    [Fact]
    public void Next_WhenScalingOut_FillsNewPodsAndRespectsBudgetAndCapacity()
    {
        var plan = _planner.Initial(1, 16, 4, 4, null);
        var step = _planner.Next(plan, 6, capacity: 3, maxMoves: 10, LoadProfile.Uniform(1, 16));
        Assert.True(step.Moves <= 10);
        var counts = step.Plan.ToArrays()[0].GroupBy(p => p).ToDictionary(g => g.Key, g => g.Count());
        Assert.Equal(6, counts.Count);
        Assert.All(counts.Values, c => Assert.InRange(c, 2, 3));
        Assert.True(step.Gain > 0);
    }

    [Fact]
    public void Next_WhenAlreadyBalanced_MovesNothing()
    {
        var plan = _planner.Initial(1, 8, 4, 2, null);
        var step = _planner.Next(plan, 4, capacity: 3, maxMoves: 10, LoadProfile.Uniform(1, 8));
        Assert.Equal(0, step.Moves);
        Assert.Equal(0, step.Gain);
    }

    [Fact]
    public void Initial_WhenCapacityTooSmall_ThrowsArgumentException()
    {
        var e = Assert.Throws<ArgumentException>(() => _planner.Initial(1, 10, 2, 4, null));
        Assert.Contains("cannot hold 10 experts", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void LoadProfile_WhenNaNOrRagged_ThrowsArgumentException()
    {
        Assert.Throws<ArgumentException>(() => new LoadProfile([[1, double.NaN]]));
        Assert.Throws<ArgumentException>(() => new LoadProfile([[1, 2], [1]]));
        Assert.Throws<ArgumentException>(() => new LoadProfile([[1, -1]]));
        var e = Assert.Throws<ArgumentException>(() => _planner.Next(_planner.Initial(1, 4, 2, 2, null), 2, 2, 1, LoadProfile.Uniform(2, 4)));
        Assert.Contains("2 layers x 4 experts", e.Message, StringComparison.Ordinal);
    }
}
