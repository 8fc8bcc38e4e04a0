using MoeCloud.Abstractions;
using MoeCloud.Contracts.Tensors;
using MoeCloud.Runtime.Api;
using MoeCloud.Runtime.Plans;

namespace MoeCloud.Runtime.Tests.Plans;

[Collection(ClusterCollection.Name)]
public sealed class PlanSwitchTests(ClusterFixture fixture)
{
    [Fact]
    public async Task Publish_WhenUnderLoad_FailsNoRequestChangesNoResultAndMovesReplicas()
    {
        var spec = fixture.Reference.Model.Spec;
        var registry = fixture.Cluster.Grains.GetGrain<IPlanRegistryGrain>(ClusterFixture.Model);
        var current = (await registry.GetActive())!;
        var next = fixture.RoundRobinPlan(ClusterFixture.Model, current.Version + 1, shift: current.Version);
        var before = PlanSnapshot.From(current).Replicas().ToHashSet();
        var after = PlanSnapshot.From(next).Replicas().ToHashSet();
        var moved = after.Count(r => !before.Contains(r));
        Assert.True(moved >= after.Count / 4, $"the switch moves {moved} of {after.Count} replicas");

        // Bounded load: 3 workers, each sends requests until the switch is done and then 3 more.
        var failures = 0;
        var checkedResults = 0;
        var switched = new TaskCompletionSource();
        async Task Worker(int worker)
        {
            var afterSwitch = 0;
            for (var i = 0; i < 400 && afterSwitch < 3; i++)
            {
                var pod = (worker + i) % ClusterFixture.Pods;
                var hidden = RequestFactory.Hidden(4, spec.Hidden, seed: (worker * 1000) + i);
                try
                {
                    var response = await fixture.Runner(pod).ForwardAsync(RequestFactory.Forward(ClusterFixture.Model, 0, spec.MoeLayers - 1, hidden, 4, spec.Hidden));
                    var expected = fixture.Reference.ForwardStack(0, spec.MoeLayers - 1, hidden, 4);
                    Assert.True(RequestFactory.MaxRelativeError(expected, TensorCodec.ReadMatrix(response.Hidden).Values) <= 1e-4);
                    Interlocked.Increment(ref checkedResults);
                }
                catch (Grpc.Core.RpcException)
                {
                    Interlocked.Increment(ref failures);
                }

                if (switched.Task.IsCompleted)
                {
                    afterSwitch++;
                }
            }
        }

        var load = Enumerable.Range(0, 3).Select(Worker).ToArray();
        await Task.Delay(50);
        var status = await registry.Publish(next, RolloutPolicy.Default);
        switched.SetResult();
        await Task.WhenAll(load);

        Assert.Equal(0, failures);
        Assert.True(checkedResults > 0);
        Assert.Equal(next.Version, status.ActiveVersion);
        Assert.Equal("Idle", status.Phase);
        Assert.Equal(moved, status.ReplicasWarmed);
        foreach (var replica in after.Where(r => !before.Contains(r)).Take(6))
        {
            Assert.Equal($"pod-{replica.Pod}", (await fixture.Cluster.Grains.GetGrain<IExpertGrain>(replica.ToString()).Warm()).Silo);
        }

        var info = await fixture.Runner(2).GetModelAsync(new MoeCloud.Contracts.Protos.GetModelRequest { Model = ClusterFixture.Model });
        Assert.Equal(next.Version, info.PlanVersion);
    }

    [Fact]
    public async Task Publish_WhenVersionIsNotNewer_IsRefused()
    {
        var registry = fixture.Cluster.Grains.GetGrain<IPlanRegistryGrain>(ClusterFixture.Model);
        var current = (await registry.GetActive())!;

        var e = await Assert.ThrowsAsync<ArgumentException>(() => registry.Publish(current, RolloutPolicy.Default));

        Assert.Contains("not newer", e.Message, StringComparison.Ordinal);
    }
}
