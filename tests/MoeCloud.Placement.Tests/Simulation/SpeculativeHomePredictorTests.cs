using MoeCloud.Placement.Profiles;
using MoeCloud.Placement.Simulation;

namespace MoeCloud.Placement.Tests.Simulation;

public sealed class SpeculativeHomePredictorTests
{
    private static readonly int[][][] Split = TestData.Repeat(2, [0], [0], [1], [1]);

    [Fact]
    public void PickHome_WhenFirstLayerExpertsOnOnePod_PicksThatPod()
    {
        var trace = TestData.Trace(4, [[[2, 3], [2, 3]], [[0, 1], [0, 1]]]);
        var predictor = new SpeculativeHomePredictor(TestData.Plan(2, Split), TransitionModel.FromProfile(WorkloadProfile.FromTrace(trace)));

        Assert.Equal(1, predictor.PickHome([2, 3], [], [0, 0]));
        Assert.Equal(0, predictor.PickHome([0, 1], [], [0, 0]));
    }

    [Fact]
    public void PickHome_WhenBestPodIsAboveItsShare_SkipsIt()
    {
        var trace = TestData.Trace(4, [[[2, 3], [2, 3]]]);
        var predictor = new SpeculativeHomePredictor(TestData.Plan(2, Split), TransitionModel.FromProfile(WorkloadProfile.FromTrace(trace)), new SpeculativeOptions { HomeSlack = 0 });

        Assert.Equal(0, predictor.PickHome([2, 3], [], [0, 10]));
    }

    [Fact]
    public void PickHome_WhenOnlyPreviousStepKnown_FollowsIt()
    {
        var trace = TestData.Trace(4, [[[2, 3], [2, 3]]]);
        var predictor = new SpeculativeHomePredictor(TestData.Plan(2, Split), TransitionModel.FromProfile(WorkloadProfile.FromTrace(trace)));

        Assert.Equal(1, predictor.PickHome([], [2, 3, 3, 2], [0, 0]));
    }

    [Fact]
    public void Constructor_WhenModelShapeDiffers_Throws()
    {
        var trace = TestData.Trace(8, [[[2, 3], [2, 3]]]);

        Assert.Throws<ArgumentException>(() => new SpeculativeHomePredictor(TestData.Plan(2, Split), TransitionModel.FromProfile(WorkloadProfile.FromTrace(trace))));
    }
}
