using System.Runtime.InteropServices;
using System.Text.Json;
using System.Text.Json.Serialization;
using Grpc.Core;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using MoeCloud.Abstractions;
using MoeCloud.Gateway.Forwarding;
using MoeCloud.Gateway.Scheduling;
using MoeCloud.Gateway.Security;
using MoeCloud.Runtime.Plans;
using MoeCloud.Runtime.Telemetry;

namespace MoeCloud.Gateway.Api;

/// <summary>A redundant replica in the operator's plan body.</summary>
/// <param name="Expert">Expert.</param>
/// <param name="Pod">Pod.</param>
public sealed record OperatorRedundant([property: JsonPropertyName("expert")] int Expert, [property: JsonPropertyName("pod")] int Pod);

/// <summary>One layer of the operator's plan body: the primary pod of each expert, and redundant replicas.</summary>
/// <param name="Layer">Layer.</param>
/// <param name="Pods">Primary pod per expert.</param>
/// <param name="Redundant">Extra replicas.</param>
public sealed record OperatorLayer([property: JsonPropertyName("layer")] int Layer, [property: JsonPropertyName("pods")] int[]? Pods, [property: JsonPropertyName("redundant")] OperatorRedundant[]? Redundant);

/// <summary>The operator's plan publication (operators/README.md).</summary>
/// <param name="Version">Version.</param>
/// <param name="PreviousVersion">The version it replaces.</param>
/// <param name="Pods">Pods.</param>
/// <param name="Layers">Per-layer placement.</param>
public sealed record OperatorPlan([property: JsonPropertyName("version")] int Version, [property: JsonPropertyName("previousVersion")] int PreviousVersion, [property: JsonPropertyName("pods")] int Pods, [property: JsonPropertyName("layers")] OperatorLayer[]? Layers);

