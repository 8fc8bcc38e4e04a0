using System.Text.Json.Serialization;
using MoeCloud.Operator.Entities;

namespace MoeCloud.Operator.Admin;

/// <summary>
/// The operator's side of the cluster's admin API (served by the MoeCloud gateway; see operators/README.md for the
/// HTTP/JSON contract): read the live profile, publish a plan version, read a migration's progress.
/// </summary>
public interface IClusterAdminClient
{
    /// <summary>The live load profile; null when the cluster has no telemetry yet.</summary>
    Task<LiveProfile?> GetLiveProfileAsync(MoeDeployment deployment, CancellationToken cancellationToken);

    /// <summary>Publishes a plan version (idempotent: publishing the same version again changes nothing).</summary>
    Task PublishPlanAsync(MoeDeployment deployment, PlanPublication plan, CancellationToken cancellationToken);

    /// <summary>Progress of a plan version's migration; null when the cluster does not know the version.</summary>
    Task<MigrationProgress?> GetProgressAsync(MoeDeployment deployment, int version, CancellationToken cancellationToken);
}

/// <summary>
/// GET /admin/v1/profile: loads, and optionally co-activation — <c>transitions</c> (base64 of little-endian int64
/// <c>[layers-1, experts, experts]</c>) and <c>sample</c> (whole token routings) with the model's <c>topK</c>.
/// </summary>
public sealed record LiveProfile(
    [property: JsonPropertyName("load")] double[][] Load,
    [property: JsonPropertyName("remoteFraction")] double? RemoteFraction,
    [property: JsonPropertyName("tokens")] long Tokens)
{
    /// <summary>Experts per token (needed with <see cref="Transitions"/> or <see cref="Sample"/>).</summary>
    [JsonPropertyName("topK")]
    public int? TopK { get; init; }

    /// <summary>Adjacent-layer transition counts, base64 of little-endian int64 <c>[layers-1, experts, experts]</c>.</summary>
    [JsonPropertyName("transitions")]
    public string? Transitions { get; init; }

    /// <summary>A bounded sample of whole token routings.</summary>
    [JsonPropertyName("sample")]
    public LiveSample? Sample { get; init; }
}

/// <summary>Sampled token routings of the live profile.</summary>
public sealed record LiveSample(
    [property: JsonPropertyName("expertIds")] string ExpertIds,
    [property: JsonPropertyName("seqIds")] int[] SeqIds);

/// <summary>PUT /admin/v1/plans/{version}.</summary>
public sealed record PlanPublication(
    [property: JsonPropertyName("version")] int Version,
    [property: JsonPropertyName("previousVersion")] int PreviousVersion,
    [property: JsonPropertyName("pods")] int Pods,
    [property: JsonPropertyName("layers")] IList<LayerPlacement> Layers,
    [property: JsonPropertyName("batchSize")] int BatchSize,
    [property: JsonPropertyName("drainSeconds")] int DrainSeconds);

/// <summary>GET /admin/v1/plans/{version}.</summary>
public sealed record MigrationProgress(
    [property: JsonPropertyName("version")] int Version,
    [property: JsonPropertyName("phase")] string Phase,
    [property: JsonPropertyName("movedReplicas")] int MovedReplicas,
    [property: JsonPropertyName("totalMoves")] int TotalMoves,
    [property: JsonPropertyName("message")] string? Message)
{
    public const string Pending = "Pending";
    public const string Migrating = "Migrating";
    public const string Complete = "Complete";
    public const string Failed = "Failed";
}
