using Microsoft.Extensions.DependencyInjection;
using MoeCloud.Contracts.Protos;
using MoeCloud.Contracts.Steps;
using MoeCloud.Contracts.Tensors;
using MoeCloud.Model.Forward;
using MoeCloud.Runtime.Hosting;
using MoeCloud.Runtime.Plans;
using MoeCloud.Runtime.Serving;
using MoeCloud.Runtime.Telemetry;

namespace MoeCloud.Runtime.Tests.Serving;

/// <summary>The gating-kinds cluster with two-batch overlap on: steps of six tokens or more are cut into two micro-batches.</summary>
public sealed class MicroBatchedGatingKindsFixture : GatingKindsFixture
{
    public const int MinTokens = 3;

    protected override void Configure(MoeCloudSiloOptions options)
    {
        options.MicroBatches = 2;
        options.MicroBatchMinTokens = MinTokens;
        // The two micro-batches of a step reach a pod's executor for the same layer at about the same time; coalesced
        // into one batch, an expert's two single rows become one gathered pair, and the copy count would depend on
        // that timing. One work per batch keeps the count exact.
        options.MaxBatchTokens = 1;
    }

    public StackRunner StackRunner(int pod) => Cluster.Silos[pod].App.Services.GetRequiredService<StackRunner>();

    public double GateRoutings(string model, string source) =>
        Cluster.Silos.Sum(s => s.App.Services.GetRequiredService<SiloMetrics>().GateRoutings.WithLabels(model, source).Value);
}

/// <summary>
/// Two-batch overlap (<see cref="MoeCloudSiloOptions.MicroBatches"/>): a step cut into micro-batches that run through the
/// layers at once gives the reference's result for every gating kind and either API, with forced, carried or computed
/// routing; it is cut as <see cref="MicroBatch.Split"/> says, which the exact copy count shows.
/// </summary>
public sealed class TwoBatchOverlapTests(MicroBatchedGatingKindsFixture fixture) : IClassFixture<MicroBatchedGatingKindsFixture>
{
    [Theory]
    [MemberData(nameof(GatingKindsFixture.Kinds), MemberType = typeof(GatingKindsFixture))]
    public async Task Forward_CutIntoTwoMicroBatches_EqualsTheReferenceOnEveryPod(string model)
    {
        var spec = fixture.References[model].Model.Spec;
        for (var pod = 0; pod < GatingKindsFixture.Pods; pod++)
        {
            const int tokens = 11;
            var response = await fixture.ForwardEqualsTheReference(model, pod, tokens, seed: 900 + pod);

            Assert.Equal((long)tokens * spec.MoeLayers * spec.TopK, response.LocalDispatches + response.RemoteDispatches);
        }
    }

    [Theory]
    [MemberData(nameof(GatingKindsFixture.Kinds), MemberType = typeof(GatingKindsFixture))]
    public Task ForwardLayer_CutIntoTwoMicroBatches_EqualsTheReferenceLayer(string model) =>
        fixture.ForwardLayerEqualsTheReference(model, pod: 2, layer: 1, tokens: 8, seed: 910);

    /// <summary>Each micro-batch takes its own tokens' slice of the forced routing: the step's routing is the forced one, token by token, and so is its result.</summary>
    [Fact]
    public async Task Run_WithForcedRoutingCutIntoTwoMicroBatches_UsesEachTokensOwnRoutingAndEqualsTheReference()
    {
        const string model = "softmax-shared";
        const int tokens = 9;
        var reference = fixture.References[model];
        var spec = reference.Model.Spec;
        int layers = spec.MoeLayers, k = spec.TopK;
        var random = new Random(5);
        var forced = new List<RoutingAssignment>();
        var ids = new int[tokens * layers * k];
        var weights = new float[ids.Length];
        for (var l = 0; l < layers; l++)
        {
            var layerIds = new int[tokens * k];
            var layerWeights = new float[tokens * k];
            for (var t = 0; t < tokens; t++)
            {
                var chosen = Enumerable.Range(0, spec.Experts).OrderBy(_ => random.Next()).Take(k).ToArray();
                for (var j = 0; j < k; j++)
                {
                    layerIds[(t * k) + j] = ids[(((t * layers) + l) * k) + j] = chosen[j];
                    layerWeights[(t * k) + j] = weights[(((t * layers) + l) * k) + j] = (float)(0.1 + random.NextDouble());
                }
            }

            forced.Add(new RoutingAssignment(tokens, k, layerIds, layerWeights));
        }

        var hidden = RequestFactory.Hidden(tokens, spec.Hidden, seed: 920);
        var expected = reference.ForwardStack(0, layers - 1, hidden, tokens, forced);

        var result = await fixture.StackRunner(1).Run(new StepRequest(model, 0, layers - 1, tokens, (float[])hidden.Clone(), ids, weights, k));

        Assert.Equal(ids, result.ExpertIds);
        var error = RequestFactory.MaxRelativeError(expected, result.Hidden);
        Assert.True(error <= 1e-4, $"max relative error {error}");
    }

