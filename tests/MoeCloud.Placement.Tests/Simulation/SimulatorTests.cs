using MoeCloud.Placement.Profiles;
using MoeCloud.Placement.Simulation;

namespace MoeCloud.Placement.Tests.Simulation;

public sealed class SimulatorTests
{
    // Two pods; experts 0 and 1 on pod 0, experts 2 and 3 on pod 1, in both layers.
    private static readonly int[][][] Split = TestData.Repeat(2, [0], [0], [1], [1]);

    [Fact]
    public void Run_WhenOracleHomesOnHandCase_MatchesHandComputedMetrics()
    {
        // Token 0: layer 0 {0, 1}, layer 1 {0, 2}: 3 dispatches local on pod 0, 1 on pod 1 → home 0, 1 remote (expert 2).
        // Token 1: layer 0 {2, 3}, layer 1 {3, 1}: home 1, 1 remote (expert 1).
        var trace = TestData.Trace(4, [[[0, 1], [0, 2]], [[2, 3], [3, 1]]]);
        var plan = TestData.Plan(2, Split);

        var m = Simulator.Run(plan, trace, new SimulationOptions { Home = HomePolicy.Oracle });

        Assert.Equal(8, m.Dispatches);
        Assert.Equal(2, m.RemoteDispatches);
        Assert.Equal(0.25, m.RemoteFraction, 12);
        Assert.Equal(1.0, m.HomeLoadImbalance, 12);
        Assert.Equal(1.0, m.ExpertLoadImbalance, 12); // each pod serves 2 dispatches in each layer
        Assert.Equal(1.0, m.PredictionHitRate, 12);
        Assert.Equal(4, m.ReplicasPerPodMax);
    }

    [Fact]
    public void Run_WhenEveryDispatchHitsOnePod_ReportsImbalanceOfTwo()
    {
        // Three top-1 tokens that all use expert 0 (pod 0) in both layers: oracle homes them all on pod 0.
        var trace = TestData.Trace(4, [[[0], [0]], [[0], [0]], [[0], [0]]]);

        var m = Simulator.Run(TestData.Plan(2, Split), trace, new SimulationOptions { Home = HomePolicy.Oracle });

        Assert.Equal(0.0, m.RemoteFraction, 12);
        Assert.Equal(2.0, m.ExpertLoadImbalance, 12); // served [3, 0] per layer: max 3 / mean 1.5
        Assert.Equal(2.0, m.HomeLoadImbalance, 12); // homed [3, 0]
    }

    [Fact]
    public void Run_WhenRemoteExpertHasTwoReplicas_SpreadsRemoteDispatchesOverThem()
    {
        // Three pods. Expert 1 only on pod 0 (so first-layer homes are pod 0); expert 0 on pods 1 and 2.
        var plan = TestData.Plan(3, TestData.Repeat(2, [1, 2], [0]));
        var trace = TestData.Trace(2, [[[1], [0]], [[1], [0]]]);
        var options = new SimulationOptions { Home = HomePolicy.FirstLayer, Speculative = new SpeculativeOptions { HomeSlack = 10 } };

        var m = Simulator.Run(plan, trace, options);

        Assert.Equal(0.5, m.RemoteFraction, 12);
        // Layer 0 served [2, 0, 0] → 3.0; layer 1 served [0, 1, 1] (least-loaded replica) → 1.5; mean 2.25.
        Assert.Equal(2.25, m.ExpertLoadImbalance, 12);
        Assert.Equal(3.0, m.HomeLoadImbalance, 12);
    }

    [Fact]
    public void Run_WhenFirstLayerPolicyWouldOverloadAPod_SpreadsHomes()
    {
        // Four tokens that all prefer pod 0; with slack 0 each pod may hold at most its share.
        var trace = TestData.Trace(4, [[[0], [0]], [[0], [0]], [[0], [0]], [[0], [0]]]);

        var m = Simulator.Run(TestData.Plan(2, Split), trace, new SimulationOptions { Home = HomePolicy.FirstLayer, Speculative = new SpeculativeOptions { HomeSlack = 0 } });

        Assert.Equal(1.0, m.HomeLoadImbalance, 12);
        Assert.Equal(0.5, m.RemoteFraction, 12);
        Assert.Equal(0.5, m.PredictionHitRate, 12);
    }

