using Microsoft.Extensions.Logging;
using MoeCloud.Contracts.Admin;
using MoeCloud.Operator.Entities;
using MoeCloud.Operator.Placement;
using MoeCloud.Placement.Plans;

namespace MoeCloud.Operator.Reconcilers;

/// <summary>
/// Plans the cluster puts in effect by itself. When an expert's only replica dies, the silos' plan registry rolls out a
/// repair plan (version active + 1) without the operator. The operator records it as an ExpertPlacement (reason
/// <see cref="RepairReason"/>, already Complete), so that its next plan is numbered above it and planned from it: a
/// plan numbered at or below the active version would be taken by the admin API as already in effect and never rolled
/// out.
/// </summary>
public sealed partial class PlanProgression
{
    /// <summary>The ExpertPlacement reason of a plan the cluster wrote itself (a repair after a pod died).</summary>
    public const string RepairReason = "Repair";

    private async Task<PlanOutcome> RecordClusterPlanAsync(MoeDeployment d, MoeModel model, ExpertPlacement latest, PlanPublication active, CancellationToken cancellationToken)
    {
        var version = active.Version;
        var a = model.Spec.Architecture;
        PlacementPlan plan;
        try
        {
            plan = PlacementPlan.WithoutCapacities(new PlanMetadata { Version = version, Solver = "repair" }, active.Pods,
                active.Assignment ?? throw new ArgumentException("it has no assignment"));
        }
        catch (ArgumentException e)
        {
            throw new PlanningException("ClusterPlanInvalid", $"the cluster's plan v{version} is not a valid plan: {e.Message}");
        }

        if (plan.Layers != a.Layers || plan.Experts != a.Experts)
        {
            throw new PlanningException("ClusterPlanInvalid", $"the cluster's plan v{version} has {plan.Layers} layers of {plan.Experts} experts; the model has {a.Layers} of {a.Experts}");
        }

        var moves = PlanningInputs.StoredPlan(latest.Spec).MovesTo(plan);
        var placement = NewPlacement(d, model, plan, version, latest.Spec.Version, "repair", RepairReason, moves, imbalance: null);
        var created = await resources.CreateAsync(MoeCloudApi.ExpertPlacements, d.Metadata.NamespaceProperty, placement, cancellationToken);
        await resources.PatchStatusAsync(MoeCloudApi.ExpertPlacements, created.Metadata.NamespaceProperty, created.Metadata.Name, new ExpertPlacementStatus
        {
            Phase = MigrationProgress.Complete,
            MovedReplicas = moves,
            TotalMoves = moves,
            Message = "put in effect by the cluster (a repair after a pod died)",
        }, cancellationToken);
        metrics.PlanWritten(RepairReason);
        LogClusterPlanRecorded(d.Metadata.Name, version, latest.Spec.Version);
        await resources.RecordEventAsync(d, "Normal", "RepairPlanRecorded", $"the cluster put plan v{version} in effect by itself (a repair: {moves} replicas moved); the next plan builds on it", cancellationToken);
        return new PlanOutcome(PlanOutcome.Ready, "RepairPlanRecorded", $"plan v{version} (the cluster's repair) is in effect", version, version, TimeSpan.Zero);
    }

    /// <summary>
    /// Whether the cluster already has a plan numbered <paramref name="unpublished"/>'s version or above that is not it:
    /// its own repair came between the operator writing the ExpertPlacement and publishing it.
    /// </summary>
    private async Task<bool> VersionTakenAsync(MoeDeployment d, ExpertPlacement unpublished, CancellationToken cancellationToken)
    {
        var version = unpublished.Spec.Version;
        if (await admin.GetActivePlanAsync(d, cancellationToken) is not { } active || active.Version < version)
        {
            return false;
        }

        var ours = ExpertPlacementMapping.ToAssignment(unpublished.Spec).SelectMany(l => l).ToList();
        var theirs = (active.Assignment ?? []).SelectMany(l => l).ToList();
        return active.Version > version || active.Pods != unpublished.Spec.Pods || ours.Count != theirs.Count
            || ours.Zip(theirs).Any(pair => !pair.First.SequenceEqual(pair.Second));
    }

    /// <summary>
    /// Deletes an ExpertPlacement the operator never published because the cluster took its version; the next reconcile
    /// records the cluster's plan and plans again from it.
    /// </summary>
    private async Task<PlanOutcome> WithdrawAsync(MoeDeployment d, ExpertPlacement unpublished, CancellationToken cancellationToken)
    {
        var version = unpublished.Spec.Version;
        await resources.DeleteAsync(MoeCloudApi.ExpertPlacements, unpublished.Metadata.NamespaceProperty, unpublished.Metadata.Name, cancellationToken);
        LogVersionTaken(d.Metadata.Name, version);
        await resources.RecordEventAsync(d, "Warning", "PlanVersionTaken", $"the cluster put its own plan v{version} in effect before plan v{version} ({unpublished.Spec.Reason}) was published; planning again from the cluster's plan", cancellationToken);
        return new PlanOutcome(PlanOutcome.Migrating, "PlanVersionTaken", $"plan v{version} withdrawn: the cluster has its own v{version}", d.Status?.CurrentPlanVersion, version, TimeSpan.Zero);
    }

    [LoggerMessage(EventId = 7306, Level = LogLevel.Warning, Message = "MoeDeployment {Name}: the cluster took plan version {Version} before the operator published it; withdrew its ExpertPlacement")]
    private partial void LogVersionTaken(string name, int version);

    [LoggerMessage(EventId = 7305, Level = LogLevel.Warning, Message = "MoeDeployment {Name}: the cluster put plan v{Version} in effect by itself (after v{Previous}); recorded it as a Repair ExpertPlacement")]
    private partial void LogClusterPlanRecorded(string name, int version, int previous);
}
