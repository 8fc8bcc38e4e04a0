using MoeCloud.Placement.Autoscaling;
using MoeCloud.Placement.Benchmarks;

namespace MoeCloud.Placement.Tests.Benchmarks;

public sealed class ElasticBenchTests
{
    [Fact]
    public void Run_WhenTraceSkewed_AutoscaledArmServesMoreEvenlyAndLabelsTheReplicas()
    {
        var trace = TestData.Synthetic(layers: 4, experts: 16, tokens: 2048, sequences: 32);
        var options = new ExpertAutoscalingOptions { MaxLoadImbalance = 1.01, MaxRedundant = 12, MaxMoves = 64 };

        var row = ElasticBench.Run(trace, pods: 8, redundant: 0, options, TimeSpan.FromSeconds(1));

        Assert.Equal(0, row.RedundantFixedR);
        Assert.True(row.RedundantAutoscaled > 0);
        Assert.InRange(row.Steps, 1, ElasticBench.MaxSteps - 1);
        Assert.True(row.ImbalanceAutoscaled < row.ImbalanceFixedR, $"autoscaled {row.ImbalanceAutoscaled} vs fixed {row.ImbalanceFixedR}");
        Assert.Contains($"autoscaled from it ({row.RedundantAutoscaled} extra", row.Label);
        Assert.True(row.RedundantSameBudget >= row.RedundantAutoscaled);
    }
}
