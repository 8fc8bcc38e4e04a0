using MoeCloud.Placement.Profiles;

namespace MoeCloud.Placement.Solvers;

/// <summary>
/// What one replica move is worth to <see cref="ScalingPlanner"/>: the drop in a layer's normalised sum of squared
/// staying-pod loads, plus (with a profile holding sampled tokens) the weighted rise in local dispatches, with tokens
/// homed on the target pods as the ilp solver homes them.
/// </summary>
internal sealed class ScaleObjective
{
    /// <summary>Gains and loads closer than this are equal (the tie goes to the lowest layer, expert and pod).</summary>
    public const double Epsilon = 1e-12;

    private readonly ScalingOptions _options;
    private readonly int _target;
    private readonly double[] _norm;
    private readonly double[][]? _affinity;
    private readonly double _sampleDispatches;

    /// <param name="profile">The profile the step is scored on.</param>
    /// <param name="options">The planner's settings (remote weight, load and home slack).</param>
    /// <param name="staying">The live assignment on the target pods, <c>[layer][expert] → pods below target</c>.</param>
    /// <param name="target">The target pod count.</param>
    public ScaleObjective(WorkloadProfile profile, ScalingOptions options, int[][][] staying, int target)
    {
        _options = options;
        _target = target;
        var layers = profile.Layers;
        var experts = profile.Experts;
        _norm = new double[layers];
        for (var l = 0; l < layers; l++)
        {
            var mean = (double)Enumerable.Range(0, experts).Sum(e => profile.LoadOf(l, e)) / target;
            _norm[l] = mean * mean * target * layers;
        }

        if (!profile.IsLoadOnly && profile.Sample.Tokens > 0 && options.RemoteWeight > 0)
        {
            // Tokens homed on the target pods (balanced, best in hindsight) on the replicas that stay.
            var (homes, _) = TokenHomes.Assign(profile.Sample, staying, target, options.HomeSlack);
            _affinity = Enumerable.Range(0, layers).Select(l => TokenHomes.Affinity(profile.Sample, homes, l, experts, target)).ToArray();
            _sampleDispatches = (double)profile.Sample.Tokens * layers * profile.TopK;
        }
    }

    /// <summary>
    /// A voluntary move of a replica of <paramref name="weight"/> must not lift its destination above the layer's
    /// hottest staying pod or (1 + slack) × the mean; <paramref name="loads"/> is the layer's load per pod.
    /// </summary>
    public bool UnderCap(double[] loads, double weight, int to)
    {
        double max = 0, sum = 0;
        for (var p = 0; p < _target; p++)
        {
            max = Math.Max(max, loads[p]);
            sum += loads[p];
        }

        var cap = Math.Max(max, (1 + _options.LoadSlack) * sum / _target);
        return loads[to] + weight <= cap + Epsilon;
    }

    /// <summary>
    /// Drop in the layer's normalised sum of squared staying-pod loads (leaving pods do not count), plus the weighted
    /// rise in local dispatches of the sampled tokens, when a replica of (layer, expert) carrying <paramref name="weight"/>
    /// moves from <paramref name="from"/> to <paramref name="to"/>; <paramref name="loads"/> is the layer's load per pod.
    /// </summary>
    public double Gain(int layer, int expert, double weight, double[] loads, int from, int to)
    {
        var w = weight;
        var balance = 0.0;
        if (_norm[layer] > 0)
        {
            var delta = (2 * w * loads[to]) + (w * w);
            if (from < _target)
            {
                delta += (w * w) - (2 * w * loads[from]);
            }

            balance = -delta / _norm[layer];
        }

        if (_affinity is null)
        {
            return balance;
        }

        var affinity = _affinity[layer];
        var local = affinity[(expert * _target) + to] - (from < _target ? affinity[(expert * _target) + from] : 0);
        return balance + (_options.RemoteWeight * local / _sampleDispatches);
    }
}
