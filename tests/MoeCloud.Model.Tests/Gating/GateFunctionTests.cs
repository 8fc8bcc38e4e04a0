using MoeCloud.Model.Gating;
using MoeCloud.Model.Spec;
using MoeCloud.Model.Weights;

namespace MoeCloud.Model.Tests.Gating;

public sealed class GateFunctionTests
{
    private static readonly float[] Logits = [0.1f, 2.0f, -1.0f, 1.5f, 0.3f, 1.9f, -0.5f, 0.0f];

    [Fact]
    public void Select_WhenSoftmaxWithoutRenormalisation_WeightsAreFullSoftmaxProbabilities()
    {
        var (ids, weights) = Select(new GatingSpec(), Logits, topK: 2);

        var z = Logits.Sum(l => Math.Exp(l));
        Assert.Equal([1, 5], ids);
        Assert.Equal(Math.Exp(2.0) / z, weights[0], 5);
        Assert.Equal(Math.Exp(1.9) / z, weights[1], 5);
    }

    [Fact]
    public void Select_WhenSoftmaxRenormalised_WeightsSumToOneAndEqualSoftmaxOverTopK()
    {
        var (ids, weights) = Select(new GatingSpec { NormalizeTopK = true }, Logits, topK: 3);

        Assert.Equal([1, 5, 3], ids);
        Assert.Equal(1.0, weights.Sum(), 5);
        var z = Math.Exp(2.0) + Math.Exp(1.9) + Math.Exp(1.5);
        Assert.Equal(Math.Exp(1.5) / z, weights[2], 5);
    }

    [Fact]
    public void Select_WhenRoutedScalingFactor_ScalesTheWeights()
    {
        var plain = Select(new GatingSpec(), Logits, topK: 2).Weights;

        var scaled = Select(new GatingSpec { RoutedScalingFactor = 16 }, Logits, topK: 2).Weights;

        Assert.Equal(plain[0] * 16, scaled[0], 4);
        Assert.Equal(plain[1] * 16, scaled[1], 4);
    }

    [Fact]
    public void Select_WhenSigmoidWithSelectionBias_BiasChangesTheChoiceButNotTheWeights()
    {
        var gating = new GatingSpec { Scoring = GateScoring.Sigmoid, SelectionBias = true };
        var bias = new float[8];
        bias[6] = 1.0f; // expert 6 (logit −0.5) becomes the top choice.

        var (ids, weights) = Select(gating, Logits, topK: 2, bias);

        Assert.Equal([6, 1], ids);
        Assert.Equal(1 / (1 + Math.Exp(0.5)), weights[0], 5);
        Assert.Equal(1 / (1 + Math.Exp(-2.0)), weights[1], 5);
    }

    [Fact]
    public void Select_WhenGroupLimitedByMaxScore_PicksOnlyFromTheBestGroups()
    {
        // Groups of two: {0,1} max 2.0, {2,3} max 1.5, {4,5} max 1.9, {6,7} max 0.0. Keep 2 groups: {0,1} and {4,5}.
        var gating = new GatingSpec { GroupSelection = GroupSelection.MaxScore, Groups = 4, TopKGroups = 2 };

        var (ids, _) = Select(gating, Logits, topK: 3);

        Assert.Equal([1, 5, 4], ids);
    }

    [Fact]
    public void Select_WhenGroupLimitedByTopTwoSum_ScoresGroupsByTheirTwoBest()
    {
        // Sigmoid scores; groups of four. Max-score grouping would keep {4..7} (3.0); top-two-sum keeps {0..3}.
        float[] logits = [0.1f, 2.0f, -1.0f, 1.5f, 0.3f, 3.0f, -0.5f, -3.0f];
        var gating = new GatingSpec { Scoring = GateScoring.Sigmoid, GroupSelection = GroupSelection.TopTwoSum, Groups = 2, TopKGroups = 1 };

        var (ids, _) = Select(gating, logits, topK: 2);

        // {0..3}: σ(2.0) + σ(1.5) = 1.70 beats {4..7}: σ(3.0) + σ(0.3) = 1.53.
        Assert.Equal([1, 3], ids);
    }

    [Fact]
    public void Select_WhenBalancedGroups_EveryGroupContributesEqually()
    {
        var gating = new GatingSpec { GroupSelection = GroupSelection.Balanced, Groups = 4 };

        var (ids, weights) = Select(gating, Logits, topK: 4);

        Assert.Equal([1, 5, 3, 7], ids);
        Assert.True(weights[0] >= weights[1] && weights[1] >= weights[2] && weights[2] >= weights[3]);
    }

    [Fact]
    public void Select_WhenScoresTie_LowerExpertIdWins()
    {
        var (ids, _) = Select(new GatingSpec(), [1f, 1f, 1f, 1f], topK: 2);

        Assert.Equal([0, 1], ids);
    }

    [Fact]
    public void Route_WhenHiddenStateHoldsNaN_FailsNamingTheToken()
    {
        var spec = Spec(experts: 4, topK: 2, hidden: 3);
        var router = new Router(spec, new RouterWeights(4, 3, new float[12], null));
        float[] hidden = [1, 2, 3, 4, float.NaN, 6];

        var e = Assert.Throws<ArgumentException>(() => router.Route(hidden, 2, new int[4], new float[4]));

        Assert.Contains("token 1", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Router_WhenWeightsDoNotFitTheSpec_Throws()
    {
        var spec = Spec(experts: 4, topK: 2, hidden: 3);

        Assert.Throws<ArgumentException>(() => new Router(spec, new RouterWeights(4, 3, new float[11], null)));
        Assert.Throws<ArgumentException>(() => new Router(spec, new RouterWeights(4, 3, new float[12], new float[4])));
    }

    [Fact]
    public void Route_MatchesSelectOnLogitsComputedByHand()
    {
        var spec = Spec(experts: 4, topK: 2, hidden: 2);
        var router = new Router(spec, new RouterWeights(4, 2, [1, 0, 0, 1, -1, 0, 1, 1], null));
        var ids = new int[2];
        var weights = new float[2];

        router.Route([0.5f, 2f], 1, ids, weights);

        // logits: 0.5, 2, −0.5, 2.5
        Assert.Equal([3, 1], ids);
        var z = Math.Exp(0.5) + Math.Exp(2) + Math.Exp(-0.5) + Math.Exp(2.5);
        Assert.Equal(Math.Exp(2.5) / z, weights[0], 5);
    }

    private static ModelSpec Spec(int experts, int topK, int hidden) => new()
    {
        Family = ModelFamily.Olmoe,
        Layers = 1,
        MoeLayerIndices = [0],
        Experts = experts,
        TopK = topK,
        Hidden = hidden,
        ExpertIntermediate = 2,
    };

    private static (int[] Ids, float[] Weights) Select(GatingSpec gating, float[] logits, int topK, float[]? bias = null)
    {
        var ids = new int[topK];
        var weights = new float[topK];
        GateFunction.Select(gating, logits, bias, topK, ids, weights);
        return (ids, weights);
    }
}
