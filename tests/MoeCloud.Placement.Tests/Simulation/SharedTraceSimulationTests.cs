using MoeCloud.Model.Traces;
using MoeCloud.Placement.Profiles;
using MoeCloud.Placement.Simulation;
using MoeCloud.Placement.Solvers;
using MoeCloud.Testing;

namespace MoeCloud.Placement.Tests.Simulation;

public sealed class SharedTraceSimulationTests
{
    [SharedTraceTheory]
    [MemberData(nameof(SharedTraceData.Names), MemberType = typeof(SharedTraceData))]
    public void Run_WhenContiguousWithRandomHomesOnEightPods_IsNearTheVanillaSevenEighths(string name)
    {
        var trace = TraceDirectory.Read(SharedTraceData.PathOf(name));
        var plan = new ContiguousSolver().Solve(new PlacementProblem(WorkloadProfile.FromTrace(trace, sampleCap: 0), 8)).Plan!;

        var m = Simulator.Run(plan, trace, new SimulationOptions { Home = HomePolicy.Random });

        Assert.InRange(m.RemoteFraction, 0.86, 0.89);
    }

    [SharedTraceFact]
    public void Run_WhenFirstLayerHomesOnEplbPlan_BeatRandomHomes()
    {
        var (fit, eval) = TraceDirectory.Read(SharedTraceData.PathOf("esft-law")).SplitEvenOdd();
        var plan = new EplbSolver().Solve(new PlacementProblem(WorkloadProfile.FromTrace(fit), 8, 8)).Plan!;

        var random = Simulator.Run(plan, eval, new SimulationOptions { Home = HomePolicy.Random });
        var firstLayer = Simulator.Run(plan, eval, new SimulationOptions { Home = HomePolicy.FirstLayer });

        Assert.True(firstLayer.RemoteFraction < random.RemoteFraction, $"first-layer {firstLayer.RemoteFraction:F4} vs random {random.RemoteFraction:F4}");
    }
}
