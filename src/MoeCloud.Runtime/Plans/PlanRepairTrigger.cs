using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using MoeCloud.Abstractions;
using MoeCloud.Placement.Plans;
using MoeCloud.Runtime.Serving;

namespace MoeCloud.Runtime.Plans;

/// <summary>
/// Asks each model's plan registry for a repair (<see cref="IPlanRegistryGrain.Repair"/>) when the cluster declares a
/// member dead: a local cluster has no operator, so the silos repair themselves (in Kubernetes too, alongside the
/// operator). The registry repairs once per death, after any rollout in progress, and answers an ask before it repairs;
/// so an ask that fails, or is answered by a registry activation that dies with its silo before its repair is in
/// effect (the registry may live on the dead pod), would leave the orphaned experts without a replica. This silo
/// therefore follows each death up: while the plan it serves still has an expert whose every replica is on a pod
/// without an active silo, it asks again, <see cref="FirstFollowUp"/> after the first ask and then at doubling
/// intervals up to <see cref="LongestFollowUp"/>, for at most <see cref="FollowUpFor"/>. Asking again is harmless: a
/// repair that finds nothing to do does nothing.
/// </summary>
public sealed partial class PlanRepairTrigger(
    IClusterMembershipService membership,
    IClusterClient client,
    SiloPlanState plans,
    ModelCatalog catalog,
    ILocalSiloDetails silo,
    ILogger<PlanRepairTrigger> logger) : BackgroundService
{
    /// <summary>Time the registry has to put a repair in effect before this silo asks it again.</summary>
    internal static readonly TimeSpan FirstFollowUp = TimeSpan.FromSeconds(2);

    /// <summary>Longest time between two asks for the same repair.</summary>
    internal static readonly TimeSpan LongestFollowUp = TimeSpan.FromSeconds(15);

    /// <summary>How long after the last death this silo keeps asking while the plan it serves is still orphaned.</summary>
    internal static readonly TimeSpan FollowUpFor = TimeSpan.FromMinutes(3);

    private readonly Lock _lock = new();

    /// <summary>The models whose repair this silo follows up now, and when the last death it follows was seen.</summary>
    private readonly Dictionary<string, long> _following = [];

    /// <inheritdoc />
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        // Members already dead when this silo starts (earlier incarnations in the membership table) are not news.
        var previous = membership.CurrentSnapshot;
        try
        {
            await foreach (var snapshot in membership.MembershipUpdates.WithCancellation(stoppingToken))
            {
                // Declared dead since the last view. A silo merely gone from the table is not counted: after a store
                // lost its data, the restored table (MembershipStoreRestore) can lack a live silo that joined just
                // before the loss, and a repair made on it would move that silo's replicas away.
                var died = snapshot.Members.Values
                    .Where(m => m.Status == SiloStatus.Dead && !m.SiloAddress.Equals(silo.SiloAddress)
                        && (!previous.Members.TryGetValue(m.SiloAddress, out var before) || before.Status != SiloStatus.Dead))
                    .Select(m => m.Name)
                    .ToArray();
                previous = snapshot;
                if (died.Length > 0)
                {
                    var names = string.Join(", ", died);
                    foreach (var model in catalog.Names)
                    {
                        LogAsking(logger, names, model);
                        await Ask(model);
                        Follow(model, stoppingToken);
                    }
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // The silo stops.
        }
    }

    /// <summary>Starts following <paramref name="model"/>'s repair up, or, when that runs already, extends it from now.</summary>
    private void Follow(string model, CancellationToken stoppingToken)
    {
        lock (_lock)
        {
            var running = _following.ContainsKey(model);
            _following[model] = Environment.TickCount64;
            if (running)
            {
                return;
            }
        }

        _ = FollowUp(model, stoppingToken);
    }

    private async Task FollowUp(string model, CancellationToken stoppingToken)
    {
        var wait = FirstFollowUp;
        var asks = 1;
        try
        {
            while (true)
            {
                await Task.Delay(wait, stoppingToken);
                wait = TimeSpan.FromTicks(Math.Min(wait.Ticks * 2, LongestFollowUp.Ticks));
                if (Orphaned(model) is not { } version)
                {
                    if (asks > 1)
                    {
                        LogRepaired(logger, model, asks);
                    }

                    return;
                }

                lock (_lock)
                {
                    if (Environment.TickCount64 - _following[model] > (long)FollowUpFor.TotalMilliseconds)
                    {
                        LogGaveUp(logger, model, version, asks);
                        return;
                    }
                }

                LogAskingAgain(logger, model, version);
                await Ask(model);
                asks++;
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // The silo stops.
        }
        finally
        {
            lock (_lock)
            {
                _following.Remove(model);
            }
        }
    }

    /// <summary>
    /// The version of <paramref name="model"/>'s plan this silo serves when some expert of it has no replica on a pod
    /// with an active silo (the registry's own rule for a repair), or null when none is orphaned or no plan is served.
    /// </summary>
    private int? Orphaned(string model)
    {
        if (plans.Get(model) is not { } served)
        {
            return null;
        }

        var alive = membership.CurrentSnapshot.Members.Values.Where(m => m.Status == SiloStatus.Active).Select(m => PodNames.PodOfSiloName(m.Name)).ToHashSet();
        var dead = Enumerable.Range(0, served.Pods).Where(p => !alive.Contains(p)).ToHashSet();
        return RepairPlanner.HasOrphans(served.Plan, dead) ? served.Document.Version : null;
    }

    private async Task Ask(string model)
    {
        try
        {
            await client.GetGrain<IPlanRegistryGrain>(model).Repair(plans.Get(model)?.Document);
        }
        catch (Exception e) when (e is OrleansException or TimeoutException or InvalidOperationException)
        {
            // The follow-up asks again while the plan stays orphaned.
            LogAskFailed(logger, e, model);
        }
    }

    [LoggerMessage(EventId = 5210, Level = LogLevel.Information, Message = "Silo {Died} was declared dead; asking the plan registry of {Model} for a repair")]
    private static partial void LogAsking(ILogger logger, string died, string model);

    [LoggerMessage(EventId = 5211, Level = LogLevel.Warning, Message = "Could not ask the plan registry of {Model} for a repair")]
    private static partial void LogAskFailed(ILogger logger, Exception exception, string model);

    [LoggerMessage(EventId = 5212, Level = LogLevel.Warning, Message = "Plan {Version} of {Model}, served here, still has experts with no live replica; asking its registry for the repair again")]
    private static partial void LogAskingAgain(ILogger logger, string model, int version);

    [LoggerMessage(EventId = 5213, Level = LogLevel.Information, Message = "The repair of {Model} is in effect here after {Asks} asks")]
    private static partial void LogRepaired(ILogger logger, string model, int asks);

    [LoggerMessage(EventId = 5214, Level = LogLevel.Error, Message = "Plan {Version} of {Model}, served here, still has experts with no live replica after {Asks} asks for a repair; no longer asking until the next death")]
    private static partial void LogGaveUp(ILogger logger, string model, int version, int asks);
}
