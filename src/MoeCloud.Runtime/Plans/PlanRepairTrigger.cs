using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using MoeCloud.Abstractions;
using MoeCloud.Runtime.Serving;

namespace MoeCloud.Runtime.Plans;

/// <summary>
/// Asks each model's plan registry for a repair (<see cref="IPlanRegistryGrain.Repair"/>) when the cluster declares a
/// member dead: a local cluster has no operator, so the silos repair themselves (in Kubernetes too, alongside the
/// operator). Every silo asks once per death; the registry repairs once, after any rollout in progress.
/// </summary>
public sealed partial class PlanRepairTrigger(
    IClusterMembershipService membership,
    IClusterClient client,
    SiloPlanState plans,
    ModelCatalog catalog,
    ILocalSiloDetails silo,
    ILogger<PlanRepairTrigger> logger) : BackgroundService
{
    /// <inheritdoc />
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {

        // Members already dead when this silo starts (earlier incarnations in the membership table) are not news.
        var previous = membership.CurrentSnapshot;
        try
        {
            await foreach (var snapshot in membership.MembershipUpdates.WithCancellation(stoppingToken))
            {
                var died = snapshot.Members.Values
                    .Where(m => m.Status == SiloStatus.Dead && !m.SiloAddress.Equals(silo.SiloAddress)
                        && (!previous.Members.TryGetValue(m.SiloAddress, out var before) || before.Status != SiloStatus.Dead))
                    .Select(m => m.Name)
                    .ToArray();
                previous = snapshot;
                if (died.Length > 0)
                {
                    await AskForRepair(string.Join(", ", died));
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // The silo stops.
        }
    }

    private async Task AskForRepair(string died)
    {
        foreach (var model in catalog.Names)
        {
            LogAsking(logger, died, model);
            try
            {
                await client.GetGrain<IPlanRegistryGrain>(model).Repair(plans.Get(model)?.Document);
            }
            catch (Exception e) when (e is OrleansException or TimeoutException or InvalidOperationException)
            {
                // Another silo asks too; the next death asks again.
                LogAskFailed(logger, e, model);
            }
        }
    }

    [LoggerMessage(EventId = 5210, Level = LogLevel.Information, Message = "Silo {Died} was declared dead; asking the plan registry of {Model} for a repair")]
    private static partial void LogAsking(ILogger logger, string died, string model);

    [LoggerMessage(EventId = 5211, Level = LogLevel.Warning, Message = "Could not ask the plan registry of {Model} for a repair")]
    private static partial void LogAskFailed(ILogger logger, Exception exception, string model);
}
