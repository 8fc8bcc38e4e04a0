using MoeCloud.Placement.Plans;

namespace MoeCloud.Placement.Autoscaling;

/// <summary>What one <see cref="ExpertReplicaAutoscaler"/> step does.</summary>
public enum AutoscaleAction
{
    /// <summary>The live plan stays (on target, in cooldown, or no room).</summary>
    Keep,

    /// <summary>The new plan only adds replicas.</summary>
    Add,

    /// <summary>The new plan only retires extra replicas.</summary>
    Retire,
}

/// <summary>One replica added or retired.</summary>
/// <param name="Layer">MoE layer.</param>
/// <param name="Expert">Expert within the layer.</param>
/// <param name="Pod">Pod that gains or loses the replica.</param>
/// <param name="Added">True for a new replica, false for a retired one.</param>
/// <param name="Before">The target's measure before the change: load share per replica, or the layer's imbalance.</param>
/// <param name="After">The same after it.</param>
public readonly record struct ReplicaChange(int Layer, int Expert, int Pod, bool Added, double Before, double After);

/// <summary>
/// The outcome of one step: <see cref="Plan"/> is the live plan for <see cref="AutoscaleAction.Keep"/>, otherwise a plan
/// of version live + 1 that only adds (<see cref="AutoscaleAction.Add"/>) or only retires replicas, and
/// <see cref="Reason"/> says why in one line.
/// </summary>
/// <param name="Action">Keep, add or retire.</param>
/// <param name="Plan">The plan to roll out (or the live plan).</param>
/// <param name="Changes">The replicas added or retired, in the order they were chosen.</param>
/// <param name="Reason">One line, e.g. "L3/E17 load/replica 0.210 &gt; 0.150: +1 replica on pod 2".</param>
public sealed record ExpertAutoscaleDecision(AutoscaleAction Action, PlacementPlan Plan, IReadOnlyList<ReplicaChange> Changes, string Reason)
{
    /// <summary>Whether the step changes replica counts.</summary>
    public bool Changed => Action != AutoscaleAction.Keep;
}