    /// <summary>Each micro-batch takes its tokens' slice of the gateway's carried gate; the step's first layer is counted carried once and the others computed once each.</summary>
    [Fact]
    public async Task Run_WithTheCarriedGateCutIntoTwoMicroBatches_RoutesTheFirstLayerWithItAndCountsEachLayerOnce()
    {
        const string model = "group-max-score";
        const int tokens = 10;
        var reference = fixture.References[model];
        var spec = reference.Model.Spec;
        var hidden = RequestFactory.Hidden(tokens, spec.Hidden, seed: 930);
        RoutingAssignment? first = null;
        var expected = reference.ForwardStack(0, spec.MoeLayers - 1, hidden, tokens, onRouting: (l, routing) => first ??= l == 0 ? routing : null);
        var computed = fixture.GateRoutings(model, "computed");
        var carried = fixture.GateRoutings(model, "carried");

        var result = await fixture.StackRunner(0).Run(new StepRequest(model, 0, spec.MoeLayers - 1, tokens, (float[])hidden.Clone(), GateIds: first!.ExpertIds, GateWeights: first.Weights));

        var error = RequestFactory.MaxRelativeError(expected, result.Hidden);
        Assert.True(error <= 1e-4, $"max relative error {error}");
        Assert.Equal(1, fixture.GateRoutings(model, "carried") - carried);
        Assert.Equal(spec.MoeLayers - 1, fixture.GateRoutings(model, "computed") - computed);
    }

    /// <summary>
    /// The exact copy count of a 12-token step cut into two micro-batches of 6: each micro-batch's own per-layer copies
    /// (one wire gather per remote pod a token needs, one kernel gather per expert group of two or more of that
    /// micro-batch's tokens), plus one copy of every token's row into its micro-batch and one back into the step's result.
    /// A step run whole would count its groups over all 12 tokens instead, so the count tells the cut.
    /// </summary>
    [Fact]
    public async Task ActivationCopies_OfAStepCutInTwo_AreEachMicroBatchsCopiesPlusTheCutAndTheJoin()
    {
        const string model = "softmax-shared";
        const int tokens = 12, pod = 0;
        var spec = fixture.References[model].Model.Spec;
        var hidden = RequestFactory.Hidden(tokens, spec.Hidden, seed: 940);
        var parts = MicroBatch.Split(tokens, 2, MicroBatchedGatingKindsFixture.MinTokens);
        Assert.Equal([(0, 6), (6, 6)], parts);
        var expected = (2 * tokens) + fixture.ExpectedCopies(model, pod, hidden, tokens, parts);
        Assert.NotEqual(fixture.ExpectedCopies(model, pod, hidden, tokens, [(0, tokens)]), expected - (2 * tokens)); // the count tells a cut step from a whole one
        var before = fixture.ActivationCopies(model);

        await fixture.Runner(pod).ForwardAsync(RequestFactory.Forward(model, 0, spec.MoeLayers - 1, hidden, tokens, spec.Hidden));

        Assert.Equal(expected, fixture.ActivationCopies(model) - before);
    }

    /// <summary>A step with fewer tokens than two micro-batches' minimum runs whole: its copies are the whole step's.</summary>
    [Fact]
    public async Task ActivationCopies_OfAStepTooSmallToCut_AreTheWholeStepsCopies()
    {
        const string model = "softmax-shared";
        const int tokens = (2 * MicroBatchedGatingKindsFixture.MinTokens) - 1, pod = 1;
        var spec = fixture.References[model].Model.Spec;
        var hidden = RequestFactory.Hidden(tokens, spec.Hidden, seed: 950);
        Assert.Single(MicroBatch.Split(tokens, 2, MicroBatchedGatingKindsFixture.MinTokens));
        var expected = fixture.ExpectedCopies(model, pod, hidden, tokens, [(0, tokens)]);
        var before = fixture.ActivationCopies(model);

        await fixture.Runner(pod).ForwardAsync(RequestFactory.Forward(model, 0, spec.MoeLayers - 1, hidden, tokens, spec.Hidden));

        Assert.Equal(expected, fixture.ActivationCopies(model) - before);
    }
}

public sealed class MicroBatchSplitTests
{
    [Theory]
    [InlineData(10, 2, 3, new[] { 0, 5, 5, 5 })]
    [InlineData(11, 2, 3, new[] { 0, 6, 6, 5 })]
    [InlineData(7, 4, 2, new[] { 0, 3, 3, 2, 5, 2 })]
    [InlineData(64, 4, 16, new[] { 0, 16, 16, 16, 32, 16, 48, 16 })]
    public void Split_WhenTheStepHoldsEnoughTokens_CutsItIntoEvenContiguousRanges(int tokens, int parts, int minTokens, int[] startsAndCounts)
    {
        var expected = startsAndCounts.Chunk(2).Select(c => (c[0], c[1])).ToArray();

        Assert.Equal(expected, MicroBatch.Split(tokens, parts, minTokens));
    }

    [Theory]
    [InlineData(5, 2, 3)]
    [InlineData(64, 1, 1)]
    [InlineData(1, 4, 1)]
    public void Split_WhenTheStepIsTooSmallOrOverlapIsOff_KeepsItWhole(int tokens, int parts, int minTokens)
    {
        Assert.Equal([(0, tokens)], MicroBatch.Split(tokens, parts, minTokens));
    }

    [Theory]
    [InlineData(0, 8, "MicroBatches must be in [1, 4], got 0.")]
    [InlineData(5, 8, "MicroBatches must be in [1, 4], got 5.")]
    [InlineData(2, 0, "MicroBatchMinTokens must be in [1, 1048576], got 0.")]
    public void Validate_WhenTheMicroBatchSettingsAreOutOfRange_NamesTheSetting(int microBatches, int minTokens, string message)
    {
        var options = new MoeCloudSiloOptions { Models = { ["m"] = "/models/m" }, MicroBatches = microBatches, MicroBatchMinTokens = minTokens };

        var result = new MoeCloudSiloOptionsValidator().Validate(null, options);

        Assert.Contains(message, result.Failures ?? []);
    }
}
