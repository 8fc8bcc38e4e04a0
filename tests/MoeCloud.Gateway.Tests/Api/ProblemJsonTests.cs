using System.Net;
using System.Net.Http.Json;
using System.Reflection;
using System.Text;
using System.Text.Json;
using MoeCloud.Abstractions;
using MoeCloud.Gateway.Api;
using MoeCloud.Gateway.Hosting;
using MoeCloud.Runtime.Hosting;

namespace MoeCloud.Gateway.Tests.Api;

/// <summary>
/// One request per kind of error against a real gateway (the fixture's, or one started for the case): each answers its
/// status as <c>application/problem+json</c> with type, title, status and a detail saying what was wrong.
/// </summary>
[Collection(GatewayCollection.Name)]
public sealed class ProblemJsonTests(GatewayFixture fixture)
{
    public static TheoryData<string, int, string> Kinds => new()
    {
        { "bad json", 400, "not valid JSON" },
        { "bad hidden size", 400, "hidden size" },
        { "reversed layers", 400, "not within the MoE layers" },
        { "no key", 401, "key" },
        { "client key on admin", 403, "admin" },
        { "unknown model", 404, "Model 'nope' is not served" },
        { "unknown route", 404, "No endpoint serves GET /v2/nothing" },
        { "wrong method", 405, "does not take DELETE" },
        { "body too large", 413, "too large" },
        { "text body", 415, "must be application/json" },
        { "text plan", 415, "must be application/json" },
        { "rate limit", 429, "" },
        { "unexpected", 500, "failed unexpectedly" },
        { "no pod", 503, "" },
        { "deadline", 504, "" },
    };

