using MoeCloud.Model.Forward;
using MoeCloud.Model.Kernels;
using MoeCloud.Model.Spec;
using MoeCloud.Model.Synthetic;
using MoeCloud.Model.Traces;
using MoeCloud.Model.Weights;
using MoeCloud.Testing;

namespace MoeCloud.Model.Tests.Forward;

public sealed class ReferenceForwardTests : IDisposable
{
    private const int Tokens = 6;
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    [Theory]
    [InlineData(ModelFamily.Mixtral)]
    [InlineData(ModelFamily.Qwen2Moe)]
    [InlineData(ModelFamily.Qwen3Moe)]
    [InlineData(ModelFamily.DeepseekV2)]
    [InlineData(ModelFamily.DeepseekV3)]
    [InlineData(ModelFamily.Olmoe)]
    public void ForwardLayer_MatchesThePlainScalarImplementation(ModelFamily family)
    {
        var (forward, scalar, x) = Build(family);
        var h = forward.Model.Spec.Hidden;

        var y = forward.ForwardLayer(1, x, Tokens, null, out var routing);

        for (var t = 0; t < Tokens; t++)
        {
            var token = x.AsSpan(t * h, h).ToArray();
            var (ids, _) = scalar.Route(1, token);
            Assert.Equal(ids, routing.ExpertIds.AsSpan(t * ids.Length, ids.Length).ToArray());
            AssertClose(scalar.Layer(1, token), y.AsSpan(t * h, h).ToArray());
        }
    }

    [Theory]
    [InlineData(ModelFamily.DeepseekV2)]
    [InlineData(ModelFamily.DeepseekV3)]
    [InlineData(ModelFamily.Qwen2Moe)]
    public void ForwardStack_MatchesThePlainScalarImplementation(ModelFamily family)
    {
        var (forward, scalar, x) = Build(family);
        var spec = forward.Model.Spec;

        var y = forward.ForwardStack(0, spec.MoeLayers - 1, x, Tokens);

        for (var t = 0; t < Tokens; t++)
        {
            AssertClose(scalar.Stack(0, spec.MoeLayers - 1, x.AsSpan(t * spec.Hidden, spec.Hidden).ToArray()), y.AsSpan(t * spec.Hidden, spec.Hidden).ToArray());
        }
    }

    [Fact]
    public void ForwardLayer_WhenForcedWithTheGatesOwnRouting_GivesIdenticalBits()
    {
        var (forward, _, x) = Build(ModelFamily.DeepseekV2);
        var gated = forward.ForwardLayer(0, x, Tokens, null, out var routing);

        var forced = forward.ForwardLayer(0, x, Tokens, routing);

        Assert.Equal(gated, forced);
    }

    [Fact]
    public void ForwardLayer_WhenForcedRouting_UsesExactlyThoseExpertsAndWeights()
    {
        var (forward, scalar, x) = Build(ModelFamily.Olmoe);
        var spec = forward.Model.Spec;
        var ids = Enumerable.Range(0, Tokens * spec.TopK).Select(i => (i * 3) % spec.Experts).ToArray();
        var weights = Enumerable.Range(0, ids.Length).Select(i => 0.25f + (i % 3)).ToArray();

        var y = forward.ForwardLayer(2, x, Tokens, new RoutingAssignment(Tokens, spec.TopK, ids, weights));

        for (var t = 0; t < Tokens; t++)
        {
            var slots = (ids.AsSpan(t * spec.TopK, spec.TopK).ToArray(), weights.AsSpan(t * spec.TopK, spec.TopK).ToArray().Select(w => (double)w).ToArray());
            AssertClose(scalar.Layer(2, x.AsSpan(t * spec.Hidden, spec.Hidden).ToArray(), slots), y.AsSpan(t * spec.Hidden, spec.Hidden).ToArray());
        }
    }

    [Fact]
    public void ForwardStack_WhenForcedWithRecordedRouting_ReproducesTheGatedResult()
    {
        var (forward, _, x) = Build(ModelFamily.DeepseekV3);
        var last = forward.Model.Spec.MoeLayers - 1;
        var recorded = new List<RoutingAssignment>();
        var gated = forward.ForwardStack(0, last, x, Tokens, onRouting: (_, r) => recorded.Add(r));

        var replayed = forward.ForwardStack(0, last, x, Tokens, recorded);

        Assert.Equal(gated, replayed);
    }

    [Fact]
    public void ForwardLayer_IsDeterministic()
    {
        var (forward, _, x) = Build(ModelFamily.Mixtral);

        Assert.Equal(forward.ForwardStack(0, 3, x, Tokens), forward.ForwardStack(0, 3, x, Tokens));
    }

