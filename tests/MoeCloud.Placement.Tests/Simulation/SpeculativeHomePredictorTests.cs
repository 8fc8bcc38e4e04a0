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
    public void PickHome_WithAffinity_KeepsThePreviousHomeUnlessAnotherPodIsBetterByTheMargin()
    {
        var trace = TestData.Trace(4, [[[2, 3], [2, 3]], [[0, 1], [0, 1]]]);
        var model = TransitionModel.FromProfile(WorkloadProfile.FromTrace(trace));
        var sticky = new SpeculativeHomePredictor(TestData.Plan(2, Split), model, new SpeculativeOptions { AffinityMargin = 0.5 });
        var loose = new SpeculativeHomePredictor(TestData.Plan(2, Split), model);

        // Nothing known: every pod scores 0; without affinity the tie goes to pod 0, with it to the previous home.
        Assert.Equal(0, loose.PickHome([], [], [0, 0], previousHome: 1));
        Assert.Equal(1, sticky.PickHome([], [], [0, 0], previousHome: 1));
        // Experts 0 and 1 live on pod 0 only: pod 0 is better by 2 or more, which beats the margin.
        Assert.Equal(0, sticky.PickHome([0, 1], [], [0, 0], previousHome: 1));
        // No previous home: no affinity.
        Assert.Equal(0, sticky.PickHome([], [], [0, 0]));
    }

    [Fact]
    public void PickHome_WithAffinity_LeavesAPreviousHomeThatIsOverItsShare()
    {
        var trace = TestData.Trace(4, [[[2, 3], [2, 3]]]);
        var predictor = new SpeculativeHomePredictor(TestData.Plan(2, Split), TransitionModel.FromProfile(WorkloadProfile.FromTrace(trace)), new SpeculativeOptions { HomeSlack = 0, AffinityMargin = 100 });

        Assert.Equal(0, predictor.PickHome([], [], [0, 10], previousHome: 1));
    }

    [Fact]
    public void Options_WithANegativeOrNonFiniteAffinityMargin_AreRejectedByName()
    {
        var negative = Assert.Throws<ArgumentException>(() => new SpeculativeOptions { AffinityMargin = -1 }.Validate());
        var nan = Assert.Throws<ArgumentException>(() => new SpeculativeOptions { AffinityMargin = double.NaN }.Validate());

        Assert.Contains("AffinityMargin", negative.Message, StringComparison.Ordinal);
        Assert.Contains("AffinityMargin", nan.Message, StringComparison.Ordinal);
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
