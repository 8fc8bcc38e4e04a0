using System.Text.Json.Serialization;
using k8s.Models;

namespace MoeCloud.Operator.Entities;

/// <summary>A served MoE model: silo pods, a gateway and the placement of experts on pods.</summary>
public sealed class MoeDeployment : CustomResource<MoeDeploymentSpec, MoeDeploymentStatus>
{
    public MoeDeployment() => Kind = "MoeDeployment";
}

public sealed class MoeDeploymentSpec
{
    [JsonPropertyName("modelRef")]
    public ModelReference ModelRef { get; set; } = new();

    [JsonPropertyName("replicas")]
    public int Replicas { get; set; } = 1;

    [JsonPropertyName("siloImage")]
    public string? SiloImage { get; set; }

    [JsonPropertyName("gatewayImage")]
    public string? GatewayImage { get; set; }

    [JsonPropertyName("resources")]
    public SiloResources Resources { get; set; } = new();

    [JsonPropertyName("placement")]
    public PlacementPolicy Placement { get; set; } = new();

    [JsonPropertyName("autoscaling")]
    public AutoscalingPolicy Autoscaling { get; set; } = new();

    [JsonPropertyName("migration")]
    public MigrationPolicy Migration { get; set; } = new();

    [JsonPropertyName("gateway")]
    public GatewaySpec Gateway { get; set; } = new();
}

public sealed class ModelReference
{
    [JsonPropertyName("name")]
    public string Name { get; set; } = "";
}

public sealed class SiloResources
{
    [JsonPropertyName("acceleratorResource")]
    public string AcceleratorResource { get; set; } = "nvidia.com/gpu";

    /// <summary>
    /// Accelerators requested per silo pod. Default 0: the experts run on the CPU kernels (no accelerator backend exists
    /// yet), so a pod asks for an accelerator only when the spec says so.
    /// </summary>
    [JsonPropertyName("acceleratorsPerPod")]
    public int AcceleratorsPerPod { get; set; }

    [JsonPropertyName("cpu")]
    public string Cpu { get; set; } = "4";

    [JsonPropertyName("memory")]
    public string Memory { get; set; } = "32Gi";

    [JsonPropertyName("expertsPerPod")]
    public int ExpertsPerPod { get; set; }
}

public sealed class PlacementPolicy
{
    [JsonPropertyName("solver")]
    public string Solver { get; set; } = "ilp";

    [JsonPropertyName("redundantReplicas")]
    public int RedundantReplicas { get; set; }

    [JsonPropertyName("timeLimitSeconds")]
    public int TimeLimitSeconds { get; set; } = 30;

    [JsonPropertyName("replacementIntervalSeconds")]
    public int ReplacementIntervalSeconds { get; set; } = 300;

    [JsonPropertyName("maxMoves")]
    public int MaxMoves { get; set; } = 16;

    [JsonPropertyName("minGain")]
    public double MinGain { get; set; } = 0.05;

    [JsonPropertyName("profileConfigMap")]
    public string? ProfileConfigMap { get; set; }

    [JsonPropertyName("historyLimit")]
    public int HistoryLimit { get; set; } = 10;
}

public sealed class AutoscalingPolicy
{
    [JsonPropertyName("enabled")]
    public bool Enabled { get; set; }

    [JsonPropertyName("minReplicas")]
    public int MinReplicas { get; set; } = 1;

    [JsonPropertyName("maxReplicas")]
    public int MaxReplicas { get; set; } = 8;

    [JsonPropertyName("targetCpuUtilization")]
    public int TargetCpuUtilization { get; set; } = 70;
}

public sealed class MigrationPolicy
{
    [JsonPropertyName("batchSize")]
    public int BatchSize { get; set; } = 8;

    [JsonPropertyName("drainSeconds")]
    public int DrainSeconds { get; set; } = 30;
}

public sealed class GatewaySpec
{
    [JsonPropertyName("replicas")]
    public int Replicas { get; set; } = 2;
}

public sealed class MoeDeploymentStatus
{
    [JsonPropertyName("observedGeneration")]
    public long? ObservedGeneration { get; set; }

    [JsonPropertyName("phase")]
    public string? Phase { get; set; }

    [JsonPropertyName("replicas")]
    public int? Replicas { get; set; }

    [JsonPropertyName("readyReplicas")]
    public int? ReadyReplicas { get; set; }

    [JsonPropertyName("selector")]
    public string? Selector { get; set; }

    [JsonPropertyName("currentPlanVersion")]
    public int? CurrentPlanVersion { get; set; }

    [JsonPropertyName("targetPlanVersion")]
    public int? TargetPlanVersion { get; set; }

    [JsonPropertyName("remoteFraction")]
    public double? RemoteFraction { get; set; }

    [JsonPropertyName("loadImbalance")]
    public double? LoadImbalance { get; set; }

    [JsonPropertyName("lastReplacementTime")]
    public DateTime? LastReplacementTime { get; set; }

    [JsonPropertyName("conditions")]
    public IList<V1Condition> Conditions { get; set; } = [];
}
