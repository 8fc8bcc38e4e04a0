using Microsoft.Extensions.DependencyInjection;
using MoeCloud.Client;
using MoeCloud.Gateway.Hosting;
using MoeCloud.Gateway.Scheduling;

namespace MoeCloud.Gateway.Tests;

/// <summary>A pod whose connection goes silent (a link cut: no reset, no answer) while the gateway sends it work.</summary>
[Collection(GatewayCollection.Name)]
public sealed class GatewaySilentPodTests(GatewayFixture fixture)
{
    [Fact]
    public async Task Forward_WhenAPodGoesSilent_RetriesItsWorkElsewhereBeforeTheDeadline()
    {
        await using var relay = new SilentProxy(fixture.Cluster.Endpoints[0].Runner);
        var options = GatewayFixture.NewOptions(fixture.Cluster, fixture.ModelDirectory, profile: null);
        options.HomePolicy = HomePolicyName.LeastRequests; // least-requests picks pod 0 first on ties
        options.Pods[0].Runner = relay.Address;
        await using var running = await GatewayFixture.StartGateway(options, fixture.Cluster.Grains);
        await running.App.Services.GetRequiredService<PlanWatcher>().Refresh(CancellationToken.None);
        using var client = new MoeCloudClient(new Uri($"http://127.0.0.1:{options.GrpcPort}"), new MoeCloudClientOptions { ApiKey = GatewayFixture.ApiKey, MaxAttempts = 1, Deadline = TimeSpan.FromSeconds(30) });
        Assert.Contains(0, (await fixture.ForwardMatchingReference(client, 2, 800)).HomePods); // pod 0 serves through the relay

        relay.Silence();

        // Each request is answered with the reference result within its deadline, not lost on the silent connection.
        for (var i = 0; i < 3; i++)
        {
            await fixture.ForwardMatchingReference(client, 2, 801 + i);
        }

        Assert.True(running.App.Services.GetRequiredService<GatewayMetrics>().Retries.WithLabels(GatewayFixture.Model).Value >= 1, "no work was retried: pod 0 was never sent any after it went silent");
    }
}
