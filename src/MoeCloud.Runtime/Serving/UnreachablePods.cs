using System.Collections.Concurrent;
using System.Globalization;
using Microsoft.Extensions.Logging;
using MoeCloud.Abstractions;
using MoeCloud.Runtime.Telemetry;

namespace MoeCloud.Runtime.Serving;

/// <summary>
/// Declares a pod's silo dead as soon as it refuses connections, instead of after the cluster's probe rounds. Orleans
/// declares a killed silo dead only once enough probes went unanswered (10 s or more here), and until then an expert
/// whose only replica was on it cannot be repaired (DESIGN.md §5, failures), so the steps that need it wait. A runner
/// that finds such an orphan after the pod refused its layer work (<see cref="StackRunner.IsRefused"/>) reports the pod
/// here. This silo then probes the pod's agent twice, <see cref="ProbeGap"/> apart; only when both probes are refused
/// too — a pod that answers, answers with an error, or is merely slow is left alone — it declares the pod's silo dead in
/// the membership (<see cref="IClusterMembershipService.TryKill"/>, what the cluster's own votes would do later). Every
/// silo's <see cref="Plans.PlanRepairTrigger"/> sees that death like any other and asks for the repair; the declared
/// silo, should it still run, stops when it learns it (Orleans's rule for a silo declared dead).
/// </summary>
public sealed partial class UnreachablePods(
    IClusterMembershipService membership,
    IGrainFactory grains,
    SiloMetrics metrics,
    ILogger<UnreachablePods> logger)
{
    /// <summary>Pods being probed now.</summary>
    private readonly ConcurrentDictionary<int, byte> _probing = new();

    /// <summary>When each pod's last probes ended (<see cref="Environment.TickCount64"/>).</summary>
    private readonly ConcurrentDictionary<int, long> _probedAt = new();

    /// <summary>
    /// Longest one probe waits; a probe that times out counts as an answer still to come, never as refused. Longer than
    /// Orleans's connection attempt (5 s by default), whose failure is a refusal: a pod whose address vanished (a killed
    /// container) answers no connection attempt rather than refusing it.
    /// </summary>
    internal static readonly TimeSpan ProbeTimeout = TimeSpan.FromSeconds(10);

    /// <summary>Time between the two probes, so that a connection lost for a moment does not get a pod declared dead.</summary>
    internal static readonly TimeSpan ProbeGap = TimeSpan.FromSeconds(1);

    /// <summary>Least time from the end of one pod's probes to the start of the next.</summary>
    internal static readonly TimeSpan ProbeEvery = TimeSpan.FromSeconds(2);

    /// <summary>
    /// Reports that <paramref name="pod"/>'s silo refused layer work while it held the only replica of an expert a step
    /// needs; returns at once. Probes already running for the pod, or that ended less than <see cref="ProbeEvery"/>
    /// ago, take the report.
    /// </summary>
    public void Report(int pod)
    {
        var now = Environment.TickCount64;
        if ((_probedAt.TryGetValue(pod, out var last) && now - last < (long)ProbeEvery.TotalMilliseconds) || !_probing.TryAdd(pod, 0))
        {
            return;
        }

        // Off the caller's context (a step, possibly inside a grain turn): the probes take seconds.
        _ = Task.Run(() => Confirm(pod));
    }

    private async Task Confirm(int pod)
    {
        try
        {
            if (ActiveMember(pod) is not { } member)
            {
                return; // the cluster counts the pod gone already: its repair is on the way
            }

            for (var probe = 0; probe < 2; probe++)
            {
                if (probe > 0)
                {
                    await Task.Delay(ProbeGap);
                }

                var outcome = await Probe(pod);
                if (outcome != "refused")
                {
                    metrics.UnreachableProbes.WithLabels(outcome).Inc();
                    LogLeftAlone(logger, pod, outcome);
                    return;
                }
            }

            if (ActiveMember(pod)?.SiloAddress.Equals(member.SiloAddress) != true)
            {
                return; // it left, or another silo took its place, while it was probed
            }

            LogDeclaring(logger, pod, member.SiloAddress.ToString());
            var declared = await membership.TryKill(member.SiloAddress);
            metrics.UnreachableProbes.WithLabels(declared ? "declared-dead" : "not-declared").Inc();
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            LogConfirmFailed(logger, e, pod);
        }
        finally
        {
            _probedAt[pod] = Environment.TickCount64;
            _probing.TryRemove(pod, out _);
        }
    }

    /// <summary>One probe of the pod's agent: answered, refused (Orleans could not deliver it), timed-out, or error (the pod answered with one).</summary>
    private async Task<string> Probe(int pod)
    {
        try
        {
            await grains.GetGrain<IPodAgentGrain>(pod.ToString(CultureInfo.InvariantCulture)).Describe().WaitAsync(ProbeTimeout);
            return "answered";
        }
        catch (Exception e) when (StackRunner.IsRefused(e))
        {
            return "refused";
        }
        catch (TimeoutException)
        {
            return "timed-out";
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            return "error";
        }
    }

    /// <summary>The active member that serves <paramref name="pod"/>, or null.</summary>
    private ClusterMember? ActiveMember(int pod) =>
        membership.CurrentSnapshot.Members.Values.FirstOrDefault(m => m.Status == SiloStatus.Active && PodNames.PodOfSiloName(m.Name) == pod);

    [LoggerMessage(EventId = 5404, Level = LogLevel.Information, Message = "Pod {Pod} refused layer work but its agent's probe was {Outcome}: the pod is left to the cluster's own failure detection")]
    private static partial void LogLeftAlone(ILogger logger, int pod, string outcome);

    [LoggerMessage(EventId = 5405, Level = LogLevel.Warning, Message = "Pod {Pod} (silo {Silo}) refused layer work and both probes of its agent: declaring its silo dead so that its experts are repaired now")]
    private static partial void LogDeclaring(ILogger logger, int pod, string silo);

    [LoggerMessage(EventId = 5406, Level = LogLevel.Warning, Message = "Probing pod {Pod}, reported unreachable, failed; the cluster's own failure detection stands")]
    private static partial void LogConfirmFailed(ILogger logger, Exception exception, int pod);
}
