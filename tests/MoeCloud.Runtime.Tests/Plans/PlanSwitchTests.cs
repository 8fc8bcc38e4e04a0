using System.Collections.Concurrent;
using MoeCloud.Abstractions;
using MoeCloud.Contracts.Tensors;
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
        var before = ServingPlan.From(current).Replicas().ToHashSet();
        var after = ServingPlan.From(next).Replicas().ToHashSet();
        var moved = after.Count(r => !before.Contains(r));
        Assert.True(moved >= after.Count / 4, $"the switch moves {moved} of {after.Count} replicas");

        // Bounded load: 3 workers, each sends requests until the switch is done and then 3 more. Every request's start
        // and end and the switch's start and end take numbers from one counter, so the overlap is shown by the order
        // of events, not by timing.
        long events = 0, switchStart = long.MaxValue, switchEnd = long.MaxValue;
        var requests = new ConcurrentQueue<(long Start, long End, double Error)>();
        var failures = new ConcurrentQueue<string>();
        var sending = Enumerable.Range(0, 3).Select(_ => new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).ToArray();
        async Task Worker(int worker)
        {
            var afterSwitch = 0;
            for (var i = 0; i < 400 && afterSwitch < 3; i++)
            {
                var pod = (worker + i) % ClusterFixture.Pods;
                var hidden = RequestFactory.Hidden(4, spec.Hidden, seed: (worker * 1000) + i);
                var expected = fixture.Reference.ForwardStack(0, spec.MoeLayers - 1, hidden, 4); // before the start: requests follow each other closely
                var started = Interlocked.Increment(ref events);
                try
                {
                    var response = await fixture.Runner(pod).ForwardAsync(RequestFactory.Forward(ClusterFixture.Model, 0, spec.MoeLayers - 1, hidden, 4, spec.Hidden));
                    var ended = Interlocked.Increment(ref events);
                    requests.Enqueue((started, ended, RequestFactory.MaxRelativeError(expected, TensorCodec.ReadMatrix(response.Hidden).Values)));
                }
                catch (Grpc.Core.RpcException e)
                {
                    failures.Enqueue($"worker {worker}, request {i} (pod {pod}): {e.Status}");
                }

                sending[worker].TrySetResult();
                if (Interlocked.Read(ref switchEnd) != long.MaxValue)
                {
                    afterSwitch++;
                }
            }
        }

        var load = Enumerable.Range(0, 3).Select(Worker).ToArray();
        await Task.WhenAll(sending.Select(s => s.Task)); // every worker has had a request answered and keeps sending
        Interlocked.Exchange(ref switchStart, Interlocked.Increment(ref events));
        var status = await registry.Publish(next, RolloutPolicy.Default);
        Interlocked.Exchange(ref switchEnd, Interlocked.Increment(ref events));
        await Task.WhenAll(load);

        Assert.Empty(failures);
        Assert.All(requests, r => Assert.True(r.Error <= 1e-4, $"request ({r.Start}..{r.End}) differs from the reference by {r.Error:E2}"));
        var during = requests.Count(r => r.Start < switchEnd && r.End > switchStart);
        Assert.True(during > 0, $"none of the {requests.Count} requests was in flight while the switch ran (events {switchStart}..{switchEnd})");
        Assert.Contains(requests, r => r.End < switchStart);
        Assert.Contains(requests, r => r.Start > switchEnd);
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
