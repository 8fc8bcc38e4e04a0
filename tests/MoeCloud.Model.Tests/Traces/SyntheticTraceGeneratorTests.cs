using MoeCloud.Model.Gating;
using MoeCloud.Model.Traces;

namespace MoeCloud.Model.Tests.Traces;

public sealed class SyntheticTraceGeneratorTests
{
    [Fact]
    public void Generate_WhenSameSeed_IsIdentical_AndDifferentSeedDiffers()
    {
        var options = new SyntheticTraceOptions { Tokens = 400, Sequences = 8 };

        var a = SyntheticTraceGenerator.Generate(options);
        var b = SyntheticTraceGenerator.Generate(options);
        var c = SyntheticTraceGenerator.Generate(options with { Seed = 2 });

        Assert.Equal(a.ExpertIds, b.ExpertIds);
        Assert.Equal(a.GateWeights, b.GateWeights);
        Assert.NotEqual(a.ExpertIds, c.ExpertIds);
    }

    [Fact]
    public void Generate_WhenDefaults_LandsInsideTheSharedTracesRanges()
    {
        var stats = TraceStatistics.Compute(SyntheticTraceGenerator.Generate(new SyntheticTraceOptions()));

        // ../shared/traces/README.md: hottest expert 2.9-7.7x the mean; held-out successor hit 36-58%.
        Assert.InRange(stats.SkewMean, 2.9, 7.7);
        Assert.InRange(stats.SkewMax, 2.9, 7.7);
        Assert.InRange(stats.SuccessorHitHeldOut!.Value, 0.36, 0.58);
    }

    [Fact]
    public void Generate_WhenKnobsChange_MovesSkewAndAffinityTheRightWay()
    {
        var baseline = new SyntheticTraceOptions { Tokens = 3000, Sequences = 30, Layers = 8 };
        var flat = TraceStatistics.Compute(SyntheticTraceGenerator.Generate(baseline with { Skew = 0 }));
        var skewed = TraceStatistics.Compute(SyntheticTraceGenerator.Generate(baseline with { Skew = 2.5 }));
        var loose = TraceStatistics.Compute(SyntheticTraceGenerator.Generate(baseline with { Affinity = 0 }));
        var tight = TraceStatistics.Compute(SyntheticTraceGenerator.Generate(baseline with { Affinity = 0.99 }));

        Assert.True(skewed.SkewMean > flat.SkewMean + 1, $"skew 2.5 gives {skewed.SkewMean}, skew 0 gives {flat.SkewMean}");
        Assert.True(tight.SuccessorHitHeldOut > loose.SuccessorHitHeldOut + 0.2, $"affinity 0.99 gives {tight.SuccessorHitHeldOut}, 0 gives {loose.SuccessorHitHeldOut}");
    }

    [Fact]
    public void Generate_WritesSortedDistinctSlotsAndContiguousSequences()
    {
        var trace = SyntheticTraceGenerator.Generate(new SyntheticTraceOptions { Tokens = 300, Sequences = 7, Experts = 16, TopK = 4, Layers = 3 });

        Assert.Equal(7, trace.Sequences.Count);
        Assert.Equal(300, trace.Sequences.Sum(s => s.Tokens.Length));
        for (var t = 0; t < trace.Tokens; t++)
        {
            for (var l = 0; l < trace.Layers; l++)
            {
                Assert.Equal(trace.TopK, trace.Slots(t, l).ToArray().Distinct().Count());
                var w = trace.GateWeights.AsSpan(trace.Index(t, l, 0), trace.TopK);
                Assert.True(w[0] >= w[^1]);
            }
        }
    }

    [Fact]
    public void Validate_WhenSeveralKnobsAreBad_ReportsEveryProblem()
    {
        var e = Assert.Throws<ArgumentException>(() => new SyntheticTraceOptions { TopK = 100, Affinity = 1, Skew = double.NaN }.Validate());

        Assert.Contains("top-k", e.Message, StringComparison.Ordinal);
        Assert.Contains("affinity", e.Message, StringComparison.Ordinal);
        Assert.Contains("skew", e.Message, StringComparison.Ordinal);
    }

