using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using MoeCloud.Abstractions;
using MoeCloud.Runtime.Hosting;
using MoeCloud.Runtime.Plans;
using Orleans.Concurrency;

namespace MoeCloud.Runtime.Grains;

/// <summary>
/// Rolls plan versions out make-before-break: (1) warm every replica that is new in the plan, on its new pod, while the
/// old plan keeps serving; (2) every pod adopts the new version (requests already running keep the snapshot they
/// started with); (3) retire the replicas that left the plan — each finishes the work queued on it before it deactivates.
/// A replica asked for after it was retired is activated again where its key says, so no request fails.
/// </summary>
[Reentrant]
public sealed partial class PlanRegistryGrain(IOptions<MoeCloudSiloOptions> options, ILogger<PlanRegistryGrain> logger) : Grain, IPlanRegistryGrain
{
    private const int MaxParallelCalls = 32;
    private readonly SemaphoreSlim _publishing = new(1, 1);
    private PlanSnapshot? _active;
    private PlanRolloutStatus? _status;

    /// <inheritdoc />
    public Task<PlanDocument?> GetActive() => Task.FromResult(_active?.Document);

    /// <inheritdoc />
    public Task<PlanRolloutStatus> GetStatus() =>
        Task.FromResult(_status ?? new PlanRolloutStatus(this.GetPrimaryKeyString(), 0, null, "Idle", 0, 0, 0));

    /// <inheritdoc />
    public async Task<PlanRolloutStatus> Publish(PlanDocument plan)
    {
        var next = PlanSnapshot.From(plan);
        if (next.Model != this.GetPrimaryKeyString())
        {
            throw new ArgumentException($"Plan for model '{next.Model}' sent to the registry of '{this.GetPrimaryKeyString()}'.", nameof(plan));
        }

        await _publishing.WaitAsync();
        try
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
            _status = new PlanRolloutStatus(next.Model, active, next.Version, "Warming", 0, 0, moved);
            try
            {
                await Warm(added, previous is null);
            }
            catch (Exception e)
            {
                // A replica could not load (a corrupt or missing weight file, a pod that failed): the active plan keeps
                // serving, and the version is reported failed until it is published again.
                LogRolloutFailed(logger, e, next.Model, next.Version);
                _status = _status with { Phase = "Failed", PendingVersion = null, FailedVersion = next.Version, Error = e.Message };
                throw;
            }

            // 2. Every pod adopts the new version.
            _status = _status with { Phase = "Switching" };
            var pods = Enumerable.Range(0, Math.Max(next.Pods, previous?.Pods ?? 0)).ToArray();
            await ForEachBounded(pods, pod => GrainFactory.GetGrain<IPodAgentGrain>(pod.ToString(System.Globalization.CultureInfo.InvariantCulture)).Adopt(plan));
            _active = next;

            // 3. Retire replicas that left the plan, once their queued work is done.
            var retired = 0;
            _status = _status with { Phase = "Retiring", ActiveVersion = next.Version };
            await ForEachBounded(removed, async r =>
            {
                await GrainFactory.GetGrain<IExpertGrain>(r.ToString()).Retire();
                _status = _status with { ReplicasRetired = Interlocked.Increment(ref retired) };
            });

            _status = _status with { Phase = "Idle", PendingVersion = null };
            return _status;
        }
        finally
        {
            _publishing.Release();
        }
    }

    /// <summary>
    /// Warms <paramref name="added"/>. While a plan serves, loading weights competes with it for the pods' cores, so
    /// warm-ups are bounded per pod and overall (WarmupsPerPod, WarmupsInFlight; measured with `moectl bench cluster`,
    /// docs/BENCHMARKS.md Cluster). The first plan has no traffic to protect and warms at full width.
    /// </summary>
    private async Task Warm(IReadOnlyList<ExpertReplicaKey> added, bool first)
    {
        var warmed = 0;
        var perPod = first ? MaxParallelCalls : options.Value.WarmupsPerPod;
        using var inFlight = new SemaphoreSlim(first ? MaxParallelCalls : options.Value.WarmupsInFlight);
        await Task.WhenAll(added.GroupBy(r => r.Pod).Select(pod => ForEachBounded(pod.ToArray(), async r =>
        {
            await inFlight.WaitAsync();
            try
            {
                await GrainFactory.GetGrain<IExpertGrain>(r.ToString()).Warm();
            }
            finally
            {
                inFlight.Release();
            }

            _status = _status! with { ReplicasWarmed = Interlocked.Increment(ref warmed) };
        }, perPod)));
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

    [LoggerMessage(EventId = 5200, Level = LogLevel.Information, Message = "Rolling out plan {Version} of {Model}: {Added} replicas to warm, {Removed} to retire")]
    private static partial void LogRollout(ILogger logger, string model, int version, int added, int removed);
}
