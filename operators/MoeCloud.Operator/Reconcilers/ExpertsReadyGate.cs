using System.Globalization;
using System.Net;
using k8s;
using k8s.Autorest;
using k8s.Models;
using Microsoft.Extensions.Logging;
using MoeCloud.Operator.Entities;

namespace MoeCloud.Operator.Reconcilers;

/// <summary>A silo pod whose <see cref="Workloads.ExpertsReadyGate"/> condition is due, with the condition's reason and message.</summary>
public sealed record GateOpening(string Pod, string Reason, string Message);

/// <summary>
/// Sets the silo pods' readiness gate <see cref="Workloads.ExpertsReadyGate"/>: a silo pod is Ready only when its
/// container is ready and the gate is True. The gate opens (status True, never closed again) on a pod that is a member
/// of the cluster (its silo has started) once the deployment has a plan in effect, that is once a plan's rollout is
/// Complete: pods whose ordinal is in that plan hold their experts; pods beyond it (a scale-out's new pods) hold none
/// yet and serve as homes. Standby pods (spec.autoscaling.pods.standby, the ordinals beyond spec.replicas) are such pods
/// too, on purpose: their gate opens, so they are Ready without experts, and a scale-out onto them is only a plan
/// switch, with no readiness transition to wait for. Plan progress therefore counts members (<see cref="Members"/>), not Ready pods, which would
/// wait for the gate and deadlock; the StatefulSet's podManagementPolicy is Parallel, so no ordinal waits for another.
/// </summary>
public sealed partial class ExpertsReadyGate(IKubernetes client, TimeProvider time, ILogger logger)
{
    /// <summary>The silo container's name in <see cref="Workloads.Silo"/>.</summary>
    public const string SiloContainer = "silo";

    /// <summary>Reason of the condition on a pod whose ordinal is in the plan in effect.</summary>
    public const string PlanInEffect = "PlanInEffect";

    /// <summary>Reason of the condition on a pod beyond the plan in effect (no experts yet; it serves as a home).</summary>
    public const string NoExpertsYet = "NoExpertsYet";

    /// <summary>The deployment's silo pods (its StatefulSet's, by label and name).</summary>
    public async Task<IReadOnlyList<V1Pod>> SiloPodsAsync(MoeDeployment d, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(d);
        var list = await client.CoreV1.ListNamespacedPodAsync(d.Metadata.NamespaceProperty, labelSelector: Workloads.SiloSelector(d), cancellationToken: cancellationToken);
        return list.Items.Where(p => Ordinal(d, p) >= 0).ToList();
    }

    /// <summary>The StatefulSet ordinal of a pod named <c>&lt;name&gt;-silo-&lt;n&gt;</c>; -1 for any other name.</summary>
    public static int Ordinal(MoeDeployment d, V1Pod pod)
    {
        ArgumentNullException.ThrowIfNull(d);
        ArgumentNullException.ThrowIfNull(pod);
        var prefix = Workloads.SiloName(d) + "-";
        var name = pod.Metadata?.Name ?? "";
        return name.StartsWith(prefix, StringComparison.Ordinal)
            && int.TryParse(name.AsSpan(prefix.Length), NumberStyles.None, CultureInfo.InvariantCulture, out var ordinal)
            && ordinal.ToString(CultureInfo.InvariantCulture) == name[prefix.Length..]
            ? ordinal
            : -1;
    }

    /// <summary>
    /// Whether a pod's silo is a member of the cluster: the pod runs, is not being deleted, and its silo container has
    /// started (its startup probe on <c>/healthz</c> passed; the silo answers only after it joined the cluster).
    /// </summary>
    public static bool IsMember(V1Pod pod)
    {
        ArgumentNullException.ThrowIfNull(pod);
        return pod.Metadata?.DeletionTimestamp is null
            && pod.Status?.Phase == "Running"
            && pod.Status.ContainerStatuses?.Any(c => c.Name == SiloContainer && c.Started == true) == true;
    }

    /// <summary>Whether a pod's gate condition is True.</summary>
    public static bool IsOpen(V1Pod pod)
    {
        ArgumentNullException.ThrowIfNull(pod);
        return pod.Status?.Conditions?.Any(c => c.Type == Workloads.ExpertsReadyGate && c.Status == "True") == true;
    }

