using k8s;
using k8s.Models;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using MoeCloud.Operator.Controllers;
using MoeCloud.Operator.Entities;
using MoeCloud.Operator.Hosting;

namespace MoeCloud.Operator.Reconcilers;

/// <summary>
/// Reconciles a MoeDeployment: validates it against its model, applies the owned workloads, advances the placement
/// one step (<see cref="PlanProgression"/>), and writes the status once through the status subresource.
/// </summary>
public sealed partial class MoeDeploymentReconciler(
    CustomResourceClient resources,
    ChildApplier children,
    PlanProgression plans,
    PodAutoscaling autoscaling,
    GatewayKeys keys,
    IOptions<OperatorOptions> options,
    TimeProvider time,
    ILogger<MoeDeploymentReconciler> logger) : IReconciler
{
    private readonly ExpertsReadyGate _gate = new(resources.Kubernetes, time, logger);

    public string Name => "moedeployment";

    public async Task<ReconcileResult> ReconcileAsync(ObjectKey key, CancellationToken cancellationToken)
    {
        var d = await resources.GetAsync<MoeDeployment>(MoeCloudApi.MoeDeployments, key.Namespace, key.Name, cancellationToken);
        if (d is null)
        {
            autoscaling.Forget(key.Namespace, key.Name);
            return ReconcileResult.Done;
        }

        var model = await resources.GetAsync<MoeModel>(MoeCloudApi.MoeModels, key.Namespace, d.Spec.ModelRef.Name, cancellationToken);
        var problems = DeploymentValidation.Check(d, model);
        if (problems.Count > 0)
        {
            var message = string.Join("; ", problems.Select(p => p.Message));
            var outcome = new PlanOutcome(PlanOutcome.Degraded, problems[0].Reason, message, d.Status?.CurrentPlanVersion, d.Status?.TargetPlanVersion,
                TimeSpan.FromSeconds(options.Value.ErrorRequeueSeconds));
            await WriteStatusAsync(d, outcome, d.Status?.ReadyReplicas ?? 0, d.Status?.Autoscaling?.Pods, cancellationToken);
            return ReconcileResult.After(outcome.RequeueAfter!.Value);
        }

        var placements = (await resources.ListAsync<ExpertPlacement>(MoeCloudApi.ExpertPlacements, key.Namespace,
                $"{MoeCloudApi.DeploymentLabel}={d.Metadata.Name}", cancellationToken))
            .Where(p => p.Metadata.OwnerReferences?.Any(o => o.Uid == d.Metadata.Uid) == true)
            .OrderBy(p => p.Spec.Version)
            .ToList();
        var newest = placements.LastOrDefault();
        var scaling = await autoscaling.StepAsync(d, newest is { Status.Phase: Contracts.Admin.MigrationProgress.Complete } && newest.Spec.Pods == d.Spec.Replicas, cancellationToken);
        var (silo, gatewayKeys) = await ApplyWorkloadsAsync(d, model!, SiloReplicas(d, placements), cancellationToken);
        var ready = silo.Status?.ReadyReplicas ?? 0;

        // Plans wait for member pods, not Ready ones: a silo pod is Ready only after the experts-ready gate opens,
        // which waits for a plan in effect (ExpertsReadyGate). Ready pods are members, so the larger count is right.
        var pods = await _gate.SiloPodsAsync(d, cancellationToken);
        var members = Math.Max(ready, ExpertsReadyGate.Members(d, pods));
        var result = await plans.AdvanceAsync(d, model!, placements, members, cancellationToken);
        var inEffect = result.CurrentVersion ?? d.Status?.CurrentPlanVersion;
        var planInEffect = placements.LastOrDefault(p => p.Spec.Version == inEffect);
        var gatesClosed = await _gate.OpenAsync(d, pods, planInEffect, cancellationToken);
        var podScaling = PodAutoscaling.WithStandby(d, scaling.Status, members, planInEffect);
        await WriteStatusAsync(d, result, ready, podScaling, cancellationToken, planInEffect, gatewayKeys);
        var after = gatesClosed ? Earlier(result.RequeueAfter, TimeSpan.FromSeconds(options.Value.ProgressPollSeconds)) : result.RequeueAfter;
        after = scaling.RequeueAfter is { } next ? Earlier(after, next) : after;

        // Secrets are not watched: a missing keys Secret is looked for again after the error delay.
        after = gatewayKeys.Found ? after : Earlier(after, TimeSpan.FromSeconds(options.Value.ErrorRequeueSeconds));
        return after is { } delay ? ReconcileResult.After(delay) : ReconcileResult.Done;
    }

    private static TimeSpan Earlier(TimeSpan? a, TimeSpan b) => a is { } x && x < b ? x : b;

    /// <summary>
    /// Silo pods to run: spec.replicas plus spec.autoscaling.pods.standby (pods joined but unplaced: plans place experts
    /// on the first spec.replicas ordinals only), but never fewer than the newest plan and the last completed plan use,
    /// so that scale-in shrinks the StatefulSet only after the experts have moved off the leaving pods.
    /// </summary>
    public static int SiloReplicas(MoeDeployment d, IReadOnlyList<ExpertPlacement> placements)
    {
        ArgumentNullException.ThrowIfNull(d);
        var latest = placements.LastOrDefault();
        var lastComplete = placements.LastOrDefault(p => p.Status?.Phase == Contracts.Admin.MigrationProgress.Complete);
        return Math.Max(d.Spec.Replicas + Math.Max(0, d.Spec.Autoscaling.Pods.Standby), Math.Max(latest?.Spec.Pods ?? 0, lastComplete?.Spec.Pods ?? 0));
    }

    private async Task<(V1StatefulSet Silo, KeysSecretState Keys)> ApplyWorkloadsAsync(MoeDeployment d, MoeModel model, int siloReplicas, CancellationToken cancellationToken)
    {
        await children.ApplyAsync(ChildKind.ConfigMap, Workloads.Config(d, model), cancellationToken);
        await children.ApplyAsync(ChildKind.Service, Workloads.SiloService(d), cancellationToken);
        var (silo, changed) = await children.ApplyAsync(ChildKind.StatefulSet, Workloads.Silo(d, model, siloReplicas, options.Value), cancellationToken);
        if (changed)
        {
            LogSiloApplied(d.Metadata.Name, siloReplicas);
        }

        await children.ApplyAsync(ChildKind.PodDisruptionBudget, ScalingObjects.SiloDisruptionBudget(d), cancellationToken);
        var gatewayKeys = await keys.EnsureAsync(d, cancellationToken);
        await children.ApplyAsync(ChildKind.Deployment, Workloads.Gateway(d, model, options.Value, gatewayKeys.Fingerprint), cancellationToken);
        await children.ApplyAsync(ChildKind.Service, Workloads.GatewayService(d), cancellationToken);
        await children.ApplyAsync(ChildKind.Service, Workloads.GatewayAdminService(d), cancellationToken);
        // Earlier operator versions created a CPU HorizontalPodAutoscaler; pods now scale on serving signals.
        await children.DeleteIfPresentAsync<V2HorizontalPodAutoscaler>(ChildKind.HorizontalPodAutoscaler, d.Metadata.NamespaceProperty, d.Metadata.Name, cancellationToken);

        return (silo, gatewayKeys);
    }

    private async Task WriteStatusAsync(MoeDeployment d, PlanOutcome outcome, int ready, PodAutoscalingStatus? podScaling, CancellationToken cancellationToken, ExpertPlacement? inEffect = null, KeysSecretState? gatewayKeys = null)
    {
        var generation = d.Metadata.Generation;
        var now = time.GetUtcNow().UtcDateTime;
        var degraded = outcome.Phase == PlanOutcome.Degraded;
        var progressing = outcome.Phase is PlanOutcome.Migrating or PlanOutcome.Provisioning;
        var current = outcome.CurrentVersion ?? d.Status?.CurrentPlanVersion;
        var status = new MoeDeploymentStatus
        {
            ObservedGeneration = generation,
            Phase = outcome.Phase,
            Replicas = d.Spec.Replicas,
            ReadyReplicas = ready,
            Selector = Workloads.SiloSelector(d),
            CurrentPlanVersion = current,
            TargetPlanVersion = outcome.TargetVersion ?? current,
            RemoteFraction = outcome.RemoteFraction ?? d.Status?.RemoteFraction,
            LoadImbalance = outcome.LoadImbalance ?? d.Status?.LoadImbalance,
            LastReplacementTime = outcome.LastReplacementTime ?? d.Status?.LastReplacementTime,
            Autoscaling = (ExpertReplicaScaling.Status(d, inEffect, outcome.ExpertChange) ?? d.Status?.Autoscaling?.Experts) is var experts && (podScaling is not null || experts is not null)
                ? new AutoscalingStatus { Pods = podScaling, Experts = experts }
                : null,
            Conditions = Conditions.Set(d.Status?.Conditions, generation, now,
                (Conditions.Available, current is not null && ready > 0, current is null ? "NoPlan" : ready > 0 ? "PlanInEffect" : "NoReadyPods",
                    current is null ? "no placement plan is in effect yet" : $"plan v{current} serves on {ready} ready pods"),
                (Conditions.Progressing, progressing, outcome.Reason, outcome.Message),
                (Conditions.Degraded, degraded, degraded ? outcome.Reason : "AsExpected", degraded ? outcome.Message : "no problems")),
        };
        await SetKeysConditionAsync(d, status, gatewayKeys, generation, now, cancellationToken);

        var wasDegraded = d.Status?.Conditions.FirstOrDefault(c => c.Type == Conditions.Degraded) is { Status: "True" } previous
            && previous.Reason == outcome.Reason && previous.Message == outcome.Message;
        if (degraded && !wasDegraded)
        {
            LogDegraded(d.Metadata.Name, outcome.Reason, outcome.Message);
            await resources.RecordEventAsync(d, "Warning", outcome.Reason, outcome.Message, cancellationToken);
        }

        // Writing an unchanged status would wake the informer and loop; the status is written only when it changes.
        if (d.Status is null || KubernetesJson.Serialize(status) != KubernetesJson.Serialize(d.Status))
        {
            await resources.PatchStatusAsync(MoeCloudApi.MoeDeployments, d.Metadata.NamespaceProperty, d.Metadata.Name, status, cancellationToken);
        }
    }

    /// <summary>
    /// Adds <see cref="Conditions.GatewayKeysReady"/> to <paramref name="status"/>, with a Warning event when the Secret
    /// goes missing; without a new state (a reconcile that stopped before the workloads) the previous condition is kept.
    /// </summary>
    private async Task SetKeysConditionAsync(MoeDeployment d, MoeDeploymentStatus status, KeysSecretState? gatewayKeys, long? generation, DateTime now, CancellationToken cancellationToken)
    {
        var previous = d.Status?.Conditions.FirstOrDefault(c => c.Type == Conditions.GatewayKeysReady);
        if (gatewayKeys is null)
        {
            if (previous is not null)
            {
                status.Conditions.Add(previous);
            }

            return;
        }

        var ns = d.Metadata.NamespaceProperty;
        var message = gatewayKeys.Found
            ? $"the gateway reads its keys from Secret {ns}/{gatewayKeys.Name}"
            : $"spec.gateway.keysSecret names Secret '{gatewayKeys.Name}', which does not exist in namespace '{ns}': the gateway pods cannot start until it does";
        var reason = gatewayKeys.Found ? Conditions.KeysSecretFound : Conditions.KeysSecretNotFound;
        status.Conditions.Add(Conditions.Set(d.Status?.Conditions, generation, now, (Conditions.GatewayKeysReady, gatewayKeys.Found, reason, message))[0]);
        if (!gatewayKeys.Found && !(previous is { Status: "False" } && previous.Reason == reason && previous.Message == message))
        {
            LogKeysSecretMissing(d.Metadata.Name, gatewayKeys.Name, ns);
            await resources.RecordEventAsync(d, "Warning", reason, message, cancellationToken);
        }
    }

    [LoggerMessage(EventId = 7402, Level = LogLevel.Warning, Message = "MoeDeployment {Name}: its keys Secret {Secret} does not exist in namespace {Namespace}")]
    private partial void LogKeysSecretMissing(string name, string secret, string @namespace);

    [LoggerMessage(EventId = 7400, Level = LogLevel.Information, Message = "MoeDeployment {Name}: silo StatefulSet applied with {Replicas} replicas")]
    private partial void LogSiloApplied(string name, int replicas);

    [LoggerMessage(EventId = 7401, Level = LogLevel.Warning, Message = "MoeDeployment {Name} is degraded ({Reason}): {Message}")]
    private partial void LogDegraded(string name, string reason, string message);
}
