using System.Net.Http.Json;
using Grpc.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using MoeCloud.Client;
using MoeCloud.Gateway.Hosting;
using MoeCloud.Gateway.Scheduling;

namespace MoeCloud.Gateway.Tests;

/// <summary>Gateways started against the fixture's cluster: without keys only when anonymous access is configured.</summary>
[Collection(GatewayCollection.Name)]
public sealed class GatewayAnonymousAccessTests(GatewayFixture fixture)
{
    [Fact]
    public void Create_WithoutClientKeysOrAllowAnonymous_RefusesToStart_SayingHowToSetKeys()
    {
        var options = GatewayFixture.NewOptions(fixture.Cluster, fixture.ModelDirectory, profile: null);
        options.ApiKeys.Clear();

        var e = Assert.Throws<OptionsValidationException>(() => GatewayHost.Create(options, fixture.Cluster.Grains));

        Assert.Contains(GatewayOptionsValidator.NoClientKeys, e.Failures);
        Assert.Contains("MoeCloud__Gateway__ApiKeys__0__Sha256", e.Message, StringComparison.Ordinal);
        Assert.Contains("AllowAnonymous", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Start_WithAllowAnonymousAndNoClientKeys_ServesRequestsWithoutAKey()
    {
        var options = GatewayFixture.NewOptions(fixture.Cluster, fixture.ModelDirectory, profile: null);
        options.ApiKeys.Clear();
        options.AllowAnonymous = true;
        await using var running = await GatewayFixture.StartGateway(options, fixture.Cluster.Grains);
        var gateway = running.App;
        await gateway.Services.GetRequiredService<PlanWatcher>().Refresh(CancellationToken.None);
        using var client = new MoeCloudClient(new Uri($"http://127.0.0.1:{options.GrpcPort}"), new MoeCloudClientOptions { MaxAttempts = 1 });

        var output = await fixture.ForwardMatchingReference(client, 3, 500);

        Assert.Equal(3, output.HomePods.Count);
    }

    [Fact]
    public async Task Forward_WhenKeysExist_RefusesARequestWithoutAKey_OnBothApis()
    {
        var spec = fixture.Reference.Model.Spec;
        using var noKey = new MoeCloudClient(fixture.Grpc, new MoeCloudClientOptions { MaxAttempts = 1 });
        using var http = new HttpClient { BaseAddress = fixture.Http };
        var x = GatewayFixture.Hidden(1, spec.Hidden, 6);

        var grpc = await Assert.ThrowsAsync<RpcException>(() => noKey.ForwardAsync(GatewayFixture.Model, x, 1, spec.Hidden, 0, spec.MoeLayers - 1));
        using var json = await http.PostAsJsonAsync($"/v1/models/{GatewayFixture.Model}:forward", new { hidden = new[] { x } });

        Assert.Equal(StatusCode.Unauthenticated, grpc.StatusCode);
        Assert.Equal(System.Net.HttpStatusCode.Unauthorized, json.StatusCode);
    }
}
