using MoeCloud.Placement.Plans;

namespace MoeCloud.Placement.Simulation;

/// <summary>
/// The gateway's speculative pre-scheduler (DESIGN.md §4), shared by the simulator and, later, the gateway. Given what
/// is known about a token before it runs — its first MoE layer's experts (the gateway computes that gate) and/or its
/// sequence's previous step — it scores each pod by predicted local dispatches:
/// <list type="number">
/// <item>layer 0: +1 per first-layer expert with a replica on the pod;</item>
/// <item>layers 1 .. horizon: expected dispatches propagated through <see cref="TransitionModel"/>, × PredictedWeight;
/// from layer 2 on (or from the known layer on, when the layer before it is known too, as in re-homing) each step
/// conditions on the previous two layers (<see cref="SpeculativeOptions.TwoLayer"/>): the top-1 expert of layer l − 1
/// (known, or the most likely predicted one) with each expert of layer l, backing off to layer l alone for unseen
/// pairs. The gateway knows only layer 0 when it picks a home, so layer 1 is always predicted from one layer;</item>
/// <item>the previous step's dispatches (all layers), × PreviousStepWeight;</item>
/// </list>
/// then picks with <see cref="HomeChooser.Pick"/> (pods over their share of homed tokens are skipped; the sequence's
/// previous home is kept unless another pod is better by <see cref="SpeculativeOptions.AffinityMargin"/>).
/// Allocation-free after construction; one instance per thread (it owns scratch buffers).
/// </summary>
public sealed class SpeculativeHomePredictor
{
    private readonly PlacementPlan _plan;
    private readonly TransitionModel _model;
    private readonly SpeculativeOptions _options;
    private readonly double[] _current;
    private readonly double[] _next;
    private readonly double[] _scores;
    private readonly bool[] _picked;

    /// <summary>Creates a predictor for <paramref name="plan"/>; the model must have the plan's shape.</summary>
    public SpeculativeHomePredictor(PlacementPlan plan, TransitionModel model, SpeculativeOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(plan);
        ArgumentNullException.ThrowIfNull(model);
        if (model.Layers != plan.Layers || model.Experts != plan.Experts)
        {
            throw new ArgumentException($"the transition model is [{model.Layers} layers x {model.Experts} experts], the plan [{plan.Layers} x {plan.Experts}].", nameof(model));
        }

        _options = options ?? new SpeculativeOptions();
        _options.Validate();
        _plan = plan;
        _model = model;
        _current = new double[plan.Experts];
        _next = new double[plan.Experts];
        _scores = new double[plan.PodCount];
        _picked = new bool[plan.Experts];
    }

    /// <summary>Picks a home for one token (or <paramref name="weight"/> tokens scored together).</summary>
    /// <param name="firstLayer">Experts of the first MoE layer (or of <paramref name="fromLayer"/>), any number of slots; may be empty.</param>
    /// <param name="previousStep">The previous step's routing, <c>[layers, topK]</c> flat, or empty.</param>
    /// <param name="homeLoads">Tokens currently homed on each pod.</param>
    /// <param name="weight">Tokens this choice homes.</param>
    /// <param name="fromLayer">The layer whose routing <paramref name="firstLayer"/> is (0 before the first layer).</param>
    /// <param name="previousHome">The sequence's previous home (or -1): kept unless another pod scores <see cref="SpeculativeOptions.AffinityMargin"/> more.</param>
    public int PickHome(ReadOnlySpan<short> firstLayer, ReadOnlySpan<short> previousStep, ReadOnlySpan<long> homeLoads, long weight = 1, int fromLayer = 0, int previousHome = -1)
    {
        Array.Clear(_scores);
        AddScores(firstLayer, previousStep, _scores, fromLayer, _plan.Layers);
        return HomeChooser.Pick(_scores, homeLoads, weight, _options.HomeSlack, previousHome, _options.AffinityMargin);
    }

    /// <summary>
    /// The re-homing rule (DESIGN.md §2), one implementation for the simulator and the runner: at
    /// <paramref name="layer"/>, with the token's routing there known (<paramref name="slots"/>), the pod with the most
    /// predicted local dispatches over the next <see cref="SpeculativeOptions.RehomeWindow"/> layers (this one
    /// included) becomes the token's home when it beats <paramref name="home"/> by more than
    /// <see cref="SpeculativeOptions.RehomeMargin"/>.
    /// </summary>
    /// <param name="slots">The token's experts at <paramref name="layer"/>.</param>
    /// <param name="layer">The layer about to run.</param>
    /// <param name="home">The token's current home.</param>
    /// <param name="moved">The better pod, when there is one.</param>
    /// <param name="previousLayer">The token's experts at <paramref name="layer"/> − 1 (slot 0 its top-1), or empty: with them the next layer is predicted from two layers.</param>
    public bool TryRehome(ReadOnlySpan<short> slots, int layer, int home, out int moved, ReadOnlySpan<short> previousLayer = default)
    {
        Array.Clear(_scores);
        AddScores(slots, previousLayer, [], _scores, layer, layer + _options.RehomeWindow);
        moved = HomeChooser.ArgMax(_scores);
        return moved != home && _scores[moved] - _scores[home] > _options.RehomeMargin;
    }

