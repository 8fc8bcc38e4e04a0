using MoeCloud.Abstractions;
using MoeCloud.Gateway.Hosting;
using MoeCloud.Gateway.Scheduling;
using MoeCloud.Model.Traces;
using MoeCloud.Placement.Profiles;
using MoeCloud.Placement.Simulation;

namespace MoeCloud.Gateway.Tests;

[Collection(GatewayCollection.Name)]
public sealed class SequenceAffinityTests(GatewayFixture fixture)
{
    [Fact]
    public void Choose_ForADecodeStep_StaysOnTheSequencesHomeUnlessAnotherPodIsClearlyBetter()
    {
        var (spec, gates, transitions, plan) = TwoPodSetup();
        var sticky = new PreScheduler(gates, HomePolicyName.Speculative, new SpeculativeOptions { AffinityMargin = 0.5 }, affinityMaxTokens: 1);
        var loose = new PreScheduler(gates, HomePolicyName.Speculative, new SpeculativeOptions { AffinityMargin = 0 }, affinityMaxTokens: 1);
        var elsewhere = Enumerable.Range(spec.Experts - spec.TopK, spec.TopK).Select(e => (short)e).ToArray(); // on both pods
        var onPod0 = Enumerable.Range(0, spec.TopK).Select(e => (short)e).ToArray();
        var hidden = new float[spec.Hidden * 2];
        foreach (var scheduler in new[] { sticky, loose })
        {
            scheduler.Adopt(1, plan, transitions);
            scheduler.Observe([1], [1], null, "s"); // the sequence's last step ran on pod 1
        }

        // A tie between the pods: the sequence stays on pod 1 with affinity; without it the tie goes to pod 0.
        Assert.Equal([1], sticky.Choose(0, hidden.AsSpan(0, spec.Hidden), normalized: false, 1, elsewhere, "s", [0, 1], _ => 0).Homes);
        Assert.Equal([0], loose.Choose(0, hidden.AsSpan(0, spec.Hidden), normalized: false, 1, elsewhere, "s", [0, 1], _ => 0).Homes);
        Assert.Equal(1, sticky.PreviousHome("s"));

        // Pod 0 holds every first-layer expert of the step: better by topK, more than the margin, so the step moves.
        Assert.Equal([0], sticky.Choose(0, hidden.AsSpan(0, spec.Hidden), normalized: false, 1, onPod0, "s", [0, 1], _ => 0).Homes);

        // An unavailable previous home is never kept.
        Assert.Equal([0], sticky.Choose(0, hidden.AsSpan(0, spec.Hidden), normalized: false, 1, elsewhere, "s", [0], _ => 0).Homes);

        // A prefill chunk (more tokens than a decode step) is spread by prediction and load, not pinned.
        var chunk = sticky.Choose(0, hidden, normalized: false, 2, [.. elsewhere, .. elsewhere], "s", [0, 1], _ => 0).Homes;
        Assert.Contains(0, chunk);
    }

    [Fact]
    public void Choose_WithRequestGranularity_HomesTheWholeRequestWhereMostPredictedDispatchesAreLocal()
    {
        var (spec, gates, transitions, plan) = TwoPodSetup();
        var perToken = new PreScheduler(gates, HomePolicyName.Speculative);
        var perRequest = new PreScheduler(gates, HomePolicyName.Speculative, granularity: HomeGranularity.Request);
        perToken.Adopt(1, plan, transitions);
        perRequest.Adopt(1, plan, transitions);
        // Token 0's first-layer experts live on pod 0 only; token 1's on both pods.
        short[] routing = [.. Enumerable.Range(0, spec.TopK).Select(e => (short)e), .. Enumerable.Range(spec.Experts - spec.TopK, spec.TopK).Select(e => (short)e)];
        var hidden = new float[spec.Hidden * 2];

        var split = perToken.Choose(0, hidden, normalized: false, 2, routing, null, [0, 1], _ => 0).Homes;
        var whole = perRequest.Choose(0, hidden, normalized: false, 2, routing, null, [0, 1], _ => 0).Homes;

        Assert.Equal([0, 1], split); // token 1 ties and goes to the less loaded pod
        Assert.Equal([0, 0], whole); // pod 0 has the most predicted local dispatches for the two together
    }

