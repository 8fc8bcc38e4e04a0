using MoeCloud.Contracts.Protos;
using MoeCloud.Model.Spec;

namespace MoeCloud.Contracts.Models;

/// <summary>Builds the wire <see cref="ModelInfo"/> (runner and gateway alike).</summary>
public static class ModelInfos
{
    /// <summary>The model's shape, with the plan version and pod count the caller knows.</summary>
    public static ModelInfo From(string name, ModelSpec spec, int planVersion, int pods)
    {
        ArgumentNullException.ThrowIfNull(spec);
        return new ModelInfo
        {
            Model = name,
            Family = spec.Family.ToString(),
            MoeLayers = spec.MoeLayers,
            Experts = spec.Experts,
            TopK = spec.TopK,
            Hidden = spec.Hidden,
            ExpertIntermediate = spec.ExpertIntermediate,
            SharedExperts = spec.SharedExperts,
            Gating = spec.Gating.ToString(),
            Dtype = spec.DType.ToString(),
            PlanVersion = planVersion,
            Pods = pods,
        };
    }
}
