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
            Gating = Gating(spec.Gating),
            Dtype = spec.DType.ToString(),
            PlanVersion = planVersion,
            Pods = pods,
        };
    }

    /// <summary>
    /// The wire form of <paramref name="gating"/>: scoring <c>softmax</c>|<c>sigmoid</c>, group selection
    /// <c>none</c>|<c>max-score</c>|<c>top-two-sum</c>|<c>balanced</c>.
    /// </summary>
    public static GatingInfo Gating(GatingSpec gating)
    {
        ArgumentNullException.ThrowIfNull(gating);
        return new GatingInfo
        {
            Name = gating.Name,
            Scoring = gating.Scoring switch
            {
                GateScoring.Softmax => "softmax",
                GateScoring.Sigmoid => "sigmoid",
                _ => throw new ArgumentOutOfRangeException(nameof(gating), gating.Scoring, "Unknown gate scoring."),
            },
            NormalizeTopK = gating.NormalizeTopK,
            RoutedScalingFactor = gating.RoutedScalingFactor,
            SelectionBias = gating.SelectionBias,
            GroupSelection = gating.GroupSelection switch
            {
                GroupSelection.None => "none",
                GroupSelection.MaxScore => "max-score",
                GroupSelection.TopTwoSum => "top-two-sum",
                GroupSelection.Balanced => "balanced",
                _ => throw new ArgumentOutOfRangeException(nameof(gating), gating.GroupSelection, "Unknown group selection."),
            },
            Groups = gating.Groups,
            TopKGroups = gating.TopKGroups,
        };
    }
}
