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

/// <summary>
/// The two autoscalers of a deployment (issue 14): pods on serving signals (<see cref="Pods"/>) and expert replicas on
/// live expert load (<see cref="Experts"/>). Both are off by default.
/// </summary>
public sealed class AutoscalingPolicy
{
    [JsonPropertyName("pods")]
    public PodAutoscalingPolicy Pods { get; set; } = new();

    [JsonPropertyName("experts")]
    public ExpertAutoscalingPolicy Experts { get; set; } = new();
}

/// <summary>
/// Pod autoscaling on the gateway's serving signals: spec.replicas (through the scale subresource) keeps step latency
/// p99 under <see cref="TargetP99Ms"/> or queue depth under <see cref="TargetQueueDepth"/>, within min..max, with a
/// stabilisation window per direction; <see cref="Standby"/> pods are kept joined but unplaced.
/// </summary>
public sealed class PodAutoscalingPolicy
{
    [JsonPropertyName("enabled")]
    public bool Enabled { get; set; }

    [JsonPropertyName("minReplicas")]
    public int MinReplicas { get; set; } = 1;

    [JsonPropertyName("maxReplicas")]
    public int MaxReplicas { get; set; } = 8;

    [JsonPropertyName("targetP99Ms")]
    public double? TargetP99Ms { get; set; }

    [JsonPropertyName("targetQueueDepth")]
    public double? TargetQueueDepth { get; set; }

    [JsonPropertyName("scaleUpStabilizationSeconds")]
    public int ScaleUpStabilizationSeconds { get; set; } = 15;

    [JsonPropertyName("scaleDownStabilizationSeconds")]
    public int ScaleDownStabilizationSeconds { get; set; } = 300;

    [JsonPropertyName("standby")]
    public int Standby { get; set; }
}

/// <summary>
/// Expert-replica autoscaling on live expert load: an expert whose load per replica passes the target gets another
/// replica and cold extra replicas retire, with <see cref="MinRedundant"/>..<see cref="MaxRedundant"/> extra replicas
/// per layer, the placement's move budget per step and a cooldown between changes.
/// </summary>
public sealed class ExpertAutoscalingPolicy
{
    [JsonPropertyName("enabled")]
    public bool Enabled { get; set; }

    /// <summary>Most expert-load imbalance (max / mean load per pod) tolerated before replicas are added; set this or <see cref="TargetLoadPerReplica"/>.</summary>
    [JsonPropertyName("maxLoadImbalance")]
    public double? MaxLoadImbalance { get; set; }

    /// <summary>Target share of a layer's dispatches per replica (0..1); set this or <see cref="MaxLoadImbalance"/>.</summary>
    [JsonPropertyName("targetLoadPerReplica")]
    public double? TargetLoadPerReplica { get; set; }

    [JsonPropertyName("minRedundant")]
    public int MinRedundant { get; set; }

    [JsonPropertyName("maxRedundant")]
    public int MaxRedundant { get; set; } = 8;

    [JsonPropertyName("cooldownSeconds")]
    public int CooldownSeconds { get; set; } = 120;
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

    /// <summary>A Secret of client key hashes the user keeps; null: the operator creates and owns one.</summary>
    [JsonPropertyName("keysSecret")]
    public string? KeysSecret { get; set; }

    /// <summary>How the gateway homes a request: <c>token</c> (split by its tokens' homes), <c>request</c> (whole) or <c>auto</c> (whichever <see cref="HomeSplitLink"/> prices lower).</summary>
    [JsonPropertyName("homes")]
    public string Homes { get; set; } = "token";

    /// <summary>The pods' link that <c>auto</c> homes price a split on (a preset or <c>&lt;GB/s&gt;,&lt;µs&gt;</c>); null: the gateway's default, <c>loopback</c>.</summary>
    [JsonPropertyName("homeSplitLink")]
    public string? HomeSplitLink { get; set; }
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

    [JsonPropertyName("autoscaling")]
    public AutoscalingStatus? Autoscaling { get; set; }

    [JsonPropertyName("conditions")]
    public IList<V1Condition> Conditions { get; set; } = [];
}

/// <summary>What the autoscalers did last: what is in effect and why it last changed.</summary>
public sealed class AutoscalingStatus
{
    [JsonPropertyName("pods")]
    public PodAutoscalingStatus? Pods { get; set; }

    [JsonPropertyName("experts")]
    public ExpertAutoscalingStatus? Experts { get; set; }
}

public sealed class PodAutoscalingStatus
{
    /// <summary>Pods the autoscaler wants placed (spec.replicas follows it).</summary>
    [JsonPropertyName("desiredReplicas")]
    public int? DesiredReplicas { get; set; }

    /// <summary>Pods joined but unplaced.</summary>
    [JsonPropertyName("standbyReplicas")]
    public int? StandbyReplicas { get; set; }

    /// <summary>Step latency p99 (ms) the last decision read.</summary>
    [JsonPropertyName("observedP99Ms")]
    public double? ObservedP99Ms { get; set; }

    /// <summary>Queue depth the last decision read.</summary>
    [JsonPropertyName("observedQueueDepth")]
    public double? ObservedQueueDepth { get; set; }

    [JsonPropertyName("lastScaleTime")]
    public DateTime? LastScaleTime { get; set; }

    [JsonPropertyName("lastScaleReason")]
    public string? LastScaleReason { get; set; }
}

public sealed class ExpertAutoscalingStatus
{
    /// <summary>Extra replicas (beyond one per expert) over all layers in the plan in effect.</summary>
    [JsonPropertyName("redundantReplicas")]
    public int? RedundantReplicas { get; set; }

    /// <summary>Most replicas any one expert has in the plan in effect.</summary>
    [JsonPropertyName("maxReplicasPerExpert")]
    public int? MaxReplicasPerExpert { get; set; }

    [JsonPropertyName("lastChangeTime")]
    public DateTime? LastChangeTime { get; set; }

    [JsonPropertyName("lastChangeReason")]
    public string? LastChangeReason { get; set; }
}
