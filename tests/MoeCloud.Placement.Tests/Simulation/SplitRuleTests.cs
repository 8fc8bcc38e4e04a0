using MoeCloud.Placement.Profiles;
using MoeCloud.Placement.Simulation;

namespace MoeCloud.Placement.Tests.Simulation;

public sealed class SplitRuleTests
{
    // 1 GB/s, 10 µs per message; a hidden state of 128 fp32 is 512 bytes, out and back 1,024 bytes: 1.024 µs per dispatch.
    private static readonly SplitRule Rule = new(LinkModel.Parse("1,10"), Hidden: 128, BytesPerElement: 4);

    [Fact]
    public void Splits_HandComputedCase_OnlyWhenTheSavedTransferOutweighsTheAddedMessages()
    {
        // Two homes on 4 pods over 8 layers: one more runner call and reply, and 2 × 3 × 8 more dispatch and combine messages.
        Assert.Equal(50, SplitRule.ExtraMessages(homes: 2, pods: 4, layers: 8));
        Assert.Equal(500e-6, Rule.ExtraMessageSeconds(2, 4, 8), 15);
        Assert.Equal(1.024e-6, Rule.SavedSeconds(1), 15);

        // 500 µs / 1.024 µs = 488.3 dispatches to break even.
        Assert.False(Rule.Splits(2, 4, 8, savedDispatches: 488));
        Assert.True(Rule.Splits(2, 4, 8, savedDispatches: 489));

        // A third home doubles the added messages.
        Assert.Equal(100, SplitRule.ExtraMessages(3, 4, 8));
        Assert.False(Rule.Splits(3, 4, 8, savedDispatches: 976));
        Assert.True(Rule.Splits(3, 4, 8, savedDispatches: 977));
    }

    [Fact]
    public void Splits_WhenEveryTokenHasTheSameHome_IsFalseWhateverItSaves()
    {
        Assert.Equal(0, SplitRule.ExtraMessages(1, 4, 8));
        Assert.False(Rule.Splits(1, 4, 8, savedDispatches: 1e9));
    }

    [Fact]
    public void Validate_WhenTheHiddenSizeIsNotPositive_ThrowsNamingIt()
    {
        var e = Assert.Throws<ArgumentException>(new SplitRule(LinkModel.Parse("loopback"), 0).Validate);

        Assert.Contains("hidden size", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Validate_WhenAutoGranularityWithoutASplitRuleOrWithAnotherPolicyOrReHoming_Throws()
    {
        var split = new SplitRule(SplitRule.Loopback, 128);

        Assert.Contains("split rule", Assert.Throws<ArgumentException>(new SimulationOptions { Granularity = Granularity.Auto }.Validate).Message, StringComparison.Ordinal);
        Assert.Contains("Random", Assert.Throws<ArgumentException>(new SimulationOptions { Granularity = Granularity.Auto, Split = split, Home = HomePolicy.Random }.Validate).Message, StringComparison.Ordinal);
        Assert.Contains("token granularity", Assert.Throws<ArgumentException>(new SimulationOptions { Granularity = Granularity.Auto, Split = split, Rehome = true }.Validate).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Home_WhenTheKnownRoutingIsNotWholeTokens_ThrowsSayingSo()
    {
        var trace = TestData.Synthetic(tokens: 256, sequences: 4);
        var plan = TestData.Plan(4, TestData.Repeat(trace.Layers, Enumerable.Range(0, 16).Select(e => new[] { e % 4 }).ToArray()));
        var predictor = new SpeculativeHomePredictor(plan, TransitionModel.FromProfile(WorkloadProfile.FromTrace(trace)));

        var e = Assert.Throws<ArgumentException>(() => Rule.Home(predictor, new short[] { 0, 1, 2 }, topK: 2, [], new long[4], 0, plan.Layers, 0.05));

        Assert.Contains("not whole tokens of 2 experts", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Run_WhenAutoGranularity_EqualsRequestHomesOnACostlyLinkAndSplitsOnAFreeOne()
    {
        var trace = TestData.Synthetic(tokens: 2048, sequences: 32);
        // Each expert on one of 4 pods, round robin: most tokens' experts spread over several pods.
        var assignment = TestData.Repeat(trace.Layers, Enumerable.Range(0, 16).Select(e => new[] { e % 4 }).ToArray());
        var plan = TestData.Plan(4, assignment);
        var model = TransitionModel.FromProfile(WorkloadProfile.FromTrace(trace));
        var request = Simulator.Run(plan, trace, new SimulationOptions { Granularity = Granularity.Request }, model);

        var costly = Simulator.Run(plan, trace, new SimulationOptions { Granularity = Granularity.Auto, Split = new SplitRule(LinkModel.Parse("1,100000"), 128) }, model);
        var free = Simulator.Run(plan, trace, new SimulationOptions { Granularity = Granularity.Auto, Split = new SplitRule(LinkModel.Parse("1,0"), 128) }, model);

        Assert.Equal(request.RemoteFraction, costly.RemoteFraction, 15);
        Assert.Equal(request.HomeLoadImbalance, costly.HomeLoadImbalance, 15);
        Assert.True(free.RemoteFraction < request.RemoteFraction - 0.05, $"split {free.RemoteFraction} against whole {request.RemoteFraction}");
    }
}
