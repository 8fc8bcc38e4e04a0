namespace MoeCloud.Abstractions;

/// <summary>
/// One layer's work for one pod, the dispatch half of the per-layer all-to-all (DESIGN.md §6a): the distinct token rows
/// that pod needs, each once, and per expert (ascending) the rows it runs with their gate weights. The same shape holds
/// the home pod's own local work, which never leaves the process. The reply (the combine half) is one row per token
/// row: the gate-weighted sum of that pod's expert outputs.
/// </summary>
/// <param name="Model">Model name.</param>
/// <param name="Layer">MoE layer index.</param>
/// <param name="Pod">The pod whose replicas serve the work.</param>
/// <param name="Rows">The token rows, <c>[rows, hidden]</c>, already normalised, pooled: sending the work hands them over (<see cref="PooledRows"/>), and whoever runs it disposes them.</param>
/// <param name="Experts">The experts, ascending, one per group.</param>
/// <param name="GroupStarts">Group g's entries are <c>[GroupStarts[g], GroupStarts[g + 1])</c>; length groups + 1.</param>
/// <param name="EntryRows">Per entry, the row (of <paramref name="Rows"/>) its expert runs on.</param>
/// <param name="EntryWeights">Per entry, the gate weight its output is scaled by.</param>
[GenerateSerializer, Immutable, Alias("moecloud.layer-work")]
public sealed record LayerWork(
    [property: Id(0)] string Model,
    [property: Id(1)] int Layer,
    [property: Id(2)] int Pod,
    [property: Id(3)] PooledRows Rows,
    [property: Id(4)] int[] Experts,
    [property: Id(5)] int[] GroupStarts,
    [property: Id(6)] int[] EntryRows,
    [property: Id(7)] float[] EntryWeights)
{
    /// <summary>Expert groups.</summary>
    public int Groups => Experts.Length;

    /// <summary>(token, expert) entries over all groups.</summary>
    public int Entries => EntryRows.Length;

    /// <summary>Throws <see cref="ArgumentException"/> unless the work is well formed for a model of <paramref name="experts"/> experts per layer and <paramref name="hidden"/> columns.</summary>
    public void Validate(int experts, int hidden)
    {
        ArgumentNullException.ThrowIfNull(Rows);
        if (Rows.IsDisposed)
        {
            throw new ArgumentException($"Layer work for {Model} layer {Layer} has rows that went back to their pool.");
        }

        if (Rows.Hidden != hidden)
        {
            throw new ArgumentException($"Layer work for {Model} layer {Layer} has hidden size {Rows.Hidden}; the model's is {hidden}.");
        }

        if (Experts is null || GroupStarts is null || EntryRows is null || EntryWeights is null)
        {
            throw new ArgumentException($"Layer work for {Model} layer {Layer} lacks its expert groups.");
        }

        if (GroupStarts.Length != Experts.Length + 1 || GroupStarts[0] != 0 || GroupStarts[^1] != EntryRows.Length || EntryWeights.Length != EntryRows.Length)
        {
            throw new ArgumentException($"Layer work for {Model} layer {Layer}: {Experts.Length} groups need {Experts.Length + 1} group starts from 0 to the {EntryRows.Length} entries, and one weight per entry (got {GroupStarts.Length} starts, {EntryWeights.Length} weights).");
        }

        for (var g = 0; g < Experts.Length; g++)
        {
            if ((uint)Experts[g] >= (uint)experts || (g > 0 && Experts[g] <= Experts[g - 1]) || GroupStarts[g + 1] <= GroupStarts[g])
            {
                throw new ArgumentException($"Layer work for {Model} layer {Layer}: group {g} (expert {Experts[g]}) must name an expert in [0, {experts}) above the previous group's, with at least one entry.");
            }
        }

        foreach (var row in EntryRows)
        {
            if ((uint)row >= (uint)Rows.Tokens)
            {
                throw new ArgumentException($"Layer work for {Model} layer {Layer}: entry row {row} is outside the {Rows.Tokens} rows sent.");
            }
        }
    }
}

