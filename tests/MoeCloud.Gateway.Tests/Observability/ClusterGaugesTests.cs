using System.Runtime.InteropServices;
using Microsoft.Extensions.Time.Testing;
using MoeCloud.Abstractions;
using MoeCloud.Gateway.Hosting;
using MoeCloud.Placement.Plans;

namespace MoeCloud.Gateway.Tests.Observability;

public sealed class ClusterGaugesTests
{
    private readonly GatewayMetrics _metrics = new();
    private readonly FakeTimeProvider _time = new();

    [Fact]
    public void Rollout_WhenNoReplicaMovesForAWhile_ReportsTheSecondsSinceTheLastMove()
    {
        var gauges = new ClusterGauges(_metrics, _time);

        gauges.Rollout("m", Status(pending: 2, warmed: 1));
        _time.Advance(TimeSpan.FromSeconds(30));
        gauges.Rollout("m", Status(pending: 2, warmed: 1));
        Assert.Equal(30, _metrics.RolloutStalled.WithLabels("m").Value);
        Assert.Equal(2, _metrics.RolloutVersion.WithLabels("m").Value);
        Assert.Equal(1, _metrics.RolloutMoved.WithLabels("m").Value);
        Assert.Equal(4, _metrics.RolloutMoves.WithLabels("m").Value);

        gauges.Rollout("m", Status(pending: 2, warmed: 2));
        Assert.Equal(0, _metrics.RolloutStalled.WithLabels("m").Value);

        _time.Advance(TimeSpan.FromSeconds(30));
        gauges.Rollout("m", Status(pending: null, warmed: 0) with { ActiveVersion = 2 });
        Assert.Equal(0, _metrics.RolloutStalled.WithLabels("m").Value);
        Assert.Equal(0, _metrics.RolloutVersion.WithLabels("m").Value);
        Assert.Equal(2, _metrics.PlanVersion.WithLabels("m").Value);
    }

    [Fact]
    public void Load_WhenExpertsHaveLoad_ReportsImbalanceAndRanksWithoutAnExpertLabel()
    {
        var gauges = new ClusterGauges(_metrics, _time);
        // 1 layer, 4 experts on 2 pods: experts 0 and 1 on pod 0, 2 on pod 1, 3 on both.
        var plan = PlacementPlan.WithoutCapacities(new PlanMetadata { Version = 1, Solver = "test" }, 2, [[[0], [0], [1], [0, 1]]]);

        gauges.Load("m", plan, Load(1, 4, [6, 0, 2, 4]));

        // Pod loads 6 + 0 + 2 = 8 and 2 + 2 = 4: max 8 over mean 6.
        Assert.Equal(8.0 / 6, _metrics.Imbalance.WithLabels("m").Value, 12);
        Assert.Equal(3, _metrics.HotDispatches.GetAllLabelValues().Count());
        Assert.Equal(6, _metrics.HotDispatches.WithLabels("m", "1").Value);
        Assert.Equal(3, _metrics.HotExpert.WithLabels("m", "2").Value);
        Assert.Equal(2, _metrics.HotReplicas.WithLabels("m", "2").Value);
        Assert.Equal(0, _metrics.HotLayer.WithLabels("m", "3").Value);

        gauges.Load("m", plan, Load(1, 4, [0, 0, 5, 0]));
        Assert.Equal(["1"], _metrics.HotDispatches.GetAllLabelValues().Select(l => l[1]));
        Assert.Equal(2, _metrics.HotExpert.WithLabels("m", "1").Value);
    }

    [Fact]
    public void Load_WhenTheShapeDiffersFromThePlan_ChangesNothing()
    {
        var gauges = new ClusterGauges(_metrics, _time);
        var plan = PlacementPlan.WithoutCapacities(new PlanMetadata { Version = 1, Solver = "test" }, 1, [[[0], [0]]]);

        gauges.Load("m", plan, Load(1, 3, [1, 2, 3]));

        Assert.Empty(_metrics.Imbalance.GetAllLabelValues());
        Assert.Empty(_metrics.HotDispatches.GetAllLabelValues());
    }

    private static PlanRolloutStatus Status(int? pending, int warmed) => new("m", 1, pending, "Warming", warmed, 0, 4);

    private static TelemetryLoad Load(int layers, int experts, long[] counts) =>
        new("m", layers, experts, 1, counts.Sum(), MemoryMarshal.AsBytes(counts.AsSpan()).ToArray());
}
