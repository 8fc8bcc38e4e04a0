namespace MoeCloud.Model.Synthetic;

/// <summary>Options of <see cref="SyntheticModelWriter"/>; <see cref="Validate"/> reports every problem at once.</summary>
public sealed record SyntheticModelOptions
{
    /// <summary>Random seed; the same seed gives the same bytes. Default 1.</summary>
    public int Seed { get; init; } = 1;

    /// <summary>Dimension of the routing subspace the gates read, in [1, 64]. Default 8.</summary>
    public int RoutingDimension { get; init; } = 8;

    /// <summary>Standard deviation of the experts' log-popularity (load skew), in [0, 5]. Default 0.7.</summary>
    public double Skew { get; init; } = 0.7;

    /// <summary>Correlation of an expert's router row with its successor's in the next layer (cross-layer affinity), in [0, 1]. Default 0.85.</summary>
    public double Affinity { get; init; } = 0.85;

    /// <summary>Scale of the routing-state logits, in (0, 50]. Default 3.</summary>
    public double Sharpness { get; init; } = 3;

    /// <summary>RMS of an expert's output relative to its input, in [0, 10]. Default 0.2.</summary>
    public double OutputScale { get; init; } = 0.2;

    /// <summary>Largest shard in bytes before a new one starts, in [1 MiB, 64 GiB]. Default 2 GiB.</summary>
    public long MaxShardBytes { get; init; } = 2L << 30;

    /// <summary>
    /// When set, routed experts are written as sparse holes (all zeros, no disk space) except those in
    /// <see cref="DenseExperts"/>: a multi-gigabyte checkpoint for load benchmarks. Default false.
    /// </summary>
    public bool SparseExperts { get; init; }

    /// <summary>(MoE layer, expert) pairs written with real values when <see cref="SparseExperts"/> is set.</summary>
    public IReadOnlySet<(int Layer, int Expert)> DenseExperts { get; init; } = new HashSet<(int, int)>();

    /// <summary>Throws <see cref="ArgumentException"/> listing every out-of-range option.</summary>
    public SyntheticModelOptions Validate()
    {
        var problems = new List<string>();
        if (RoutingDimension is < 1 or > 64)
        {
            problems.Add($"RoutingDimension must be in [1, 64], got {RoutingDimension}");
        }

        if (!(Skew is >= 0 and <= 5))
        {
            problems.Add($"Skew must be in [0, 5], got {Skew}");
        }

        if (!(Affinity is >= 0 and <= 1))
        {
            problems.Add($"Affinity must be in [0, 1], got {Affinity}");
        }

        if (!(Sharpness is > 0 and <= 50))
        {
            problems.Add($"Sharpness must be in (0, 50], got {Sharpness}");
        }

        if (!(OutputScale is >= 0 and <= 10))
        {
            problems.Add($"OutputScale must be in [0, 10], got {OutputScale}");
        }

        if (MaxShardBytes is < (1L << 20) or > (64L << 30))
        {
            problems.Add($"MaxShardBytes must be in [1 MiB, 64 GiB], got {MaxShardBytes}");
        }

        return problems.Count == 0 ? this : throw new ArgumentException($"Invalid synthetic model options: {string.Join("; ", problems)}.");
    }
}
