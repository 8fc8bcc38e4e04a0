using MoeCloud.Operator.Entities;
using MoeCloud.Operator.Placement;
using MoeCloud.Placement.Autoscaling;

namespace MoeCloud.Operator.Reconcilers;

/// <summary>
/// spec.autoscaling.experts at the operator's edge: the library options it maps to, its checks (those the CRD's CEL
/// rules cannot make: they need the model), and status.autoscaling.experts of the plan in effect.
/// </summary>
public static class ExpertReplicaScaling
{
    /// <summary>The ExpertPlacement reason of a plan that changes replica counts.</summary>
    public const string Reason = "AutoscaleExperts";

    /// <summary>The library policy of the deployment on <paramref name="pods"/> pods.</summary>
    public static ExpertAutoscalingOptions Options(MoeDeployment d, MoeModel model, int pods)
    {
        ArgumentNullException.ThrowIfNull(d);
        var e = d.Spec.Autoscaling.Experts;
        return new ExpertAutoscalingOptions
        {
            MaxLoadImbalance = e.MaxLoadImbalance,
            TargetLoadPerReplica = e.TargetLoadPerReplica,
            MinRedundant = e.MinRedundant,
            MaxRedundant = e.MaxRedundant,
            LayerSlots = PlanProgression.Capacity(d, model, pods),
            MaxMoves = Math.Max(1, d.Spec.Placement.MaxMoves),
            Cooldown = TimeSpan.FromSeconds(Math.Max(0, e.CooldownSeconds)),
        };
    }

    /// <summary>What is wrong with spec.autoscaling.experts (nothing when it is disabled).</summary>
    public static IEnumerable<Problem> Check(MoeDeployment d, MoeModel model)
    {
        ArgumentNullException.ThrowIfNull(d);
        ArgumentNullException.ThrowIfNull(model);
        var e = d.Spec.Autoscaling.Experts;
        if (!e.Enabled)
        {
            yield break;
        }

        const string Field = "spec.autoscaling.experts";
        if (e.MaxLoadImbalance is null == e.TargetLoadPerReplica is null)
        {
            yield return new Problem("InvalidSpec", $"{Field}: set exactly one of maxLoadImbalance and targetLoadPerReplica (got {(e.MaxLoadImbalance is null ? "neither" : "both")})");
        }

        if (e.MinRedundant < 0 || e.MinRedundant > e.MaxRedundant)
        {
            yield return new Problem("InvalidSpec", $"{Field}: minRedundant ({e.MinRedundant}) must lie in 0..maxRedundant ({e.MaxRedundant})");
        }

        if (e.CooldownSeconds < 0)
        {
            yield return new Problem("InvalidSpec", $"{Field}.cooldownSeconds must not be negative (was {e.CooldownSeconds})");
        }

        var experts = model.Spec.Architecture.Experts;
        var pods = d.Spec.Replicas;
        if (pods >= 1 && experts >= 1)
        {
            // One replica of an expert per pod, and each pod holds at most its layer slots.
            var slots = Math.Min((long)PlanProgression.Capacity(d, model, pods), experts);
            var room = (slots * pods) - experts;
            if (e.MaxRedundant > room)
            {
                yield return new Problem("InsufficientCapacity",
                    $"{Field}.maxRedundant ({e.MaxRedundant}) exceeds the {Math.Max(0, room)} extra replicas per layer that {pods} pods x {slots} replicas per layer can hold beside the model's {experts} experts");
            }
        }
    }

    /// <summary>
    /// status.autoscaling.experts: the replicas of the plan in effect and the last change (from this reconcile's
    /// <paramref name="change"/>, else the previous status); null when expert autoscaling is off and never changed anything.
    /// </summary>
    public static ExpertAutoscalingStatus? Status(MoeDeployment d, ExpertPlacement? inEffect, ExpertAutoscalingStatus? change)
    {
        ArgumentNullException.ThrowIfNull(d);
        var previous = d.Status?.Autoscaling?.Experts;
        if (!d.Spec.Autoscaling.Experts.Enabled && previous is null)
        {
            return null;
        }

        int? redundant = previous?.RedundantReplicas, most = previous?.MaxReplicasPerExpert;
        if (inEffect is not null)
        {
            var counts = inEffect.Spec.Layers.SelectMany(l => Enumerable.Range(0, l.Pods.Count).Select(e => 1 + (l.Redundant?.Count(r => r.Expert == e) ?? 0))).ToList();
            redundant = counts.Sum() - counts.Count;
            most = counts.Count == 0 ? 0 : counts.Max();
        }

        return new ExpertAutoscalingStatus
        {
            RedundantReplicas = redundant,
            MaxReplicasPerExpert = most,
            LastChangeTime = change?.LastChangeTime ?? previous?.LastChangeTime,
            LastChangeReason = change?.LastChangeReason ?? previous?.LastChangeReason,
        };
    }
}