    [Fact]
    public void ForwardLayer_WhenInputHoldsNaN_FailsNamingTheToken()
    {
        var (forward, _, x) = Build(ModelFamily.DeepseekV2);
        x[(2 * forward.Model.Spec.Hidden) + 5] = float.NaN;

        var e = Assert.Throws<ArgumentException>(() => forward.ForwardLayer(0, x, Tokens));

        Assert.Contains("token 2", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ForwardLayer_WhenForcedRoutingIsWrong_FailsClearly()
    {
        var (forward, _, x) = Build(ModelFamily.DeepseekV2);
        var k = forward.Model.Spec.TopK;
        var ids = new int[Tokens * k];
        ids[3] = 99;

        var badId = Assert.Throws<ArgumentException>(() => forward.ForwardLayer(0, x, Tokens, new RoutingAssignment(Tokens, k, ids, new float[ids.Length])));
        var badShape = Assert.Throws<ArgumentException>(() => forward.ForwardLayer(0, x, Tokens, new RoutingAssignment(Tokens - 1, k, new int[(Tokens - 1) * k], new float[(Tokens - 1) * k])));
        var badWeight = Assert.Throws<ArgumentException>(() => new RoutingAssignment(1, 2, [0, 1], [0.5f, float.NaN]));

        Assert.Contains("names expert 99 at token 1, slot 1", badId.Message, StringComparison.Ordinal);
        Assert.Contains($"Forced routing is {Tokens - 1} tokens", badShape.Message, StringComparison.Ordinal);
        Assert.Contains("not a finite number", badWeight.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ForwardStack_WhenLayersOrForcedCountAreWrong_Throws()
    {
        var (forward, _, x) = Build(ModelFamily.DeepseekV2);

        Assert.Throws<ArgumentOutOfRangeException>(() => forward.ForwardStack(0, 3, x, Tokens));
        Assert.Throws<ArgumentException>(() => forward.ForwardStack(2, 1, x, Tokens));
        Assert.Throws<ArgumentException>(() => forward.ForwardStack(0, 1, x, Tokens, []));
        Assert.Throws<ArgumentException>(() => forward.ForwardLayer(0, x.AsSpan(0, 10), Tokens));
    }

    [Fact]
    public void ForwardStack_WhenReplayingARecordedTrace_ReproducesTheGatedResult()
    {
        var (forward, _, x) = Build(ModelFamily.DeepseekV2);
        var spec = forward.Model.Spec;
        var last = spec.MoeLayers - 1;
        var ids = new short[Tokens * spec.MoeLayers * spec.TopK];
        var weights = new float[ids.Length];
        var gated = forward.ForwardStack(0, last, x, Tokens, onRouting: (layer, r) =>
        {
            for (var t = 0; t < Tokens; t++)
            {
                for (var s = 0; s < spec.TopK; s++)
                {
                    ids[(((t * spec.MoeLayers) + layer) * spec.TopK) + s] = (short)r.ExpertIds[(t * spec.TopK) + s];
                    weights[(((t * spec.MoeLayers) + layer) * spec.TopK) + s] = r.Weights[(t * spec.TopK) + s];
                }
            }
        });
        var trace = new RoutingTrace(new TraceManifest { Name = "t", Layers = spec.MoeLayers, Experts = spec.Experts, TopK = spec.TopK, Tokens = Tokens }, ids, weights);

        var replayed = forward.ForwardStack(0, last, x, Tokens, TraceRouting.Layers(trace, 0, last, 0, Tokens));

        Assert.Equal(gated, replayed);
        Assert.Throws<ArgumentException>(() => TraceRouting.Layers(trace, 0, spec.MoeLayers, 0, Tokens));
        Assert.Throws<ArgumentException>(() => TraceRouting.Layers(trace, 0, last, 1, Tokens));
    }

    private (ReferenceForward Forward, ScalarMoe Scalar, float[] X) Build(ModelFamily family)
    {
        var (spec, vocab) = SyntheticModelPresets.Get("tiny", family);
        var dir = _dir.Combine(family.ToString());
        SyntheticModelWriter.Write(dir, spec, vocab, new SyntheticModelOptions { Seed = 5, OutputScale = 1.0 });
        using var checkpoint = ModelCheckpoint.Open(dir);
        var model = InMemoryModel.Load(checkpoint);
        var routers = Enumerable.Range(0, spec.MoeLayers).Select(checkpoint.LoadGate).ToArray();
        var x = Kernels.ExpertKernelTests.RandomVector(Tokens * spec.Hidden, seed: 9);
        return (new ReferenceForward(model, new CpuExpertKernel()), new ScalarMoe(model, routers), x);
    }

    private static void AssertClose(double[] expected, float[] actual)
    {
        var scale = expected.Max(Math.Abs);
        Assert.True(scale > 1e-3, "the reference output is near zero: the comparison would prove nothing");
        for (var i = 0; i < expected.Length; i++)
        {
            Assert.True(Math.Abs(expected[i] - actual[i]) <= 1e-4 * scale, $"element {i}: expected {expected[i]}, got {actual[i]} (scale {scale})");
        }
    }
}