    [Fact]
    public void Choose_WithAutoGranularity_SplitsOnlyWhenTheLinkPricesTheSavedDispatchesAboveTheAddedMessages()
    {
        var spec = fixture.Reference.Model.Spec;
        var gates = GateModel.Load(GatewayFixture.Model, fixture.ModelDirectory);
        var transitions = TransitionModel.FromProfile(WorkloadProfile.FromTrace(TraceDirectory.Read(fixture.Options.ProfileTraces[GatewayFixture.Model])));
        // First layer: experts 0 .. topK-1 on pod 0 only, the last topK experts on pod 1 only; every other expert on both.
        var plan = WirePlan.FromAssignment(GatewayFixture.Model, 1, 2, spec.MoeLayers, spec.Experts,
            (l, e) => l == 0 && e < spec.TopK ? [0] : l == 0 && e >= spec.Experts - spec.TopK ? [1] : [0, 1]).ToPlacement();
        short[] routing = [.. Enumerable.Range(0, spec.TopK).Select(e => (short)e), .. Enumerable.Range(spec.Experts - spec.TopK, spec.TopK).Select(e => (short)e)];
        var hidden = new float[spec.Hidden * 2];
        int[] Homes(HomeGranularity granularity, string? link = null)
        {
            var scheduler = new PreScheduler(gates, HomePolicyName.Speculative, granularity: granularity, split: link is null ? null : new SplitRule(LinkModel.Parse(link), spec.Hidden));
            scheduler.Adopt(1, plan, transitions);
            return scheduler.Choose(0, hidden, normalized: false, 2, routing, null, [0, 1], _ => 0).Homes;
        }

        var split = Homes(HomeGranularity.Token);
        var whole = Homes(HomeGranularity.Request);
        Assert.Equal([0, 1], split); // each token where its first-layer experts are
        Assert.Equal(whole[0], whole[1]);

        // Messages free: the split's saved dispatches win. Loopback (the default): two tokens' saved dispatches are a few
        // kilobytes, far less than the added runner call and per-layer messages, so the request goes whole.
        Assert.Equal(split, Homes(HomeGranularity.Auto, "1,0"));
        Assert.Equal(whole, Homes(HomeGranularity.Auto));
        Assert.Equal(whole, Homes(HomeGranularity.Auto, "loopback"));
    }

    [Fact]
    public void Options_WithABadSplitLinkOrGranularity_AreRejectedSayingWhatIsAccepted()
    {
        var options = new GatewayOptions { Models = { ["m"] = "/m" }, AllowAnonymous = true, HomeSplitLink = "fast", HomeGranularity = (HomeGranularity)7 };

        var failures = new GatewayOptionsValidator().Validate(null, options).Failures!;

        Assert.Contains(failures, f => f.StartsWith("HomeSplitLink: link 'fast' is not a preset (nvlink, ib400, eth100, loopback)", StringComparison.Ordinal));
        Assert.Contains(failures, f => f.Contains("HomeGranularity must be Token, Request or Auto", StringComparison.Ordinal));
        Assert.True(new GatewayOptionsValidator().Validate(null, new GatewayOptions { Models = { ["m"] = "/m" }, AllowAnonymous = true, HomeGranularity = HomeGranularity.Auto, HomeSplitLink = "25,3.5" }).Succeeded);
    }

    [Fact]
    public void Options_WithABadAffinity_AreRejected()
    {
        var options = new GatewayOptions { Models = { ["m"] = "/m" }, SequenceAffinityMargin = double.NaN, SequenceAffinityMaxTokens = -1 };

        Assert.Contains(new GatewayOptionsValidator().Validate(null, options).Failures!, f => f.Contains("SequenceAffinityMargin", StringComparison.Ordinal));
    }

    /// <summary>The fixture's model on two pods: every expert on both, except the first layer's experts 0 .. topK-1 on pod 0 only.</summary>
    private (MoeCloud.Model.Spec.ModelSpec Spec, GateModel Gates, TransitionModel Transitions, MoeCloud.Placement.Plans.PlacementPlan Plan) TwoPodSetup()
    {
        var spec = fixture.Reference.Model.Spec;
        var gates = GateModel.Load(GatewayFixture.Model, fixture.ModelDirectory);
        var transitions = TransitionModel.FromProfile(WorkloadProfile.FromTrace(TraceDirectory.Read(fixture.Options.ProfileTraces[GatewayFixture.Model])));
        var plan = WirePlan.FromAssignment(GatewayFixture.Model, 1, 2, spec.MoeLayers, spec.Experts, (l, e) => l == 0 && e < spec.TopK ? [0] : [0, 1]).ToPlacement();
        return (spec, gates, transitions, plan);
    }
}
