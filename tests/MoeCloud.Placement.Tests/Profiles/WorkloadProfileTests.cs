using MoeCloud.Model.Traces;
using MoeCloud.Placement.Profiles;

namespace MoeCloud.Placement.Tests.Profiles;

public sealed class WorkloadProfileTests
{
    [Fact]
    public void FromTrace_WhenHandTrace_CountsLoadAndEverySlotPairTransition()
    {
        var trace = TestData.Trace(3, [[[0, 1], [2, 0]], [[0, 2], [2, 1]]]);

        var p = WorkloadProfile.FromTrace(trace);

        Assert.Equal([2, 1, 1, 1, 1, 2], p.Load);
        // Layer 0 → 1 pairs: (0,2) (0,0) (1,2) (1,0) then (0,2) (0,1) (2,2) (2,1).
        long[] expected = [1, 1, 2, /* from 1 */ 1, 0, 1, /* from 2 */ 0, 1, 1];
        Assert.Equal(expected, p.Transitions);
        Assert.Equal(2, p.Sample.Tokens);
        Assert.False(p.IsLoadOnly);
    }

    [Fact]
    public void Merge_WhenSameShape_AddsCountsAndConcatenatesSamples()
    {
        var a = WorkloadProfile.FromTrace(TestData.Trace(3, [[[0], [1]]]));
        var b = WorkloadProfile.FromTrace(TestData.Trace(3, [[[2], [1]]]));

        var m = WorkloadProfile.Merge(a, b);

        Assert.Equal([1, 0, 1, 0, 2, 0], m.Load);
        Assert.Equal(1, m.Transitions![(0 * 3) + 1]); // 0 → 1 from a
        Assert.Equal(1, m.Transitions[(2 * 3) + 1]); // 2 → 1 from b
        Assert.Equal(2, m.Transitions.Sum());
        Assert.Equal(2, m.Sample.Tokens);
        Assert.NotEqual(a.Fingerprint(), m.Fingerprint());
    }

    [Fact]
    public void Merge_WhenSampleCapIsSmall_ThinsTheSample()
    {
        var a = WorkloadProfile.FromTrace(TestData.Synthetic(tokens: 100));
        var b = WorkloadProfile.FromTrace(TestData.Synthetic(tokens: 100, seed: 4));

        Assert.Equal(50, WorkloadProfile.Merge(a, b, sampleCap: 50).Sample.Tokens);
    }

    [Fact]
    public void Merge_WhenShapesDiffer_Throws()
    {
        var a = WorkloadProfile.FromTrace(TestData.Trace(3, [[[0], [1]]]));
        var b = WorkloadProfile.FromTrace(TestData.Trace(4, [[[0], [1]]]));

        var e = Assert.Throws<ArgumentException>(() => WorkloadProfile.Merge(a, b));

        Assert.Contains("cannot merge", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void FromLoad_WhenCountDump_IsLoadOnly()
    {
        var p = WorkloadProfile.FromLoad("dump", new ExpertLoad(2, 2, [1, 2, 3, 4]), topK: 2);

        Assert.True(p.IsLoadOnly);
        Assert.Equal(0, p.Sample.Tokens);
        Assert.Throws<ArgumentException>(() => MoeCloud.Placement.Simulation.TransitionModel.FromProfile(p));
    }

    [Fact]
    public void Fingerprint_WhenSameCounts_IsStable()
    {
        var trace = TestData.Synthetic(tokens: 64);

        Assert.Equal(WorkloadProfile.FromTrace(trace).Fingerprint(), WorkloadProfile.FromTrace(trace).Fingerprint());
    }

    [Fact]
    public void Constructor_WhenCountsNegative_Throws()
    {
        Assert.Throws<ArgumentException>(() => new WorkloadProfile("x", 1, 2, 1, [1, -1], null, TokenSample.Empty(1, 1)));
    }
}
