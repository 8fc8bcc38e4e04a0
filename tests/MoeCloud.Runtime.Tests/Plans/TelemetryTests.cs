using System.Runtime.InteropServices;
using MoeCloud.Abstractions;

namespace MoeCloud.Runtime.Tests.Plans;

[Collection(ClusterCollection.Name)]
public sealed class TelemetryTests(ClusterFixture fixture)
{
    [Fact]
    public async Task Totals_AfterRequests_CountEveryDispatchOnceAcrossSilos()
    {
        var spec = fixture.Reference.Model.Spec;
        var telemetry = fixture.Cluster.Grains.GetGrain<ITelemetryGrain>(ClusterFixture.TelemetryModel);
        long local = 0, remote = 0, tokens = 0;
        for (var i = 0; i < 9; i++)
        {
            var n = 3 + i;
            var response = await fixture.Runner(i % ClusterFixture.Pods).ForwardAsync(RequestFactory.Forward(ClusterFixture.TelemetryModel, 0, spec.MoeLayers - 1, RequestFactory.Hidden(n, spec.Hidden, 300 + i), n, spec.Hidden));
            local += response.LocalDispatches;
            remote += response.RemoteDispatches;
            tokens += n;
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
        Assert.Equal(tokens, totals.Tokens);
        var load = MemoryMarshal.Cast<byte, long>(totals.Load);
        long sum = 0;
        foreach (var c in load)
        {
            sum += c;
        }

        Assert.Equal(tokens * spec.MoeLayers * spec.TopK, sum);
        var transitions = MemoryMarshal.Cast<byte, long>(totals.Transitions);
        long pairs = 0;
        foreach (var c in transitions)
        {
            pairs += c;
        }

        Assert.Equal(tokens * (spec.MoeLayers - 1) * spec.TopK * spec.TopK, pairs);
        Assert.Equal(tokens * spec.MoeLayers * spec.TopK, totals.SampleIds.Length / sizeof(short));
    }
}
