using System.Runtime.InteropServices;
using Microsoft.Extensions.DependencyInjection;
using MoeCloud.Abstractions;
using MoeCloud.Client;
using MoeCloud.Gateway.Hosting;
using MoeCloud.Gateway.Scheduling;
using MoeCloud.Placement.Simulation;
using MoeCloud.Runtime.Hosting;

namespace MoeCloud.Gateway.Tests;

[Collection(GatewayCollection.Name)]
public sealed class GatewayFailoverTests(GatewayFixture fixture)
{
    [Fact]
    public async Task Forward_WhenAPodIsDown_RetriesElsewhereAndFailsNothing()
    {
        // A second gateway whose pod 0 points at a port nobody listens on; least-requests picks pod 0 first on ties.
        var options = GatewayFixture.NewOptions(fixture.Cluster, fixture.ModelDirectory, profile: null);
        options.HomePolicy = HomePolicyName.LeastRequests;
        options.Pods[0].Runner = $"http://127.0.0.1:{FreePorts.Take(1)[0]}";
        await using var running = await GatewayFixture.StartGateway(options, fixture.Cluster.Grains);
        var gateway = running.App;
        await gateway.Services.GetRequiredService<PlanWatcher>().Refresh(CancellationToken.None);
        using var client = new MoeCloudClient(new Uri($"http://127.0.0.1:{options.GrpcPort}"), new MoeCloudClientOptions { ApiKey = GatewayFixture.ApiKey, MaxAttempts = 1 });
        var spec = fixture.Reference.Model.Spec;
        for (var i = 0; i < 12; i++)
        {
            var output = await fixture.ForwardMatchingReference(client, 2, 100 + i);
            Assert.DoesNotContain(0, output.HomePods);
        }

        var retries = gateway.Services.GetRequiredService<GatewayMetrics>().Retries.WithLabels(GatewayFixture.Model).Value;
        Assert.True(retries >= 1, "no sub-batch was retried: the dead pod was never tried");
    }

    [Fact]
    public async Task Forward_WhenAPodsAddressAnswersNoConnection_RetriesElsewhereBeforeTheClientsDeadline()
    {
        // Pod 0's address takes connections nobody answers (a killed container's address: no refusal, only dropped
        // SYNs). The client's deadline (4.5 s) is shorter than a 5 s connect timeout and longer than the default 1 s.
        using var unanswered = new UnansweredListener();
        var options = GatewayFixture.NewOptions(fixture.Cluster, fixture.ModelDirectory, profile: null);
        options.HomePolicy = HomePolicyName.LeastRequests; // least-requests picks pod 0 first on ties
        options.Pods[0].Runner = unanswered.Address;
        await using var running = await GatewayFixture.StartGateway(options, fixture.Cluster.Grains);
        await running.App.Services.GetRequiredService<PlanWatcher>().Refresh(CancellationToken.None);
        using var client = new MoeCloudClient(new Uri($"http://127.0.0.1:{options.GrpcPort}"), new MoeCloudClientOptions { ApiKey = GatewayFixture.ApiKey, MaxAttempts = 1, Deadline = TimeSpan.FromSeconds(4.5) });

        var output = await fixture.ForwardMatchingReference(client, 2, 120);

        Assert.DoesNotContain(0, output.HomePods);
        Assert.True(running.App.Services.GetRequiredService<GatewayMetrics>().Retries.WithLabels(GatewayFixture.Model).Value >= 1, "no sub-batch was retried: pod 0 was never tried");
    }
}

[Collection(GatewayCollection.Name)]
public sealed class GatewayLiveStatisticsTests(GatewayFixture fixture)
{
    [Fact]
    public async Task Refresh_WithoutAProfileTrace_TakesTransitionStatisticsFromLiveTelemetry()
    {
        var spec = fixture.Reference.Model.Spec;
        using (var client = new MoeCloudClient(fixture.Grpc, new MoeCloudClientOptions { ApiKey = GatewayFixture.ApiKey }))
        {
            await client.ForwardAsync(GatewayFixture.Model, GatewayFixture.Hidden(8, spec.Hidden, 77), 8, spec.Hidden, 0, spec.MoeLayers - 1);
        }

        var telemetry = fixture.Cluster.Grains.GetGrain<ITelemetryGrain>(GatewayFixture.Model);
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (DateTime.UtcNow < deadline && await telemetry.GetTotals() is null)
        {
            await Task.Delay(200);
        }

        // The gateway reads the totals while it refreshes; a silo's delta may still arrive meanwhile, so compare with the
        // totals read before and after a refresh that agree (no delta merged in between).
        for (var attempt = 1; ; attempt++)
        {
            var before = Assert.IsType<TelemetryTotals>(await telemetry.GetTotals());
            var (transitions, hasPredictor) = await FreshGatewayTransitions();
            var after = Assert.IsType<TelemetryTotals>(await telemetry.GetTotals());
            if (before.Deltas != after.Deltas && attempt < 5)
            {
                continue;
            }

            Assert.Equal(before.Deltas, after.Deltas);
            Assert.True(hasPredictor);
            AssertTransitionsEqualTheTotals(after, Assert.IsType<TransitionModel>(transitions));
            return;
        }
    }

    /// <summary>P(f | e) of every layer and expert pair equals the live counts T(l, e, f) / Σ_f' T(l, e, f').</summary>
    private static void AssertTransitionsEqualTheTotals(TelemetryTotals totals, TransitionModel transitions)
    {
        int layers = totals.Layers, experts = totals.Experts;
        var counts = MemoryMarshal.Cast<byte, long>(totals.Transitions);
        Assert.Equal(layers, transitions.Layers);
        Assert.Equal(experts, transitions.Successors); // every successor kept, so every probability can be compared
        var rowsWithCounts = 0;
        for (var l = 0; l < layers - 1; l++)
        {
            for (var e = 0; e < experts; e++)
            {
                var row = counts.Slice(((l * experts) + e) * experts, experts);
                long sum = 0;
                foreach (var c in row)
                {
                    sum += c;
                }

                rowsWithCounts += sum > 0 ? 1 : 0;
                for (var f = 0; f < experts; f++)
                {
                    var expected = sum == 0 ? 0 : (double)row[f] / sum;
                    Assert.True(Math.Abs(expected - transitions.Probability(l, e, f)) <= 1e-6, $"P({f} | {e}) at layer {l}: gateway {transitions.Probability(l, e, f)}, live counts {row[f]} / {sum}");
                }
            }
        }

        Assert.True(rowsWithCounts > 0, "the live totals hold no transitions: nothing was compared");
    }

    private async Task<(TransitionModel? Transitions, bool HasPredictor)> FreshGatewayTransitions()
    {
        var options = GatewayFixture.NewOptions(fixture.Cluster, fixture.ModelDirectory, profile: null);
        await using var running = await GatewayFixture.StartGateway(options, fixture.Cluster.Grains);
        var gateway = running.App;
        await gateway.Services.GetRequiredService<PlanWatcher>().Refresh(CancellationToken.None);
        var scheduler = gateway.Services.GetRequiredService<GatewayModels>().Find(GatewayFixture.Model)!;
        return (scheduler.Transitions, scheduler.HasPredictor);
    }
}
