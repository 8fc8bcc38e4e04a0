namespace MoeCloud.Operator.Reconcilers;

/// <summary>Where a deployment's placement stands after one reconcile step.</summary>
public sealed record PlanOutcome(string Phase, string Reason, string Message, int? CurrentVersion, int? TargetVersion, TimeSpan? RequeueAfter)
{
    public const string Provisioning = "Provisioning";
    public const string Migrating = "Migrating";
    public const string Ready = "Ready";
    public const string Degraded = "Degraded";

    public double? LoadImbalance { get; init; }

    public double? RemoteFraction { get; init; }

    public DateTime? LastReplacementTime { get; init; }

    /// <summary>When and why this step changed expert replica counts (spec.autoscaling.experts); null when it did not.</summary>
    public Entities.ExpertAutoscalingStatus? ExpertChange { get; init; }
}
