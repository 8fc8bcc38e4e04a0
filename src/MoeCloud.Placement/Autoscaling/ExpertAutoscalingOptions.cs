using System.Globalization;

namespace MoeCloud.Placement.Autoscaling;

/// <summary>
/// Settings of <see cref="ExpertReplicaAutoscaler"/>. The target is either <see cref="MaxLoadImbalance"/> (the layer's
/// expert-load imbalance, <see cref="Metrics.ExpertLoadImbalance"/>) or <see cref="TargetLoadPerReplica"/> (a replica's
/// share of its layer's dispatches); exactly one is set. Replicas retire only well below the target
/// (<see cref="RetireRatio"/>), so an add and a retire never undo each other.
/// </summary>
public sealed record ExpertAutoscalingOptions
{
    /// <summary>Most expert-load imbalance (max over mean load per pod) a layer may have before replicas are added; at least 1.</summary>
    public double? MaxLoadImbalance { get; init; }

    /// <summary>Most share of its layer's dispatches one replica may carry before its expert gets another, in (0, 1].</summary>
    public double? TargetLoadPerReplica { get; init; }

    /// <summary>
    /// Hysteresis: an extra replica retires only when the value left after retiring it stays at or under this fraction of
    /// the target (for <see cref="MaxLoadImbalance"/> m: of its excess, the imbalance ≤ 1 + ratio × (m − 1)). In (0, 1), default 0.5.
    /// </summary>
    public double RetireRatio { get; init; } = 0.5;

    /// <summary>Fewest extra replicas (beyond one per expert) per layer; default 0.</summary>
    public int MinRedundant { get; init; }

    /// <summary>Most extra replicas per layer; default 8.</summary>
    public int MaxRedundant { get; init; } = 8;

    /// <summary>Most replicas one pod holds in one layer; null: only the pods' capacities (all layers) limit it.</summary>
    public int? LayerSlots { get; init; }

    /// <summary>Most replicas one step adds (each is a move: its weights load on a pod), and most it retires; default 8.</summary>
    public int MaxMoves { get; init; } = 8;

    /// <summary>Least time between two changes; default 120 s.</summary>
    public TimeSpan Cooldown { get; init; } = TimeSpan.FromSeconds(120);

    /// <summary>Throws <see cref="ArgumentException"/> naming every out-of-range value.</summary>
    public void Validate()
    {
        var problems = new List<string>();
        if (MaxLoadImbalance is null == TargetLoadPerReplica is null)
        {
            problems.Add($"set exactly one of {nameof(MaxLoadImbalance)} and {nameof(TargetLoadPerReplica)} (got {(MaxLoadImbalance is null ? "neither" : "both")})");
        }

        if (MaxLoadImbalance is { } m && (!double.IsFinite(m) || m < 1))
        {
            problems.Add(Invariant($"{nameof(MaxLoadImbalance)} must be a number of at least 1 (got {m})"));
        }

        if (TargetLoadPerReplica is { } t && (!double.IsFinite(t) || t is <= 0 or > 1))
        {
            problems.Add(Invariant($"{nameof(TargetLoadPerReplica)} must be in (0, 1] (got {t})"));
        }

        if (!double.IsFinite(RetireRatio) || RetireRatio is <= 0 or >= 1)
        {
            problems.Add(Invariant($"{nameof(RetireRatio)} must be in (0, 1) (got {RetireRatio})"));
        }

        if (MinRedundant < 0)
        {
            problems.Add($"{nameof(MinRedundant)} must not be negative (got {MinRedundant})");
        }

        if (MinRedundant > MaxRedundant)
        {
            problems.Add($"{nameof(MinRedundant)} ({MinRedundant}) must not exceed {nameof(MaxRedundant)} ({MaxRedundant})");
        }

        if (LayerSlots is < 1)
        {
            problems.Add($"{nameof(LayerSlots)} must be at least 1 when set (got {LayerSlots})");
        }

        if (MaxMoves < 1)
        {
            problems.Add($"{nameof(MaxMoves)} must be at least 1 (got {MaxMoves})");
        }

        if (Cooldown < TimeSpan.Zero)
        {
            problems.Add($"{nameof(Cooldown)} must not be negative (got {Cooldown})");
        }

        if (problems.Count > 0)
        {
            throw new ArgumentException("invalid expert autoscaling options: " + string.Join("; ", problems));
        }
    }

    private static string Invariant(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
}
