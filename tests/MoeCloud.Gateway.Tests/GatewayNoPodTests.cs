using Microsoft.Extensions.DependencyInjection;
using MoeCloud.Client;
using MoeCloud.Gateway.Forwarding;
using MoeCloud.Gateway.Hosting;
using MoeCloud.Gateway.Scheduling;

namespace MoeCloud.Gateway.Tests;

/// <summary>A gateway that knows no pod yet, as one that has just restarted before its first membership read.</summary>
[Collection(GatewayCollection.Name)]
public sealed class GatewayNoPodTests(GatewayFixture fixture)
{
    [Fact]
    public async Task Forward_WhenNoPodIsKnownYet_WaitsForOneWithinItsDeadlineAndServesIt()
    {
        var options = GatewayFixture.NewOptions(fixture.Cluster, fixture.ModelDirectory, profile: null);
        await using var running = await GatewayFixture.StartGateway(options, fixture.Cluster.Grains);
        await running.App.Services.GetRequiredService<PlanWatcher>().Refresh(CancellationToken.None);
        var directory = running.App.Services.GetRequiredService<PodDirectory>();
        var known = directory.Pods.ToArray();
        directory.SetPods([]);
        var serving = running.App.Services.GetRequiredService<ServingMonitor>();
        using var client = new MoeCloudClient(new Uri($"http://127.0.0.1:{options.GrpcPort}"), new MoeCloudClientOptions { ApiKey = GatewayFixture.ApiKey, MaxAttempts = 1 });

        // The step is accepted while no pod is known; the pods come back; it is served, equal to the reference.
        var call = fixture.ForwardMatchingReference(client, 2, 900);
        for (var i = 0; i < 300 && serving.Read(GatewayFixture.Model)!.QueueDepth == 0 && !call.IsCompleted; i++)
        {
            await Task.Delay(10);
        }

        Assert.False(call.IsCompleted, "the step was answered while no pod was known");
        directory.SetPods(known);
        var output = await call;

        Assert.NotEmpty(output.HomePods);
    }

    [Fact]
    public async Task Forward_WhenNoPodComesWithinTheWait_FailsUnavailableSayingSo()
    {
        var options = GatewayFixture.NewOptions(fixture.Cluster, fixture.ModelDirectory, profile: null);
        await using var running = await GatewayFixture.StartGateway(options, fixture.Cluster.Grains);
        await running.App.Services.GetRequiredService<PlanWatcher>().Refresh(CancellationToken.None);
        running.App.Services.GetRequiredService<PodDirectory>().SetPods([]);
        using var client = new MoeCloudClient(new Uri($"http://127.0.0.1:{options.GrpcPort}"), new MoeCloudClientOptions { ApiKey = GatewayFixture.ApiKey, MaxAttempts = 1 });

        var error = await Assert.ThrowsAsync<Grpc.Core.RpcException>(() => fixture.ForwardMatchingReference(client, 2, 901));

        Assert.Equal(Grpc.Core.StatusCode.Unavailable, error.StatusCode);
        Assert.Contains("No pod is available (none within", error.Status.Detail, StringComparison.Ordinal);
    }
}
