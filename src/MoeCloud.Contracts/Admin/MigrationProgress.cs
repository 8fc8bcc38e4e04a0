using System.Text.Json.Serialization;

namespace MoeCloud.Contracts.Admin;

/// <summary>The body of <c>GET admin/v1/plans/{version}</c>: where the rollout of a plan version stands.</summary>
/// <param name="Version">The plan version asked about.</param>
/// <param name="Phase"><see cref="Pending"/>, <see cref="Migrating"/>, <see cref="Complete"/> or <see cref="Failed"/>.</param>
/// <param name="MovedReplicas">Replicas warmed plus retired so far.</param>
/// <param name="TotalMoves">Replicas that differ between the plan in effect and this one (added plus removed).</param>
/// <param name="Message">The rollout's step while migrating; the reason when failed.</param>
public sealed record MigrationProgress(
    [property: JsonPropertyName("version")] int Version,
    [property: JsonPropertyName("phase")] string Phase,
    [property: JsonPropertyName("movedReplicas")] int MovedReplicas,
    [property: JsonPropertyName("totalMoves")] int TotalMoves,
    [property: JsonPropertyName("message")] string? Message)
{
    /// <summary>Published, not started.</summary>
    public const string Pending = "Pending";

    /// <summary>Warming, switching, draining or retiring.</summary>
    public const string Migrating = "Migrating";

    /// <summary>Every pod serves the version and the replicas that left it are retired.</summary>
    public const string Complete = "Complete";

    /// <summary>A new replica could not be warmed; the plan in effect keeps serving.</summary>
    public const string Failed = "Failed";
}
