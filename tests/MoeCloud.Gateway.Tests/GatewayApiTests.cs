using System.Net.Http.Json;
using System.Net;
using System.Text.Json;
using Grpc.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using MoeCloud.Client;
using MoeCloud.Contracts.Tensors;
using MoeCloud.Gateway.Hosting;
using MoeCloud.Gateway.Scheduling;

namespace MoeCloud.Gateway.Tests;

[Collection(GatewayCollection.Name)]
public sealed class GatewayApiTests(GatewayFixture fixture)
{
    private int HiddenSize => fixture.Reference.Model.Spec.Hidden;

    private int Layers => fixture.Reference.Model.Spec.MoeLayers;

    [Fact]
    public async Task Forward_ThroughTheGateway_EqualsTheReferenceAndReportsHomesAndDispatches()
    {
        using var client = new MoeCloudClient(fixture.Grpc, new MoeCloudClientOptions { ApiKey = GatewayFixture.ApiKey });
        const int tokens = 24;
        var hidden = GatewayFixture.Hidden(tokens, HiddenSize, 1);

        var output = await client.ForwardAsync(GatewayFixture.Model, hidden, tokens, HiddenSize, 0, Layers - 1, "seq-1");

        var expected = fixture.Reference.ForwardStack(0, Layers - 1, hidden, tokens);
        Assert.True(GatewayFixture.MaxRelativeError(expected, output.Hidden) <= 1e-4);
        Assert.Equal(tokens, output.HomePods.Count);
        Assert.All(output.HomePods, p => Assert.InRange(p, 0, 2));
        Assert.Equal(tokens * Layers * fixture.Reference.Model.Spec.TopK, output.LocalDispatches + output.RemoteDispatches);
        Assert.True(output.PlanVersion >= 1);
        Assert.True(fixture.Gateway.Services.GetRequiredService<WarmupHints>().Sent > 0, "no pre-scheduling hint was sent for predicted remote replicas");
    }

    [Fact]
    public async Task ForwardStream_DecodeSteps_ComeBackInOrder()
    {
        using var channel = Grpc.Net.Client.GrpcChannel.ForAddress(fixture.Grpc);
        var client = new MoeCloud.Contracts.Protos.MoeService.MoeServiceClient(channel);
        using var call = client.ForwardStream(new Metadata { { "x-api-key", GatewayFixture.ApiKey } });
        for (var i = 0; i < 3; i++)
        {
            var request = new MoeCloud.Contracts.Protos.ForwardRequest { Model = GatewayFixture.Model, FirstLayer = 0, LastLayer = Layers - 1, SequenceId = "decode", RequestId = $"r{i}", Hidden = MoeCloud.Contracts.Tensors.TensorCodec.WriteMatrix(GatewayFixture.Hidden(1, HiddenSize, 10 + i), 1, HiddenSize) };
            await call.RequestStream.WriteAsync(request);
        }

        await call.RequestStream.CompleteAsync();
        var ids = new List<string>();
        await foreach (var response in call.ResponseStream.ReadAllAsync())
        {
            ids.Add(response.RequestId);
        }

        Assert.Equal(["r0", "r1", "r2"], ids);
    }

    [Fact]
    public async Task JsonForward_EqualsTheReference_AndGetModelDescribesIt()
    {
        using var http = new HttpClient { BaseAddress = fixture.Http };
        http.DefaultRequestHeaders.Add("x-api-key", GatewayFixture.ApiKey);
        const int tokens = 3;
        var hidden = GatewayFixture.Hidden(tokens, HiddenSize, 2);
        var rows = Enumerable.Range(0, tokens).Select(t => hidden.AsSpan(t * HiddenSize, HiddenSize).ToArray()).ToArray();

        var response = await http.PostAsJsonAsync($"/v1/models/{GatewayFixture.Model}:forward", new { hidden = rows });
        var model = await http.GetFromJsonAsync<JsonElement>($"/v1/models/{GatewayFixture.Model}");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var body = await response.Content.ReadFromJsonAsync<JsonElement>();
        var actual = body.GetProperty("hidden").EnumerateArray().SelectMany(r => r.EnumerateArray().Select(v => v.GetSingle())).ToArray();
        Assert.True(GatewayFixture.MaxRelativeError(fixture.Reference.ForwardStack(0, Layers - 1, hidden, tokens), actual) <= 1e-4);
        Assert.Equal(fixture.Reference.Model.Spec.Experts, model.GetProperty("experts").GetInt32());
    }

    [Fact]
    public async Task JsonForwardLayer_EqualsTheReferenceLayer()
    {
        using var http = new HttpClient { BaseAddress = fixture.Http };
        http.DefaultRequestHeaders.Add("x-api-key", GatewayFixture.ApiKey);
        var x = GatewayFixture.Hidden(2, HiddenSize, 4);

        var response = await http.PostAsJsonAsync($"/v1/models/{GatewayFixture.Model}:forwardLayer", new { layer = 1, hidden = new[] { x[..HiddenSize], x[HiddenSize..] } });

        var body = await response.Content.ReadFromJsonAsync<JsonElement>();
        var actual = body.GetProperty("hidden").EnumerateArray().SelectMany(r => r.EnumerateArray().Select(v => v.GetSingle())).ToArray();
        Assert.True(GatewayFixture.MaxRelativeError(fixture.Reference.ForwardLayer(1, x, 2), actual) <= 1e-4);
    }

