using MoeCloud.Abstractions.Protos;
using MoeCloud.Gateway.Scheduling;

namespace MoeCloud.Gateway.Api;

/// <summary>Builds <see cref="ModelInfo"/> for both APIs.</summary>
public static class GatewayModelInfo
{
    /// <summary>The model's shape and live plan as the gateway knows them.</summary>
    public static ModelInfo Of(PreScheduler scheduler, int pods)
    {
        ArgumentNullException.ThrowIfNull(scheduler);
        var spec = scheduler.Gates.Spec;
        return new ModelInfo
        {
            Model = scheduler.Gates.Name,
            Family = spec.Family.ToString(),
            MoeLayers = spec.MoeLayers,
            Experts = spec.Experts,
            TopK = spec.TopK,
            Hidden = spec.Hidden,
            ExpertIntermediate = spec.ExpertIntermediate,
            SharedExperts = spec.SharedExperts,
            Gating = spec.Gating.ToString(),
            Dtype = spec.DType.ToString(),
            PlanVersion = scheduler.PlanVersion,
            Pods = pods,
        };
    }
}