    [Fact]
    public void Run_WhenRequestGranularity_GivesEveryTokenOfASequenceOneHome()
    {
        // One sequence: token 0 prefers pod 0 (4 of 4 dispatches), token 1 prefers pod 1 (3 of 4). Together: pod 0.
        var trace = TestData.Trace(4, [[[0, 1], [0, 1]], [[2, 3], [3, 0]]], seqIds: [7, 7]);

        var m = Simulator.Run(TestData.Plan(2, Split), trace, new SimulationOptions { Home = HomePolicy.Oracle, Granularity = Granularity.Request });

        Assert.Equal(2.0, m.HomeLoadImbalance, 12);
        Assert.Equal(3.0 / 8, m.RemoteFraction, 12);
        Assert.Equal(0.5, m.PredictionHitRate, 12);
    }

    [Fact]
    public void Run_WhenLaterLayersLiveElsewhere_RehomeCountsOneRemoteDispatch()
    {
        // Layer 0's experts (0, 1) live on pod 0; layers 1 and 2 put every expert used (2, 3) on pod 1.
        int[][][] assignment = [[[0], [0], [1], [1]], [[1], [0], [1], [1]], [[1], [0], [1], [1]]];
        var trace = TestData.Trace(4, [[[0, 1], [2, 3], [2, 3]]]);
        var model = TransitionModel.FromProfile(WorkloadProfile.FromTrace(trace));
        var options = new SimulationOptions { Home = HomePolicy.FirstLayer, Rehome = true };

        var m = Simulator.Run(TestData.Plan(2, assignment), trace, options, model);

        Assert.Equal(1, m.Rehomes);
        Assert.Equal(7, m.Dispatches);
        Assert.Equal(1, m.RemoteDispatches);
    }

    [Fact]
    public void Run_WhenTraceHasOtherLayerCount_ThrowsNamingBoth()
    {
        var trace = TestData.Trace(4, [[[0], [0], [0]]]);

        var e = Assert.Throws<ArgumentException>(() => Simulator.Run(TestData.Plan(2, Split), trace, new SimulationOptions { Home = HomePolicy.Random }));

        Assert.Contains("3 layers, the plan 2", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Run_WhenSpeculativeWithoutTransitions_ThrowsClearError()
    {
        var trace = TestData.Trace(4, [[[0], [0]]]);

        var e = Assert.Throws<ArgumentException>(() => Simulator.Run(TestData.Plan(2, Split), trace, new SimulationOptions()));

        Assert.Contains("transition statistics", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Validate_WhenSequencePolicyPerRequest_Throws()
    {
        var options = new SimulationOptions { Home = HomePolicy.Sequence, Granularity = Granularity.Request };

        Assert.Throws<ArgumentException>(options.Validate);
    }

    [Fact]
    public void Validate_WhenSlackIsNaN_ThrowsNamingIt()
    {
        var options = new SimulationOptions { Speculative = new SpeculativeOptions { HomeSlack = double.NaN, RehomeWindow = 0 } };

        var e = Assert.Throws<ArgumentException>(options.Validate);

        Assert.Contains("HomeSlack", e.Message, StringComparison.Ordinal);
        Assert.Contains("RehomeWindow", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Run_WhenRandomHomesOnContiguousPlan_RemoteFractionIsNearOneMinusOneOverG()
    {
        var trace = TestData.Synthetic(tokens: 4096);
        var assignment = TestData.Repeat(trace.Layers, Enumerable.Range(0, 16).Select(e => new[] { e / 4 }).ToArray());

        var m = Simulator.Run(TestData.Plan(4, assignment), trace, new SimulationOptions { Home = HomePolicy.Random });

        Assert.InRange(m.RemoteFraction, 0.70, 0.80); // 1 - 1/4
    }

    [Fact]
    public void Run_WhenHomesAreGiven_CountsDispatchesFromThoseHomes()
    {
        // The hand case above with both tokens homed on pod 1: token 0 has 3 remote dispatches (experts 0, 1, 0), token 1 one (expert 1).
        var trace = TestData.Trace(4, [[[0, 1], [0, 2]], [[2, 3], [3, 1]]]);
        var plan = TestData.Plan(2, Split);

        var m = Simulator.Run(plan, trace, [1, 1], new SimulationOptions());

        Assert.Equal(4, m.RemoteDispatches);
        Assert.Equal(0.5, m.RemoteFraction, 12);
        Assert.Equal(2.0, m.HomeLoadImbalance, 12);
        Assert.Equal(0.5, m.PredictionHitRate, 12);
        Assert.Throws<ArgumentException>(() => Simulator.Run(plan, trace, [1], new SimulationOptions()));
        Assert.Throws<ArgumentException>(() => Simulator.Run(plan, trace, [0, 2], new SimulationOptions()));
    }
}
