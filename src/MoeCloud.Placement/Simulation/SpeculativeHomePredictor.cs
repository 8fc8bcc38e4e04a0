using MoeCloud.Placement.Plans;

namespace MoeCloud.Placement.Simulation;

/// <summary>
/// The gateway's speculative pre-scheduler (DESIGN.md §4), shared by the simulator and, later, the gateway. Given what
/// is known about a token before it runs — its first MoE layer's experts (the gateway computes that gate) and/or its
/// sequence's previous step — it scores each pod by predicted local dispatches:
/// <list type="number">
/// <item>layer 0: +1 per first-layer expert with a replica on the pod;</item>
/// <item>layers 1 .. horizon: expected dispatches propagated through <see cref="TransitionModel"/>, × PredictedWeight;</item>
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
    public bool TryRehome(ReadOnlySpan<short> slots, int layer, int home, out int moved)
    {
        Array.Clear(_scores);
        AddScores(slots, [], _scores, layer, layer + _options.RehomeWindow);
        moved = HomeChooser.ArgMax(_scores);
        return moved != home && _scores[moved] - _scores[home] > _options.RehomeMargin;
    }

    /// <summary>
    /// Adds predicted local dispatches per pod to <paramref name="scores"/>: <paramref name="known"/> is the routing of
    /// <paramref name="fromLayer"/>; layers after it up to <paramref name="toLayer"/> (exclusive) are predicted.
    /// </summary>
    public void AddScores(ReadOnlySpan<short> known, ReadOnlySpan<short> previousStep, Span<double> scores, int fromLayer, int toLayer)
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
            for (var l = fromLayer + 1; l < last; l++)
            {
                _model.Propagate(l - 1, _current, _next);
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
}
