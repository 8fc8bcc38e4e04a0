using MoeCloud.Model.Forward;
using MoeCloud.Model.Kernels;
using MoeCloud.Model.Spec;
using MoeCloud.Model.Synthetic;
using MoeCloud.Model.Traces;
using MoeCloud.Model.Weights;
using MoeCloud.Testing;

namespace MoeCloud.Model.Tests.Synthetic;

public sealed class SyntheticModelWriterTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void Write_WhenSameSeed_GivesIdenticalBytes_AndOtherSeedsDiffer()
    {
        var (spec, vocab) = SyntheticModelPresets.Get("tiny");
        var a = SyntheticModelWriter.Write(_dir.Combine("a"), spec, vocab, new SyntheticModelOptions { Seed = 3 });
        var b = SyntheticModelWriter.Write(_dir.Combine("b"), spec, vocab, new SyntheticModelOptions { Seed = 3 });
        var c = SyntheticModelWriter.Write(_dir.Combine("c"), spec, vocab, new SyntheticModelOptions { Seed = 4 });

        Assert.Equal(File.ReadAllBytes(a.Files[0]), File.ReadAllBytes(b.Files[0]));
        Assert.NotEqual(File.ReadAllBytes(a.Files[0]), File.ReadAllBytes(c.Files[0]));
        Assert.Equal(File.ReadAllText(_dir.Combine("a", "config.json")), File.ReadAllText(_dir.Combine("b", "config.json")));
    }

    [Fact]
    public void Write_WhenDeepSeekV2LitePreset_HasTheRealShapes()
    {
        var (spec, vocab) = SyntheticModelPresets.Get("deepseek-v2-lite");

        Assert.Equal((27, 26, 1), (spec.Layers, spec.MoeLayers, spec.FirstMoeLayer));
        Assert.Equal((64, 6, 2048, 1408, 2), (spec.Experts, spec.TopK, spec.Hidden, spec.ExpertIntermediate, spec.SharedExperts));
        Assert.Equal(102400, vocab);
        Assert.Equal(spec, ModelSpec.FromHuggingFaceConfigJson(HuggingFaceConfigWriter.ToJson(spec)));
    }

    [Fact]
    public void ModelTrace_OfTheSmallPreset_HasRealisticSkewAndCrossLayerAffinity()
    {
        var (spec, vocab) = SyntheticModelPresets.Get("small");
        SyntheticModelWriter.Write(_dir.Path, spec, vocab);
        using var checkpoint = ModelCheckpoint.Open(_dir.Path);
        var forward = new ReferenceForward(InMemoryModel.Load(checkpoint), new CpuExpertKernel());

        var trace = ModelTraceRecorder.Record(checkpoint, forward, new ModelTraceOptions { Tokens = 2048, Sequences = 32 }, "small");
        var stats = TraceStatistics.Compute(trace);

        Assert.Equal((2048, 8, 64, 6), (trace.Tokens, trace.Layers, trace.Experts, trace.TopK));
        // The shared real traces: hottest expert 2.9–7.7× the mean, held-out successor hit 36–58% (chance 1.6%).
        Assert.InRange(stats.SkewMean, 2.5, 8);
        Assert.InRange(stats.SuccessorHitHeldOut!.Value, 0.3, 0.75);
        Assert.NotNull(trace.GateWeights);
    }

    [Fact]
    public void ModelTrace_WhenRoutingStructureIsRemoved_LosesSkewAndAffinity()
    {
        // Control for the test above: no popularity, no inherited codes, and a routing subspace as wide as half the
        // hidden size leave the gates close to random rows on random inputs.
        var structured = Stats(new SyntheticModelOptions(), "structured");
        var control = Stats(new SyntheticModelOptions { Skew = 0, Affinity = 0, RoutingDimension = 64 }, "control");

        Assert.True(structured.SkewMean > control.SkewMean + 1, $"skew {structured.SkewMean} vs control {control.SkewMean}");
        Assert.True(structured.SuccessorHitHeldOut > control.SuccessorHitHeldOut + 0.1, $"successor hit {structured.SuccessorHitHeldOut} vs control {control.SuccessorHitHeldOut}");
    }

    private TraceStats Stats(SyntheticModelOptions options, string name)
    {
        var (spec, vocab) = SyntheticModelPresets.Get("small");
        var dir = _dir.Combine(name);
        SyntheticModelWriter.Write(dir, spec, vocab, options);
        using var checkpoint = ModelCheckpoint.Open(dir);
        var forward = new ReferenceForward(InMemoryModel.Load(checkpoint), new CpuExpertKernel());
        return TraceStatistics.Compute(ModelTraceRecorder.Record(checkpoint, forward, new ModelTraceOptions { Tokens = 2048, Sequences = 32 }, name));
    }

    [Fact]
    public void Options_WhenOutOfRange_ReportEveryProblem()
    {
        var e = Assert.Throws<ArgumentException>(() => new SyntheticModelOptions { Skew = -1, Affinity = 2, MaxShardBytes = 10 }.Validate());

        Assert.Contains("Skew", e.Message, StringComparison.Ordinal);
        Assert.Contains("Affinity", e.Message, StringComparison.Ordinal);
        Assert.Contains("MaxShardBytes", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Presets_WhenUnknownName_ListTheKnownOnes()
    {
        var e = Assert.Throws<ArgumentException>(() => SyntheticModelPresets.Get("huge"));

        Assert.Contains("tiny, small, deepseek-v2-lite", e.Message, StringComparison.Ordinal);
    }
}
