using Microsoft.Extensions.DependencyInjection;
using MoeCloud.Abstractions;
using MoeCloud.Model.Traces;
using MoeCloud.Placement.Profiles;
using MoeCloud.Runtime.Telemetry;
using MoeCloud.Testing;
using Orleans.Streams;

namespace MoeCloud.Runtime.Tests.Plans;

/// <summary>
/// The live profile is a window over recent traffic: the real telemetry grain of the cluster fixture (window
/// <see cref="ClusterFixture.TelemetryWindowTokens"/> tokens) fed through the real recorder and stream with the
/// routing of one real trace, then of another.
/// </summary>
[Collection(ClusterCollection.Name)]
public sealed class TelemetryWindowTests(ClusterFixture fixture)
{
    private const int Chunk = 256;

    [SharedTraceFact]
    public async Task Totals_WhenTheWorkloadShifts_ProfileTheNewWorkloadAloneWithinOneWindow()
    {
        const string model = "esft-window";
        var a = TraceDirectory.Read(SharedTraceData.PathOf("esft-intent"));
        var b = TraceDirectory.Read(SharedTraceData.PathOf("esft-law"));
        var window = ClusterFixture.TelemetryWindowTokens;
        // A: more than a window, ending inside a bucket; B: one window plus a bucket and a half, so the bucket that
        // mixes A's and B's tokens has left the window.
        int fromA = window + (window / 8), fromB = window + (window / 4) + (window / 8);
        Assert.True(a.Tokens >= fromA && b.Tokens >= fromB, "the shared traces are shorter than the test needs");
        var client = fixture.Cluster.Silos[0].App.Services.GetRequiredService<IClusterClient>();
        var stream = client.GetStreamProvider(TelemetryGrain.StreamProvider).GetStream<TelemetryDelta>(StreamId.Create(TelemetryGrain.StreamNamespace, model));
        var recorder = new TelemetryRecorder();

        await Feed(a, fromA);
        await Feed(b, fromB);
        var totals = await WaitForTokens(model, fromA + fromB);

        Assert.Equal(fromA + fromB, totals.Tokens);
        Assert.Equal((long)(fromA + fromB) * a.Layers * a.TopK, totals.LocalDispatches);
        Assert.InRange(totals.WindowTokens, window, fromB);
        var recentB = b.SelectTokens(Enumerable.Range(fromB - (int)totals.WindowTokens, (int)totals.WindowTokens).ToArray(), "recent");
        var expected = WorkloadProfile.FromTrace(recentB);
        var live = TotalsProfile.Of(totals);
        Assert.Equal(expected.Load, live.Load);
        Assert.Equal(expected.Transitions, live.Transitions);
        var routingsOfB = Enumerable.Range(0, recentB.Tokens).Select(t => RoutingKey(recentB.ExpertIds.AsSpan(t * b.Layers * b.TopK, b.Layers * b.TopK))).ToHashSet();
        Assert.True(live.Sample.Tokens > 0);
        var load = await fixture.Cluster.Grains.GetGrain<ITelemetryGrain>(model).GetLoad();
        Assert.NotNull(load);
        Assert.Equal(totals.WindowTokens, load.WindowTokens);
        Assert.Equal(totals.Load, load.Load); // the dashboard's read: the same windowed counts, without the transitions
        Assert.All(Enumerable.Range(0, live.Sample.Tokens), t => Assert.Contains(RoutingKey(live.Sample.Routing(t)), routingsOfB));

        async Task Feed(RoutingTrace trace, int tokens)
        {
            var stride = trace.Layers * trace.TopK;
            for (var start = 0; start < tokens; start += Chunk)
            {
                var n = Math.Min(Chunk, tokens - start);
                var ids = trace.ExpertIds.AsSpan(start * stride, n * stride).ToArray().Select(x => (int)x).ToArray();
                recorder.Record(model, trace.Layers, trace.Experts, trace.TopK, 0, trace.Layers, n, ids, local: (long)n * stride, remote: 0);
                foreach (var delta in recorder.Drain("pod-test"))
                {
                    await stream.OnNextAsync(delta);
                }
            }
        }
    }

    private async Task<TelemetryTotals> WaitForTokens(string model, long tokens)
    {
        var telemetry = fixture.Cluster.Grains.GetGrain<ITelemetryGrain>(model);
        var deadline = DateTime.UtcNow.AddSeconds(60);
        TelemetryTotals? totals = null;
        while (DateTime.UtcNow < deadline && totals?.Tokens != tokens)
        {
            await Task.Delay(100);
            totals = await telemetry.GetTotals();
        }

        Assert.NotNull(totals);
        return totals;
    }

    private static string RoutingKey(ReadOnlySpan<short> routing) => string.Join(',', routing.ToArray());
}
