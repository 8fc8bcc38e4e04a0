using MoeCloud.Contracts.Protos;

namespace MoeCloud.Contracts.Models;

/// <summary>JSON body of <c>GET /v1/models/{model}</c>: the JSON form of <see cref="ModelInfo"/>.</summary>
/// <param name="Model">The model's name.</param>
/// <param name="Family">Model family (<c>DeepSeekV2</c>, <c>Qwen3Moe</c>, …).</param>
/// <param name="MoeLayers">MoE layers.</param>
/// <param name="Experts">Routed experts per layer.</param>
/// <param name="TopK">Experts chosen per token and layer.</param>
/// <param name="Hidden">Hidden size.</param>
/// <param name="ExpertIntermediate">Intermediate size of one expert.</param>
/// <param name="SharedExperts">Shared experts per layer.</param>
/// <param name="Gating">The router's gating function.</param>
/// <param name="Dtype">Weight type (<c>F32</c>, <c>BF16</c>).</param>
/// <param name="PlanVersion">The plan in effect; 0 before the first.</param>
/// <param name="Pods">Pods serving now.</param>
public sealed record JsonModelInfo(
    string Model,
    string Family,
    int MoeLayers,
    int Experts,
    int TopK,
    int Hidden,
    int ExpertIntermediate,
    int SharedExperts,
    JsonGating Gating,
    string Dtype,
    int PlanVersion,
    int Pods)
{
    /// <summary>The JSON form of <paramref name="info"/>.</summary>
    public static JsonModelInfo From(ModelInfo info)
    {
        ArgumentNullException.ThrowIfNull(info);
        return new JsonModelInfo(info.Model, info.Family, info.MoeLayers, info.Experts, info.TopK, info.Hidden, info.ExpertIntermediate, info.SharedExperts, JsonGating.From(info.Gating), info.Dtype, info.PlanVersion, info.Pods);
    }
}

/// <summary>
/// The JSON form of <see cref="GatingInfo"/>: scores are <see cref="Scoring"/>(logits); experts are chosen by score
/// (plus a per-expert bias when <see cref="SelectionBias"/>) within the kept groups; the combine weights are the
/// chosen scores, renormalised when <see cref="NormalizeTopK"/>, times <see cref="RoutedScalingFactor"/>.
/// </summary>
/// <param name="Name"><c>softmax-topk</c> or <c>sigmoid-topk</c>.</param>
/// <param name="Scoring"><c>softmax</c> or <c>sigmoid</c>.</param>
/// <param name="NormalizeTopK">Whether the top-k weights are divided by their sum.</param>
/// <param name="RoutedScalingFactor">Factor on the combine weights; 1 for none.</param>
/// <param name="SelectionBias">Whether the gate has a per-expert selection bias.</param>
/// <param name="GroupSelection"><c>none</c>, <c>max-score</c>, <c>top-two-sum</c> or <c>balanced</c>.</param>
/// <param name="Groups">Expert groups; 1 without grouping.</param>
/// <param name="TopKGroups">Groups kept before the top-k.</param>
public sealed record JsonGating(string Name, string Scoring, bool NormalizeTopK, double RoutedScalingFactor, bool SelectionBias, string GroupSelection, int Groups, int TopKGroups)
{
    /// <summary>The JSON form of <paramref name="gating"/>.</summary>
    public static JsonGating From(GatingInfo gating)
    {
        ArgumentNullException.ThrowIfNull(gating);
        return new JsonGating(gating.Name, gating.Scoring, gating.NormalizeTopK, gating.RoutedScalingFactor, gating.SelectionBias, gating.GroupSelection, gating.Groups, gating.TopKGroups);
    }
}
