using MoeCloud.Placement.Metrics;
using MoeCloud.Placement.Profiles;

namespace MoeCloud.Placement.Tests.Metrics;

public sealed class ExpertLoadImbalanceTests
{
    // One layer, three experts on two pods: expert 0 on pod 0 (load 4), expert 1 on pod 1 (load 2), expert 2 on both
    // (load 2, 1 per replica). Pod loads 5 and 3, mean 4: imbalance 5 / 4.
    private static readonly int[][] Layer = [[0], [1], [0, 1]];

    [Fact]
    public void Predicted_WhenOneLayerIsUneven_IsMaxOverMeanWithReplicaLoadSplitEvenly()
    {
        var plan = TestData.Plan(2, [Layer]);

        Assert.Equal(1.25, ExpertLoadImbalance.Predicted(plan, Profile(1, 3, 4, 2, 2)), 12);
    }

    [Fact]
    public void PredictedPodLoads_WhenAnExpertHasTwoReplicas_SplitsItsLoadEvenlyPerLayerAndPod()
    {
        var plan = TestData.Plan(2, [Layer, Layer]);

        // Layer 0 as above: 4 + 1 and 2 + 1; layer 1 (loads 1, 3, 4): 1 + 2 and 3 + 2.
        Assert.Equal([5.0, 3.0, 3.0, 5.0], ExpertLoadImbalance.PredictedPodLoads(plan, Profile(2, 3, 4, 2, 2, 1, 3, 4)));
    }

    [Fact]
    public void Predicted_WhenALayerHasNoLoad_LeavesItOutOfTheMean()
    {
        var plan = TestData.Plan(2, [Layer, Layer]);

        Assert.Equal(1.25, ExpertLoadImbalance.Predicted(plan, Profile(2, 3, 4, 2, 2, 0, 0, 0)), 12);
    }

    [Fact]
    public void OfLayer_WhenLayerHasLoad_IsThatLayersTermOfPredicted()
    {
        var profile = Profile(2, 3, 4, 2, 2, 0, 0, 0);

        Assert.Equal(1.25, ExpertLoadImbalance.OfLayer(profile, 0, Layer, 2), 12);
        Assert.Equal(1.0, ExpertLoadImbalance.OfLayer(profile, 1, Layer, 2));
    }

    [Fact]
    public void Predicted_WhenNoLayerHasLoad_IsOne()
    {
        var plan = TestData.Plan(2, [Layer, Layer]);

        Assert.Equal(1.0, ExpertLoadImbalance.Predicted(plan, Profile(2, 3, 0, 0, 0, 0, 0, 0)));
    }

    [Fact]
    public void Predicted_WhenTargetPodsExceedPlanPods_ScoresAgainstTheTargetMean()
    {
        var plan = TestData.Plan(2, [Layer]);

        // Layer load 8 over 4 target pods: mean 2, max 5.
        Assert.Equal(2.5, ExpertLoadImbalance.Predicted(plan, Profile(1, 3, 4, 2, 2), targetPods: 4), 12);
    }

    [Fact]
    public void Predicted_WhenTargetPodsAreFewer_ScoresAgainstTheTargetMean()
    {
        var plan = TestData.Plan(2, [Layer]);

        // Layer load 8 over 1 target pod: mean 8, max 5.
        Assert.Equal(0.625, ExpertLoadImbalance.Predicted(plan, Profile(1, 3, 4, 2, 2), targetPods: 1), 12);
    }

    [Fact]
    public void Predicted_WhenPlanAndProfileDifferInShape_ThrowsArgumentException()
    {
        var plan = TestData.Plan(2, [Layer]);

        Assert.Throws<ArgumentException>(() => ExpertLoadImbalance.Predicted(plan, Profile(1, 4, 1, 1, 1, 1)));
        Assert.Throws<ArgumentException>(() => ExpertLoadImbalance.Predicted(plan, Profile(2, 3, 1, 1, 1, 1, 1, 1)));
    }

