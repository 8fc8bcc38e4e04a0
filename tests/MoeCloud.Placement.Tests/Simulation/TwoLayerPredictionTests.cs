using MoeCloud.Placement.Profiles;
using MoeCloud.Placement.Simulation;

namespace MoeCloud.Placement.Tests.Simulation;

public sealed class TwoLayerPredictionTests
{
    private static readonly int[][][] Split = TestData.Repeat(3, [0], [0], [1], [1]);

    // Top-1 routing over 3 layers of 4 experts: layer 1 is always expert 2, so layer 1 alone cannot tell which expert
    // comes at layer 2; the pair (layer 0, layer 1) can: 0 then 2 leads to 0, 1 then 2 leads to 1.
    private static readonly int[][][] Ambiguous = [[[0], [2], [0]], [[0], [2], [0]], [[1], [2], [1]], [[1], [2], [1]]];

    private static SpeculativeHomePredictor Predictor(SpeculativeOptions options) =>
        new(TestData.Plan(2, Split), TransitionModel.FromProfile(WorkloadProfile.FromTrace(TestData.Trace(4, Ambiguous))), options);

    [Fact]
    public void PredictNext_WhenOneLayerIsAmbiguousButTwoAreNot_TwoLayersPredictTheRightExpert()
    {
        var predictor = Predictor(new SpeculativeOptions { PairBackoff = 0 });
        var next = new double[4];

        predictor.PredictNext([2], [0], 1, next);
        Assert.Equal([1.0, 0, 0, 0], next);

        predictor.PredictNext([2], [1], 1, next);
        Assert.Equal([0, 1.0, 0, 0], next);

        // Layer 1 alone: even odds.
        predictor.PredictNext([2], [], 1, next);
        Assert.Equal([0.5, 0.5, 0, 0], next);
    }

    [Fact]
    public void PredictNext_WhenThePairIsUnseen_BacksOffToOneLayer()
    {
        var predictor = Predictor(new SpeculativeOptions { PairBackoff = 0 });
        var next = new double[4];

        // Expert 3 at layer 0 never came before expert 2 at layer 1.
        predictor.PredictNext([2], [3], 1, next);

        Assert.Equal([0.5, 0.5, 0, 0], next);
    }

    [Fact]
    public void PredictNext_WithPseudoCount_MixesPairAndOneLayerByObservations()
    {
        // The pair (0, 2) was seen n = 2 times: with κ = 2, λ = 2 / (2 + 2) = 0.5 of the pair's 1.0 and 0.5 of 0.5.
        var predictor = Predictor(new SpeculativeOptions { PairBackoff = 2 });
        var next = new double[4];

        predictor.PredictNext([2], [0], 1, next);

        Assert.Equal(0.75, next[0], 6);
        Assert.Equal(0.25, next[1], 6);
    }

    [Fact]
    public void PredictNext_WhenTwoLayerIsOff_UsesOneLayer()
    {
        var predictor = Predictor(new SpeculativeOptions { TwoLayer = false });
        var next = new double[4];

        predictor.PredictNext([2], [0], 1, next);

        Assert.Equal([0.5, 0.5, 0, 0], next);
    }

    [Fact]
    public void FromProfile_WhenTheProfileHasNoTokenSample_HasNoPairs()
    {
        var trace = TestData.Trace(4, Ambiguous);

        Assert.True(TransitionModel.FromProfile(WorkloadProfile.FromTrace(trace)).HasPairs);
        Assert.False(TransitionModel.FromProfile(WorkloadProfile.FromTrace(trace, sampleCap: 0)).HasPairs);
        Assert.Equal(2, TransitionModel.FromProfile(WorkloadProfile.FromTrace(trace)).PairCount(1, 0, 2));
    }

    [Fact]
    public void Run_ExpertPrecision_IsTheShareOfPredictedTopKAmongTheActualTopK()
    {
        var model = TransitionModel.FromProfile(WorkloadProfile.FromTrace(TestData.Trace(4, Ambiguous)));
        var plan = TestData.Plan(2, Split);
        // Scored tokens: layer 1 is predicted from layer 0 (always expert 2: 3 hits of 3); layer 2 from layers 0 and 1.
        // Two layers: [0,2,0] hit, [1,2,1] hit, [0,2,1] miss (predicts 0): 5 of 6.
        // One layer: layer 2 from expert 2 alone is a tie of 0 and 1, broken to the lower id 0: hit, miss, miss: 4 of 6.
        var scored = TestData.Trace(4, [[[0], [2], [0]], [[1], [2], [1]], [[0], [2], [1]]]);

        var two = Simulator.Run(plan, scored, new SimulationOptions { Home = HomePolicy.Random, Speculative = new SpeculativeOptions { PairBackoff = 0 } }, model);
        var one = Simulator.Run(plan, scored, new SimulationOptions { Home = HomePolicy.Random, Speculative = new SpeculativeOptions { TwoLayer = false } }, model);
        var none = Simulator.Run(plan, scored, new SimulationOptions { Home = HomePolicy.Random });

        Assert.Equal(5.0 / 6, two.ExpertPrecision!.Value, 9);
        Assert.Equal(4.0 / 6, one.ExpertPrecision!.Value, 9);
        Assert.Null(none.ExpertPrecision);
    }

    [Fact]
    public void Run_ExpertPrecision_WithTopTwo_CountsEachPredictedSlot()
    {
        // 2 layers, top-2: expert 0 at layer 0 leads to experts 1 and 2 (twice) or 1 and 3 (once): predicted top-2 {1, 2}.
        var fit = TestData.Trace(4, [[[0, 3], [1, 2]], [[0, 3], [1, 2]], [[0, 3], [1, 3]]]);
        var model = TransitionModel.FromProfile(WorkloadProfile.FromTrace(fit));
        var plan = TestData.Plan(2, TestData.Repeat(2, [0], [0], [1], [1]));
        // Actual {1, 3}: 1 of the 2 predicted is there.
        var scored = TestData.Trace(4, [[[0, 3], [1, 3]]]);

        var m = Simulator.Run(plan, scored, new SimulationOptions { Home = HomePolicy.Random }, model);

        Assert.Equal(0.5, m.ExpertPrecision!.Value, 9);
    }
}
