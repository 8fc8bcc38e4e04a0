using MoeCloud.Model.Traces;
using MoeCloud.Placement.Benchmarks;
using MoeCloud.Placement.Profiles;
using MoeCloud.Placement.Simulation;
using MoeCloud.Placement.Solvers;

namespace MoeCloud.Placement.Tests.Benchmarks;

public sealed class PlacementBenchTuningTests
{
    // A trace whose even sequences are one synthetic trace's and whose odd sequences are another's.
    private static RoutingTrace Interleave(RoutingTrace even, RoutingTrace odd)
    {
        var routing = new List<int[][]>();
        var seq = new List<int>();
        var evens = even.Sequences;
        var odds = odd.Sequences;
        for (var s = 0; s < Math.Min(evens.Count, odds.Count); s++)
        {
            foreach (var (source, sequence, id) in new[] { (even, evens[s], 2 * s), (odd, odds[s], (2 * s) + 1) })
            {
                foreach (var t in sequence.Tokens)
                {
                    routing.Add(Enumerable.Range(0, source.Layers).Select(l => source.Slots(t, l).ToArray().Select(e => (int)e).ToArray()).ToArray());
                    seq.Add(id);
                }
            }
        }

        return TestData.Trace(even.Experts, [.. routing], [.. seq]);
    }

    [Fact]
    public void TuneOnFittingHalf_WhenOnlyTheScoringHalfChanges_GivesTheSameSettings()
    {
        var shared = TestData.Synthetic(layers: 5, experts: 16, tokens: 768, sequences: 24, seed: 21);
        var a = Interleave(shared, TestData.Synthetic(layers: 5, experts: 16, tokens: 768, sequences: 24, seed: 22));
        var b = Interleave(shared, TestData.Synthetic(layers: 5, experts: 16, tokens: 768, sequences: 24, seed: 23));
        var plan = new EplbSolver().Solve(new PlacementProblem(WorkloadProfile.FromTrace(a.SplitEvenOdd().Even), 4, 4)).Plan!;

        var tunedA = PlacementBench.TuneOnFittingHalf(plan, a);
        var tunedB = PlacementBench.TuneOnFittingHalf(plan, b);

        // The scoring halves do differ where it counts: the same settings score differently on them.
        var model = TransitionModel.FromProfile(WorkloadProfile.FromTrace(a.SplitEvenOdd().Even));
        var options = new SimulationOptions { Speculative = tunedA.Options };
        Assert.NotEqual(Simulator.Run(plan, a.SplitEvenOdd().Odd, options, model).RemoteFraction, Simulator.Run(plan, b.SplitEvenOdd().Odd, options, model).RemoteFraction);
        Assert.Equal(tunedA, tunedB);
        Assert.True(tunedA.Candidates > 1);
        Assert.True(tunedA.HeldOutHitRate >= tunedA.StartHitRate);
    }
}
