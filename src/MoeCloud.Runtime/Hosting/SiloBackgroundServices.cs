using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using MoeCloud.Abstractions;
using MoeCloud.Runtime.Plans;
using MoeCloud.Runtime.Serving;
using MoeCloud.Runtime.Telemetry;

namespace MoeCloud.Runtime.Hosting;

/// <summary>
/// Periodic silo chores: flush telemetry deltas to the cluster-wide aggregate (an Orleans stream), catch up on the
/// active plan if this silo missed a rollout (it joined late, or restarted), and refresh gauges.
/// </summary>
public sealed partial class SiloBackgroundServices(
    IClusterClient client,
    TelemetryRecorder telemetry,
    SiloPlanState plans,
    ModelCatalog catalog,
    SiloMetrics metrics,
    IOptions<MoeCloudSiloOptions> options,
    TimeProvider time,
    ILogger<SiloBackgroundServices> logger) : BackgroundService
{
    /// <inheritdoc />
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        plans.Adopted += plan => metrics.PlanVersion.WithLabels(plan.Model).Set(plan.Version);
        using var timer = new PeriodicTimer(options.Value.TelemetryInterval, time);
        var tick = 0;
        do
        {
            try
            {
                await Flush();
                if (++tick % 2 == 0)
                {
                    await CatchUpPlans();
                }

            }
            catch (SiloUnavailableException e)
            {
                LogChoreSkippedWhileStopping(logger, e.Message);
            }
            catch (Exception e) when (e is not OperationCanceledException && !stoppingToken.IsCancellationRequested)
            {
                LogChoreFailed(logger, e);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                LogChoreSkippedWhileStopping(logger, e.Message);
            }
        }
        while (await timer.WaitForNextTickAsync(stoppingToken));
    }

    /// <inheritdoc />
    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        try
        {
            await Flush();
        }
        catch (Exception e) when (e is OrleansException or TimeoutException or InvalidOperationException)
        {
            LogChoreSkippedWhileStopping(logger, e.Message);
        }

        await base.StopAsync(cancellationToken);
    }

    private async Task Flush()
    {
        var provider = client.GetStreamProvider(TelemetryGrain.StreamProvider);
        foreach (var delta in telemetry.Drain(options.Value.SiloName))
        {
            await provider.GetStream<TelemetryDelta>(StreamId.Create(TelemetryGrain.StreamNamespace, delta.Model)).OnNextAsync(delta);
        }
    }

    private async Task CatchUpPlans()
    {
        foreach (var model in catalog.Names)
        {
            var active = await client.GetGrain<IPlanRegistryGrain>(model).GetActive();
            if (active is not null && (plans.Get(model)?.Version ?? 0) < active.Version)
            {
                plans.Adopt(ServingPlan.From(active));
            }
        }
    }

    [LoggerMessage(EventId = 5400, Level = LogLevel.Warning, Message = "A periodic silo chore failed; it runs again on the next tick")]
    private static partial void LogChoreFailed(ILogger logger, Exception exception);

    [LoggerMessage(EventId = 5401, Level = LogLevel.Debug, Message = "A silo chore was skipped while the silo stops: {Reason}")]
    private static partial void LogChoreSkippedWhileStopping(ILogger logger, string reason);
}