    private static readonly SyntheticTraceOptions SmallV3 = SyntheticTraceOptions.DeepSeekV3 with { Layers = 4, Tokens = 300, Sequences = 6 };

    [Fact]
    public void Generate_WhenDeepSeekV3Gate_PicksWhatTheGatingCodePicksForTheSameLogits()
    {
        var expected = new Dictionary<(int, int), (int[] Ids, float[] Weights)>();
        var trace = SyntheticTraceGenerator.Generate(SmallV3, "v3", (token, layer, logits, bias) =>
        {
            Assert.Equal(SmallV3.Experts, bias.Length);
            var ids = new int[SmallV3.TopK];
            var weights = new float[SmallV3.TopK];
            GateFunction.Select(SmallV3.Gating, logits, bias, SmallV3.TopK, ids, weights);
            expected[(token, layer)] = (ids, weights);
        });

        Assert.Equal(trace.Tokens * trace.Layers, expected.Count);
        for (var t = 0; t < trace.Tokens; t++)
        {
            for (var l = 0; l < trace.Layers; l++)
            {
                var (ids, weights) = expected[(t, l)];
                Assert.Equal(ids, trace.Slots(t, l).ToArray().Select(e => (int)e));
                Assert.Equal(weights, trace.GateWeights.AsSpan(trace.Index(t, l, 0), trace.TopK).ToArray());
            }
        }
    }

    [Fact]
    public void Generate_WhenDeepSeekV3Gate_EveryTokenTakesItsEightExpertsFromAtMostFourGroups()
    {
        var trace = SyntheticTraceGenerator.Generate(SmallV3);
        var perGroup = SmallV3.Experts / SmallV3.Gating.Groups;
        var groupsUsed = new HashSet<int>();
        for (var t = 0; t < trace.Tokens; t++)
        {
            for (var l = 0; l < trace.Layers; l++)
            {
                var slots = trace.Slots(t, l).ToArray();
                Assert.Equal(8, slots.Distinct().Count());
                var groups = slots.Select(e => e / perGroup).Distinct().Count();
                Assert.InRange(groups, 1, 4);
                groupsUsed.UnionWith(slots.Select(e => e / perGroup));
                Assert.Equal(1.0, trace.GateWeights.AsSpan(trace.Index(t, l, 0), trace.TopK).ToArray().Sum(), 4);
            }
        }

        Assert.Equal(8, groupsUsed.Count);
    }

    [Fact]
    public void Generate_WhenDeepSeekV3GateAndSameSeed_IsIdentical_AndDifferentSeedDiffers()
    {
        var a = SyntheticTraceGenerator.Generate(SmallV3);
        var b = SyntheticTraceGenerator.Generate(SmallV3);
        var c = SyntheticTraceGenerator.Generate(SmallV3 with { Seed = 2 });

        Assert.Equal(a.ExpertIds, b.ExpertIds);
        Assert.Equal(a.GateWeights, b.GateWeights);
        Assert.NotEqual(a.ExpertIds, c.ExpertIds);
    }

    [Fact]
    public void Validate_WhenBiasCorrectionWithoutSelectionBiasOrGroupsDoNotSplit_ReportsBoth()
    {
        var e = Assert.Throws<ArgumentException>(() => (SyntheticTraceOptions.DeepSeekV3 with { Experts = 250, Gating = SyntheticTraceOptions.DeepSeekV3.Gating with { SelectionBias = false } }).Validate());

        Assert.Contains("bias correction needs a gating with a selection bias", e.Message, StringComparison.Ordinal);
        Assert.Contains("250 experts do not split into 8 equal groups", e.Message, StringComparison.Ordinal);
    }
}
