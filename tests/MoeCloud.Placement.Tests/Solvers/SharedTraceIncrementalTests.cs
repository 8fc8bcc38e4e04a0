using MoeCloud.Model.Traces;
using MoeCloud.Placement.Plans;
using MoeCloud.Placement.Profiles;
using MoeCloud.Placement.Simulation;
using MoeCloud.Placement.Solvers;
using MoeCloud.Testing;
using Xunit.Abstractions;

namespace MoeCloud.Placement.Tests.Solvers;

public sealed class SharedTraceIncrementalTests(ITestOutputHelper output)
{
    [SharedTraceFact]
    public void Plan_WhenIntentPlanMeetsLawTraffic_MovesAtMostFortyAndGainsOnLawsOddSequences()
    {
        var (intentEven, _) = TraceDirectory.Read(SharedTraceData.PathOf("esft-intent")).SplitEvenOdd();
        var (lawEven, lawOdd) = TraceDirectory.Read(SharedTraceData.PathOf("esft-law")).SplitEvenOdd();
        var live = new IlpSolver(new IlpOptions()).Solve(new PlacementProblem(WorkloadProfile.FromTrace(intentEven), 8, 8) { TimeLimit = TimeSpan.FromSeconds(10) }).Plan!;
        var law = WorkloadProfile.FromTrace(lawEven);
        var fresh = new IlpSolver(new IlpOptions()).Solve(new PlacementProblem(law, 8, 8) { TimeLimit = TimeSpan.FromSeconds(10) }).Plan!;

        var result = IncrementalPlanner.Plan(live, law, 40, threshold: 0);

        var model = TransitionModel.FromProfile(law);
        double Remote(PlacementPlan plan) => Simulator.Run(plan, lawOdd, new SimulationOptions(), model).RemoteFraction;
        double liveRemote = Remote(live), incremental = Remote(result.Candidate), freshRemote = Remote(fresh);
        var recovered = (liveRemote - incremental) / (liveRemote - freshRemote);
        output.WriteLine($"law odd: live {liveRemote:F4}, incremental (M = 40, {result.Moves} moves, {result.Rounds} rounds) {incremental:F4}, fresh {freshRemote:F4}: {recovered:P1} of the fresh plan's gain");
        Assert.InRange(result.Moves, 1, 40);
        Assert.True(result.Gain > 0, $"in-sample gain {result.Gain}");
        Assert.True(incremental < liveRemote, $"scored: live {liveRemote:F4}, incremental {incremental:F4}");
    }
}
