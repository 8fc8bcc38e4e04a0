using MoeCloud.Gateway.Hosting;
using MoeCloud.Placement.Plans;
using MoeCloud.Placement.Simulation;

namespace MoeCloud.Gateway.Scheduling;

/// <summary>The homes chosen for one request and what the choice was based on.</summary>
/// <param name="Homes">Home pod per token.</param>
/// <param name="PlanVersion">The plan version the choice used (0: none known yet).</param>
/// <param name="Known">The routing the choice was based on, int16 <c>[tokens, topK]</c> of the first layer (empty for least-requests).</param>
/// <param name="Plan">The plan the choice was based on, or null.</param>
/// <param name="Gate">
/// The gateway's own gate of the first layer when the choice computed it (not for forced routing or least-requests):
/// the forwarder carries each sub-batch's share to its home, which then routes that layer with it.
/// </param>
public sealed record HomeChoice(int[] Homes, int PlanVersion, short[] Known, PlacementPlan? Plan, GateDecision? Gate = null);

/// <summary>
/// Chooses each token's home pod for one model. <see cref="HomePolicyName.Speculative"/> shares its scoring with the
/// simulator (<see cref="SpeculativeHomePredictor"/>): the first layer's experts (forced routing when given, otherwise
/// the gateway's own gate on the input), the sequence's previous step, and transition statistics, within home-load
/// balance — per token, per request with <see cref="HomeGranularity.Request"/>, or per request either way with <see cref="HomeGranularity.Auto"/>. <see cref="HomePolicyName.LeastRequests"/> sends the whole batch to the pod with the fewest requests in
/// flight. Thread-safe (one lock per model; a choice takes microseconds per token).
/// </summary>
/// <remarks>
/// Sequence affinity: a request of at most <paramref name="affinityMaxTokens"/> tokens (a decode step) of a sequence
/// the gateway has seen stays on the sequence's previous home unless another pod's predicted local dispatches are
/// higher by <see cref="SpeculativeOptions.AffinityMargin"/> (<paramref name="speculative"/>), or the previous home is
/// unavailable or over its share of homed tokens.
/// <para>With <see cref="HomeGranularity.Auto"/> each request is homed both ways and <paramref name="split"/> (default: the
/// <c>loopback</c> link at the model's hidden size) decides which one it gets (<see cref="SplitRule"/>): the saving it
/// prices is the predictor's own scores, the token homes' against the whole request's home.</para>
/// </remarks>
public sealed class PreScheduler(GateModel gates, HomePolicyName policy, SpeculativeOptions? speculative = null, int affinityMaxTokens = 4, HomeGranularity granularity = HomeGranularity.Token, SplitRule? split = null)
{
    private readonly SplitRule _split = Checked(split ?? new SplitRule(SplitRule.Loopback, gates.Spec.Hidden));
    private readonly double _homeSlack = (speculative ?? new SpeculativeOptions()).HomeSlack;
    private readonly double _affinityMargin = (speculative ?? new SpeculativeOptions()).AffinityMargin;
    private const int MaxSequences = 100_000;
    private readonly Lock _gate = new();
    private readonly Dictionary<string, SequenceState> _previous = new(StringComparer.Ordinal);
    private readonly Queue<string> _sequenceOrder = new();
    private PlacementPlan? _plan;
    private SpeculativeHomePredictor? _predictor;
    private TransitionModel? _transitions;
    private long[] _homeLoads = [];
    private int _version;
    private long _hits;
    private long _scored;

    /// <summary>The model.</summary>
    public GateModel Gates => gates;

    /// <summary>Whether the speculative policy has transition statistics to predict with.</summary>
    public bool HasPredictor
    {
        get
        {
            lock (_gate)
            {
                return _predictor is not null;
            }
        }
    }

    /// <summary>The transition statistics the speculative policy predicts with, or null before it has any.</summary>
    public TransitionModel? Transitions
    {
        get
        {
            lock (_gate)
            {
                return _transitions;
            }
        }
    }

    /// <summary>The plan in use, or null before the first.</summary>
    public PlacementPlan? Plan
    {
        get
        {
            lock (_gate)
            {
                return _plan;
            }
        }
    }

    /// <summary>The plan version in use (0 before the first).</summary>
    public int PlanVersion => Volatile.Read(ref _version);

    /// <summary>Tokens whose chosen home was their best home in hindsight.</summary>
    public long Hits => Interlocked.Read(ref _hits);

    /// <summary>Tokens scored.</summary>
    public long Scored => Interlocked.Read(ref _scored);

    /// <summary>Adopts a plan and the transition statistics to predict with; home loads start over.</summary>
    public void Adopt(int version, PlacementPlan plan, TransitionModel? transitions)
    {
        ArgumentNullException.ThrowIfNull(plan);
        lock (_gate)
        {
            _plan = plan;
            _predictor = transitions is null ? null : new SpeculativeHomePredictor(plan, transitions, speculative);
            _transitions = transitions;
            _homeLoads = new long[plan.PodCount];
            Volatile.Write(ref _version, version);
        }
    }

