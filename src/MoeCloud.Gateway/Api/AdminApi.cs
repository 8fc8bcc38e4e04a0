using System.Text.Json;
using Grpc.Core;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Options;
using MoeCloud.Abstractions;
using MoeCloud.Contracts.Admin;
using MoeCloud.Gateway.Forwarding;
using MoeCloud.Gateway.Hosting;
using MoeCloud.Gateway.Scheduling;
using MoeCloud.Gateway.Security;
using MoeCloud.Placement.Plans;

namespace MoeCloud.Gateway.Api;

/// <summary>
/// The admin API (HTTP/JSON, admin key required), which the Kubernetes operator drives (operators/README.md); its
/// bodies are the types of <c>MoeCloud.Contracts.Admin</c>. For the gateway's model, or the one <c>?model=</c> names:
/// <list type="bullet">
/// <item><c>GET admin/v1/cluster</c>: pods, discovery, plan versions, prediction hit rates;</item>
/// <item><c>GET admin/v1/profile</c>: the live profile (<see cref="LiveProfile"/>) from cluster telemetry;</item>
/// <item><c>PUT admin/v1/plans/{version}</c> with a <see cref="PlanPublication"/>: 202, the rollout runs in the
/// background (the same version again changes nothing, unless its rollout failed: then it is tried again);</item>
/// <item><c>GET admin/v1/plans/{version}</c>: its <see cref="MigrationProgress"/> (<c>Failed</c> with the reason when a
/// replica could not be warmed);</item>
/// <item><c>GET admin/v1/plans/active</c>: the plan in effect, as a <see cref="PlanPublication"/>.</item>
/// <item><c>GET admin/v1/serving</c>: this gateway's <see cref="ServingSignals"/> (queue depth, in-flight tokens, windowed
/// step latency percentiles; <see cref="ServingMonitor"/>), the inputs of pod autoscaling.</item>
/// </list>
/// A model the gateway does not serve is 404, a missing key 401 and a client key 403, each as problem+json.
/// </summary>
public static class AdminApi
{
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
                pods = available.Order().Select(p =>
                {
                    var described = pods.Pods.FirstOrDefault(d => d.Pod == p);
                    return new { pod = p, inflight = pods.InFlight(p), runner = described?.Runner, expertBackend = described?.ExpertBackend };
                }),
                known = pods.Pods.Select(p => p.Pod).Order(),
                models = models.Names.Order(StringComparer.Ordinal).Select(m => models.Find(m)!).Select(s => new
                {
                    model = s.Gates.Name,
                    planVersion = s.PlanVersion,
                    predictionHits = s.Hits,
                    predictionsScored = s.Scored,
                    predictionHitRate = s.Scored == 0 ? 0 : (double)s.Hits / s.Scored,
                }),
            }, AdminJson.Options));
        }))
            .AdminEndpoint("GetCluster", "Pods, discovery, plan versions and prediction hit rates.", typeof(object));
        app.MapGet("/admin/v1/serving", (HttpContext http, ApiKeyAuthenticator keys, GatewayModels models, ServingMonitor serving) => JsonApi.Guard(http, () =>
        {
            keys.AuthorizeAdmin(JsonApi.KeyOf(http));
            var model = ModelOf(http, models);
            var signals = serving.Read(model) ?? throw new GatewayException(StatusCode.NotFound, $"Model '{model}' is not served.");
            return Task.FromResult(Results.Json(signals, AdminJson.Options));
        }))
            .AdminEndpoint("GetServing", "This gateway's serving signals: queue depth, in-flight tokens, step latency percentiles.", typeof(ServingSignals));
        app.MapGet("/admin/v1/profile", (HttpContext http, ApiKeyAuthenticator keys, GatewayModels models, IGrainFactory grains) => JsonApi.Guard(http, async () =>
        {
            keys.AuthorizeAdmin(JsonApi.KeyOf(http));
            var model = ModelOf(http, models);
            var totals = await grains.GetGrain<ITelemetryGrain>(model).GetTotals() ?? throw new GatewayException(StatusCode.NotFound, $"Model '{model}' has no telemetry yet.");
            return Results.Json(LiveProfiles.FromTotals(totals), AdminJson.Options);
        }))
            .AdminEndpoint("GetProfile", "The live profile from cluster telemetry.", typeof(LiveProfile));
        app.MapGet("/admin/v1/plans/active", (HttpContext http, ApiKeyAuthenticator keys, GatewayModels models, IGrainFactory grains) => JsonApi.Guard(http, async () =>
        {
            keys.AuthorizeAdmin(JsonApi.KeyOf(http));
            var model = ModelOf(http, models);
            var registry = grains.GetGrain<IPlanRegistryGrain>(model);
            var plan = await registry.GetActive() ?? throw new GatewayException(StatusCode.NotFound, $"Model '{model}' has no plan in effect.");
            var policy = (await registry.GetStatus()).Policy ?? RolloutPolicy.Default;
            return Results.Json(new PlanPublication(plan.Version, 0, plan.Pods, plan.ToPlacement().ToAssignment(), policy.BatchSize, (int)policy.Drain.TotalSeconds), AdminJson.Options);
        }))
            .AdminEndpoint("GetActivePlan", "The plan in effect.", typeof(PlanPublication));
        app.MapPut("/admin/v1/plans/{version:int}", (int version, HttpContext http, ApiKeyAuthenticator keys, GatewayModels models, IGrainFactory grains) => JsonApi.Guard(http, async () =>
        {
            keys.AuthorizeAdmin(JsonApi.KeyOf(http));
            var model = ModelOf(http, models);
            if (JsonApi.UnlessJson(http) is { } unsupported)
            {
                return unsupported;
            }

            var body = await Read(http);
            var problems = body.Problems();
            if (body.Version != version || problems.Count > 0)
            {
                throw new GatewayException(StatusCode.InvalidArgument, $"Plan {version}: " + string.Join("; ", body.Version != version ? [$"the body is plan {body.Version}", .. problems] : problems) + ".");
            }

            var spec = models.Find(model)!.Gates.Spec;
            var assignment = body.Assignment!;
            if (assignment.Length != spec.MoeLayers || assignment[0].Length != spec.Experts)
            {
                throw new GatewayException(StatusCode.InvalidArgument, $"Plan {version} has {assignment.Length} layers of {assignment[0].Length} experts; model '{model}' has {spec.MoeLayers} MoE layers of {spec.Experts} experts.");
            }

            WirePlan document;
            try
            {
                document = WirePlan.From(model, PlacementPlan.WithoutCapacities(new PlanMetadata { Version = version, Solver = "operator" }, body.Pods, assignment));
            }
            catch (ArgumentException e)
            {
                throw new GatewayException(StatusCode.InvalidArgument, $"Plan {version} is not a valid plan: {e.Message}");
            }

            var registry = grains.GetGrain<IPlanRegistryGrain>(model);
            var status = await registry.GetStatus();
            if (status.ActiveVersion >= version || status.PendingVersion == version || status.Queued.Contains(version))
            {
                return Results.Accepted();
            }

            try
            {
                await registry.Start(document, new RolloutPolicy(body.BatchSize, TimeSpan.FromSeconds(body.DrainSeconds)));
            }
            catch (ArgumentException e)
            {
                throw new GatewayException(StatusCode.InvalidArgument, $"Plan {version} cannot be rolled out: {e.Message}");
            }

            return Results.Accepted();
        }))
            .AdminEndpoint("PutPlan", "Publishes a plan; 202, the rollout runs in the background.", null);
        app.MapGet("/admin/v1/plans/{version:int}", (int version, HttpContext http, ApiKeyAuthenticator keys, GatewayModels models, IGrainFactory grains) => JsonApi.Guard(http, async () =>
        {
            keys.AuthorizeAdmin(JsonApi.KeyOf(http));
            var status = await grains.GetGrain<IPlanRegistryGrain>(ModelOf(http, models)).GetStatus();
            return Results.Json(Progress(version, status) ?? throw new GatewayException(StatusCode.NotFound, $"Plan {version} was not given to the cluster."), AdminJson.Options);
        }))
            .AdminEndpoint("GetPlanProgress", "A plan's migration progress.", typeof(MigrationProgress));
    }

    /// <summary>The progress of <paramref name="version"/> as the registry's status tells it; null when the cluster does not know the version.</summary>
    public static MigrationProgress? Progress(int version, PlanRolloutStatus status)
    {
        ArgumentNullException.ThrowIfNull(status);
        var moved = status.ReplicasWarmed + status.ReplicasRetired;
        if (status.Queued.Contains(version))
        {
            return new MigrationProgress(version, MigrationProgress.Pending, 0, 0, "queued");
        }

        return status.ActiveVersion >= version && status.PendingVersion != version
            ? new MigrationProgress(version, MigrationProgress.Complete, status.PendingVersion is null ? status.ReplicasMoved : moved, status.ReplicasMoved, null)
            : status.PendingVersion == version
                ? new MigrationProgress(version, MigrationProgress.Migrating, moved, status.ReplicasMoved, status.Phase)
                : status.FailedVersion == version
                    ? new MigrationProgress(version, MigrationProgress.Failed, 0, status.ReplicasMoved, status.Error)
                    : null;
    }

    // The OpenAPI description of an admin endpoint (document "admin"): its response and its problem+json errors.
    private static RouteHandlerBuilder AdminEndpoint(this RouteHandlerBuilder endpoint, string name, string summary, Type? response)
    {
        endpoint.WithName(name).WithSummary(summary);
        if (response is null)
        {
            endpoint.Accepts<PlanPublication>("application/json")
                .Produces(StatusCodes.Status202Accepted)
                .ProducesProblem(StatusCodes.Status400BadRequest)
                .ProducesProblem(StatusCodes.Status413PayloadTooLarge)
                .ProducesProblem(StatusCodes.Status415UnsupportedMediaType);
        }
        else
        {
            endpoint.Produces(StatusCodes.Status200OK, response, "application/json");
        }

        return endpoint
            .ProducesProblem(StatusCodes.Status401Unauthorized)
            .ProducesProblem(StatusCodes.Status403Forbidden)
            .ProducesProblem(StatusCodes.Status404NotFound)
            .ProducesProblem(StatusCodes.Status500InternalServerError)
            .ProducesProblem(StatusCodes.Status503ServiceUnavailable);
    }

    private static async Task<PlanPublication> Read(HttpContext http)
    {
        try
        {
            return await JsonSerializer.DeserializeAsync<PlanPublication>(http.Request.Body, AdminJson.Options, http.RequestAborted) ?? throw new GatewayException(StatusCode.InvalidArgument, "The body is empty.");
        }
        catch (JsonException e)
        {
            throw new GatewayException(StatusCode.InvalidArgument, $"The body is not a plan publication: {e.Message}");
        }
    }

    private static string ModelOf(HttpContext http, GatewayModels models)
    {
        var requested = http.Request.Query["model"].FirstOrDefault();
        if (requested is not null)
        {
            return models.Find(requested) is not null ? requested : throw new GatewayException(StatusCode.NotFound, $"Model '{requested}' is not served.");
        }

        return models.Names.Count == 1 ? models.Names.First() : throw new GatewayException(StatusCode.InvalidArgument, "This gateway serves several models; name one with ?model=.");
    }
}
