using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using MoeCloud.Abstractions;
using MoeCloud.Placement.Plans;
using MoeCloud.Runtime.Hosting;
using MoeCloud.Runtime.Plans;
using Orleans.Concurrency;

namespace MoeCloud.Runtime.Grains;

/// <summary>
/// Rolls plan versions out make-before-break: (1) warm every replica that is new in the plan, on its new pod, while the
/// old plan keeps serving, at most <see cref="RolloutPolicy.BatchSize"/> at a time; (2) every pod adopts the new version
/// (requests already running keep the snapshot they started with); (3) wait, up to <see cref="RolloutPolicy.Drain"/>,
/// for the steps still running on older plans; (4) retire the replicas that left the plan — each finishes the work
/// queued on it before it deactivates.
/// A replica asked for after it was retired is activated again where its key says, so no request fails.
/// A repair (<see cref="Repair"/>, asked for by the silos when a member dies) is rolled out the same way, after the
/// rollout in progress, if any.
/// </summary>
[Reentrant]
public sealed partial class PlanRegistryGrain(
    IOptions<MoeCloudSiloOptions> options,
    IClusterMembershipService membership,
    ILocalSiloDetails localSilo,
    IHostApplicationLifetime lifetime,
    TimeProvider time,
    ILogger<PlanRegistryGrain> logger) : Grain, IPlanRegistryGrain
{
    private const int MaxParallelCalls = 32;
    private readonly SemaphoreSlim _publishing = new(1, 1);
    private ServingPlan? _active;
    private readonly HashSet<int> _queued = [];
    private PlanRolloutStatus? _status;
    private bool _repairAsked;
    private volatile bool _deactivating;

    /// <inheritdoc />
    public override Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken)
    {
        // A repair runs beside the requests (it is not one), so it can outlive this activation: see CutShort.
        _deactivating = true;
        return base.OnDeactivateAsync(reason, cancellationToken);
    }

    /// <inheritdoc />
    public Task<WirePlan?> GetActive() => Task.FromResult(_active?.Document);

    /// <inheritdoc />
    public Task<PlanRolloutStatus> GetStatus() =>
        Task.FromResult((_status ?? new PlanRolloutStatus(this.GetPrimaryKeyString(), 0, null, "Idle", 0, 0, 0)) with { Queued = [.. _queued] });

    /// <inheritdoc />
    public Task<PlanRolloutStatus> Start(WirePlan plan, RolloutPolicy policy)
    {
        Check(plan, policy);
        if (_queued.Add(plan.Version))
        {
            // The rollout runs on this activation (the grain is reentrant); Publish records a failure in the status.
            _ = Rollout(plan, policy);
        }

        return GetStatus();
    }

    /// <inheritdoc />
    public Task<PlanRolloutStatus> Publish(WirePlan plan, RolloutPolicy policy) => Publish(plan, policy, null);

    /// <inheritdoc />
    public Task Repair(WirePlan? served)
    {
        if (_active is null && served is not null && served.Model == this.GetPrimaryKeyString())
        {
            // This activation is new (the registry's silo died with its state): the plan the pods serve is the active one.
            _active = ServingPlan.From(served);
            LogRecovered(logger, served.Model, served.Version);
        }

        if (!_repairAsked)
        {
            _repairAsked = true;
            _ = RepairWhenFree();
        }

        return Task.CompletedTask;
    }

    private async Task<PlanRolloutStatus> Publish(WirePlan plan, RolloutPolicy policy, HashSet<int>? queued)
    {
        var next = Check(plan, policy);

        await _publishing.WaitAsync();
        queued?.Remove(next.Version); // the rollout begins: the status follows it from here
        try
        {
            return await PublishLocked(plan, next, policy, dead: null);
        }
        finally
        {
            _publishing.Release();
        }
    }

    /// <summary>
    /// Once no rollout runs: when the active plan has experts whose every replica is on a pod without an active silo,
    /// rolls out <see cref="RepairPlanner"/>'s plan (the active version + 1). A repair that finds nothing to do does
    /// nothing, so the silos may each ask, and ask again while their plan stays orphaned (<see cref="PlanRepairTrigger"/>).
    /// </summary>
    private async Task RepairWhenFree()
    {
        await _publishing.WaitAsync();
        _repairAsked = false; // asks from here on are answered by another pass, with the membership they saw
        var seen = membership.CurrentSnapshot.Version;
        try
        {
            if (_active is not { } live)
            {
                return;
            }

            // A registry on a silo that is leaving would warm replicas through a host that refuses calls; the silos
            // whose plan stays orphaned ask again and reach the registry where it activates next.
            if (Leaving())
            {
                LogRepairLeftToNextActivation(logger, live.Model);
                return;
            }

            var alive = membership.CurrentSnapshot.Members.Values.Where(m => m.Status == SiloStatus.Active).Select(m => PodNames.PodOfSiloName(m.Name)).ToHashSet();
            var dead = Enumerable.Range(0, live.Pods).Where(p => !alive.Contains(p)).ToHashSet();
            if (dead.Count == 0)
            {
                return;
            }

            RepairResult result;
            try
            {
                result = RepairPlanner.Repair(live.Plan, dead, time.GetUtcNow());
            }
            catch (InvalidOperationException e)
            {
                LogRepairImpossible(logger, e, live.Model, live.Version);
                return;
            }

            if (result.Plan is null)
            {
                return;
            }

            var plan = WirePlan.From(live.Model, result.Plan);
            var policy = _status?.Policy ?? RolloutPolicy.Default;
            LogRepair(logger, live.Model, plan.Version, string.Join(", ", dead.Order()), result.Repaired.Count, string.Join(", ", result.Repaired.Take(8).Select(r => $"{r.Layer}/{r.Expert}@{r.Pod}")));
            await PublishLocked(plan, Check(plan, policy), policy, dead, seen);
        }
        catch (Exception e) when (e is not OutOfMemoryException && CutShort(e, seen))
        {
            // Another silo joined or left while the repair warmed replicas, this silo or one it called is stopping (a
            // whole cluster stopping, say): the silos whose plan stays orphaned ask again, and the next pass repairs
            // for the membership as it is then.
            LogRepairInterrupted(logger, e, this.GetPrimaryKeyString());
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            LogRepairFailed(logger, e, this.GetPrimaryKeyString());
        }
        finally
        {
            _publishing.Release();
        }
    }

    /// <summary>
    /// Whether a repair that failed with <paramref name="e"/> was cut short rather than wrong: membership moved on since
    /// <paramref name="seen"/>, this silo is stopping (its host's stopping token, or its status), this activation was
    /// deactivated under the repair (Orleans refuses its calls then: a duplicate found as the directory recovers from a
    /// silo's death, say), or a silo it called is leaving (<see cref="LeftDuringRepair"/>).
    /// </summary>
    private bool CutShort(Exception e, MembershipVersion seen) =>
        membership.CurrentSnapshot.Version != seen || Leaving() || _deactivating || GrainContext.Deactivated.IsCompleted || LeftDuringRepair(e);

    /// <summary>Whether this silo is stopping: its host's stopping token, or its status in membership.</summary>
    private bool Leaving() =>
        lifetime.ApplicationStopping.IsCancellationRequested
        || membership.CurrentSnapshot.GetSiloStatus(localSilo.SiloAddress) != SiloStatus.Active;

    /// <summary>
    /// Whether <paramref name="e"/> says a silo the repair called is leaving or gone (<see cref="SiloUnavailableException"/>,
    /// also inside another exception), which membership may not show yet.
    /// </summary>
    private static bool LeftDuringRepair(Exception e)
    {
        for (Exception? inner = e; inner is not null; inner = inner.InnerException)
        {
            if (inner is SiloUnavailableException)
            {
                return true;
            }
        }

        return e is AggregateException aggregate && aggregate.InnerExceptions.Any(LeftDuringRepair);
    }

    /// <summary>
    /// The rollout itself, under <see cref="_publishing"/>. Pods in <paramref name="dead"/> (a repair) are skipped: they
    /// neither adopt nor drain, and their replicas are not retired (a call would only activate them elsewhere). A
    /// repair passes the membership version it planned for (<paramref name="repairSeen"/>): a warm-up that fails after
    /// membership moved on is left for the repair to report.
    /// </summary>
    private async Task<PlanRolloutStatus> PublishLocked(WirePlan plan, ServingPlan next, RolloutPolicy policy, IReadOnlySet<int>? dead, MembershipVersion? repairSeen = null)
    {
        var previous = _active;
        if (previous is not null && next.Version <= previous.Version)
        {
            throw new ArgumentException($"Plan version {next.Version} is not newer than the active version {previous.Version}.", nameof(plan));
        }

        var old = previous?.Replicas().ToHashSet() ?? [];
        var added = next.Replicas().Where(r => !old.Contains(r)).ToArray();
        var kept = next.Replicas().ToHashSet();
        var removed = old.Where(r => !kept.Contains(r)).ToArray();
        var moved = added.Length + removed.Length;
        var active = previous?.Version ?? 0;
        LogRollout(logger, next.Model, next.Version, added.Length, removed.Length);

        // 1. Warm the new replicas on their pods.
        _status = new PlanRolloutStatus(next.Model, active, next.Version, "Warming", 0, 0, moved) { Policy = policy };
        try
        {
            await Warm(added, old.Select(r => r.Pod).ToHashSet(), policy.BatchSize);
        }
        catch (Exception e)
        {
            // A replica could not load (a corrupt or missing weight file, a pod that failed): the active plan keeps
            // serving, and the version is reported failed until it is published again.
            if (repairSeen is not { } seen || !CutShort(e, seen))
            {
                LogRolloutFailed(logger, e, next.Model, next.Version);
            }

            _status = _status with { Phase = "Failed", PendingVersion = null, FailedVersion = next.Version, Error = e.Message };
            throw;
        }

        // 2. Every pod adopts the new version.
        _status = _status with { Phase = "Switching" };
        var pods = Enumerable.Range(0, Math.Max(next.Pods, previous?.Pods ?? 0)).Where(p => dead?.Contains(p) != true).ToArray();
        await ForEachBounded(pods, pod => GrainFactory.GetGrain<IPodAgentGrain>(pod.ToString(System.Globalization.CultureInfo.InvariantCulture)).Adopt(plan));
        _active = next;

        // 3. Let the steps that started on an older plan finish (they may still call its replicas), within the drain.
        var undrained = 0;
        if (previous is not null && removed.Length > 0)
        {
            _status = _status with { Phase = "Draining", ActiveVersion = next.Version };
            var left = await Task.WhenAll(pods.Select(pod => GrainFactory.GetGrain<IPodAgentGrain>(pod.ToString(System.Globalization.CultureInfo.InvariantCulture)).Drain(next.Model, next.Version, policy.Drain)));
            undrained = left.Sum();
            if (undrained > 0)
            {
                LogDrainTimedOut(logger, next.Model, next.Version, undrained, policy.Drain.TotalSeconds);
            }
        }

        // 4. Retire replicas that left the plan, once their queued work is done.
        var retired = 0;
        _status = _status with { Phase = "Retiring", ActiveVersion = next.Version, Undrained = undrained };
        await ForEachBounded(removed.Where(r => dead?.Contains(r.Pod) != true).ToArray(), async r =>
        {
            await GrainFactory.GetGrain<IExpertGrain>(r.ToString()).Retire();
            _status = _status with { ReplicasRetired = Interlocked.Increment(ref retired) };
        });

        _status = _status with { Phase = "Idle", PendingVersion = null };
        return _status;
    }

    private ServingPlan Check(WirePlan plan, RolloutPolicy policy)
    {
        ArgumentNullException.ThrowIfNull(policy);
        if (policy.BatchSize < 1 || policy.Drain < TimeSpan.Zero || policy.Drain > TimeSpan.FromHours(1))
        {
            throw new ArgumentException($"A rollout needs a batch size of at least 1 and a drain of 0 to 3600 s; got {policy.BatchSize} and {policy.Drain.TotalSeconds} s.", nameof(policy));
        }

        var next = ServingPlan.From(plan);
        if (next.Model != this.GetPrimaryKeyString())
        {
            throw new ArgumentException($"Plan for model '{next.Model}' sent to the registry of '{this.GetPrimaryKeyString()}'.", nameof(plan));
        }

        return next;
    }

    private async Task Rollout(WirePlan plan, RolloutPolicy policy)
    {
        try
        {
            await Publish(plan, policy, _queued);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // Publish recorded the failure in the status (and logged it); a version that was not newer is logged here.
            LogQueuedRolloutFailed(logger, e, plan.Model, plan.Version);
        }
        finally
        {
            _queued.Remove(plan.Version);
        }
    }

    /// <summary>
    /// Warms <paramref name="added"/>. On a pod that serves the active plan (in <paramref name="serving"/>), loading
    /// weights competes with its steps for the pod's cores, so warm-ups there are bounded per pod (WarmupsPerPod) and
    /// overall (the rollout's batch size, and WarmupsInFlight; measured with `moectl bench cluster`, docs/BENCHMARKS.md
    /// Cluster). A pod that serves nothing yet (every pod of a first plan; a standby or a new pod of a scale-out) has no
    /// steps to protect and warms at full width, bounded overall only by WarmupsInFlight (silos that share one
    /// machine's cores set it low). Warmed one at a time, a scale-out's new pods took as many round trips as they get
    /// replicas, through silos busy with the load that asked for them. The status records the most warm-ups that ran at
    /// once.
    /// </summary>
    private async Task Warm(IReadOnlyList<ExpertReplicaKey> added, IReadOnlySet<int> serving, int batchSize)
    {
        var warmed = 0;
        var running = 0;
        var peak = 0;
        var first = serving.Count == 0;
        using var servingInFlight = new SemaphoreSlim(Math.Min(batchSize, options.Value.WarmupsInFlight));
        using var idleInFlight = new SemaphoreSlim(first ? MaxParallelCalls : options.Value.WarmupsInFlight);
        await Task.WhenAll(added.GroupBy(r => r.Pod).Select(pod =>
        {
            var busy = serving.Contains(pod.Key);
            var inFlight = busy ? servingInFlight : idleInFlight;
            return ForEachBounded(pod.ToArray(), async r =>
            {
                await inFlight.WaitAsync();
                var now = Interlocked.Increment(ref running);
                try
                {
                    if (now > peak)
                    {
                        peak = now;
                        _status = _status! with { PeakWarmups = now };
                    }

                    await GrainFactory.GetGrain<IExpertGrain>(r.ToString()).Warm();
                }
                finally
                {
                    Interlocked.Decrement(ref running);
                    inFlight.Release();
                }

                _status = _status! with { ReplicasWarmed = Interlocked.Increment(ref warmed) };
            }, busy ? options.Value.WarmupsPerPod : MaxParallelCalls);
        }));
    }

    private static async Task ForEachBounded<T>(IReadOnlyList<T> items, Func<T, Task> action, int parallel = MaxParallelCalls)
    {
        using var slots = new SemaphoreSlim(parallel);
        await Task.WhenAll(items.Select(async item =>
        {
            await slots.WaitAsync();
            try
            {
                await action(item);
            }
            finally
            {
                slots.Release();
            }
        }));
    }

    [LoggerMessage(EventId = 5201, Level = LogLevel.Error, Message = "Rolling out plan {Version} of {Model} failed; the active plan keeps serving")]
    private static partial void LogRolloutFailed(ILogger logger, Exception exception, string model, int version);

    [LoggerMessage(EventId = 5203, Level = LogLevel.Warning, Message = "The queued rollout of plan {Version} of {Model} did not run")]
    private static partial void LogQueuedRolloutFailed(ILogger logger, Exception exception, string model, int version);

    [LoggerMessage(EventId = 5202, Level = LogLevel.Warning, Message = "Plan {Version} of {Model}: {Running} steps still ran on older plans after the {Seconds} s drain; retiring their replicas anyway (a retired replica that is called again reactivates)")]
    private static partial void LogDrainTimedOut(ILogger logger, string model, int version, int running, double seconds);

    [LoggerMessage(EventId = 5204, Level = LogLevel.Warning, Message = "Pods {Dead} of {Model} are gone and held the only replicas of {Count} experts; repairing with plan {Version} (re-placed: {Repaired})")]
    private static partial void LogRepair(ILogger logger, string model, int version, string dead, int count, string repaired);

    [LoggerMessage(EventId = 5205, Level = LogLevel.Error, Message = "Plan {Version} of {Model} cannot be repaired: the surviving pods cannot hold the experts the dead ones took with them")]
    private static partial void LogRepairImpossible(ILogger logger, Exception exception, string model, int version);

    [LoggerMessage(EventId = 5206, Level = LogLevel.Error, Message = "The repair of {Model} failed; the silos whose plan stays orphaned ask again")]
    private static partial void LogRepairFailed(ILogger logger, Exception exception, string model);

    [LoggerMessage(EventId = 5216, Level = LogLevel.Information, Message = "The repair of {Model} was cut short by a change of membership; the silos whose plan stays orphaned ask again")]
    private static partial void LogRepairInterrupted(ILogger logger, Exception exception, string model);

    [LoggerMessage(EventId = 5215, Level = LogLevel.Debug, Message = "This silo is leaving; the repair of {Model} is left to the plan registry's next activation")]
    private static partial void LogRepairLeftToNextActivation(ILogger logger, string model);

    [LoggerMessage(EventId = 5207, Level = LogLevel.Warning, Message = "The plan registry of {Model} restarted without state; it takes plan {Version}, which the pods serve, as the active plan")]
    private static partial void LogRecovered(ILogger logger, string model, int version);

    [LoggerMessage(EventId = 5200, Level = LogLevel.Information, Message = "Rolling out plan {Version} of {Model}: {Added} replicas to warm, {Removed} to retire")]
    private static partial void LogRollout(ILogger logger, string model, int version, int added, int removed);
}
