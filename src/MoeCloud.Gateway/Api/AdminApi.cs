using System.Runtime.InteropServices;
using System.Text.Json;
using Grpc.Core;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Options;
using MoeCloud.Abstractions;
using MoeCloud.Gateway.Forwarding;
using MoeCloud.Gateway.Hosting;
using MoeCloud.Gateway.Scheduling;
using MoeCloud.Gateway.Security;
using MoeCloud.Runtime.Plans;

namespace MoeCloud.Gateway.Api;

/// <summary>A plan in the admin API: <c>assignment[layer][expert]</c> lists the pods holding that expert's replicas.</summary>
/// <param name="Version">Plan version (must grow).</param>
/// <param name="Pods">Pods the plan places on.</param>
/// <param name="Assignment">Pods per (layer, expert).</param>
public sealed record AdminPlan(int Version, int Pods, int[][][] Assignment);

/// <summary>
/// The admin API (HTTP/JSON, admin key required): cluster state, a model's live plan (read, or publish a new version
/// with a make-before-break rollout), and its live profile from cluster telemetry.
/// </summary>
public static class AdminApi
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    /// <summary>Maps the admin endpoints under <c>/admin/v1</c>.</summary>
    public static void Map(IEndpointRouteBuilder app)
    {
        ArgumentNullException.ThrowIfNull(app);
        app.MapGet("/admin/v1/cluster", (HttpContext http, ApiKeyAuthenticator keys, PodDirectory pods, GatewayModels models, IOptions<GatewayOptions> options) => JsonApi.Guard(http, () =>
        {
            keys.AuthorizeAdmin(JsonApi.KeyOf(http));
            var available = pods.Available().ToHashSet();
            return Task.FromResult(Results.Json(new
            {
                discovery = options.Value.Discovery.ToString(),
                pods = available.Order().Select(p => new { pod = p, inflight = pods.InFlight(p), runner = pods.Pods.FirstOrDefault(d => d.Pod == p)?.Runner }),
                known = pods.Pods.Select(p => p.Pod).Order(),
                models = models.Names.Order(StringComparer.Ordinal).Select(m => models.Find(m)!).Select(s => new
                {
                    model = s.Gates.Name,
                    planVersion = s.PlanVersion,
                    predictionHits = s.Hits,
                    predictionsScored = s.Scored,
                    predictionHitRate = s.Scored == 0 ? 0 : (double)s.Hits / s.Scored,
                }),
            }, Json));
        }));
        app.MapGet("/admin/v1/models/{model}/plan", (string model, HttpContext http, ApiKeyAuthenticator keys, IGrainFactory grains) => JsonApi.Guard(http, async () =>
        {
            keys.AuthorizeAdmin(JsonApi.KeyOf(http));
            var plan = await grains.GetGrain<IPlanRegistryGrain>(model).GetActive() ?? throw new GatewayException(StatusCode.NotFound, $"Model '{model}' has no plan.");
            var snapshot = PlanSnapshot.From(plan);
            var assignment = Enumerable.Range(0, plan.Layers).Select(l => Enumerable.Range(0, plan.Experts).Select(e => snapshot.PodsOf(l, e).ToArray()).ToArray()).ToArray();
            return Results.Json(new AdminPlan(plan.Version, plan.Pods, assignment), Json);
        }));
        app.MapPut("/admin/v1/models/{model}/plan", (string model, HttpContext http, ApiKeyAuthenticator keys, IGrainFactory grains) => JsonApi.Guard(http, async () =>
        {
            keys.AuthorizeAdmin(JsonApi.KeyOf(http));
            var body = await JsonSerializer.DeserializeAsync<AdminPlan>(http.Request.Body, Json, http.RequestAborted) ?? throw new GatewayException(StatusCode.InvalidArgument, "The body is empty.");
            if (body.Assignment is null || body.Assignment.Length == 0 || body.Assignment[0] is null || body.Assignment.Any(l => l is null || l.Length != body.Assignment[0].Length || l.Any(e => e is null)))
            {
                throw new GatewayException(StatusCode.InvalidArgument, "'assignment' must be [layers][experts][pods] with the same number of experts in every layer.");
            }

            PlanDocument document;
            try
            {
                document = PlanSnapshot.ToDocument(model, body.Version, body.Pods, body.Assignment.Length, body.Assignment[0].Length, (l, e) => body.Assignment[l][e]);
                PlanSnapshot.From(document);
            }
            catch (ArgumentException e)
            {
                throw new GatewayException(StatusCode.InvalidArgument, e.Message);
            }

            try
            {
                return Results.Json(await grains.GetGrain<IPlanRegistryGrain>(model).Publish(document), Json);
            }
            catch (ArgumentException e)
            {
                throw new GatewayException(StatusCode.InvalidArgument, e.Message);
            }
        }));
        app.MapGet("/admin/v1/models/{model}/profile", (string model, HttpContext http, ApiKeyAuthenticator keys, IGrainFactory grains) => JsonApi.Guard(http, async () =>
        {
            keys.AuthorizeAdmin(JsonApi.KeyOf(http));
            var totals = await grains.GetGrain<ITelemetryGrain>(model).GetTotals() ?? throw new GatewayException(StatusCode.NotFound, $"Model '{model}' has no telemetry yet.");
            var load = MemoryMarshal.Cast<byte, long>(totals.Load).ToArray();
            return Results.Json(new
            {
                model,
                tokens = totals.Tokens,
                windowTokens = totals.WindowTokens,
                localDispatches = totals.LocalDispatches,
                remoteDispatches = totals.RemoteDispatches,
                remoteFraction = (double)totals.RemoteDispatches / Math.Max(1, totals.LocalDispatches + totals.RemoteDispatches),
                load = Enumerable.Range(0, totals.Layers).Select(l => load.AsSpan(l * totals.Experts, totals.Experts).ToArray()),
            }, Json);
        }));
    }
}