    [Fact]
    public async Task Keys_AreRequired_AdminNeedsItsOwnKey_AndRateLimitsApply()
    {
        using var noKey = new MoeCloudClient(fixture.Grpc, new MoeCloudClientOptions { MaxAttempts = 1 });
        using var badKey = new MoeCloudClient(fixture.Grpc, new MoeCloudClientOptions { ApiKey = "nope", MaxAttempts = 1 });
        using var slow = new MoeCloudClient(fixture.Grpc, new MoeCloudClientOptions { ApiKey = GatewayFixture.SlowKey, MaxAttempts = 1 });
        using var http = new HttpClient { BaseAddress = fixture.Http };

        Assert.Equal(StatusCode.Unauthenticated, (await Assert.ThrowsAsync<RpcException>(() => noKey.GetModelAsync(GatewayFixture.Model))).StatusCode);
        Assert.Equal(StatusCode.Unauthenticated, (await Assert.ThrowsAsync<RpcException>(() => badKey.GetModelAsync(GatewayFixture.Model))).StatusCode);
        var statuses = new List<StatusCode>();
        for (var i = 0; i < 5; i++)
        {
            try
            {
                await slow.GetModelAsync(GatewayFixture.Model);
                statuses.Add(StatusCode.OK);
            }
            catch (RpcException e)
            {
                statuses.Add(e.StatusCode);
            }
        }

        Assert.Contains(StatusCode.ResourceExhausted, statuses);
        using var clientKeyOnAdmin = new HttpRequestMessage(HttpMethod.Get, "/admin/v1/cluster") { Headers = { { "x-api-key", GatewayFixture.ApiKey } } };
        Assert.Equal(HttpStatusCode.Forbidden, (await http.SendAsync(clientKeyOnAdmin)).StatusCode);
        using var admin = new HttpRequestMessage(HttpMethod.Get, "/admin/v1/cluster") { Headers = { { "x-api-key", GatewayFixture.AdminKey } } };
        var cluster = await (await http.SendAsync(admin)).Content.ReadFromJsonAsync<JsonElement>();
        Assert.True(cluster.GetProperty("models")[0].GetProperty("planVersion").GetInt32() >= 1);
    }

    [Fact]
    public async Task AdminPlan_ReadsThePlanInEffect_AndRefusesABadOneAsProblemJson()
    {
        using var http = new HttpClient { BaseAddress = fixture.Http };
        http.DefaultRequestHeaders.Add("x-api-key", GatewayFixture.AdminKey);
        var plan = await http.GetFromJsonAsync<JsonElement>("/admin/v1/plans/active");
        Assert.Equal(3, plan.GetProperty("pods").GetInt32());

        var invalid = await http.PutAsJsonAsync("/admin/v1/plans/99", new { version = 99, previousVersion = 0, pods = 3, assignment = new[] { new[] { new[] { 7 } } }, batchSize = 8, drainSeconds = 30 });
        Assert.Equal(HttpStatusCode.BadRequest, invalid.StatusCode);
        Assert.Equal("application/problem+json", invalid.Content.Headers.ContentType?.MediaType);
    }

    [Fact]
    public async Task Metrics_UseTheGatewayNamespace()
    {
        using var client = new MoeCloudClient(fixture.Grpc, new MoeCloudClientOptions { ApiKey = GatewayFixture.ApiKey });
        await client.ForwardAsync(GatewayFixture.Model, GatewayFixture.Hidden(4, HiddenSize, 7), 4, HiddenSize, 0, Layers - 1);
        using var http = new HttpClient { BaseAddress = fixture.Http };

        var text = await http.GetStringAsync("/metrics");
        Assert.Equal("ready", await http.GetStringAsync("/readyz"));

        foreach (var name in new[] { "moecloud_gateway_request_seconds_bucket", "moecloud_gateway_tokens_total", "moecloud_gateway_dispatches_total", "moecloud_gateway_predictions_total", "moecloud_gateway_pod_inflight" })
        {
            Assert.Contains(name, text, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task Metrics_CountEachForwardStepOnceAsHomedWholeOrSplit()
    {
        using var client = new MoeCloudClient(fixture.Grpc, new MoeCloudClientOptions { ApiKey = GatewayFixture.ApiKey });
        using var http = new HttpClient { BaseAddress = fixture.Http };
        async Task<double> Homed()
        {
            var total = 0.0;
            foreach (var line in (await http.GetStringAsync("/metrics")).Split('\n'))
            {
                if (line.StartsWith("moecloud_gateway_homed_steps_total{", StringComparison.Ordinal))
                {
                    Assert.Matches("homes=\"(whole|split)\"", line);
                    total += double.Parse(line[(line.LastIndexOf(' ') + 1)..], System.Globalization.CultureInfo.InvariantCulture);
                }
            }

            return total;
        }

        var before = await Homed();
        await client.ForwardAsync(GatewayFixture.Model, GatewayFixture.Hidden(4, HiddenSize, 8), 4, HiddenSize, 0, Layers - 1);
        await client.ForwardAsync(GatewayFixture.Model, GatewayFixture.Hidden(1, HiddenSize, 9), 1, HiddenSize, 0, Layers - 1);

        Assert.Equal(before + 2, await Homed());
    }

    // Gateways started against the fixture's cluster: without keys only when anonymous access is configured.
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
