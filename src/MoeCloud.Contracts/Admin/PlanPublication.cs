using System.Text.Json.Serialization;

namespace MoeCloud.Contracts.Admin;

/// <summary>
/// The body of <c>PUT admin/v1/plans/{version}</c> (and of <c>GET admin/v1/plans/active</c>): one plan version and how
/// to roll it out. <see cref="Assignment"/> is <c>[layer][expert] → pods</c>, the primary replica first, exactly as the
/// plan JSON of <c>moectl plan</c> writes it. The gateway checks the plan with the Placement library's validator and
/// against the model's shape; a malformed body is answered 400 naming the problem.
/// </summary>
/// <param name="Version">Plan version; versions only grow.</param>
/// <param name="PreviousVersion">The version this one replaces (0 for the first).</param>
/// <param name="Pods">Pods the plan places on (ids 0 .. Pods-1).</param>
/// <param name="Assignment">Pods holding each expert's replicas, <c>[layer][expert][replica]</c>.</param>
/// <param name="BatchSize">Most new replicas warmed at once while a plan serves (<c>spec.migration.batchSize</c>).</param>
/// <param name="DrainSeconds">
/// Most seconds the rollout waits, after every pod switched, for request steps still running on the previous plan to
/// finish before it retires that plan's replicas (<c>spec.migration.drainSeconds</c>).
/// </param>
public sealed record PlanPublication(
    [property: JsonPropertyName("version")] int Version,
    [property: JsonPropertyName("previousVersion")] int PreviousVersion,
    [property: JsonPropertyName("pods")] int Pods,
    [property: JsonPropertyName("assignment")] int[][][]? Assignment,
    [property: JsonPropertyName("batchSize")] int BatchSize,
    [property: JsonPropertyName("drainSeconds")] int DrainSeconds)
{
    /// <summary>The rollout policy's defaults (those of the MoeDeployment CRD).</summary>
    public const int DefaultBatchSize = 8;

    /// <inheritdoc cref="DefaultBatchSize"/>
    public const int DefaultDrainSeconds = 30;

    /// <summary>
    /// The problems of the body's own fields (empty when none): a version of at least 1, a pod count, a rectangular
    /// assignment, and a rollout policy in range. The plan's structure (pod ids, one replica per pod) is the Placement
    /// library's to check.
    /// </summary>
    public IReadOnlyList<string> Problems()
    {
        var problems = new List<string>();
        if (Version < 1 || PreviousVersion < 0 || PreviousVersion >= Version)
        {
            problems.Add($"'version' must be at least 1 and above 'previousVersion' (got {Version} after {PreviousVersion})");
        }

        if (Pods is < 1 or > 4096)
        {
            problems.Add($"'pods' must be in [1, 4096] (got {Pods})");
        }

        if (Assignment is not { Length: > 0 } layers || layers[0] is not { Length: > 0 } first)
        {
            problems.Add("'assignment' must be [layers][experts][pods] with at least one layer and one expert");
        }
        else if (Array.FindIndex(layers, l => l is null || l.Length != first.Length || Array.Exists(l, e => e is null)) is var bad and >= 0)
        {
            problems.Add($"'assignment' layer {bad} must list the pods of each of the {first.Length} experts of layer 0");
        }

        if (BatchSize is < 1 or > 4096)
        {
            problems.Add($"'batchSize' must be in [1, 4096] (got {BatchSize})");
        }

        if (DrainSeconds is < 0 or > 3600)
        {
            problems.Add($"'drainSeconds' must be in [0, 3600] (got {DrainSeconds})");
        }

        return problems;
    }
}
