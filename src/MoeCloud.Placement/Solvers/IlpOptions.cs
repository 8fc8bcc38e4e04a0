namespace MoeCloud.Placement.Solvers;

/// <summary>Settings of <see cref="IlpSolver"/>; defaults are the ones measured in docs/BENCHMARKS.md.</summary>
public sealed record IlpOptions
{
    /// <summary>Most alternating sweeps (re-place every layer, then re-home the sampled tokens); default 12, in [1, 1000].</summary>
    public int Sweeps { get; init; } = 12;

    /// <summary>Per layer, a pod's predicted expert load may reach (1 + slack) × the mean; default 0.02, in [0, 10].</summary>
    public double LoadSlack { get; init; } = 0.02;

    /// <summary>Sampled tokens homed on a pod may reach (1 + slack) × the mean; default 0.02, in [0, 10].</summary>
    public double HomeSlack { get; init; } = 0.02;

    /// <summary>Weight of adjacent-layer transition affinity next to token affinity; default 0.1, in [0, 100].</summary>
    public double TransitionWeight { get; init; } = 0.1;

    /// <summary>
    /// Extra weight of a token's first-layer dispatches when the solver homes sampled tokens (0 = best home in hindsight);
    /// a positive weight makes the plan fit homes that a gateway can predict from the first layer. Default 4, in [0, 1000].
    /// </summary>
    public int FirstLayerHomeWeight { get; init; } = 4;

    /// <summary>
    /// Count a replica's expected load as at least the dispatches of the tokens homed on its pod (local dispatches never
    /// go to another replica), not only its even share; keeps the simulated expert-load imbalance close to the cap.
    /// Default true.
    /// </summary>
    public bool ConcentrationAwareLoads { get; init; } = true;

    /// <summary>CP-SAT workers; default 1 (deterministic). More workers with a deterministic time limit stay deterministic only per machine load; keep 1 for reproducible plans.</summary>
    public int Workers { get; init; } = 1;

    /// <summary>Throws <see cref="ArgumentException"/> naming every out-of-range value.</summary>
    public void Validate()
    {
        var problems = new List<string>();
        if (Sweeps is < 1 or > 1000)
        {
            problems.Add($"{nameof(Sweeps)} must be in [1, 1000] (got {Sweeps})");
        }

        if (!double.IsFinite(LoadSlack) || LoadSlack is < 0 or > 10)
        {
            problems.Add($"{nameof(LoadSlack)} must be in [0, 10] (got {LoadSlack})");
        }

        if (!double.IsFinite(HomeSlack) || HomeSlack is < 0 or > 10)
        {
            problems.Add($"{nameof(HomeSlack)} must be in [0, 10] (got {HomeSlack})");
        }

        if (!double.IsFinite(TransitionWeight) || TransitionWeight is < 0 or > 100)
        {
            problems.Add($"{nameof(TransitionWeight)} must be in [0, 100] (got {TransitionWeight})");
        }

        if (FirstLayerHomeWeight is < 0 or > 1000)
        {
            problems.Add($"{nameof(FirstLayerHomeWeight)} must be in [0, 1000] (got {FirstLayerHomeWeight})");
        }

        if (Workers is < 1 or > 64)
        {
            problems.Add($"{nameof(Workers)} must be in [1, 64] (got {Workers})");
        }

        if (problems.Count > 0)
        {
            throw new ArgumentException(string.Join("; ", problems));
        }
    }
}
