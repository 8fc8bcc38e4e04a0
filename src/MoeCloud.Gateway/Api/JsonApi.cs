using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Serialization;
using Grpc.Core;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using MoeCloud.Contracts.Models;
using MoeCloud.Gateway.Forwarding;
using MoeCloud.Gateway.Hosting;
using MoeCloud.Gateway.Scheduling;
using MoeCloud.Gateway.Security;

namespace MoeCloud.Gateway.Api;

/// <summary>JSON body of <c>POST /v1/models/{model}:forward</c> and <c>:forwardLayer</c>.</summary>
/// <param name="Hidden">Hidden states, one array of <c>hidden</c> numbers per token.</param>
/// <param name="FirstLayer">First MoE layer (forward; default 0).</param>
/// <param name="LastLayer">Last MoE layer (forward; default the model's last).</param>
/// <param name="Layer">The layer (forwardLayer).</param>
/// <param name="SequenceId">Sequence id, optional.</param>
/// <param name="Routing">Forced routing, optional.</param>
public sealed record JsonForwardRequest(float[][]? Hidden, int? FirstLayer = null, int? LastLayer = null, int? Layer = null, string? SequenceId = null, JsonRouting? Routing = null);

/// <summary>Forced routing: per token, per layer of the request, top-k expert ids and weights.</summary>
/// <param name="TopK">Slots per token and layer.</param>
/// <param name="ExpertIds">Ids <c>[tokens][layers][topK]</c>.</param>
/// <param name="Weights">Weights, same shape.</param>
public sealed record JsonRouting(int TopK, int[][][]? ExpertIds, float[][][]? Weights);

/// <summary>JSON response of the forward APIs.</summary>
/// <param name="Hidden">Output hidden states per token.</param>
/// <param name="LocalDispatches">Local dispatches.</param>
/// <param name="RemoteDispatches">Remote dispatches.</param>
/// <param name="PlanVersion">Plan version.</param>
/// <param name="HomePods">Home pod per token.</param>
public sealed record JsonForwardResponse(float[][] Hidden, long LocalDispatches, long RemoteDispatches, int PlanVersion, int[] HomePods);

