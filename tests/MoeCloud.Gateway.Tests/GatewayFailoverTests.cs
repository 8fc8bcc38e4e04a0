using Microsoft.Extensions.DependencyInjection;
using MoeCloud.Client;
using MoeCloud.Gateway.Hosting;
using MoeCloud.Gateway.Scheduling;
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
        var gateway = GatewayHost.Create(options, fixture.Cluster.Grains);
        await gateway.StartAsync();
        try
        {
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
        finally
        {
            await gateway.StopAsync();
            await gateway.DisposeAsync();
        }
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

        var telemetry = fixture.Cluster.Grains.GetGrain<MoeCloud.Abstractions.ITelemetryGrain>(GatewayFixture.Model);
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (DateTime.UtcNow < deadline && await telemetry.GetTotals() is null)
        {
            await Task.Delay(200);
        }

        var options = GatewayFixture.NewOptions(fixture.Cluster, fixture.ModelDirectory, profile: null);
        var gateway = GatewayHost.Create(options, fixture.Cluster.Grains);
        await gateway.StartAsync();
        try
        {
            await gateway.Services.GetRequiredService<PlanWatcher>().Refresh(CancellationToken.None);

            Assert.True(gateway.Services.GetRequiredService<GatewayModels>().Find(GatewayFixture.Model)!.HasPredictor);
        }
        finally
        {
            await gateway.StopAsync();
            await gateway.DisposeAsync();
        }
    }
}
