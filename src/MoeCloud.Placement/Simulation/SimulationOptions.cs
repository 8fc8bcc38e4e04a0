namespace MoeCloud.Placement.Simulation;

/// <summary>How the simulator picks each token's home pod (DESIGN.md §2, §4).</summary>
public enum HomePolicy
{
    /// <summary>Uniformly random pod (seeded): vanilla expert parallelism, blind to experts.</summary>
    Random,

    /// <summary>The pod holding most of the token's first-MoE-layer experts, load-aware (<see cref="HomeChooser"/>).</summary>
    FirstLayer,

    /// <summary>The best pod for the sequence's previous step (its whole routing is known once it ran), load-aware;
    /// a sequence's first token falls back to <see cref="FirstLayer"/>. Token granularity only.</summary>
    Sequence,

    /// <summary>The gateway's policy, <see cref="SpeculativeHomePredictor"/>: first layer known, later layers predicted
    /// from transition statistics, plus the previous step; load-aware.</summary>
    Speculative,

    /// <summary>The best home in hindsight (see <see cref="SimulationMetrics.PredictionHitRate"/>), blind to load.</summary>
    Oracle,
}

/// <summary>Whether homes are chosen per token or per request.</summary>
public enum Granularity
{
    /// <summary>Each token gets its own home (the gateway's token shuffling).</summary>
    Token,

    /// <summary>All tokens of a sequence share one home (the policy scores the whole sequence at once).</summary>
    Request,

    /// <summary>
    /// Per sequence, its tokens' own homes or one home for all, whichever <see cref="SimulationOptions.Split"/> prices
    /// lower (<see cref="SplitRule"/>, the gateway's auto homes). Speculative policy only.
    /// </summary>
    Auto,
}

/// <summary>Options of one simulation.</summary>
public sealed record SimulationOptions
{
    /// <summary>Home-pod policy (default speculative).</summary>
    public HomePolicy Home { get; init; } = HomePolicy.Speculative;

    /// <summary>Token (default) or request granularity.</summary>
    public Granularity Granularity { get; init; } = Granularity.Token;

    /// <summary>Seed of the random policy and of remote-replica tie breaks.</summary>
    public int Seed { get; init; } = 1;

    /// <summary>Speculative and load-aware policy settings.</summary>
    public SpeculativeOptions Speculative { get; init; } = new();

    /// <summary>
    /// Re-home tokens between layers (speculative token shuffling): before layer l ≥ 1 the runner knows layer l's
    /// routing; it moves the token when another pod's predicted local dispatches over layers l .. l + window − 1 beat
    /// the current home's by more than <see cref="SpeculativeOptions.RehomeMargin"/>. A re-home counts one remote dispatch.
    /// </summary>
    public bool Rehome { get; init; }

    /// <summary>The link and token size that <see cref="Granularity.Auto"/> prices a split with; required with it.</summary>
    public SplitRule? Split { get; init; }

    /// <summary>Throws <see cref="ArgumentException"/> for combinations that make no sense.</summary>
    public void Validate()
    {
        Speculative.Validate();
        if (Granularity == Granularity.Auto)
        {
            if (Home != HomePolicy.Speculative)
            {
                throw new ArgumentException($"auto granularity prices the speculative policy's predictions; it does not go with the {Home} policy.", nameof(Granularity));
            }

            if (Split is null)
            {
                throw new ArgumentException("auto granularity needs a split rule (the link and the token size it prices a split with).", nameof(Split));
            }

            Split.Validate();
        }

        if (Granularity == Granularity.Request && Home == HomePolicy.Sequence)
        {
            throw new ArgumentException("the sequence policy needs token granularity: with request granularity a whole sequence is one step and has no previous step.", nameof(Home));
        }

        if (Granularity != Granularity.Token && Rehome)
        {
            throw new ArgumentException("re-homing needs token granularity.", nameof(Rehome));
        }
    }
}

/// <summary>
/// Settings of the speculative predictor and of every load-aware choice. Defaults are the ones measured in
/// docs/BENCHMARKS.md.
/// </summary>
public sealed record SpeculativeOptions
{
    /// <summary>A pod whose homed tokens would exceed (1 + slack) × its share is skipped; default 0.05, in [0, 10].</summary>
    public double HomeSlack { get; init; } = 0.05;

    /// <summary>Weight of each of the previous step's dispatches in a pod's score; default 0.02, in [0, 100].</summary>
    public double PreviousStepWeight { get; init; } = 0.02;

    /// <summary>Weight of predicted later-layer dispatches; default 1, in [0, 100].</summary>
    public double PredictedWeight { get; init; } = 1;

    /// <summary>Later layers whose experts are predicted (0 = first layer only); default 1 (further layers add more noise than signal on the ESFT traces).</summary>
    public int Horizon { get; init; } = 1;

    /// <summary>
    /// Predict each later layer from the previous two (the top-1 expert of layer l − 1 with each expert of layer l), as
    /// far as the transition model has a two-layer part; default true.
    /// </summary>
    public bool TwoLayer { get; init; } = true;

    /// <summary>
    /// Pseudo-count κ of the two-layer prediction: a pair seen n times gets weight n / (n + κ), the one-layer estimate
    /// the rest; default 4, in [0, 1000].
    /// </summary>
    public double PairBackoff { get; init; } = 4;

    /// <summary>
    /// Sequence affinity: a sequence's next step stays on its previous home unless another pod's score (predicted local
    /// dispatches) is higher by at least this much; 0 turns affinity off. Default 0, in [0, 1000].
    /// </summary>
    public double AffinityMargin { get; init; }

    /// <summary>Predicted local-dispatch gain a re-home must exceed; default 1.5, in [0, 1000].</summary>
    public double RehomeMargin { get; init; } = 1.5;

    /// <summary>Layers (the current one included) a re-home decision looks at; default 4, at least 1.</summary>
    public int RehomeWindow { get; init; } = 4;

    /// <summary>Throws <see cref="ArgumentException"/> on out-of-range or non-finite values, naming all of them.</summary>
    public void Validate()
    {
        var problems = new List<string>();
        Check(problems, nameof(HomeSlack), HomeSlack, 0, 10);
        Check(problems, nameof(PreviousStepWeight), PreviousStepWeight, 0, 100);
        Check(problems, nameof(PredictedWeight), PredictedWeight, 0, 100);
        Check(problems, nameof(RehomeMargin), RehomeMargin, 0, 1000);
        Check(problems, nameof(AffinityMargin), AffinityMargin, 0, 1000);
        Check(problems, nameof(PairBackoff), PairBackoff, 0, 1000);
        if (Horizon < 0)
        {
            problems.Add($"{nameof(Horizon)} must not be negative (got {Horizon})");
        }

        if (RehomeWindow < 1)
        {
            problems.Add($"{nameof(RehomeWindow)} must be at least 1 (got {RehomeWindow})");
        }

        if (problems.Count > 0)
        {
            throw new ArgumentException(string.Join("; ", problems));
        }
    }

    private static void Check(List<string> problems, string name, double value, double min, double max)
    {
        if (!double.IsFinite(value) || value < min || value > max)
        {
            problems.Add($"{name} must be a number in [{min}, {max}] (got {value})");
        }
    }
}
