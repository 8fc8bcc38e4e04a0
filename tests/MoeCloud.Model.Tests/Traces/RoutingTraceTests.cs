using MoeCloud.Model.Traces;

namespace MoeCloud.Model.Tests.Traces;

public sealed class RoutingTraceTests
{
    [Fact]
    public void SplitEvenOdd_PutsEvenSequenceOrdinalsFirstAndKeepsTokenOrder()
    {
        var trace = TraceBuilder.FromRouting(4, [[[0, 1]], [[1, 2]], [[2, 3]], [[3, 0]], [[0, 2]]], [10, 10, 4, 8, 8]);

        var (even, odd) = trace.SplitEvenOdd();

        Assert.Equal([10, 10, 8, 8], even.SeqIds!);
        Assert.Equal([0, 1, 1, 2, 3, 0, 0, 2], even.ExpertIds.Select(i => (int)i));
        Assert.Equal([4], odd.SeqIds!);
        Assert.Equal(2, even.Manifest.Sequences);
        Assert.Single(odd.Sequences);
    }

    [Fact]
    public void Constructor_WhenArraysDisagreeWithShape_Throws()
    {
        var manifest = new TraceManifest { Layers = 1, Experts = 4, TopK = 2, Tokens = 2 };

        Assert.Throws<ArgumentException>(() => new RoutingTrace(manifest, [0, 1, 2]));
        Assert.Throws<ArgumentException>(() => new RoutingTrace(manifest, [0, 1, 2, 3], [0f]));
        Assert.Throws<ArgumentException>(() => new RoutingTrace(manifest, [0, 1, 2, 3], seqIds: [1]));
        Assert.Throws<ArgumentException>(() => new RoutingTrace(manifest, [0, 1, 2, 4]));
        Assert.Throws<ArgumentException>(() => new RoutingTrace(manifest with { TopK = 5 }, new short[10]));
    }
}
