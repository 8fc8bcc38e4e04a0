using MoeCloud.Abstractions;
using MoeCloud.Contracts.Tensors;
using MoeCloud.Model.Traces;
using MoeCloud.Placement.Profiles;
using MoeCloud.Runtime.Telemetry;

namespace MoeCloud.Runtime.Tests.Plans;

[Collection(ClusterCollection.Name)]
public sealed class TelemetryTests(ClusterFixture fixture)
{
    [Fact]
    public async Task Totals_AfterForcedRoutingRequests_EqualTheProfileOfThatRoutingAcrossSilos()
    {
        var spec = fixture.Reference.Model.Spec;
        int layers = spec.MoeLayers, k = spec.TopK;
        var telemetry = fixture.Cluster.Grains.GetGrain<ITelemetryGrain>(ClusterFixture.TelemetryModel);
        var rng = new Random(11);
        var allIds = new List<short>();
        long local = 0, remote = 0;
        for (var i = 0; i < 9; i++)
        {
            var n = 3 + i;
            var ids = new int[n * layers * k];
            for (var c = 0; c < n * layers; c++)
            {
                var first = rng.Next(spec.Experts);
                ids[c * k] = first;
                ids[(c * k) + 1] = (first + 1 + rng.Next(spec.Experts - 1)) % spec.Experts;
            }

            var request = RequestFactory.Forward(ClusterFixture.TelemetryModel, 0, layers - 1, RequestFactory.Hidden(n, spec.Hidden, 300 + i), n, spec.Hidden);
            request.Routing = TensorCodec.WriteRouting(ids, Enumerable.Repeat(0.5f, ids.Length).ToArray(), k);
            var response = await fixture.Runner(i % ClusterFixture.Pods).ForwardAsync(request);
            local += response.LocalDispatches;
            remote += response.RemoteDispatches;
            allIds.AddRange(ids.Select(x => (short)x));
        }

        TelemetryTotals? totals = null;
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (DateTime.UtcNow < deadline)
        {
            totals = await telemetry.GetTotals();
            if (totals is not null && totals.LocalDispatches + totals.RemoteDispatches >= local + remote)
            {
                break;
            }

            await Task.Delay(200);
        }

        Assert.NotNull(totals);
        Assert.Equal(local, totals.LocalDispatches);
        Assert.Equal(remote, totals.RemoteDispatches);
        var tokens = allIds.Count / (layers * k);
        var sent = new RoutingTrace(new TraceManifest { Name = "sent", Layers = layers, Experts = spec.Experts, TopK = k, Tokens = tokens }, [.. allIds]);
        var expected = WorkloadProfile.FromTrace(sent);

        var live = TotalsProfile.Of(totals);

        Assert.Equal(tokens, totals.Tokens);
        Assert.Equal(expected.Load, live.Load);
        Assert.Equal(expected.Transitions, live.Transitions);
        Assert.Equal(tokens, live.Sample.Tokens);
        Assert.Equal(expected.Sample.ExpertIds.OrderBy(x => x), live.Sample.ExpertIds.OrderBy(x => x));
    }
}