    /// <summary>
    /// Homes for a request of <paramref name="tokens"/> tokens entering MoE layer <paramref name="firstLayer"/>;
    /// <paramref name="normalized"/> is true when <paramref name="hidden"/> is that layer's already-normalised input (the
    /// layer API) and false when it is the residual stream, which the runner normalises first (the stack API), so that
    /// the predicted routing is the runner's (<see cref="GateModel.Route"/>);
    /// <paramref name="forcedFirstLayer"/> is the forced routing of that layer (int16 <c>[tokens, topK]</c>) or null;
    /// <paramref name="available"/> lists the pods that can take work now, <paramref name="inflight"/> their requests in flight.
    /// </summary>
    public HomeChoice Choose(int firstLayer, ReadOnlySpan<float> hidden, bool normalized, int tokens, short[]? forcedFirstLayer, string? sequenceId, IReadOnlyList<int> available, Func<int, int> inflight)
    {
        ArgumentNullException.ThrowIfNull(available);
        ArgumentNullException.ThrowIfNull(inflight);
        if (available.Count == 0)
        {
            throw new InvalidOperationException("no pod is available");
        }

        var homes = new int[tokens];
        if (policy == HomePolicyName.LeastRequests)
        {
            Array.Fill(homes, available.MinBy(inflight));
            return new HomeChoice(homes, PlanVersion, [], null);
        }

        var k = gates.Spec.TopK;
        var gate = forcedFirstLayer is null ? gates.Gate(firstLayer, hidden, tokens, normalized) : null;
        var known = forcedFirstLayer ?? Known(gate!.Ids);
        lock (_gate)
        {
            if (_plan is null || _predictor is null)
            {
                // No plan or statistics yet: spread by load.
                for (var t = 0; t < tokens; t++)
                {
                    homes[t] = available[t % available.Count];
                }

                return new HomeChoice(homes, _version, known, _plan, gate);
            }

            var loads = _homeLoads.ToArray();
            foreach (var p in Enumerable.Range(0, loads.Length).Except(available))
            {
                loads[p] = long.MaxValue / 4; // an unavailable pod is never chosen while another one is
            }

            var state = sequenceId is not null ? _previous.GetValueOrDefault(sequenceId) : null;
            var previous = state?.Routing ?? [];
            var previousHome = state is not null && tokens <= affinityMaxTokens && state.Home < loads.Length ? state.Home : -1;
            if (granularity == HomeGranularity.Auto)
            {
                // Homed both ways from the same scores; split only where the link prices it worth its messages.
                Array.Copy(_split.Home(_predictor, known, k, previous, loads, firstLayer, _plan.Layers, _homeSlack, previousHome, _affinityMargin), homes, tokens);
                foreach (var home in homes)
                {
                    _homeLoads[home]++;
                }

                return new HomeChoice(homes, _version, known, _plan, gate);
            }

            if (granularity == HomeGranularity.Request)
            {
                // One home for the request: predicted local dispatches summed over its tokens, within home-load balance.
                var scores = new double[loads.Length];
                for (var t = 0; t < tokens; t++)
                {
                    _predictor.AddScores(known.AsSpan(t * k, k), previous, scores, firstLayer, _plan.Layers);
                }

                var home = HomeChooser.Pick(scores, loads, tokens, _homeSlack, previousHome, _affinityMargin * tokens);
                Array.Fill(homes, home);
                _homeLoads[home] += tokens;
                return new HomeChoice(homes, _version, known, _plan, gate);
            }

            for (var t = 0; t < tokens; t++)
            {
                homes[t] = _predictor.PickHome(known.AsSpan(t * k, k), previous, loads, 1, firstLayer, previousHome);
                loads[homes[t]]++;
                _homeLoads[homes[t]]++;
            }

            return new HomeChoice(homes, _version, known, _plan, gate);
        }
    }

    /// <summary>
    /// Records what a request step revealed: each token's best home in hindsight (prediction hits) and the routing the
    /// step used, whose last token becomes the sequence's previous step (and its home the sequence's previous home).
    /// </summary>
    public void Observe(int[] homes, IReadOnlyList<int> bestHomes, short[]? routing, string? sequenceId)
    {
        ArgumentNullException.ThrowIfNull(homes);
        ArgumentNullException.ThrowIfNull(bestHomes);
        var hits = 0;
        for (var t = 0; t < homes.Length && t < bestHomes.Count; t++)
        {
            hits += homes[t] == bestHomes[t] ? 1 : 0;
        }

        Interlocked.Add(ref _hits, hits);
        Interlocked.Add(ref _scored, Math.Min(homes.Length, bestHomes.Count));
        if (sequenceId is null || homes.Length == 0)
        {
            return;
        }

        var stride = gates.Spec.MoeLayers * gates.Spec.TopK;
        var last = routing is not null && routing.Length >= stride && routing.Length % stride == 0 ? routing[^stride..] : [];
        lock (_gate)
        {
            if (!_previous.ContainsKey(sequenceId))
            {
                _sequenceOrder.Enqueue(sequenceId);
                if (_sequenceOrder.Count > MaxSequences)
                {
                    _previous.Remove(_sequenceOrder.Dequeue());
                }
            }

            _previous[sequenceId] = new SequenceState(last, homes[^1]);
        }
    }

    private static SplitRule Checked(SplitRule rule)
    {
        rule.Validate();
        return rule;
    }

    private static short[] Known(int[] ids)
    {
        var known = new short[ids.Length];
        for (var i = 0; i < ids.Length; i++)
        {
            known[i] = (short)ids[i];
        }

        return known;
    }

    /// <summary>The previous home of a sequence (its last token's), or -1 when the gateway has not seen it.</summary>
    public int PreviousHome(string sequenceId)
    {
        lock (_gate)
        {
            return _previous.TryGetValue(sequenceId, out var state) ? state.Home : -1;
        }
    }

    private sealed record SequenceState(short[] Routing, int Home);
}
