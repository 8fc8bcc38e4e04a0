using MoeCloud.Placement.Plans;
using MoeCloud.Placement.Profiles;
using MoeCloud.Placement.Solvers;

namespace MoeCloud.Placement.Tests.Solvers;

public sealed class IncrementalPlannerTests
{
    private static (PlacementPlan Live, WorkloadProfile Shifted) LiveAndShifted()
    {
        var before = WorkloadProfile.FromTrace(TestData.Synthetic(layers: 4, experts: 16, tokens: 1024, seed: 11));
        var after = WorkloadProfile.FromTrace(TestData.Synthetic(layers: 4, experts: 16, tokens: 1024, seed: 12));
        var live = new EplbSolver().Solve(new PlacementProblem(before, 4, redundant: 4)).Plan!;
        return (live, after);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(3)]
    [InlineData(10)]
    public void Plan_WhenBudgetIsM_MovesAtMostM(int maxMoves)
    {
        var (live, shifted) = LiveAndShifted();

        var result = IncrementalPlanner.Plan(live, shifted, maxMoves, threshold: 0);

        Assert.InRange(result.Moves, 0, maxMoves);
        Assert.Equal(result.Moves, live.MovesTo(result.Candidate));
        Assert.Equal(live.Info.Version + 1, result.Candidate.Info.Version);
        Assert.Equal(live.TotalReplicas, result.Candidate.TotalReplicas);
    }

    [Fact]
    public void Plan_WhenBudgetIsZero_Keeps()
    {
        var (live, shifted) = LiveAndShifted();

        Assert.Equal(ReplacementDecision.Keep, IncrementalPlanner.Plan(live, shifted, 0, threshold: 0).Decision);
    }

    [Fact]
    public void Plan_WhenBudgetIsLarge_AppliesAPositiveGain()
    {
        var (live, shifted) = LiveAndShifted();

        var result = IncrementalPlanner.Plan(live, shifted, 40, threshold: 0.001);

        Assert.Equal(ReplacementDecision.Apply, result.Decision);
        Assert.True(result.Gain >= 0.001, $"gain {result.Gain}");
    }

    [Fact]
    public void Plan_WhenThresholdIsUnreachable_Keeps()
    {
        var (live, shifted) = LiveAndShifted();

        Assert.Equal(ReplacementDecision.Keep, IncrementalPlanner.Plan(live, shifted, 40, threshold: 0.99).Decision);
    }

    [Fact]
    public void Plan_WhenShapesDiffer_ThrowsClearError()
    {
        var (live, _) = LiveAndShifted();
        var other = WorkloadProfile.FromTrace(TestData.Synthetic(layers: 3, experts: 16, tokens: 64));

        var e = Assert.Throws<ArgumentException>(() => IncrementalPlanner.Plan(live, other, 5, 0));

        Assert.Contains("[4 layers x 16 experts]", e.Message, StringComparison.Ordinal);
        Assert.Throws<ArgumentException>(() => IncrementalPlanner.Plan(live, other, -1, 0));
    }

    [Fact]
    public void GainCurve_ForEachBudget_MovesAtMostMAndNeverLosesRemoteFraction()
    {
        var (live, shifted) = LiveAndShifted();

        var curve = IncrementalPlanner.GainCurve(live, shifted, [0, 5, 20, 60]);

        Assert.Equal([0, 5, 20, 60], curve.Select(p => p.MaxMoves));
        Assert.All(curve, p => Assert.InRange(p.Moves, 0, p.MaxMoves));
        Assert.All(curve, p => Assert.True(p.Gain >= 0, $"M = {p.MaxMoves}: gain {p.Gain}"));
        Assert.Equal(0, curve[0].Rounds);
        Assert.True(curve[^1].Rounds >= 1 && curve[^1].Gain > 0, $"M = 60: {curve[^1].Rounds} round(s), gain {curve[^1].Gain}");
    }
}