    /// <summary>Silo pods that are members of the cluster (what plan progress waits for).</summary>
    public static int Members(MoeDeployment d, IEnumerable<V1Pod> pods) =>
        pods.Count(p => Ordinal(d, p) >= 0 && IsMember(p));

    /// <summary>The pods whose gate is to be opened now, given the plan in effect (null: none yet, no gate opens).</summary>
    public static IReadOnlyList<GateOpening> Due(MoeDeployment d, IEnumerable<V1Pod> pods, ExpertPlacement? planInEffect)
    {
        ArgumentNullException.ThrowIfNull(pods);
        if (planInEffect is null)
        {
            return [];
        }

        var version = planInEffect.Spec.Version.ToString(CultureInfo.InvariantCulture);
        return pods
            .Select(p => (Pod: p, Ordinal: Ordinal(d, p)))
            .Where(x => x.Ordinal >= 0 && IsMember(x.Pod) && !IsOpen(x.Pod))
            .OrderBy(x => x.Ordinal)
            .Select(x => x.Ordinal < planInEffect.Spec.Pods
                ? new GateOpening(x.Pod.Metadata.Name, PlanInEffect, $"plan v{version} is in effect: this pod's experts are in place")
                : new GateOpening(x.Pod.Metadata.Name, NoExpertsYet, $"plan v{version} places no experts on this pod yet; it serves as a home"))
            .ToList();
    }

    /// <summary>
    /// Opens the gate of every pod <see cref="Due"/> names (a merge patch of pods/{name}/status carrying all of the pod's
    /// conditions and its resourceVersion, so a concurrent kubelet update is never overwritten: it conflicts and is retried
    /// on a later reconcile). Returns whether some silo pod still has a closed gate, so the caller looks again soon.
    /// </summary>
    public async Task<bool> OpenAsync(MoeDeployment d, IReadOnlyList<V1Pod> pods, ExpertPlacement? planInEffect, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(d);
        ArgumentNullException.ThrowIfNull(pods);
        var closed = pods.Count(p => Ordinal(d, p) >= 0 && p.Metadata.DeletionTimestamp is null && !IsOpen(p));
        foreach (var opening in Due(d, pods, planInEffect))
        {
            var pod = pods.First(p => p.Metadata.Name == opening.Pod);
            var conditions = (pod.Status.Conditions ?? []).Where(c => c.Type != Workloads.ExpertsReadyGate).ToList();
            conditions.Add(new V1PodCondition
            {
                Type = Workloads.ExpertsReadyGate,
                Status = "True",
                Reason = opening.Reason,
                Message = opening.Message,
                LastTransitionTime = time.GetUtcNow().UtcDateTime,
            });
            var patch = KubernetesJson.Serialize(new
            {
                metadata = new { resourceVersion = pod.Metadata.ResourceVersion },
                status = new { conditions },
            });
            try
            {
                await client.CoreV1.PatchNamespacedPodStatusAsync(new V1Patch(patch, V1Patch.PatchType.MergePatch), opening.Pod, d.Metadata.NamespaceProperty,
                    cancellationToken: cancellationToken);
                closed--;
                LogOpened(d.Metadata.Name, opening.Pod, opening.Reason);
            }
            catch (HttpOperationException e) when (e.Response.StatusCode is HttpStatusCode.Conflict or HttpStatusCode.NotFound)
            {
                // Changed or gone since it was listed: the next reconcile sees its current state.
                LogSkipped(d.Metadata.Name, opening.Pod, (int)e.Response.StatusCode);
            }
        }

        return closed > 0;
    }

    [LoggerMessage(EventId = 7410, Level = LogLevel.Information, Message = "MoeDeployment {Name}: readiness gate moecloud.io/experts-ready opened on pod {Pod} ({Reason})")]
    private partial void LogOpened(string name, string pod, string reason);

    [LoggerMessage(EventId = 7411, Level = LogLevel.Debug, Message = "MoeDeployment {Name}: pod {Pod} changed before its readiness gate was set (HTTP {Status}); retried on the next reconcile")]
    private partial void LogSkipped(string name, string pod, int status);
}
