using System.Collections.Concurrent;
using System.Net;
using k8s;
using k8s.Autorest;
using k8s.Models;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using MoeCloud.Contracts.Admin;
using MoeCloud.Operator.Admin;
using MoeCloud.Operator.Entities;
using MoeCloud.Operator.Hosting;
using MoeCloud.Placement.Autoscaling;

namespace MoeCloud.Operator.Reconcilers;

/// <summary>What one pod-autoscaling step leaves: the status to write and when to look again (null: not enabled).</summary>
public sealed record PodAutoscalingStep(PodAutoscalingStatus? Status, TimeSpan? RequeueAfter);

/// <summary>
/// The operator's pod autoscaler (spec.autoscaling.pods): at most once per <see cref="OperatorOptions.AutoscalePollSeconds"/>
/// it reads the serving signals of every gateway of the deployment, keeps them in a history held in memory, asks
/// <see cref="PodAutoscaler"/> how many pods to place, and changes spec.replicas through the scale subresource (as
/// kubectl scale and an HPA do), with an Event giving the reason. A plan switch already under way holds the
/// decision; the history still grows. After an operator restart the history is empty, so no scale-in happens before a
/// whole scale-down window has been observed again.
/// </summary>
public sealed partial class PodAutoscaling(
    CustomResourceClient resources,
    IClusterAdminClient admin,
    IOptions<OperatorOptions> options,
    TimeProvider time,
    ILogger<PodAutoscaling> logger)
{
    private readonly ConcurrentDictionary<string, History> _histories = new(StringComparer.Ordinal);

    /// <summary>
    /// One step for <paramref name="d"/>. When it scales, <paramref name="d"/>'s spec.replicas is updated in place, so
    /// that the rest of the reconcile (the StatefulSet, the next plan) already works towards the new count.
    /// </summary>
    /// <param name="d">The deployment, valid (DeploymentValidation found no problem).</param>
    /// <param name="planSettled">Whether the newest plan is in effect and places spec.replicas pods.</param>
    /// <param name="cancellationToken">Cancels the reads and the scale.</param>
    public async Task<PodAutoscalingStep> StepAsync(MoeDeployment d, bool planSettled, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(d);
        var policy = d.Spec.Autoscaling.Pods;
        var previous = d.Status?.Autoscaling?.Pods;
        var key = Key(d.Metadata.NamespaceProperty, d.Metadata.Name);
        if (!policy.Enabled)
        {
            // The last status stays as it was (a status merge patch never removes a field, so dropping some would
            // differ from the stored status at every reconcile).
            _histories.TryRemove(key, out _);
            return new PodAutoscalingStep(previous, null);
        }

        var poll = TimeSpan.FromSeconds(options.Value.AutoscalePollSeconds);
        var now = time.GetUtcNow();
        var history = _histories.AddOrUpdate(key, _ => new History(d.Metadata.Uid), (_, h) => h.Uid == d.Metadata.Uid ? h : new History(d.Metadata.Uid));
        lock (history)
        {
            if (history.LastStatus is { } cached && now - history.LastRead < poll)
            {
                return new PodAutoscalingStep(cached, history.LastRead + poll - now);
            }

            history.LastRead = now;
        }

        var targets = Targets(policy);
        var sample = await ReadAsync(d, now, cancellationToken);
        List<ServingSample> samples;
        lock (history)
        {
            if (sample is { } s)
            {
                history.Samples.Add(s);
            }

            history.Samples = PodAutoscaler.Prune(targets, history.Samples, now);
            samples = [.. history.Samples];
        }

        var decision = PodAutoscaler.Decide(targets, d.Spec.Replicas, samples, now);
        var status = new PodAutoscalingStatus
        {
            DesiredReplicas = decision.DesiredPods,
            ObservedP99Ms = decision.ObservedP99Ms is { } p99 ? Math.Round(p99, 1) : previous?.ObservedP99Ms,
            ObservedQueueDepth = decision.ObservedQueueDepth is { } depth ? Math.Round(depth, 2) : previous?.ObservedQueueDepth,
            LastScaleTime = previous?.LastScaleTime,
            LastScaleReason = previous?.LastScaleReason,
        };

        if (sample is null)
        {
            status.DesiredReplicas = d.Spec.Replicas;
        }
        else if (decision.DesiredPods != d.Spec.Replicas && !planSettled)
        {
            // The last change has not landed yet (its plan is still rolling out): decide again once it has.
            status.DesiredReplicas = d.Spec.Replicas;
        }
        else if (decision.DesiredPods != d.Spec.Replicas && await ScaleAsync(d, decision, cancellationToken))
        {
            status.LastScaleTime = now.UtcDateTime;
            status.LastScaleReason = decision.Reason;
        }

        lock (history)
        {
            history.LastStatus = status;
        }

        return new PodAutoscalingStep(status, poll);
    }

    /// <summary>
    /// The status to write: <paramref name="status"/> (a copy) with the standby pods counted, that is the member silo
    /// pods beyond those the plan in effect places experts on; null when pod autoscaling is off and no standby is asked.
    /// </summary>
    public static PodAutoscalingStatus? WithStandby(MoeDeployment d, PodAutoscalingStatus? status, int members, ExpertPlacement? planInEffect)
    {
        ArgumentNullException.ThrowIfNull(d);
        if (status is null && d.Spec.Autoscaling.Pods.Standby <= 0)
        {
            return null;
        }

        return new PodAutoscalingStatus
        {
            DesiredReplicas = status?.DesiredReplicas,
            StandbyReplicas = planInEffect is null ? 0 : Math.Max(0, members - planInEffect.Spec.Pods),
            ObservedP99Ms = status?.ObservedP99Ms,
            ObservedQueueDepth = status?.ObservedQueueDepth,
            LastScaleTime = status?.LastScaleTime,
            LastScaleReason = status?.LastScaleReason,
        };
    }

    /// <summary>
    /// What the CRD's rules on spec.autoscaling.pods also refuse (for objects stored before the rules or on a server
    /// without CEL): pod autoscaling with no target, targets that are not positive, and more standby pods than maxReplicas.
    /// </summary>
    public static List<Problem> Check(PodAutoscalingPolicy policy)
    {
        ArgumentNullException.ThrowIfNull(policy);
        var problems = new List<Problem>();
        if (policy.Enabled && policy.TargetP99Ms is null && policy.TargetQueueDepth is null)
        {
            problems.Add(new Problem("InvalidSpec", "spec.autoscaling.pods is enabled without a target: set targetP99Ms or targetQueueDepth"));
        }

        if ((policy.TargetP99Ms is { } p99 && !(double.IsFinite(p99) && p99 > 0)) || (policy.TargetQueueDepth is { } depth && !(double.IsFinite(depth) && depth > 0)))
        {
            problems.Add(new Problem("InvalidSpec", "spec.autoscaling.pods.targetP99Ms and targetQueueDepth must be positive numbers"));
        }

        if (policy.Standby < 0 || policy.Standby > policy.MaxReplicas)
        {
            problems.Add(new Problem("InvalidSpec", $"spec.autoscaling.pods.standby ({policy.Standby}) must lie in 0..maxReplicas ({policy.MaxReplicas})"));
        }

        if (policy.ScaleUpStabilizationSeconds < 0 || policy.ScaleDownStabilizationSeconds < 0)
        {
            problems.Add(new Problem("InvalidSpec", "spec.autoscaling.pods stabilisation windows must not be negative"));
        }

        return problems;
    }

    /// <summary>The policy's targets for <see cref="PodAutoscaler"/>.</summary>
    public static PodScalingTargets Targets(PodAutoscalingPolicy policy)
    {
        ArgumentNullException.ThrowIfNull(policy);
        return new PodScalingTargets(policy.MinReplicas, policy.MaxReplicas, policy.TargetP99Ms, policy.TargetQueueDepth,
            TimeSpan.FromSeconds(policy.ScaleUpStabilizationSeconds), TimeSpan.FromSeconds(policy.ScaleDownStabilizationSeconds));
    }

    /// <summary>
    /// The signals of every gateway, summed (requests, queue depth) and maximised (p99, placed pods); null when no
    /// gateway answered. Gateway pods are read one by one at their pod IP (<see cref="OperatorOptions.ReadGatewayPods"/>);
    /// without any (no pod IP yet, or reading pods turned off) the admin endpoint is read, which reaches one gateway.
    /// </summary>
    private async Task<ServingSample?> ReadAsync(MoeDeployment d, DateTimeOffset now, CancellationToken cancellationToken)
    {
        var model = d.Spec.ModelRef.Name;
        IReadOnlyList<Uri?> gateways = options.Value.ReadGatewayPods ? await GatewayAddressesAsync(d, cancellationToken) : [];
        var reads = new List<ServingSignals>();
        foreach (var gateway in gateways.Count > 0 ? gateways : [null])
        {
            try
            {
                if (await admin.GetServingSignalsAsync(d, model, gateway, cancellationToken) is { } signals)
                {
                    reads.Add(signals);
                }
            }
            catch (HttpRequestException e)
            {
                LogSignalsUnreachable(e, d.Metadata.Name, gateway?.ToString() ?? "the admin endpoint");
            }
            catch (TaskCanceledException e) when (!cancellationToken.IsCancellationRequested)
            {
                LogSignalsUnreachable(e, d.Metadata.Name, gateway?.ToString() ?? "the admin endpoint");
            }
        }

        return Combine(reads, now);
    }

    /// <summary>
    /// One sample from several gateways' signals, read at <paramref name="at"/>: requests and queue depth summed, the
    /// largest p99 and placed-pod count; null without any reading.
    /// </summary>
    public static ServingSample? Combine(IReadOnlyCollection<ServingSignals> reads, DateTimeOffset at)
    {
        ArgumentNullException.ThrowIfNull(reads);
        return reads.Count == 0 ? null : new ServingSample(
            at,
            reads.Sum(r => r.Requests),
            reads.Max(r => r.StepP99Ms),
            reads.Sum(r => (double)r.QueueDepth),
            reads.Max(r => r.PlacedPods));
    }

    private async Task<IReadOnlyList<Uri?>> GatewayAddressesAsync(MoeDeployment d, CancellationToken cancellationToken)
    {
        var selector = $"{MoeCloudApi.DeploymentLabel}={d.Metadata.Name},{MoeCloudApi.ComponentLabel}=gateway";
        var pods = await resources.Kubernetes.CoreV1.ListNamespacedPodAsync(d.Metadata.NamespaceProperty, labelSelector: selector, cancellationToken: cancellationToken);
        return pods.Items
            .Where(p => p.Metadata.DeletionTimestamp is null && p.Status?.Phase == "Running" && !string.IsNullOrEmpty(p.Status.PodIP))
            .Select(p => IPAddress.TryParse(p.Status.PodIP, out var ip)
                ? new Uri($"http://{(ip.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 ? $"[{ip}]" : ip.ToString())}:{Workloads.GatewayHttpPort}/")
                : null)
            .Where(u => u is not null)
            .ToList();
    }

    /// <summary>spec.replicas through the scale subresource, guarded by the deployment's resourceVersion; false on a conflict.</summary>
    private async Task<bool> ScaleAsync(MoeDeployment d, PodScaleDecision decision, CancellationToken cancellationToken)
    {
        var from = d.Spec.Replicas;
        var scale = new V1Scale
        {
            ApiVersion = "autoscaling/v1",
            Kind = "Scale",
            Metadata = new V1ObjectMeta { Name = d.Metadata.Name, NamespaceProperty = d.Metadata.NamespaceProperty, ResourceVersion = d.Metadata.ResourceVersion },
            Spec = new V1ScaleSpec { Replicas = decision.DesiredPods },
        };
        try
        {
            var kind = MoeCloudApi.MoeDeployments;
            await resources.Kubernetes.CustomObjects.ReplaceNamespacedCustomObjectScaleAsync(scale, kind.Group, kind.Version, d.Metadata.NamespaceProperty, kind.Plural, d.Metadata.Name,
                cancellationToken: cancellationToken);
        }
        catch (HttpOperationException e) when (e.Response.StatusCode == HttpStatusCode.Conflict)
        {
            // Someone else changed the deployment since it was read (kubectl scale, an edit): decide again on the next reconcile.
            LogScaleConflict(d.Metadata.Name);
            return false;
        }

        d.Spec.Replicas = decision.DesiredPods;
        var reason = decision.DesiredPods > from ? "ScaledOut" : "ScaledIn";
        LogScaled(d.Metadata.Name, from, decision.DesiredPods, decision.Reason);
        await resources.RecordEventAsync(d, "Normal", reason, $"spec.replicas {from} -> {decision.DesiredPods}: {decision.Reason}", cancellationToken);
        return true;
    }

    /// <summary>Drops the history of a deployment that is gone.</summary>
    public void Forget(string ns, string name) => _histories.TryRemove(Key(ns, name), out _);

    private static string Key(string ns, string name) => ns + "/" + name;

    /// <summary>The readings of one deployment (a deployment deleted and created again under the same name starts afresh).</summary>
    private sealed class History(string? uid)
    {
        public string? Uid { get; } = uid;

        public List<ServingSample> Samples { get; set; } = [];

        public DateTimeOffset LastRead { get; set; }

        public PodAutoscalingStatus? LastStatus { get; set; }
    }

    [LoggerMessage(EventId = 7420, Level = LogLevel.Information, Message = "MoeDeployment {Name}: pod autoscaler scaled spec.replicas {From} -> {To} ({Reason})")]
    private partial void LogScaled(string name, int from, int to, string reason);

    [LoggerMessage(EventId = 7421, Level = LogLevel.Warning, Message = "MoeDeployment {Name}: serving signals not readable from {Gateway}")]
    private partial void LogSignalsUnreachable(Exception exception, string name, string gateway);

    [LoggerMessage(EventId = 7422, Level = LogLevel.Debug, Message = "MoeDeployment {Name}: the scale subresource changed since it was read; the pod autoscaler decides again on the next reconcile")]
    private partial void LogScaleConflict(string name);
}