    [Fact]
    public void Predicted_WhenTargetPodsIsBelowOne_ThrowsArgumentException()
    {
        var plan = TestData.Plan(2, [Layer]);

        Assert.Throws<ArgumentException>(() => ExpertLoadImbalance.Predicted(plan, Profile(1, 3, 4, 2, 2), targetPods: 0));
    }

    [Fact]
    public void PredictedOnAssignment_WhenSameAsPlan_GivesTheSameValues()
    {
        var profile = Profile(2, 3, 4, 2, 2, 0, 0, 0);

        Assert.Equal(1.25, ExpertLoadImbalance.Predicted(profile, [Layer, Layer], 2), 12);
        Assert.Equal(2.5, ExpertLoadImbalance.Predicted(profile, [Layer, Layer], 2, targetPods: 4), 12);
    }

    [Fact]
    public void PredictedOnAssignment_WhenAssignmentPodsExceedPlanPods_CountsEveryPod()
    {
        // Expert 0 on pod 2 of 3: loads 1 (pod 0, half of expert 2), 3 (pod 1), 4 (pod 2); mean 8 / 3, max 4.
        var assignment = new[] { new[] { new[] { 2 }, [1], [0, 1] } };

        Assert.Equal(1.5, ExpertLoadImbalance.Predicted(Profile(1, 3, 4, 2, 2), assignment, 3), 12);
    }

    [Fact]
    public void PredictedOnAssignment_WhenShapeOrPodsAreWrong_ThrowsArgumentException()
    {
        var profile = Profile(1, 3, 4, 2, 2);

        Assert.Throws<ArgumentException>(() => ExpertLoadImbalance.Predicted(profile, [Layer, Layer], 2));
        Assert.Throws<ArgumentException>(() => ExpertLoadImbalance.Predicted(profile, [[[0], [1]]], 2));
        Assert.Throws<ArgumentException>(() => ExpertLoadImbalance.Predicted(profile, [[[0], [1], []]], 2));
        Assert.Throws<ArgumentException>(() => ExpertLoadImbalance.Predicted(profile, [[[0], [2], [1]]], 2));
        Assert.Throws<ArgumentException>(() => ExpertLoadImbalance.Predicted(profile, [Layer], 0));
    }

    [Fact]
    public void OfServed_WhenLayersDiffer_AveragesMaxOverMeanOfLayersWithDispatches()
    {
        // Layer 0: 6 and 2 (max 6, mean 4: 1.5); layer 1: nothing (left out); layer 2: 3 and 3 (1).
        long[] served = [6, 2, 0, 0, 3, 3];

        Assert.Equal(1.25, ExpertLoadImbalance.OfServed(served, 3, 2), 12);
    }

    [Fact]
    public void OfServed_WhenNothingWasServed_IsOne()
    {
        Assert.Equal(1.0, ExpertLoadImbalance.OfServed(new long[4], 2, 2));
        Assert.Equal(1.0, ExpertLoadImbalance.OfServed([], 0, 2));
    }

    [Fact]
    public void OfServed_WhenServedMatchesPredictedLoads_EqualsPredicted()
    {
        // Served 5 and 3 dispatches: the same loads the plan predicts for the profile above.
        var plan = TestData.Plan(2, [Layer]);

        Assert.Equal(ExpertLoadImbalance.Predicted(plan, Profile(1, 3, 4, 2, 2)), ExpertLoadImbalance.OfServed([5, 3], 1, 2), 12);
    }

    [Fact]
    public void OfServed_WhenShapeIsWrongOrACountIsNegative_ThrowsArgumentException()
    {
        Assert.Throws<ArgumentException>(() => ExpertLoadImbalance.OfServed(new long[5], 3, 2));
        Assert.Throws<ArgumentException>(() => ExpertLoadImbalance.OfServed(new long[2], 2, 0));
        Assert.Throws<ArgumentException>(() => ExpertLoadImbalance.OfServed([1, -1], 1, 2));
    }

    private static WorkloadProfile Profile(int layers, int experts, params long[] load) =>
        new("hand", layers, experts, 1, load, null, TokenSample.Empty(layers, 1));
}
