using MoeCloud.Model.Traces;
using MoeCloud.Testing;

namespace MoeCloud.Model.Tests.Traces;

public sealed class TraceStatisticsTests
{
    [Fact]
    public void Compute_WhenHandMadeTrace_MatchesHandComputedFigures()
    {
        // 4 experts, 2 layers, top-2; sequences 0 and 2 are fitted, 1 and 3 scored.
        int[][][] routing =
        [
            [[0, 1], [2, 3]], // seq 0: 0 -> 2
            [[0, 2], [2, 1]], // seq 0: 0 -> 2
            [[0, 3], [2, 0]], // seq 1: predicted 2, actual 2: hit
            [[1, 0], [3, 2]], // seq 2: 1 -> 3
            [[1, 2], [0, 2]], // seq 3: predicted 3, actual 0: miss
        ];
        var trace = TraceBuilder.FromRouting(4, routing, [0, 0, 1, 2, 3]);

        var stats = TraceStatistics.Compute(trace);

        // Layer 0 loads 4,3,2,1 (mean 2.5): skew 1.6. Layer 1 loads 2,1,5,2: skew 2.0.
        Assert.Equal([1.6, 2.0], stats.LayerSkew, new DoubleTolerance(1e-12));
        Assert.Equal(1.8, stats.SkewMean, 12);
        Assert.Equal(1.6, stats.SkewMin, 12);
        Assert.Equal(2.0, stats.SkewMax, 12);
        Assert.Equal(0.5, stats.SuccessorHitHeldOut);
        Assert.Equal(0.25, stats.SuccessorHitChance);
        Assert.Equal(4, stats.Sequences);
        Assert.True(stats.Top1FromGateWeights);
    }

    [Fact]
    public void Top1_WhenSlotsAreNotSortedByWeight_UsesTheLargestWeight()
    {
        var manifest = new TraceManifest { Name = "unsorted", Layers = 1, Experts = 4, TopK = 3, Tokens = 1 };
        var trace = new RoutingTrace(manifest, [3, 1, 2], [0.1f, 0.7f, 0.2f]);

        Assert.Equal([1], TraceStatistics.Top1(trace));
    }

    [Fact]
    public void Compute_WhenSingleSequence_HasNoHeldOutRate()
    {
        var trace = TraceBuilder.FromRouting(4, [[[0, 1], [2, 3]], [[1, 0], [3, 2]]], [7, 7]);

        Assert.Null(TraceStatistics.Compute(trace).SuccessorHitHeldOut);
    }

    [SharedTraceTheory]
    [MemberData(nameof(SharedTraceData.Names), MemberType = typeof(SharedTraceData))]
    public void Compute_WhenSharedTrace_AgreesWithTheTracesReadme(string name)
    {
        var stats = TraceStatistics.Compute(TraceDirectory.Read(SharedTraceData.PathOf(name)));

        // README: the hottest expert takes up to 7.7x the mean; successor hit 36-58% held out, 1.6% by chance.
        Assert.InRange(stats.SkewMax, 2.9, 7.7);
        Assert.InRange(stats.SkewMean, 2.9, 7.7);
        Assert.InRange(stats.SuccessorHitHeldOut!.Value, 0.36, 0.58);
        Assert.Equal(0.015625, stats.SuccessorHitChance);
    }

    [SharedTraceFact]
    public void Compute_WhenAllSharedTraces_SpanTheReadmesRanges()
    {
        var all = SharedTraces.All().Select(d => TraceStatistics.Compute(TraceDirectory.Read(d))).ToArray();

        Assert.Equal(7.7, all.Max(s => s.SkewMax), 1);
        Assert.Equal(0.58, all.Max(s => s.SuccessorHitHeldOut!.Value), 2);
        Assert.Equal(0.37, all.Min(s => s.SuccessorHitHeldOut!.Value), 2);
    }

    private sealed class DoubleTolerance(double tolerance) : IEqualityComparer<double>
    {
        public bool Equals(double x, double y) => Math.Abs(x - y) <= tolerance;

        public int GetHashCode(double obj) => 0;
    }
}
