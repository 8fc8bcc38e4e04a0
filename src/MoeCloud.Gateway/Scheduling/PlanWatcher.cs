using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using MoeCloud.Abstractions;
using MoeCloud.Gateway.Api;
using MoeCloud.Gateway.Forwarding;
using MoeCloud.Gateway.Hosting;
using MoeCloud.Model.Traces;
using MoeCloud.Placement.Profiles;
using MoeCloud.Placement.Simulation;

namespace MoeCloud.Gateway.Scheduling;

/// <summary>
/// Keeps the gateway on the cluster: follows the membership (<see cref="MembershipDiscovery"/>, unless pods are
/// configured), reads each model's active plan from the cluster's plan registry, restricts forwarding to the plan's pods, and gives the pre-scheduler the plan and transition statistics — from the configured
/// profile trace, or else from the cluster's live telemetry once it has some. Each refresh also sets the cluster gauges
/// (<see cref="ClusterGauges"/>: plan and rollout, imbalance and hottest experts, pod health).
/// </summary>
public sealed partial class PlanWatcher(GatewayModels models, PodDirectory pods, MembershipDiscovery membership, IGrainFactory grains, ClusterGauges gauges, IOptions<GatewayOptions> options, TimeProvider time, ILogger<PlanWatcher> logger) : BackgroundService
{
    private readonly Dictionary<string, TransitionModel> _fixed = new(StringComparer.Ordinal);

    /// <summary>Reads the plans once (also called before serving starts).</summary>
    public async Task Refresh(CancellationToken cancellationToken)
    {
        if (options.Value.Discovery == PodDiscovery.Membership)
        {
            await membership.Refresh(cancellationToken);
        }

        foreach (var name in models.Names)
        {
            var scheduler = models.Find(name)!;
            var registry = grains.GetGrain<IPlanRegistryGrain>(name);
            // The small status first: the plan itself (tens of kilobytes at DeepSeek scale) only when its version moved.
            var status = await registry.GetStatus().WaitAsync(cancellationToken);
            gauges.Rollout(name, status);
            await UpdateLoad(name, scheduler, cancellationToken);
            if (status.ActiveVersion == 0 || (status.ActiveVersion == scheduler.PlanVersion && scheduler.HasPredictor))
            {
                continue;
            }

            var plan = await registry.GetActive().WaitAsync(cancellationToken);
            if (plan is null || (plan.Version == scheduler.PlanVersion && scheduler.HasPredictor))
            {
                continue;
            }

            var transitions = await Transitions(name, cancellationToken);
            if (plan.Version == scheduler.PlanVersion && transitions is null)
            {
                continue; // same plan, still no statistics: keep spreading by load
            }

            if (options.Value.Discovery == PodDiscovery.Templates)
            {
                pods.SetPods(options.Value.PodsFromTemplates(plan.Pods));
            }

            var placement = plan.ToPlacement();
            scheduler.Adopt(plan.Version, placement, transitions);
            pods.SetPlanPods(Enumerable.Range(0, plan.Pods).ToHashSet());
            LogAdopted(logger, name, plan.Version, transitions is not null);
        }

        var (planned, healthy) = pods.Readiness();
        gauges.Pods(planned, healthy);
    }

    /// <inheritdoc />
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(options.Value.PlanRefresh, time);
        do
        {
            try
            {
                await Refresh(stoppingToken);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                LogRefreshFailed(logger, e);
            }
        }
        while (await timer.WaitForNextTickAsync(stoppingToken));
    }

    private async Task UpdateLoad(string model, PreScheduler scheduler, CancellationToken cancellationToken)
    {
        if (scheduler.Plan is { } plan)
        {
            gauges.Load(model, plan, await grains.GetGrain<ITelemetryGrain>(model).GetLoad().WaitAsync(cancellationToken));
        }
    }

    private async Task<TransitionModel?> Transitions(string model, CancellationToken cancellationToken)
    {
        if (_fixed.TryGetValue(model, out var known))
        {
            return known;
        }

        if (options.Value.ProfileTraces.TryGetValue(model, out var traceDir))
        {
            var fromTrace = TransitionModel.FromProfile(WorkloadProfile.FromTrace(TraceDirectory.Read(traceDir)));
            _fixed[model] = fromTrace;
            return fromTrace;
        }

        var totals = await grains.GetGrain<ITelemetryGrain>(model).GetTotals().WaitAsync(cancellationToken);
        return totals is null || totals.Tokens == 0 ? null : TransitionModel.FromProfile(LiveProfiles.ToWorkload(LiveProfiles.FromTotals(totals).Decode()));
    }

    [LoggerMessage(EventId = 6100, Level = LogLevel.Information, Message = "Gateway adopted plan {Version} of {Model} (transition statistics: {HasTransitions})")]
    private static partial void LogAdopted(ILogger logger, string model, int version, bool hasTransitions);

    [LoggerMessage(EventId = 6101, Level = LogLevel.Warning, Message = "Reading the live plan failed; the gateway keeps the plan it has")]
    private static partial void LogRefreshFailed(ILogger logger, Exception exception);
}