    [Theory]
    [MemberData(nameof(Kinds))]
    public async Task Error_OfEachKind_IsProblemJsonWithItsStatusAndADetail(string kind, int status, string detail)
    {
        using var response = await Send(kind);

        var body = await response.Content.ReadAsStringAsync();
        Assert.True((int)response.StatusCode == status, $"{kind}: {(int)response.StatusCode} {body}");
        Assert.Equal(Problems.MediaType, response.Content.Headers.ContentType?.MediaType);
        var problem = JsonDocument.Parse(body).RootElement;
        Assert.Equal(status, problem.GetProperty("status").GetInt32());
        Assert.Equal(Problems.TypeOf(status), problem.GetProperty("type").GetString());
        Assert.False(string.IsNullOrWhiteSpace(problem.GetProperty("title").GetString()));
        Assert.False(string.IsNullOrWhiteSpace(problem.GetProperty("detail").GetString()));
        Assert.Contains(detail, problem.GetProperty("detail").GetString(), StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public async Task RejectedPlan_WrongContentTypeOrBadBody_StartsNoRollout()
    {
        using var http = Client(fixture.Options, GatewayFixture.AdminKey);
        const int version = 77;

        using var text = await http.PutAsync($"/admin/v1/plans/{version}", new StringContent("{}", Encoding.UTF8, "text/plain"));
        using var bad = await http.PutAsJsonAsync($"/admin/v1/plans/{version}", new { version, previousVersion = 0, pods = 3, assignment = new[] { new[] { new[] { 7 } } }, batchSize = 8, drainSeconds = 30 });
        using var progress = await http.GetAsync($"/admin/v1/plans/{version}");

        Assert.Equal(HttpStatusCode.UnsupportedMediaType, text.StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, progress.StatusCode);
    }

    private async Task<HttpResponseMessage> Send(string kind)
    {
        var model = $"/v1/models/{GatewayFixture.Model}";
        var spec = fixture.Reference.Model.Spec;
        using var client = Client(fixture.Options, GatewayFixture.ApiKey);
        switch (kind)
        {
            case "bad json":
                return await client.PostAsync($"{model}:forward", new StringContent("{\"hidden\": [[1, 2", Encoding.UTF8, "application/json"));
            case "bad hidden size":
                return await client.PostAsJsonAsync($"{model}:forward", new { hidden = new[] { new float[spec.Hidden + 1] } });
            case "reversed layers":
                // One token, forced routing: layers 5..0 once made the routing buffer a negative size (an unhandled 500).
                return await client.PostAsJsonAsync($"{model}:forward", new { hidden = new[] { new float[spec.Hidden] }, firstLayer = 5, lastLayer = 0, routing = new { topK = 1, expertIds = new[] { Array.Empty<int[]>() }, weights = new[] { Array.Empty<float[]>() } } });
            case "no key":
                using (var anonymous = Client(fixture.Options, key: null))
                {
                    return await anonymous.GetAsync(model);
                }

            case "client key on admin":
                return await client.GetAsync("/admin/v1/cluster");
            case "unknown model":
                return await client.GetAsync("/v1/models/nope");
            case "unknown route":
                return await client.GetAsync("/v2/nothing");
            case "wrong method":
                return await client.DeleteAsync(model);
            case "body too large":
                // Expect: 100-continue: the gateway refuses on the length, before the client sends the body.
                using (var large = new HttpRequestMessage(HttpMethod.Post, $"{model}:forward") { Content = new ByteArrayContent(new byte[fixture.Options.MaxRequestBytes + 1]) { Headers = { ContentType = new("application/json") } } })
                {
                    large.Headers.ExpectContinue = true;
                    return await client.SendAsync(large);
                }

            case "text body":
                return await client.PostAsync($"{model}:forward", new StringContent("{}", Encoding.UTF8, "text/plain"));
            case "text plan":
                using (var admin = Client(fixture.Options, GatewayFixture.AdminKey))
                {
                    return await admin.PutAsync("/admin/v1/plans/78", new StringContent("{}", Encoding.UTF8, "text/plain"));
                }

            case "rate limit":
                return await RateLimited();
            case "unexpected":
                return await Unexpected();
            case "no pod":
                return await NoPod();
            case "deadline":
                return await PastDeadline();
            default:
                throw new ArgumentOutOfRangeException(nameof(kind), kind, "Unknown kind.");
        }
    }

    // The slow key allows one request a second: of a quick burst, one is refused.
    private async Task<HttpResponseMessage> RateLimited()
    {
        using var slow = Client(fixture.Options, GatewayFixture.SlowKey);
        for (var i = 0; i < 10; i++)
        {
            var response = await slow.GetAsync($"/v1/models/{GatewayFixture.Model}");
            if (response.StatusCode == HttpStatusCode.TooManyRequests)
            {
                return response;
            }

            response.Dispose();
        }

        throw new InvalidOperationException("The slow key was never limited.");
    }

    // A gateway whose telemetry grain fails with an exception the API does not expect.
    private async Task<HttpResponseMessage> Unexpected()
    {
        var options = GatewayFixture.NewOptions(fixture.Cluster, fixture.ModelDirectory, profile: null);
        await using var running = await GatewayFixture.StartGateway(options, FailingTelemetry.Wrap(fixture.Cluster.Grains));
        using var admin = Client(options, GatewayFixture.AdminKey);
        return await Buffered(await admin.GetAsync("/admin/v1/profile"));
    }

    // A gateway whose only pod listens nowhere.
    private async Task<HttpResponseMessage> NoPod()
    {
        var options = GatewayFixture.NewOptions(fixture.Cluster, fixture.ModelDirectory, profile: null);
        var dead = $"http://127.0.0.1:{FreePorts.Take(1)[0]}";
        options.Pods = [new GatewayPod { Pod = 0, Runner = dead, Ops = dead }];
        await using var running = await GatewayFixture.StartGateway(options, fixture.Cluster.Grains);
        using var client = Client(options, GatewayFixture.ApiKey);
        return await Buffered(await client.PostAsJsonAsync($"/v1/models/{GatewayFixture.Model}:forwardLayer", new { layer = 0, hidden = new[] { new float[fixture.Reference.Model.Spec.Hidden] } }));
    }

    // A gateway with a short deadline in front of a pod that holds every request.
    private async Task<HttpResponseMessage> PastDeadline()
    {
        await using var runner = await HeldRunner.Start();
        var options = GatewayFixture.NewOptions(fixture.Cluster, fixture.ModelDirectory, profile: null);
        options.Pods = [new GatewayPod { Pod = 0, Runner = runner.Runner, Ops = runner.Ops }];
        options.DefaultDeadline = TimeSpan.FromMilliseconds(300);
        await using var running = await GatewayFixture.StartGateway(options, fixture.Cluster.Grains);
        using var client = Client(options, GatewayFixture.ApiKey);
        return await Buffered(await client.PostAsJsonAsync($"/v1/models/{GatewayFixture.Model}:forwardLayer", new { layer = 0, hidden = new[] { new float[fixture.Reference.Model.Spec.Hidden] } }));
    }

    // Reads the body before the gateway that answered stops.
    private static async Task<HttpResponseMessage> Buffered(HttpResponseMessage response)
    {
        await response.Content.LoadIntoBufferAsync();
        return response;
    }

    private static HttpClient Client(GatewayOptions options, string? key)
    {
        var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{options.HttpPort}") };
        if (key is not null)
        {
            http.DefaultRequestHeaders.Add("x-api-key", key);
        }

        return http;
    }

    /// <summary>An <see cref="IGrainFactory"/> that passes every call through, except that telemetry grains throw.</summary>
    public class FailingTelemetry : DispatchProxy
    {
        private IGrainFactory? _inner;

        public static IGrainFactory Wrap(IGrainFactory inner)
        {
            var proxy = Create<IGrainFactory, FailingTelemetry>();
            ((FailingTelemetry)(object)proxy)._inner = inner;
            return proxy;
        }

        protected override object? Invoke(MethodInfo? targetMethod, object?[]? args)
        {
            ArgumentNullException.ThrowIfNull(targetMethod);
            if (targetMethod.IsGenericMethod && targetMethod.GetGenericArguments()[0] == typeof(ITelemetryGrain))
            {
                throw new InvalidOperationException("The telemetry grain is broken (test).");
            }

            try
            {
                return targetMethod.Invoke(_inner, args);
            }
            catch (TargetInvocationException e) when (e.InnerException is not null)
            {
                throw e.InnerException;
            }
        }
    }
}
