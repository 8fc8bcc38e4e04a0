namespace MoeCloud.Model.Spec;

/// <summary>How the router turns logits into per-expert scores.</summary>
public enum GateScoring
{
    /// <summary>Softmax over all routed experts (<c>softmax-topk</c>).</summary>
    Softmax,

    /// <summary>Independent sigmoid per expert (<c>sigmoid-topk</c>).</summary>
    Sigmoid,
}

/// <summary>How experts are grouped before the top-k.</summary>
public enum GroupSelection
{
    /// <summary>No groups: plain top-k over all experts.</summary>
    None,

    /// <summary>Keep the <c>TopKGroups</c> groups with the highest single expert score (DeepSeek-V2 <c>group_limited_greedy</c>).</summary>
    MaxScore,

    /// <summary>Keep the <c>TopKGroups</c> groups with the highest sum of their two best scores (DeepSeek-V3 <c>noaux_tc</c>).</summary>
    TopTwoSum,

    /// <summary>Every group contributes <c>topK / Groups</c> experts (Pangu's mixture of grouped experts, MoGE).</summary>
    Balanced,
}

/// <summary>
/// The gating function of a MoE layer. Scores are <see cref="Scoring"/>(logits); experts are chosen by score plus
/// the per-expert selection bias (when <see cref="SelectionBias"/>), limited to the chosen groups; the combine
/// weights are the chosen experts' scores (never the bias), renormalised over the top-k when
/// <see cref="NormalizeTopK"/>, then multiplied by <see cref="RoutedScalingFactor"/>.
/// </summary>
public sealed record GatingSpec
{
    /// <summary>Softmax or sigmoid scores.</summary>
    public GateScoring Scoring { get; init; } = GateScoring.Softmax;

    /// <summary>Whether the top-k weights are divided by their sum.</summary>
    public bool NormalizeTopK { get; init; }

    /// <summary>Factor applied to the combine weights (DeepSeek-V2/V3 <c>routed_scaling_factor</c>); 1 for none.</summary>
    public double RoutedScalingFactor { get; init; } = 1.0;

    /// <summary>Whether the gate has a per-expert selection bias (DeepSeek-V3 <c>e_score_correction_bias</c>).</summary>
    public bool SelectionBias { get; init; }

    /// <summary>How groups are chosen; <see cref="GroupSelection.None"/> for plain top-k.</summary>
    public GroupSelection GroupSelection { get; init; } = GroupSelection.None;

    /// <summary>Expert groups (<c>n_group</c>); 1 without grouping.</summary>
    public int Groups { get; init; } = 1;

    /// <summary>Groups kept before the top-k (<c>topk_group</c>); ignored by <see cref="GroupSelection.Balanced"/>.</summary>
    public int TopKGroups { get; init; } = 1;

    /// <summary>The function's name as the issue and the CRD spell it: <c>softmax-topk</c> or <c>sigmoid-topk</c>.</summary>
    public string Name => Scoring == GateScoring.Softmax ? "softmax-topk" : "sigmoid-topk";

    /// <summary>Every problem with this gating for a layer of <paramref name="experts"/> experts and top-<paramref name="topK"/>.</summary>
    public IEnumerable<string> Problems(int experts, int topK)
    {
        if (!double.IsFinite(RoutedScalingFactor) || RoutedScalingFactor <= 0)
        {
            yield return $"routed scaling factor must be a positive finite number, got {RoutedScalingFactor}";
        }

        if (GroupSelection == GroupSelection.None)
        {
            if (Groups != 1)
            {
                yield return $"{Groups} expert groups need a group selection (max-score, top-two-sum or balanced)";
            }

            yield break;
        }

        if (Groups < 1 || experts <= 0 || experts % Groups != 0)
        {
            yield return $"{experts} experts do not split into {Groups} equal groups";
            yield break;
        }

        var perGroup = experts / Groups;
        if (GroupSelection == GroupSelection.Balanced)
        {
            if (topK % Groups != 0)
            {
                yield return $"balanced groups need top-k ({topK}) to be a multiple of the group count ({Groups})";
            }

            yield break;
        }

        if (TopKGroups < 1 || TopKGroups > Groups)
        {
            yield return $"groups kept ({TopKGroups}) must be in [1, {Groups}]";
        }
        else if (topK > TopKGroups * perGroup)
        {
            yield return $"top-k {topK} exceeds the {TopKGroups * perGroup} experts in the {TopKGroups} kept groups";
        }

        if (GroupSelection == GroupSelection.TopTwoSum && perGroup < 2)
        {
            yield return "top-two-sum group scores need at least two experts per group";
        }
    }
}