/// <summary>The JSON data API; every error is <c>application/problem+json</c>.</summary>
public static class JsonApi
{
    // Numbers are numbers (no quoted "1.5"), as the OpenAPI document says (GatewayHost sets the same for the documents).
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web) { NumberHandling = JsonNumberHandling.Strict };

    /// <summary>Maps <c>/v1/models/{model}</c>, <c>:forward</c> and <c>:forwardLayer</c>, with their OpenAPI descriptions.</summary>
    public static void Map(IEndpointRouteBuilder app)
    {
        ArgumentNullException.ThrowIfNull(app);
        app.MapGet("/v1/models/{model}", (string model, HttpContext http, GatewayModels models, PodDirectory pods, ApiKeyAuthenticator keys) =>
            Guard(http, () =>
            {
                keys.AuthorizeClient(KeyOf(http));
                var scheduler = models.Find(model) ?? throw new GatewayException(StatusCode.NotFound, $"Model '{model}' is not served.");
                return Task.FromResult(Results.Json(JsonModelInfo.From(GatewayModelInfo.Of(scheduler, pods.Available().Count)), Json));
            }))
            .WithName("GetModel")
            .WithSummary("The model's shape, gating and plan in effect.")
            .Produces<JsonModelInfo>()
            .ProducesProblem(StatusCodes.Status401Unauthorized)
            .ProducesProblem(StatusCodes.Status404NotFound)
            .ProducesProblem(StatusCodes.Status429TooManyRequests);
        Describe(app.MapPost("/v1/models/{model}:forward", (string model, HttpContext http) => Forward(model, http, layerApi: false)), "Forward", "Runs MoE layers firstLayer..lastLayer (default all) on the hidden states.");
        Describe(app.MapPost("/v1/models/{model}:forwardLayer", (string model, HttpContext http) => Forward(model, http, layerApi: true)), "ForwardLayer", "Runs one MoE layer on normalised hidden states.");
    }

    /// <summary>Runs <paramref name="handler"/>, turning gateway and gRPC errors into problem+json.</summary>
    public static async Task<IResult> Guard(HttpContext http, Func<Task<IResult>> handler)
    {
        ArgumentNullException.ThrowIfNull(http);
        ArgumentNullException.ThrowIfNull(handler);
        try
        {
            return await handler();
        }
        catch (GatewayException e)
        {
            http.RequestServices.GetRequiredService<GatewayMetrics>().Rejected.WithLabels(e.Code.ToString()).Inc();
            return Problems.Result(e.HttpStatus, e.Code.ToString(), e.Message);
        }
        catch (RpcException e)
        {
            var mapped = new GatewayException(e.StatusCode, e.Status.Detail);
            return Problems.Result(mapped.HttpStatus, e.StatusCode.ToString(), mapped.Message);
        }
        catch (JsonException e)
        {
            return Problems.Result(StatusCodes.Status400BadRequest, "InvalidArgument", $"The body is not valid JSON for this request: {e.Message}");
        }
        catch (BadHttpRequestException e)
        {
            return Problems.Result(e.StatusCode, e.StatusCode == StatusCodes.Status413PayloadTooLarge ? "ResourceExhausted" : "InvalidArgument", e.Message);
        }
    }

    /// <summary>A 415 problem unless the request's body is JSON; null when it is.</summary>
    internal static IResult? UnlessJson(HttpContext http) =>
        http.Request.HasJsonContentType()
            ? null
            : Problems.Result(StatusCodes.Status415UnsupportedMediaType, "InvalidArgument", Problems.NotJson(http.Request));

    internal static string? KeyOf(HttpContext http) =>
        ApiKeyAuthenticator.Read(http.Request.Headers[ApiKeyAuthenticator.Header].FirstOrDefault(), http.Request.Headers.Authorization.FirstOrDefault());

    private static Task<IResult> Forward(string model, HttpContext http, bool layerApi) => Guard(http, async () =>
    {
        var started = Stopwatch.GetTimestamp();
        var services = http.RequestServices;
        services.GetRequiredService<ApiKeyAuthenticator>().AuthorizeClient(KeyOf(http));
        var scheduler = services.GetRequiredService<GatewayModels>().Find(model) ?? throw new GatewayException(StatusCode.NotFound, $"Model '{model}' is not served.");
        if (UnlessJson(http) is { } unsupported)
        {
            return unsupported;
        }

        var body = await JsonSerializer.DeserializeAsync<JsonForwardRequest>(http.Request.Body, Json, http.RequestAborted)
            ?? throw new GatewayException(StatusCode.InvalidArgument, "The body is empty.");
        var spec = scheduler.Gates.Spec;
        var first = layerApi ? body.Layer ?? throw new GatewayException(StatusCode.InvalidArgument, "'layer' is required.") : body.FirstLayer ?? 0;
        var last = layerApi ? first : body.LastLayer ?? spec.MoeLayers - 1;
        if (first < 0 || last < first || last >= spec.MoeLayers)
        {
            throw new GatewayException(StatusCode.InvalidArgument, layerApi
                ? $"'layer' {first} is not a MoE layer of model '{model}' (0..{spec.MoeLayers - 1})."
                : $"Layers {first}..{last} are not within the MoE layers of model '{model}', 0..{spec.MoeLayers - 1}.");
        }

        var (hidden, tokens) = Flatten(body.Hidden, spec.Hidden);
        var (ids, weights) = FlattenRouting(body.Routing, tokens, last - first + 1);
        var step = new GatewayStep(model, first, last, tokens, hidden, ids, weights, body.Routing?.TopK ?? 0, body.SequenceId, layerApi);
        var options = services.GetRequiredService<IOptions<GatewayOptions>>().Value;
        var result = await services.GetRequiredService<GatewayForwarder>().Forward(step, DateTime.UtcNow + options.DefaultDeadline, http.RequestAborted);
        var rows = Enumerable.Range(0, tokens).Select(t => result.Hidden.AsSpan(t * spec.Hidden, spec.Hidden).ToArray()).ToArray();
        services.GetRequiredService<GatewayMetrics>().Latency.WithLabels(layerApi ? "json_forward_layer" : "json_forward", "ok").Observe(Stopwatch.GetElapsedTime(started).TotalSeconds);
        return Results.Json(new JsonForwardResponse(rows, result.Local, result.Remote, result.PlanVersion, result.Homes), Json);
    });

    private static void Describe(RouteHandlerBuilder endpoint, string name, string summary) => endpoint
        .WithName(name)
        .WithSummary(summary)
        .Accepts<JsonForwardRequest>("application/json")
        .Produces<JsonForwardResponse>()
        .ProducesProblem(StatusCodes.Status400BadRequest)
        .ProducesProblem(StatusCodes.Status401Unauthorized)
        .ProducesProblem(StatusCodes.Status404NotFound)
        .ProducesProblem(StatusCodes.Status413PayloadTooLarge)
        .ProducesProblem(StatusCodes.Status415UnsupportedMediaType)
        .ProducesProblem(StatusCodes.Status429TooManyRequests)
        .ProducesProblem(StatusCodes.Status503ServiceUnavailable)
        .ProducesProblem(StatusCodes.Status504GatewayTimeout);

    private static (float[] Values, int Tokens) Flatten(float[][]? rows, int hidden)
    {
        if (rows is null || rows.Length == 0)
        {
            throw new GatewayException(StatusCode.InvalidArgument, "'hidden' must hold at least one token.");
        }

        var values = new float[rows.Length * hidden];
        for (var t = 0; t < rows.Length; t++)
        {
            if (rows[t] is null || rows[t].Length != hidden)
            {
                throw new GatewayException(StatusCode.InvalidArgument, $"'hidden' row {t} has {rows[t]?.Length ?? 0} values; the model's hidden size is {hidden}.");
            }

            rows[t].CopyTo(values, t * hidden);
        }

        return (values, rows.Length);
    }

    private static (int[]? Ids, float[]? Weights) FlattenRouting(JsonRouting? routing, int tokens, int layers)
    {
        if (routing is null)
        {
            return (null, null);
        }

        if (routing.ExpertIds is null || routing.Weights is null || routing.ExpertIds.Length != tokens || routing.Weights.Length != tokens || routing.TopK < 1)
        {
            throw new GatewayException(StatusCode.InvalidArgument, $"'routing' needs topK ≥ 1 and expertIds and weights of shape [{tokens}][{layers}][topK].");
        }

        var ids = new int[tokens * layers * routing.TopK];
        var weights = new float[ids.Length];
        for (var t = 0; t < tokens; t++)
        {
            for (var l = 0; l < layers; l++)
            {
                var i = routing.ExpertIds[t]?.ElementAtOrDefault(l);
                var w = routing.Weights[t]?.ElementAtOrDefault(l);
                if (i is null || w is null || i.Length != routing.TopK || w.Length != routing.TopK)
                {
                    throw new GatewayException(StatusCode.InvalidArgument, $"'routing' of token {t}, layer {l} must hold {routing.TopK} ids and weights.");
                }

                i.CopyTo(ids, ((t * layers) + l) * routing.TopK);
                w.CopyTo(weights, ((t * layers) + l) * routing.TopK);
            }
        }

        return (ids, weights);
    }
}