/// <summary>
/// The rest of a request step that its home re-homed to another pod (DESIGN.md §2): the tokens' hidden states before
/// <paramref name="FirstLayer"/> (the residual stream, not normalised), and their forced routing for the remaining
/// layers when the step had one (<c>[tokens, layers, topK]</c>).
/// </summary>
/// <param name="Model">Model name.</param>
/// <param name="FirstLayer">The layer the new home starts at.</param>
/// <param name="LastLayer">The step's last layer.</param>
/// <param name="Hidden">The tokens' states.</param>
/// <param name="ForcedIds">Forced expert ids, or null.</param>
/// <param name="ForcedWeights">Forced gate weights, or null.</param>
/// <param name="ForcedTopK">Slots per token and layer of the forced routing (0 without one).</param>
[GenerateSerializer, Immutable, Alias("moecloud.continued-step")]
public sealed record ContinuedStep(
    [property: Id(0)] string Model,
    [property: Id(1)] int FirstLayer,
    [property: Id(2)] int LastLayer,
    [property: Id(3)] HiddenStates Hidden,
    [property: Id(4)] int[]? ForcedIds,
    [property: Id(5)] float[]? ForcedWeights,
    [property: Id(6)] int ForcedTopK);

/// <summary>What a re-homed step's new home answers: the tokens' states after the last layer, and how it served them.</summary>
/// <param name="Hidden">The tokens' output states.</param>
/// <param name="LocalDispatches">Local dispatches on the new home (and any pod it re-homed to in turn).</param>
/// <param name="RemoteDispatches">Remote dispatches, re-homes included.</param>
/// <param name="PlanVersion">The plan version the new home ran with.</param>
/// <param name="ExpertIds">The routing, <c>[tokens, layers, topK]</c> over the layers it ran.</param>
[GenerateSerializer, Immutable, Alias("moecloud.continued-step-result")]
public sealed record ContinuedStepResult(
    [property: Id(0)] HiddenStates Hidden,
    [property: Id(1)] long LocalDispatches,
    [property: Id(2)] long RemoteDispatches,
    [property: Id(3)] int PlanVersion,
    [property: Id(4)] int[] ExpertIds);

/// <summary>
/// The expert side of one pod on the hot path: runs a layer's work on the replicas this pod holds, in process, with no
/// grain call per expert. The replicas themselves stay <see cref="IExpertGrain"/>s (placement, weights, warm-up and
/// retirement); this grain only reaches their weights. Keyed by the pod index; placed on that pod.
/// </summary>
[Alias("moecloud.pod-experts")]
public interface IPodExpertsGrain : IGrainWithStringKey
{
    /// <summary>
    /// Runs <paramref name="work"/> and returns, per row, the gate-weighted sum of the expert outputs. The work's rows
    /// are handed over (this grain disposes them once computed), and the caller owns and disposes the reply.
    /// </summary>
    [Alias("run")]
    Task<PooledRows> Run(LayerWork work);

    /// <summary>Returns <paramref name="rows"/> unchanged: the transport's own cost for a layer message of that size, the limit a layer cannot beat. The caller owns and disposes the reply.</summary>
    [Alias("echo")]
    Task<PooledRows> Echo(PooledRows rows);

    /// <summary>Runs the rest of a step that another pod re-homed here; this pod is the tokens' home from then on.</summary>
    [Alias("continue")]
    Task<ContinuedStepResult> Continue(ContinuedStep step);

    /// <summary>
    /// Measured on this pod, as its runner would send a layer: <paramref name="rounds"/> times, one <see cref="Echo"/>
    /// of <paramref name="bytes"/>[i] bytes to each pod <paramref name="pods"/>[i] at once. Returns each round's
    /// milliseconds: the limit of one layer's all-to-all on this transport.
    /// </summary>
    [Alias("measure-echo")]
    Task<double[]> MeasureEcho(int[] pods, int[] bytes, int rounds);
}
