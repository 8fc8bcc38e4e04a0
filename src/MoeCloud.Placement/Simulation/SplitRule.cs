namespace MoeCloud.Placement.Simulation;

/// <summary>
/// Whether a request is worth splitting over its tokens' homes on a link, or is cheaper homed whole: the rule of the
/// gateway's <c>HomeGranularity.Auto</c> and the simulator's <see cref="Granularity.Auto"/>, one implementation.
/// </summary>
/// <remarks>
/// Homed whole, a request makes one runner call, and at each MoE layer its home sends one dispatch message to each
/// other pod and gets one combine message back. Split over h homes, it makes h calls and every home does the same:
/// (h − 1) × (2 (P − 1) L + 2) more messages, each costing the link's latency. What the split buys is the remote
/// dispatches the predictor expects it to save (its scores: the token homes' against the whole request's home), each
/// a hidden state out and its result back, 2 × hidden × bytes per element over the link's bandwidth. The request is
/// split when that saving is larger than the extra messages' cost. The count of messages is an upper bound (a home
/// with few tokens may not reach every pod), so the rule leans towards homing whole, which is never wrong, only
/// sometimes more remote. Pure.
/// </remarks>
/// <param name="Link">The pods' link (<see cref="LinkModel.Presets"/>; <c>loopback</c> for pods on one machine).</param>
/// <param name="Hidden">Hidden size of the model.</param>
/// <param name="BytesPerElement">Bytes per element of a hidden state on the wire (4: the runtime sends fp32).</param>
public sealed record SplitRule(LinkModel Link, int Hidden, int BytesPerElement = 4)
{
    /// <summary>The link the local cluster's pods share: loopback, with the latency <c>moectl bench datapath</c>'s echo measures (docs/BENCHMARKS.md).</summary>
    public static LinkModel Loopback => LinkModel.Presets["loopback"];

    /// <summary>Throws <see cref="ArgumentException"/> for a rule that cannot price anything.</summary>
    public void Validate()
    {
        ArgumentNullException.ThrowIfNull(Link);
        if (Hidden <= 0 || BytesPerElement <= 0)
        {
            throw new ArgumentException($"the split rule needs a positive hidden size and bytes per element (got {Hidden} and {BytesPerElement}).");
        }

        if (!double.IsFinite(Link.BytesPerSecond) || Link.BytesPerSecond <= 0 || !double.IsFinite(Link.LatencySeconds) || Link.LatencySeconds < 0)
        {
            throw new ArgumentException($"link '{Link.Name}' needs a positive bandwidth and a latency >= 0.");
        }
    }

    /// <summary>Messages a split into <paramref name="homes"/> homes adds on <paramref name="pods"/> pods over <paramref name="layers"/> MoE layers.</summary>
    public static double ExtraMessages(int homes, int pods, int layers) =>
        homes <= 1 ? 0 : (homes - 1) * ((2.0 * Math.Max(0, pods - 1) * Math.Max(0, layers)) + 2);

    /// <summary>Seconds the extra messages of such a split cost on the link.</summary>
    public double ExtraMessageSeconds(int homes, int pods, int layers) => ExtraMessages(homes, pods, layers) * Link.LatencySeconds;

    /// <summary>Seconds of transfer that <paramref name="savedDispatches"/> fewer remote dispatches save (each out and back).</summary>
    public double SavedSeconds(double savedDispatches) => Math.Max(0, savedDispatches) * 2.0 * Hidden * BytesPerElement / Link.BytesPerSecond;

    /// <summary>Whether a split into <paramref name="homes"/> distinct homes that saves <paramref name="savedDispatches"/> predicted remote dispatches pays.</summary>
    public bool Splits(int homes, int pods, int layers, double savedDispatches) =>
        homes > 1 && SavedSeconds(savedDispatches) > ExtraMessageSeconds(homes, pods, layers);

    /// <summary>
    /// Homes one request both ways, from the same per-token scores of <paramref name="predictor"/>: each token as token
    /// granularity does (<see cref="HomeChooser.Pick"/> for one token, loads counted token by token), and the whole
    /// request as request granularity does (the scores summed, one pick for all its tokens); returns the split when
    /// <see cref="Splits"/> says it pays, else the whole request's home for every token. The gateway and the simulator
    /// both call this; <paramref name="homeLoads"/> is not changed.
    /// </summary>
    /// <param name="predictor">The speculative predictor of the plan.</param>
    /// <param name="known">The request's routing of <paramref name="fromLayer"/>, <c>[tokens, topK]</c> flat.</param>
    /// <param name="topK">Experts per token.</param>
    /// <param name="previousStep">The sequence's previous step (<c>[layers, topK]</c> flat), or empty.</param>
    /// <param name="homeLoads">Tokens currently homed on each pod.</param>
    /// <param name="fromLayer">The layer <paramref name="known"/> is of; the request runs from it to the plan's last layer.</param>
    /// <param name="layers">The plan's MoE layers.</param>
    /// <param name="slack">Home-load slack (<see cref="SpeculativeOptions.HomeSlack"/>).</param>
    /// <param name="preferred">The sequence's previous home, or -1.</param>
    /// <param name="margin">Sequence affinity margin per token (<see cref="SpeculativeOptions.AffinityMargin"/>; the whole request's is this × tokens).</param>
    public int[] Home(SpeculativeHomePredictor predictor, ReadOnlySpan<short> known, int topK, ReadOnlySpan<short> previousStep, ReadOnlySpan<long> homeLoads, int fromLayer, int layers, double slack, int preferred = -1, double margin = 0)
    {
        ArgumentNullException.ThrowIfNull(predictor);
        if (topK <= 0 || known.Length % topK != 0)
        {
            throw new ArgumentException($"the known routing ({known.Length} slots) is not whole tokens of {topK} experts.", nameof(known));
        }

        var tokens = known.Length / topK;
        var pods = homeLoads.Length;
        var scores = new double[tokens * pods];
        var whole = new double[pods];
        var split = new int[tokens];
        var splitLoads = homeLoads.ToArray();
        for (var t = 0; t < tokens; t++)
        {
            var mine = scores.AsSpan(t * pods, pods);
            var slots = known.Slice(t * topK, topK);
            predictor.AddScores(slots, previousStep, mine, fromLayer, layers);
            split[t] = HomeChooser.Pick(mine, splitLoads, 1, slack, preferred, margin);
            splitLoads[split[t]]++;
            predictor.AddScores(slots, previousStep, whole, fromLayer, layers); // summed as request granularity sums them
        }

        var home = HomeChooser.Pick(whole, homeLoads, tokens, slack, preferred, margin * tokens);
        var saved = -whole[home];
        for (var t = 0; t < tokens; t++)
        {
            saved += scores[(t * pods) + split[t]];
        }

        if (!Splits(split.Distinct().Count(), pods, layers - fromLayer, saved))
        {
            Array.Fill(split, home);
        }

        return split;
    }
}
