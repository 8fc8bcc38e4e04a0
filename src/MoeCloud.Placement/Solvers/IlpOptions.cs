namespace MoeCloud.Placement.Solvers;

/// <summary>Settings of <see cref="IlpSolver"/>; defaults are the ones measured in docs/BENCHMARKS.md.</summary>
public sealed record IlpOptions
{
    /// <summary>
    /// Most alternating sweeps (re-place every layer, then re-home the sampled tokens); default 2, in [1, 1000]. They
    /// share <see cref="DeterministicSeconds"/>, and each sweep's models cost wall time beyond their budget, so with
    /// the defaults the shared traces' 8-pod solves took 8.5–9.7 s on the 2-core development machine (docs/BENCHMARKS.md).
    /// </summary>
    public int Sweeps { get; init; } = 2;

    /// <summary>
    /// The solve's search budget in CP-SAT deterministic seconds (a measure of work, not of elapsed time), split evenly
    /// over <see cref="Sweeps"/> × layers: each layer model gets DeterministicSeconds / (Sweeps · layers), at least
    /// <see cref="MinLayerSeconds"/> (so with many layers the total can exceed it). The work a solve does, and so its
    /// plan, depends only on the problem, these options and the seed; the problem's wall-clock time limit is only a guard
    /// that stops a solve on a slow or loaded machine (status TimedOut, a plan that need not reproduce). Default 1.5, in
    /// [0.001, 100000].
    /// </summary>
    public double DeterministicSeconds { get; init; } = 1.5;

    /// <summary>Least deterministic seconds one layer model gets, however small <see cref="DeterministicSeconds"/> is split.</summary>
    public const double MinLayerSeconds = 0.02;

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

    /// <summary>
    /// Bootstrap resamples of the fitting sequences (seeded by the problem's seed) whose pod loads the layer models keep
    /// near the cap: the expected excess of a resample's most loaded pod over the cap
    /// costs <see cref="ResampleWeight"/> local dispatches per dispatch; and what <see cref="HedgeDeviations"/> hedges.
    /// 0 = fitted loads only (the solver before resampling). Default 8, in [0, 256].
    /// </summary>
    public int Resamples { get; init; } = 8;

    /// <summary>Local dispatches one dispatch of expected excess over the cap (under resampling) is worth; default 1, in [0, 1000].</summary>
    public double ResampleWeight { get; init; } = 1;

    /// <summary>
    /// Redundant replicas go to the experts with the highest (load + k · standard deviation over the resamples) per
    /// replica, so that experts whose load varies most are hedged too, not only the heaviest; k = 0 (or no resamples)
    /// is EPLB's rule. Default 1, in [0, 100].
    /// </summary>
    public double HedgeDeviations { get; init; } = 1;

    /// <summary>
    /// Consecutive pods that form one node (0 = no node level): a dispatch to another pod of the home's node counts
    /// <see cref="NodeWeight"/> of a local one in the layer objective, so co-activated experts that do not fit one pod
    /// stay within one node. Must divide the pod count. Default 0, in [0, 4096].
    /// </summary>
    public int PodsPerNode { get; init; }

    /// <summary>Worth of an intra-node (cross-pod) dispatch relative to a local one, with <see cref="PodsPerNode"/>; default 0.5, in [0, 1].</summary>
    public double NodeWeight { get; init; } = 0.5;

    /// <summary>CP-SAT workers; default 1 (deterministic). More workers with a deterministic time limit stay deterministic only per machine load; keep 1 for reproducible plans.</summary>
    public int Workers { get; init; } = 1;

    /// <summary>
    /// Layer models solved side by side (the layers of one red-black colour are independent); 0 (default) = one per
    /// processor. The plan does not depend on it; in [0, 256].
    /// </summary>
    public int Threads { get; init; }

    /// <summary>Throws <see cref="ArgumentException"/> naming every out-of-range value.</summary>
    public void Validate()
    {
        var problems = new List<string>();
        if (Sweeps is < 1 or > 1000)
        {
            problems.Add($"{nameof(Sweeps)} must be in [1, 1000] (got {Sweeps})");
        }

        if (!double.IsFinite(DeterministicSeconds) || DeterministicSeconds is < 0.001 or > 100_000)
        {
            problems.Add($"{nameof(DeterministicSeconds)} must be in [0.001, 100000] (got {DeterministicSeconds})");
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

        if (Resamples is < 0 or > 256)
        {
            problems.Add($"{nameof(Resamples)} must be in [0, 256] (got {Resamples})");
        }

        if (!double.IsFinite(ResampleWeight) || ResampleWeight is < 0 or > 1000)
        {
            problems.Add($"{nameof(ResampleWeight)} must be in [0, 1000] (got {ResampleWeight})");
        }

        if (!double.IsFinite(HedgeDeviations) || HedgeDeviations is < 0 or > 100)
        {
            problems.Add($"{nameof(HedgeDeviations)} must be in [0, 100] (got {HedgeDeviations})");
        }

        if (PodsPerNode is < 0 or > 4096)
        {
            problems.Add($"{nameof(PodsPerNode)} must be in [0, 4096] (got {PodsPerNode})");
        }

        if (!double.IsFinite(NodeWeight) || NodeWeight is < 0 or > 1)
        {
            problems.Add($"{nameof(NodeWeight)} must be in [0, 1] (got {NodeWeight})");
        }

        if (Workers is < 1 or > 64)
        {
            problems.Add($"{nameof(Workers)} must be in [1, 64] (got {Workers})");
        }

        if (Threads is < 0 or > 256)
        {
            problems.Add($"{nameof(Threads)} must be in [0, 256] (got {Threads})");
        }

        if (problems.Count > 0)
        {
            throw new ArgumentException(string.Join("; ", problems));
        }
    }
}
