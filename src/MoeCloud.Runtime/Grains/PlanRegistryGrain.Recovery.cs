using System.Globalization;
using Microsoft.Extensions.Logging;
using MoeCloud.Abstractions;
using MoeCloud.Runtime.Plans;

namespace MoeCloud.Runtime.Grains;

/// <summary>
/// Recovery of the active plan: the registry keeps it in memory only, so an activation that starts after its silo left
/// (a scale-in or standby removal stops that silo gracefully; a crash kills it) would find no plan in effect while every
/// pod still serves one. On activation it asks each active pod which plan it serves and takes the newest: a pod adopts
/// a version only after every replica of it was warmed, so the newest served version is one the cluster can serve.
/// </summary>
public sealed partial class PlanRegistryGrain
{
    /// <summary>Longest a pod may take to say which plan it serves before the activation goes on without it.</summary>
    internal static readonly TimeSpan RecoveryAskTimeout = TimeSpan.FromSeconds(5);

    /// <inheritdoc />
    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        var model = this.GetPrimaryKeyString();
        var pods = membership.CurrentSnapshot.Members.Values
            .Where(m => m.Status == SiloStatus.Active)
            .Select(m => PodNames.PodOfSiloName(m.Name))
            .Where(p => p >= 0)
            .Distinct()
            .ToArray();
        var answers = await Task.WhenAll(pods.Select(pod => ServedBy(model, pod, cancellationToken)));
        if (answers.Where(a => a is not null).MaxBy(a => a!.Version) is { } served && _active is null)
        {
            _active = ServingPlan.From(served);
            _status = new PlanRolloutStatus(model, served.Version, null, "Idle", 0, 0, 0);
            LogRecovered(logger, model, served.Version);
        }

        await base.OnActivateAsync(cancellationToken);
    }

    private async Task<WirePlan?> ServedBy(string model, int pod, CancellationToken cancellationToken)
    {
        try
        {
            return await GrainFactory.GetGrain<IPodAgentGrain>(pod.ToString(CultureInfo.InvariantCulture)).Served(model).WaitAsync(RecoveryAskTimeout, time, cancellationToken);
        }
        catch (Exception e) when (e is OrleansException or TimeoutException or InvalidOperationException)
        {
            // A pod that is leaving, or slow to answer, is left out; the others' plans stand.
            LogRecoveryAskFailed(logger, e, model, pod);
            return null;
        }
    }

    [LoggerMessage(EventId = 5208, Level = LogLevel.Warning, Message = "The plan registry of {Model} could not learn which plan pod {Pod} serves")]
    private static partial void LogRecoveryAskFailed(ILogger logger, Exception exception, string model, int pod);
}