/// <summary>
/// The admin contract the Kubernetes operator drives (operators/README.md), for the gateway's model (or
/// <c>?model=</c>): <c>GET admin/v1/profile</c>, <c>PUT admin/v1/plans/{version}</c> (202; the rollout runs in the
/// background; the same version again changes nothing, unless its rollout failed: then it is tried again) and
/// <c>GET admin/v1/plans/{version}</c> (progress; <c>Failed</c> with the reason when a replica could not be warmed).
/// </summary>
public static class OperatorAdminApi
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    /// <summary>Maps the three endpoints.</summary>
    public static void Map(IEndpointRouteBuilder app)
    {
        ArgumentNullException.ThrowIfNull(app);
        app.MapGet("/admin/v1/profile", (HttpContext http, ApiKeyAuthenticator keys, GatewayModels models, IGrainFactory grains) => JsonApi.Guard(http, async () =>
        {
            keys.AuthorizeAdmin(JsonApi.KeyOf(http));
            var model = ModelOf(http, models);
            var totals = await grains.GetGrain<ITelemetryGrain>(model).GetTotals() ?? throw new GatewayException(StatusCode.NotFound, $"Model '{model}' has no telemetry yet.");
            var load = MemoryMarshal.Cast<byte, long>(totals.Load).ToArray();
            var profile = LiveProfile.ToWorkloadProfile(totals);
            return Results.Json(new
            {
                load = Enumerable.Range(0, totals.Layers).Select(l => load.AsSpan(l * totals.Experts, totals.Experts).ToArray().Select(c => (double)c).ToArray()),
                remoteFraction = (double)totals.RemoteDispatches / Math.Max(1, totals.LocalDispatches + totals.RemoteDispatches),
                tokens = totals.Tokens,
                windowTokens = totals.WindowTokens,
                // Co-activation, for the ilp and incremental solvers: little-endian int64 [layers-1, experts, experts]
                // transition counts and a bounded sample of whole token routings, int16 [tokens, layers, topK].
                topK = profile.TopK,
                transitions = profile.Transitions is { } t ? Convert.ToBase64String(MemoryMarshal.AsBytes(t.AsSpan())) : null,
                sample = profile.Sample.Tokens == 0 ? null : new
                {
                    expertIds = Convert.ToBase64String(MemoryMarshal.AsBytes(profile.Sample.ExpertIds.AsSpan())),
                    seqIds = profile.Sample.SeqIds,
                },
            }, Json);
        }));
        app.MapPut("/admin/v1/plans/{version:int}", (int version, HttpContext http, ApiKeyAuthenticator keys, GatewayModels models, IGrainFactory grains) => JsonApi.Guard(http, async () =>
        {
            keys.AuthorizeAdmin(JsonApi.KeyOf(http));
            var model = ModelOf(http, models);
            var body = await JsonSerializer.DeserializeAsync<OperatorPlan>(http.Request.Body, Json, http.RequestAborted) ?? throw new GatewayException(StatusCode.InvalidArgument, "The body is empty.");
            if (body.Version != version || body.Layers is not { Length: > 0 } layers || layers.Any(l => l.Pods is null || l.Pods.Length != layers[0].Pods!.Length))
            {
                throw new GatewayException(StatusCode.InvalidArgument, $"The body must be plan {version} with 'layers' holding a pod per expert for every layer.");
            }

            var spec = models.Find(model)!.Gates.Spec;
            if (layers.Length != spec.MoeLayers || layers[0].Pods!.Length != spec.Experts || layers.Select(l => l.Layer).Order().Where((l, i) => l != i).Any())
            {
                throw new GatewayException(StatusCode.InvalidArgument, $"Plan {version} has {layers.Length} layers of {layers[0].Pods!.Length} experts (layer numbers {string.Join(", ", layers.Select(l => l.Layer))}); model '{model}' has layers 0..{spec.MoeLayers - 1} of {spec.Experts} experts.");
            }

            var registry = grains.GetGrain<IPlanRegistryGrain>(model);
            var status = await registry.GetStatus();
            if (status.ActiveVersion >= version || status.PendingVersion == version)
            {
                return Results.Accepted();
            }

            var ordered = layers.OrderBy(l => l.Layer).ToArray();
            PlanDocument document;
            try
            {
                document = PlanSnapshot.ToDocument(model, version, body.Pods, ordered.Length, ordered[0].Pods!.Length, (l, e) =>
                    new[] { ordered[l].Pods![e] }.Concat((ordered[l].Redundant ?? []).Where(r => r.Expert == e).Select(r => r.Pod)).Distinct());
                PlanSnapshot.From(document);
            }
            catch (ArgumentException e)
            {
                throw new GatewayException(StatusCode.InvalidArgument, e.Message);
            }

            _ = Task.Run(async () =>
            {
                try
                {
                    await registry.Publish(document);
                }
                catch (Exception e) when (e is not OutOfMemoryException)
                {
                    // The registry records the failure (GET reports the version Failed, with the reason) and logs it.
                }
            });
            return Results.Accepted();
        }));
        app.MapGet("/admin/v1/plans/{version:int}", (int version, HttpContext http, ApiKeyAuthenticator keys, GatewayModels models, IGrainFactory grains) => JsonApi.Guard(http, async () =>
        {
            keys.AuthorizeAdmin(JsonApi.KeyOf(http));
            var status = await grains.GetGrain<IPlanRegistryGrain>(ModelOf(http, models)).GetStatus();
            var moved = status.ReplicasWarmed + status.ReplicasRetired;
            return status.ActiveVersion >= version && status.PendingVersion != version
                ? Results.Json(new { version, phase = "Complete", movedReplicas = status.PendingVersion is null ? status.ReplicasMoved : moved, totalMoves = status.ReplicasMoved, message = (string?)null }, Json)
                : status.PendingVersion == version
                    ? Results.Json(new { version, phase = "Migrating", movedReplicas = moved, totalMoves = status.ReplicasMoved, message = status.Phase }, Json)
                    : status.FailedVersion == version
                        ? Results.Json(new { version, phase = "Failed", movedReplicas = 0, totalMoves = status.ReplicasMoved, message = status.Error }, Json)
                        : throw new GatewayException(StatusCode.NotFound, $"Plan {version} was not given to the cluster.");
        }));
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
