using Microsoft.Extensions.Logging;
using MoeCloud.Operator.Entities;
using MoeCloud.Placement.Autoscaling;
using MoeCloud.Placement.Metrics;
using MoeCloud.Placement.Plans;

namespace MoeCloud.Operator.Reconcilers;

/// <summary>
/// Expert-replica autoscaling (spec.autoscaling.experts): once the cooldown since the last change has passed, the
/// library's <see cref="ExpertReplicaAutoscaler"/> reads the live profile's windowed load and either keeps the plan in
/// effect or writes the next ExpertPlacement version, which only adds or only retires replicas. It rolls out like any
/// plan: the cluster warms the added replicas before switching and retires the dropped ones after (make-before-break).
/// </summary>
public sealed partial class PlanProgression
{
    /// <summary>The plan that changes replica counts, as the step's outcome; null when expert autoscaling is off, not due, or keeps the plan.</summary>
    private async Task<PlanOutcome?> AutoscaleExpertsAsync(MoeDeployment d, MoeModel model, ExpertPlacement latest, PlacementPlan plan, CancellationToken cancellationToken)
    {
        var policy = d.Spec.Autoscaling.Experts;
        if (!policy.Enabled)
        {
            return null;
        }

        var now = time.GetUtcNow();
        DateTimeOffset? last = d.Status?.Autoscaling?.Experts?.LastChangeTime is { } t ? new DateTimeOffset(DateTime.SpecifyKind(t, DateTimeKind.Utc)) : null;
        if (last is { } changed && now - changed < TimeSpan.FromSeconds(policy.CooldownSeconds))
        {
            return null;
        }

        var live = await admin.GetLiveProfileAsync(d, cancellationToken);
        var profile = PlanningInputs.FromLive(live, plan);
        if (profile is null || profile.Dispatches == 0)
        {
            return null;
        }

        ExpertAutoscaleDecision decision;
        try
        {
            decision = ExpertReplicaAutoscaler.Decide(plan, profile, ExpertReplicaScaling.Options(d, model, plan.PodCount), last, now);
        }
        catch (ArgumentException e)
        {
            throw new PlanningException("InvalidSpec", $"spec.autoscaling.experts: {e.Message}");
        }

        if (!decision.Changed)
        {
            LogExpertsKept(d.Metadata.Name, decision.Reason);
            return null;
        }

        var version = latest.Spec.Version;
        var imbalance = ExpertLoadImbalance.Predicted(decision.Plan, profile);
        var created = await CreatePlacementAsync(d, model, decision.Plan, latest, latest.Spec.Solver ?? "", ExpertReplicaScaling.Reason,
            plan.MovesTo(decision.Plan), imbalance, cancellationToken);
        await resources.RecordEventAsync(d, "Normal", "ExpertReplicasScaled", $"plan v{created.Spec.Version}: {decision.Reason}", cancellationToken);
        LogExpertsScaled(d.Metadata.Name, created.Spec.Version, decision.Reason);
        return new PlanOutcome(PlanOutcome.Migrating, ExpertReplicaScaling.Reason, $"expert replicas change in plan v{created.Spec.Version}: {decision.Reason}",
            version, created.Spec.Version, TimeSpan.Zero)
        {
            RemoteFraction = live?.RemoteFraction,
            ExpertChange = new ExpertAutoscalingStatus { LastChangeTime = now.UtcDateTime, LastChangeReason = decision.Reason },
        };
    }

    [LoggerMessage(EventId = 7310, Level = LogLevel.Information, Message = "MoeDeployment {Name}: plan v{Version} changes expert replicas: {Reason}")]
    private partial void LogExpertsScaled(string name, int version, string reason);

    [LoggerMessage(EventId = 7311, Level = LogLevel.Debug, Message = "MoeDeployment {Name}: expert replicas kept: {Reason}")]
    private partial void LogExpertsKept(string name, string reason);
}
