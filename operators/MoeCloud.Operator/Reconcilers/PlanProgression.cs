using System.Globalization;
using k8s;
using k8s.Models;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using MoeCloud.Contracts.Admin;
using MoeCloud.Operator.Admin;
using MoeCloud.Operator.Entities;
using MoeCloud.Operator.Hosting;
using MoeCloud.Operator.Placement;
using MoeCloud.Placement.Plans;
using MoeCloud.Placement.Profiles;

namespace MoeCloud.Operator.Reconcilers;

/// <summary>
/// The placement state machine of one deployment, driven one step per reconcile from what is stored in the cluster
/// (the ExpertPlacement objects and the deployment's status), so that a restarted operator resumes where the last
/// one stopped. Steps: initial plan → migrate it → on a replica change, new plans under the move budget (scale-out
/// waits for the new pods first; scale-in evicts the leaving pods first) → periodic re-placement from the live profile.
/// </summary>
public sealed partial class PlanProgression(
    CustomResourceClient resources,
    IClusterAdminClient admin,
    IPlacementPlanner planner,
    IOptions<OperatorOptions> options,
    OperatorMetrics metrics,
    TimeProvider time,
    ILogger<PlanProgression> logger)
{
    public async Task<PlanOutcome> AdvanceAsync(MoeDeployment d, MoeModel model, IReadOnlyList<ExpertPlacement> placements, int readyPods, CancellationToken cancellationToken)
    {
        var poll = TimeSpan.FromSeconds(options.Value.ProgressPollSeconds);
        var latest = placements.MaxBy(p => p.Spec.Version);
        var current = d.Status?.CurrentPlanVersion;
        try
        {
            if (latest is null)
            {
                var profile = await PlanningInputs.ConfigMapProfileAsync(resources, d, model, cancellationToken);
                var pods = d.Spec.Replicas;
                var initial = await PlanAsync(() => planner.Initial(Request(d, model, pods), profile), cancellationToken);
                var created = await CreatePlacementAsync(d, model, initial.Plan, null, initial.Solver, "Initial", 0, initial.ImbalanceAfter, cancellationToken);
                return new PlanOutcome(PlanOutcome.Migrating, "PlanCreated", $"initial plan v{created.Spec.Version} on {pods} pods", current, created.Spec.Version, TimeSpan.Zero);
            }

            if (latest.Status?.Phase != MigrationProgress.Complete)
            {
                return await MigrateAsync(d, latest, readyPods, poll, cancellationToken);
            }

            await PruneAsync(d, placements, cancellationToken);
            return await NextStepAsync(d, model, latest, readyPods, poll, cancellationToken) with
            {
                LoadImbalance = latest.Spec.Metrics?.LoadImbalance,
            };
        }
        catch (PlanningException e)
        {
            return new PlanOutcome(PlanOutcome.Degraded, e.Reason, e.Message, current, latest?.Spec.Version, TimeSpan.FromSeconds(options.Value.ErrorRequeueSeconds));
        }
        catch (HttpRequestException e)
        {
            LogAdminUnreachable(e, d.Metadata.Name);
            return new PlanOutcome(PlanOutcome.Migrating, "AdminUnreachable", $"the cluster's admin API is not reachable yet: {e.Message}",
                current, latest?.Spec.Version, poll);
        }
    }

    private async Task<PlanOutcome> MigrateAsync(MoeDeployment d, ExpertPlacement latest, int readyPods, TimeSpan poll, CancellationToken cancellationToken)
    {
        var version = latest.Spec.Version;
        var current = d.Status?.CurrentPlanVersion;
        if (readyPods < latest.Spec.Pods)
        {
            return new PlanOutcome(PlanOutcome.Provisioning, "WaitingForPods",
                $"plan v{version} needs {latest.Spec.Pods} ready silo pods; {readyPods} are ready", current, version, poll);
        }

        var progress = await admin.GetProgressAsync(d, version, cancellationToken);
        if (progress is not null && latest.Status?.Phase is null && await VersionTakenAsync(d, latest, cancellationToken))
        {
            return await WithdrawAsync(d, latest, cancellationToken);
        }

        if (progress is null)
        {
            await admin.PublishPlanAsync(d, ExpertPlacementMapping.ToPublication(latest.Spec, d.Spec.Migration), cancellationToken);
            LogPublished(d.Metadata.Name, version);
            progress = new MigrationProgress(version, MigrationProgress.Pending, 0, latest.Spec.Metrics?.Moves ?? 0, "published");
        }

        if (latest.Status?.Phase != progress.Phase || latest.Status?.MovedReplicas != progress.MovedReplicas)
        {
            await resources.PatchStatusAsync(MoeCloudApi.ExpertPlacements, latest.Metadata.NamespaceProperty, latest.Metadata.Name, new ExpertPlacementStatus
            {
                Phase = progress.Phase,
                MovedReplicas = progress.MovedReplicas,
                TotalMoves = progress.TotalMoves,
                Message = progress.Message,
            }, cancellationToken);
        }

        switch (progress.Phase)
        {
            case MigrationProgress.Complete:
                await resources.RecordEventAsync(d, "Normal", "MigrationComplete", $"plan v{version} is in effect ({progress.MovedReplicas} replicas moved)", cancellationToken);
                return new PlanOutcome(PlanOutcome.Ready, "MigrationComplete", $"plan v{version} is in effect", version, version, TimeSpan.Zero)
                {
                    LoadImbalance = latest.Spec.Metrics?.LoadImbalance,
                };
            case MigrationProgress.Failed:
                // The Warning Event comes with the Degraded condition (MoeDeploymentReconciler, once per transition).
                // Tried again at every error requeue: a PUT of a failed version restarts its rollout, so the deployment
                // recovers by itself once the fault (a corrupt weight file, a failed pod) is fixed.
                await admin.PublishPlanAsync(d, ExpertPlacementMapping.ToPublication(latest.Spec, d.Spec.Migration), cancellationToken);
                return new PlanOutcome(PlanOutcome.Degraded, "MigrationFailed", $"migration to plan v{version} failed: {progress.Message}",
                    current, version, TimeSpan.FromSeconds(options.Value.ErrorRequeueSeconds));
            default:
                return new PlanOutcome(PlanOutcome.Migrating, "Migrating",
                    $"migrating to plan v{version}: {progress.MovedReplicas}/{progress.TotalMoves} replicas moved", current, version, poll);
        }
    }

    /// <summary>
    /// Keeps the newest <c>spec.placement.historyLimit</c> ExpertPlacements once the newest is in effect, deleting the
    /// older ones (their plans are history: nothing reads them to resume).
    /// </summary>
    private async Task PruneAsync(MoeDeployment d, IReadOnlyList<ExpertPlacement> placements, CancellationToken cancellationToken)
    {
        foreach (var old in placements.OrderByDescending(p => p.Spec.Version).Skip(Math.Max(1, d.Spec.Placement.HistoryLimit)))
        {
            await resources.DeleteAsync(MoeCloudApi.ExpertPlacements, old.Metadata.NamespaceProperty, old.Metadata.Name, cancellationToken);
            LogPruned(d.Metadata.Name, old.Spec.Version);
        }
    }

    private async Task<PlanOutcome> NextStepAsync(MoeDeployment d, MoeModel model, ExpertPlacement latest, int readyPods, TimeSpan poll, CancellationToken cancellationToken)
    {
        var version = latest.Spec.Version;
        if (await admin.GetProgressAsync(d, version, cancellationToken) is null)
        {
            // The cluster no longer knows the plan in effect (its plan registry lives in memory and was restarted):
            // the ExpertPlacement is the durable copy, so it is published again and followed like a new version.
            await admin.PublishPlanAsync(d, ExpertPlacementMapping.ToPublication(latest.Spec, d.Spec.Migration), cancellationToken);
            await resources.PatchStatusAsync(MoeCloudApi.ExpertPlacements, latest.Metadata.NamespaceProperty, latest.Metadata.Name, new ExpertPlacementStatus
            {
                Phase = MigrationProgress.Pending,
                MovedReplicas = 0,
                TotalMoves = latest.Status?.TotalMoves,
                Message = "published again: the cluster had lost it",
            }, cancellationToken);
            await resources.RecordEventAsync(d, "Warning", "PlanRepublished", $"the cluster did not know plan v{version} any more; published it again", cancellationToken);
            LogRepublished(d.Metadata.Name, version);
            return new PlanOutcome(PlanOutcome.Migrating, "PlanRepublished", $"plan v{version} published again: the cluster had lost it", d.Status?.CurrentPlanVersion, version, poll);
        }

        // A plan in effect that the operator did not write (the silos' repair plan): recorded first, then planned from.
        if (await admin.GetActivePlanAsync(d, cancellationToken) is { } active && active.Version > version)
        {
            return await RecordClusterPlanAsync(d, model, latest, active, cancellationToken);
        }

        var target = d.Spec.Replicas;
        var plan = PlanningInputs.StoredPlan(latest.Spec);
        var now = time.GetUtcNow().UtcDateTime;
        var last = d.Status?.LastReplacementTime;
        var interval = TimeSpan.FromSeconds(d.Spec.Placement.ReplacementIntervalSeconds);
        if (target != latest.Spec.Pods)
        {
            if (target > latest.Spec.Pods && readyPods < target)
            {
                return new PlanOutcome(PlanOutcome.Provisioning, "WaitingForPods",
                    $"scaling out to {target} pods; {readyPods} are ready (experts move once they all are)", version, version, poll);
            }

            var live = await admin.GetLiveProfileAsync(d, cancellationToken);
            var profile = PlanningInputs.FromLive(live, plan) ?? PlanningProfiles.Uniform(plan.Layers, plan.Experts, model.Spec.Architecture.TopK);
            var step = await PlanAsync(() => planner.Next(plan, Request(d, model, target), profile), cancellationToken);
            var reason = target > latest.Spec.Pods ? "ScaleOut" : "ScaleIn";
            var created = await CreatePlacementAsync(d, model, step.Plan, latest, step.Solver, reason, step.Moves, step.ImbalanceAfter, cancellationToken);
            return new PlanOutcome(PlanOutcome.Migrating, reason,
                $"{reason}: plan v{created.Spec.Version} moves {step.Moves} replicas towards {target} pods", version, created.Spec.Version, TimeSpan.Zero)
            {
                RemoteFraction = live?.RemoteFraction,
            };
        }

        if (await AutoscaleExpertsAsync(d, model, latest, plan, cancellationToken) is { } scaled)
        {
            return scaled;
        }

        // The contiguous solver is the expert-parallel baseline: it never rebalances from live load.
        if (interval > TimeSpan.Zero && d.Spec.Placement.Solver != "contiguous" && (last is null || now - last.Value >= interval))
        {
            var live = await admin.GetLiveProfileAsync(d, cancellationToken);
            var profile = PlanningInputs.FromLive(live, plan);
            if (profile is not null)
            {
                var step = await PlanAsync(() => planner.Next(plan, Request(d, model, target), profile), cancellationToken);
                if (step.Moves > 0 && step.Gain >= d.Spec.Placement.MinGain)
                {
                    var created = await CreatePlacementAsync(d, model, step.Plan, latest, step.Solver, "Rebalance", step.Moves, step.ImbalanceAfter, cancellationToken);
                    return new PlanOutcome(PlanOutcome.Migrating, "Rebalance",
                        $"re-placement v{created.Spec.Version}: imbalance {step.ImbalanceBefore:F3} -> {step.ImbalanceAfter:F3} with {step.Moves} moves",
                        version, created.Spec.Version, TimeSpan.Zero)
                    {
                        RemoteFraction = live!.RemoteFraction,
                        LastReplacementTime = now,
                    };
                }
            }

            return new PlanOutcome(PlanOutcome.Ready, "PlanInEffect", $"plan v{version} is in effect", version, version, interval)
            {
                RemoteFraction = live?.RemoteFraction,
                LastReplacementTime = now,
            };
        }

        var check = TimeSpan.FromSeconds(options.Value.PlanCheckSeconds);
        var wait = interval > TimeSpan.Zero && last is not null ? last.Value + interval - now : check;
        return new PlanOutcome(PlanOutcome.Ready, "PlanInEffect", $"plan v{version} is in effect", version, version, wait < check ? wait : check);
    }

    private async Task<ExpertPlacement> CreatePlacementAsync(MoeDeployment d, MoeModel model, PlacementPlan plan, ExpertPlacement? previous,
        string solver, string reason, int moves, double imbalance, CancellationToken cancellationToken)
    {
        var version = (previous?.Spec.Version ?? 0) + 1;
        var placement = NewPlacement(d, model, plan, version, previous?.Spec.Version ?? 0, solver, reason, moves, Math.Round(imbalance, 4));
        var created = await resources.CreateAsync(MoeCloudApi.ExpertPlacements, d.Metadata.NamespaceProperty, placement, cancellationToken);
        metrics.PlanWritten(reason);
        LogPlanCreated(d.Metadata.Name, version, reason, moves, plan.PodCount);
        await resources.RecordEventAsync(d, "Normal", "PlanCreated", $"plan v{version} ({reason}): {moves} replicas move, {plan.PodCount} pods", cancellationToken);
        return created;
    }

    /// <summary>The ExpertPlacement object of plan <paramref name="version"/> (owned by the deployment, no status yet).</summary>
    private static ExpertPlacement NewPlacement(MoeDeployment d, MoeModel model, PlacementPlan plan, int version, int previousVersion,
        string solver, string reason, int moves, double? imbalance)
    {
        var bytesPerExpert = ModelValidation.BytesPerExpert(model.Spec);
        return new ExpertPlacement
        {
            Metadata = new V1ObjectMeta
            {
                Name = $"{d.Metadata.Name}-v{version.ToString(CultureInfo.InvariantCulture)}",
                NamespaceProperty = d.Metadata.NamespaceProperty,
                Labels = Workloads.Labels(d, "placement"),
                OwnerReferences = [CustomResourceClient.OwnerReference(d)],
            },
            Spec = new ExpertPlacementSpec
            {
                DeploymentName = d.Metadata.Name,
                Version = version,
                PreviousVersion = previousVersion,
                Pods = plan.PodCount,
                Solver = solver,
                Reason = reason,
                Layers = ExpertPlacementMapping.ToLayers(plan),
                Metrics = new PlanMetrics { LoadImbalance = imbalance, Moves = moves, MovedBytes = moves * bytesPerExpert },
            },
        };
    }

    /// <summary>
    /// Experts one pod may hold per layer on <paramref name="pods"/> pods, redundant replicas included (with expert
    /// autoscaling on, as many as spec.autoscaling.experts.maxRedundant when that is more).
    /// </summary>
    public static int Capacity(MoeDeployment d, MoeModel model, int pods)
    {
        var experts = d.Spec.Autoscaling.Experts;
        var redundant = Math.Max(d.Spec.Placement.RedundantReplicas, experts.Enabled ? experts.MaxRedundant : 0);
        return LibraryPlanner.Capacity(model.Spec.Architecture.Experts + Math.Max(0, redundant), pods, d.Spec.Resources.ExpertsPerPod);
    }

    /// <summary>The planner's request for <paramref name="pods"/> pods from the deployment's placement policy and the model's shape.</summary>
    public static PlanRequest Request(MoeDeployment d, MoeModel model, int pods)
    {
        var a = model.Spec.Architecture;
        var policy = d.Spec.Placement;
        return new PlanRequest(policy.Solver, a.Layers, a.Experts, a.TopK, pods, Capacity(d, model, pods), policy.RedundantReplicas,
            TimeSpan.FromSeconds(policy.TimeLimitSeconds), policy.MaxMoves);
    }

    /// <summary>
    /// Runs a (CPU-bound, possibly time-limited) solve off the reconcile thread; a plan the request or the profile makes
    /// impossible becomes a <see cref="PlanningException"/> (the deployment turns Degraded with reason PlanInfeasible).
    /// </summary>
    private static async Task<PlanProposal> PlanAsync(Func<PlanProposal> plan, CancellationToken cancellationToken)
    {
        try
        {
            return await Task.Run(plan, cancellationToken);
        }
        catch (ArgumentException e)
        {
            throw new PlanningException("PlanInfeasible", $"no placement plan: {e.Message}");
        }
    }

    [LoggerMessage(EventId = 7300, Level = LogLevel.Information, Message = "MoeDeployment {Name}: plan v{Version} ({Reason}) moves {Moves} replicas on {Pods} pods")]
    private partial void LogPlanCreated(string name, int version, string reason, int moves, int pods);

    [LoggerMessage(EventId = 7301, Level = LogLevel.Information, Message = "MoeDeployment {Name}: published plan v{Version} to the admin API")]
    private partial void LogPublished(string name, int version);

    [LoggerMessage(EventId = 7302, Level = LogLevel.Warning, Message = "MoeDeployment {Name}: admin API unreachable")]
    private partial void LogAdminUnreachable(Exception exception, string name);

    [LoggerMessage(EventId = 7304, Level = LogLevel.Information, Message = "MoeDeployment {Name}: deleted ExpertPlacement v{Version} (beyond the history limit)")]
    private partial void LogPruned(string name, int version);

    [LoggerMessage(EventId = 7303, Level = LogLevel.Warning, Message = "MoeDeployment {Name}: the cluster had lost plan v{Version}; published it again")]
    private partial void LogRepublished(string name, int version);
}

/// <summary>The deployment's profile ConfigMap is missing or malformed, or no plan fits the placement policy.</summary>
public sealed class PlanningException(string reason, string message) : Exception(message)
{
    public string Reason { get; } = reason;
}
