using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using MoeCloud.Client;
using MoeCloud.Contracts.Admin;
using MoeCloud.Gateway.Hosting;

namespace MoeCloud.Gateway.Tests;

/// <summary><c>GET admin/v1/serving</c> on real gateways in front of the fixture's cluster, or of a pod that holds requests.</summary>
[Collection(GatewayCollection.Name)]
public sealed class ServingSignalsTests(GatewayFixture fixture)
{
    private const int Requests = 4;
    private const int TokensEach = 3;

    [Fact]
    public async Task Serving_WhileRequestsAreHeldAtThePod_ReportsTheirQueueDepthAndTokens_AndAfterwardsTheirLatency()
    {
        await using var runner = await HeldRunner.Start();
        var options = GatewayFixture.NewOptions(fixture.Cluster, fixture.ModelDirectory, profile: null);
        options.Pods = [new GatewayPod { Pod = 0, Runner = runner.Runner, Ops = runner.Ops }];
        await using var running = await GatewayFixture.StartGateway(options, fixture.Cluster.Grains);
        using var client = new MoeCloudClient(new Uri($"http://127.0.0.1:{options.GrpcPort}"), new MoeCloudClientOptions { ApiKey = GatewayFixture.ApiKey, MaxAttempts = 1 });
        using var http = AdminClient(options);
        var hidden = fixture.Reference.Model.Spec.Hidden;

        var calls = Enumerable.Range(0, Requests).Select(i => client.ForwardLayerAsync(GatewayFixture.Model, GatewayFixture.Hidden(TokensEach, hidden, 500 + i), TokensEach, hidden, 0)).ToArray();
        await Until(() => runner.Waiting == Requests);
        var held = await http.GetFromJsonAsync<ServingSignals>($"/admin/v1/serving?model={GatewayFixture.Model}", AdminJson.Options);
        var metrics = running.App.Services.GetRequiredService<GatewayMetrics>();
        var (depthGauge, tokensGauge) = (metrics.QueueDepth.WithLabels(GatewayFixture.Model).Value, metrics.InFlightTokens.WithLabels(GatewayFixture.Model).Value);
        runner.Release();
        await Task.WhenAll(calls);
        var after = await http.GetFromJsonAsync<ServingSignals>("/admin/v1/serving", AdminJson.Options);

        Assert.NotNull(held);
        Assert.Equal(GatewayFixture.Model, held.Model);
        Assert.Equal(Requests, held.QueueDepth);
        Assert.Equal(Requests * TokensEach, held.InFlightTokens);
        Assert.Equal(0, held.Requests);
        Assert.Null(held.StepP99Ms);
        Assert.Equal(Requests, depthGauge);
        Assert.Equal(Requests * TokensEach, tokensGauge);
        Assert.NotNull(after);
        Assert.Equal(0, after.QueueDepth);
        Assert.Equal(0, after.InFlightTokens);
        Assert.Equal(Requests, after.Requests);
        Assert.Equal(0, after.Failed);
        Assert.Equal(30, after.WindowSeconds);
        Assert.True(after.StepP50Ms > 0 && after.StepP50Ms <= after.StepP95Ms && after.StepP95Ms <= after.StepP99Ms, $"p50 {after.StepP50Ms}, p95 {after.StepP95Ms}, p99 {after.StepP99Ms}");
        Assert.Equal(Requests, metrics.StepLatency.WithLabels(GatewayFixture.Model).Count);
    }

    [Fact]
    public async Task Serving_AfterRequestsThroughTheCluster_CountsThemAndThePods()
    {
        using var client = new MoeCloudClient(fixture.Grpc, new MoeCloudClientOptions { ApiKey = GatewayFixture.ApiKey });
        using var http = AdminClient(fixture.Options);
        var before = await http.GetFromJsonAsync<ServingSignals>("/admin/v1/serving", AdminJson.Options);
        await fixture.ForwardMatchingReference(client, 5, 601);

        var after = await http.GetFromJsonAsync<ServingSignals>("/admin/v1/serving", AdminJson.Options);

        Assert.NotNull(before);
        Assert.NotNull(after);
        Assert.True(after.Requests > before.Requests, $"{before.Requests} → {after.Requests}");
        Assert.NotNull(after.StepP99Ms);
        Assert.Equal(3, after.PlacedPods);
        Assert.Equal(3, after.HealthyPods);
    }

    [Fact]
    public async Task Serving_WhenTheModelIsNotServed_Is404ProblemNamingIt()
    {
        using var http = AdminClient(fixture.Options);

        var response = await http.GetAsync("/admin/v1/serving?model=nope");

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        var problem = await response.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Contains("'nope' is not served", problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Serving_WithoutAKey_Is401_AndWithAClientKey_Is403()
    {
        using var http = new HttpClient { BaseAddress = fixture.Http };
        using var clientKey = new HttpRequestMessage(HttpMethod.Get, "/admin/v1/serving") { Headers = { { "x-api-key", GatewayFixture.ApiKey } } };

        var anonymous = await http.GetAsync("/admin/v1/serving");
        var client = await http.SendAsync(clientKey);

        Assert.Equal(HttpStatusCode.Unauthorized, anonymous.StatusCode);
        Assert.Equal("application/problem+json", anonymous.Content.Headers.ContentType?.MediaType);
        Assert.Equal(HttpStatusCode.Forbidden, client.StatusCode);
    }

    [Fact]
    public async Task Metrics_ExportTheServingSignalsByModel()
    {
        using var client = new MoeCloudClient(fixture.Grpc, new MoeCloudClientOptions { ApiKey = GatewayFixture.ApiKey });
        await fixture.ForwardMatchingReference(client, 2, 602);
        using var http = new HttpClient { BaseAddress = fixture.Http };

        var text = await http.GetStringAsync("/metrics");

        Assert.Contains($"moecloud_gateway_queue_depth{{model=\"{GatewayFixture.Model}\"}} 0", text, StringComparison.Ordinal);
        Assert.Contains($"moecloud_gateway_inflight_tokens{{model=\"{GatewayFixture.Model}\"}} 0", text, StringComparison.Ordinal);
        Assert.Contains($"moecloud_gateway_step_seconds_bucket{{model=\"{GatewayFixture.Model}\",le=", text, StringComparison.Ordinal);
    }

    private static HttpClient AdminClient(GatewayOptions options)
    {
        var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{options.HttpPort}") };
        http.DefaultRequestHeaders.Add("x-api-key", GatewayFixture.AdminKey);
        return http;
    }

    /// <summary>Waits, bounded, until <paramref name="condition"/> holds (fails the test if it never does).</summary>
    private static async Task Until(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "the condition did not hold within the bound");
            await Task.Delay(20);
        }
    }
}
