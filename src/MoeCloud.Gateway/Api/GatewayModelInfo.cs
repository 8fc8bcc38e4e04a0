using MoeCloud.Contracts.Models;
using MoeCloud.Contracts.Protos;
using MoeCloud.Gateway.Scheduling;

namespace MoeCloud.Gateway.Api;

/// <summary>Builds <see cref="ModelInfo"/> for both APIs.</summary>
public static class GatewayModelInfo
{
    /// <summary>The model's shape and live plan as the gateway knows them.</summary>
    public static ModelInfo Of(PreScheduler scheduler, int pods)
    {
        ArgumentNullException.ThrowIfNull(scheduler);
        return ModelInfos.From(scheduler.Gates.Name, scheduler.Gates.Spec, scheduler.PlanVersion, pods);
    }
}
