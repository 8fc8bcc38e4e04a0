using Microsoft.Extensions.DependencyInjection;
using MoeCloud.Abstractions;
using MoeCloud.Runtime.Hosting;
using MoeCloud.Runtime.Plans;

namespace MoeCloud.Runtime.Tests.Plans;

/// <summary>The MoeDeployment's <c>spec.migration</c> (batch size, drain) as the plan registry carries it out.</summary>
[Collection(ClusterCollection.Name)]
public sealed class RolloutPolicyTests(ClusterFixture fixture)
{
    [Fact]
    public async Task Publish_WithBatchSizeOne_WarmsOneNewReplicaAtATime_AndALargerBatchWarmsSeveral()
    {
        // Silos that would warm several replicas at once (the embedded default is one), so that the batch size decides.
        await using var cluster = await EmbeddedCluster.Start(ClusterFixture.Pods, new Dictionary<string, string> { [ClusterFixture.Model] = fixture.ModelDirectory },
            configure: o => (o.WarmupsInFlight, o.WarmupsPerPod) = (64, 4));
        var registry = cluster.Grains.GetGrain<IPlanRegistryGrain>(ClusterFixture.Model);
        await registry.Publish(fixture.RoundRobinPlan(ClusterFixture.Model, 1, shift: 0), RolloutPolicy.Default);

        var one = await registry.Publish(fixture.RoundRobinPlan(ClusterFixture.Model, 2, shift: 1), new RolloutPolicy(1, TimeSpan.Zero));
        var wide = await registry.Publish(fixture.RoundRobinPlan(ClusterFixture.Model, 3, shift: 2), new RolloutPolicy(64, TimeSpan.Zero));

        Assert.True(one.ReplicasWarmed > 1, $"the switch warmed {one.ReplicasWarmed} replicas");
        Assert.Equal(1, one.PeakWarmups);
        Assert.Equal(new RolloutPolicy(1, TimeSpan.Zero), one.Policy);
        Assert.True(wide.PeakWarmups > 1, $"with a batch of 64 on {ClusterFixture.Pods} pods at most {wide.PeakWarmups} replica warmed at once");
    }

    [Fact]
    public async Task Publish_OntoAPodThatServesNothing_WarmsItsReplicasSeveralAtATimeWhateverTheBatchSize()
    {
        // One warm-up at a time per serving pod and a batch of one: the pod that joins the plan (a standby, a scale-out's
        // new pod) serves nothing, so neither bound is its.
        await using var cluster = await EmbeddedCluster.Start(ClusterFixture.Pods, new Dictionary<string, string> { [ClusterFixture.Model] = fixture.ModelDirectory },
            configure: o => (o.WarmupsInFlight, o.WarmupsPerPod) = (64, 1));
        var registry = cluster.Grains.GetGrain<IPlanRegistryGrain>(ClusterFixture.Model);
        var spec = fixture.Reference.Model.Spec;
        await registry.Publish(WirePlan.FromAssignment(ClusterFixture.Model, 1, 2, spec.MoeLayers, spec.Experts, (l, e) => [(e + l) % 2]), RolloutPolicy.Default);

        var scaledOut = await registry.Publish(WirePlan.FromAssignment(ClusterFixture.Model, 2, 3, spec.MoeLayers, spec.Experts, (l, e) => [(e + l) % 2, 2]), new RolloutPolicy(1, TimeSpan.Zero));
        var onServingPods = await registry.Publish(WirePlan.FromAssignment(ClusterFixture.Model, 3, 3, spec.MoeLayers, spec.Experts, (l, e) => [0, 1, 2]), new RolloutPolicy(1, TimeSpan.Zero));

        Assert.Equal(spec.MoeLayers * spec.Experts, scaledOut.ReplicasWarmed);
        Assert.True(scaledOut.PeakWarmups > 1, $"the new pod warmed at most {scaledOut.PeakWarmups} of its {scaledOut.ReplicasWarmed} replicas at once");
        Assert.True(onServingPods.ReplicasWarmed > 1, $"the last switch warmed {onServingPods.ReplicasWarmed} replicas");
        Assert.Equal(1, onServingPods.PeakWarmups);
    }

    [Fact]
    public async Task Publish_WhenAStepStillRunsOnThePreviousPlan_WaitsForItBeforeRetiring()
    {
        var registry = fixture.Cluster.Grains.GetGrain<IPlanRegistryGrain>(ClusterFixture.Model);
        var version = (await registry.GetStatus()).ActiveVersion;
        var state = fixture.Cluster.Silos[0].App.Services.GetRequiredService<SiloPlanState>();
        var step = state.Acquire(ClusterFixture.Model); // a request step that started on the plan in effect
        Assert.Equal(version, step.Plan!.Version);

        var publish = registry.Publish(fixture.RoundRobinPlan(ClusterFixture.Model, version + 1, shift: version), new RolloutPolicy(8, TimeSpan.FromMinutes(2)));
        var phase = "";
        for (var i = 0; i < 200 && phase != "Draining"; i++)
        {
            await Task.Delay(50);
            phase = (await registry.GetStatus()).Phase;
        }

        Assert.Equal("Draining", phase);
        Assert.False(publish.IsCompleted);
        Assert.Equal(1, state.RunningBefore(ClusterFixture.Model, version + 1));
        step.Dispose();
        var status = await publish.WaitAsync(TimeSpan.FromSeconds(60));

        Assert.Equal((version + 1, "Idle", 0), (status.ActiveVersion, status.Phase, status.Undrained));
    }

    [Fact]
    public async Task Publish_WhenTheDrainRunsOut_RetiresAnywayAndCountsTheStepsLeft()
    {
        var registry = fixture.Cluster.Grains.GetGrain<IPlanRegistryGrain>(ClusterFixture.Model);
        var version = (await registry.GetStatus()).ActiveVersion;
        using var step = fixture.Cluster.Silos[1].App.Services.GetRequiredService<SiloPlanState>().Acquire(ClusterFixture.Model);

        var status = await registry.Publish(fixture.RoundRobinPlan(ClusterFixture.Model, version + 1, shift: version), new RolloutPolicy(8, TimeSpan.FromMilliseconds(200)));

        Assert.Equal((version + 1, "Idle", 1), (status.ActiveVersion, status.Phase, status.Undrained));
        Assert.True(status.ReplicasRetired > 0);
    }

    [Theory]
    [InlineData(0, 30)]
    [InlineData(8, -1)]
    [InlineData(8, 3601)]
    public async Task Publish_WhenThePolicyIsOutOfRange_IsRefusedNamingBothLimits(int batchSize, int drainSeconds)
    {
        var registry = fixture.Cluster.Grains.GetGrain<IPlanRegistryGrain>(ClusterFixture.Model);
        var version = (await registry.GetStatus()).ActiveVersion;

        var e = await Assert.ThrowsAsync<ArgumentException>(() => registry.Publish(fixture.RoundRobinPlan(ClusterFixture.Model, version + 1, shift: version), new RolloutPolicy(batchSize, TimeSpan.FromSeconds(drainSeconds))));

        Assert.Contains("batch size of at least 1 and a drain of 0 to 3600 s", e.Message, StringComparison.Ordinal);
        Assert.Equal(version, (await registry.GetStatus()).ActiveVersion);
    }
}