    /// <summary>
    /// Adds predicted local dispatches per pod to <paramref name="scores"/>: <paramref name="known"/> is the routing of
    /// <paramref name="fromLayer"/>; layers after it up to <paramref name="toLayer"/> (exclusive) are predicted.
    /// </summary>
    public void AddScores(ReadOnlySpan<short> known, ReadOnlySpan<short> previousStep, Span<double> scores, int fromLayer, int toLayer) =>
        AddScores(known, [], previousStep, scores, fromLayer, toLayer);

    /// <summary>
    /// As <see cref="AddScores(ReadOnlySpan{short}, ReadOnlySpan{short}, Span{double}, int, int)"/>, with the routing of
    /// <paramref name="fromLayer"/> − 1 (<paramref name="previousLayer"/>, may be empty) for the two-layer prediction.
    /// </summary>
    public void AddScores(ReadOnlySpan<short> known, ReadOnlySpan<short> previousLayer, ReadOnlySpan<short> previousStep, Span<double> scores, int fromLayer, int toLayer)
    {
        toLayer = Math.Min(toLayer, _plan.Layers);
        Array.Clear(_current);
        foreach (var e in known)
        {
            _current[e] += 1;
            foreach (var p in _plan.PodsOf(fromLayer, e))
            {
                scores[p] += 1;
            }
        }

        var last = Math.Min(toLayer, fromLayer + 1 + _options.Horizon);
        if (known.Length > 0 && _options.PredictedWeight > 0)
        {
            var previousTop = previousLayer.Length > 0 ? previousLayer[0] : -1;
            var top = (int)known[0];
            for (var l = fromLayer + 1; l < last; l++)
            {
                _model.Propagate(l - 1, _current, _options.TwoLayer ? previousTop : -1, _options.PairBackoff, _next);
                previousTop = top;
                top = HomeChooser.ArgMax(_next);
                for (var f = 0; f < _plan.Experts; f++)
                {
                    var v = _next[f] * _options.PredictedWeight;
                    if (v < 1e-6)
                    {
                        continue;
                    }

                    foreach (var p in _plan.PodsOf(l, f))
                    {
                        scores[p] += v;
                    }
                }

                _next.CopyTo(_current.AsSpan());
            }
        }

        if (previousStep.Length > 0 && _options.PreviousStepWeight > 0)
        {
            var k = previousStep.Length / _plan.Layers;
            for (var l = fromLayer; l < toLayer; l++)
            {
                foreach (var e in previousStep.Slice(l * k, k))
                {
                    foreach (var p in _plan.PodsOf(l, e))
                    {
                        scores[p] += _options.PreviousStepWeight;
                    }
                }
            }
        }
    }

    /// <summary>
    /// Expected dispatches per expert at <paramref name="layer"/> + 1 (Σ = the slots of <paramref name="known"/>, less what
    /// the kept successors miss), given the token's experts at <paramref name="layer"/> and, when not empty, at
    /// <paramref name="layer"/> − 1 (<paramref name="previousLayer"/>, slot 0 its top-1). <paramref name="next"/> is overwritten.
    /// </summary>
    public void PredictNext(ReadOnlySpan<short> known, ReadOnlySpan<short> previousLayer, int layer, Span<double> next)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(layer);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(layer, _plan.Layers - 1);
        if (next.Length != _plan.Experts)
        {
            throw new ArgumentException($"the prediction holds {next.Length} experts, the plan has {_plan.Experts}.", nameof(next));
        }

        Array.Clear(_current);
        foreach (var e in known)
        {
            _current[e] += 1;
        }

        _model.Propagate(layer, _current, _options.TwoLayer && previousLayer.Length > 0 ? previousLayer[0] : -1, _options.PairBackoff, next);
    }

    /// <summary>
    /// Top-k expert prediction hits of one token (<see cref="SimulationMetrics.ExpertPrecision"/>): for every layer
    /// l ≥ 1, predicted from the token's actual experts at l − 1 (and l − 2), how many of the <paramref name="topK"/>
    /// most likely experts (ties to the lowest id) are among its actual top-k at l. <paramref name="routing"/> is
    /// <c>[layers, topK]</c>; the most is (layers − 1) × topK.
    /// </summary>
    public int PredictedHits(ReadOnlySpan<short> routing, int topK)
    {
        var hits = 0;
        for (var l = 1; l < _plan.Layers; l++)
        {
            var previous = l >= 2 ? routing.Slice((l - 2) * topK, topK) : [];
            PredictNext(routing.Slice((l - 1) * topK, topK), previous, l - 1, _next);
            Array.Clear(_picked);
            for (var i = 0; i < topK; i++)
            {
                var best = -1;
                for (var f = 0; f < _next.Length; f++)
                {
                    if (!_picked[f] && (best < 0 || _next[f] > _next[best]))
                    {
                        best = f;
                    }
                }

                _picked[best] = true;
            }

            foreach (var e in routing.Slice(l * topK, topK))
            {
                hits += _picked[e] ? 1 : 0;
            }
        }

        return hits;
    }
}
