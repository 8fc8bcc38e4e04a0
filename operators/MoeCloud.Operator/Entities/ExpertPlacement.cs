using System.Text.Json.Serialization;

namespace MoeCloud.Operator.Entities;

/// <summary>One immutable plan version of a MoeDeployment, owned by it.</summary>
public sealed class ExpertPlacement : CustomResource<ExpertPlacementSpec, ExpertPlacementStatus>
{
    public ExpertPlacement() => Kind = "ExpertPlacement";
}

public sealed class ExpertPlacementSpec
{
    [JsonPropertyName("deploymentName")]
    public string DeploymentName { get; set; } = "";

    [JsonPropertyName("version")]
    public int Version { get; set; }

    [JsonPropertyName("previousVersion")]
    public int PreviousVersion { get; set; }

    [JsonPropertyName("pods")]
    public int Pods { get; set; }

    [JsonPropertyName("solver")]
    public string? Solver { get; set; }

    [JsonPropertyName("reason")]
    public string? Reason { get; set; }

    [JsonPropertyName("layers")]
    public IList<LayerPlacement> Layers { get; set; } = [];

    [JsonPropertyName("metrics")]
    public PlanMetrics? Metrics { get; set; }
}

public sealed class LayerPlacement
{
    [JsonPropertyName("layer")]
    public int Layer { get; set; }

    /// <summary>Pod ordinal of each expert's primary replica, indexed by expert.</summary>
    [JsonPropertyName("pods")]
    public IList<int> Pods { get; set; } = [];

    [JsonPropertyName("redundant")]
    public IList<RedundantReplica>? Redundant { get; set; }
}

public sealed class RedundantReplica
{
    [JsonPropertyName("expert")]
    public int Expert { get; set; }

    [JsonPropertyName("pod")]
    public int Pod { get; set; }
}

public sealed class PlanMetrics
{
    [JsonPropertyName("loadImbalance")]
    public double? LoadImbalance { get; set; }

    [JsonPropertyName("moves")]
    public int? Moves { get; set; }

    [JsonPropertyName("movedBytes")]
    public long? MovedBytes { get; set; }
}

public sealed class ExpertPlacementStatus
{
    [JsonPropertyName("phase")]
    public string? Phase { get; set; }

    [JsonPropertyName("movedReplicas")]
    public int? MovedReplicas { get; set; }

    [JsonPropertyName("totalMoves")]
    public int? TotalMoves { get; set; }

    [JsonPropertyName("message")]
    public string? Message { get; set; }
}
