using MoeCloud.Placement.Profiles;

namespace MoeCloud.Placement.Solvers;

/// <summary>
/// One layer's resampled pod loads for <see cref="LayerSubproblem"/>: <c>Weights[b][e · G + p]</c> is the load a replica
/// of e on p would serve in resample b (the same rule as the fitted weights: its even share, or with concentration-aware
/// loads at least the resampled dispatches of the tokens homed on p), in the profile's dispatch units; the model keeps
/// z_b ≥ <see cref="Cap"/> and z_b ≥ every pod's load in resample b, and subtracts <see cref="Penalty"/> · Σ_b (z_b − cap)
/// from B · (its affinity objective).
/// </summary>
/// <param name="Weights">Per resample, <c>[experts · pods]</c> replica loads.</param>
/// <param name="Cap">The layer's load cap (the fitted one).</param>
/// <param name="Penalty">Objective units (affinity units) per dispatch of a resample's excess over the cap.</param>
internal sealed record ResampledCaps(long[][] Weights, long Cap, long Penalty);

/// <summary>
/// Seeded bootstrap resamples of a profile's token sample by sequence (<see cref="IlpOptions.Resamples"/>): resample b
/// draws as many sequences as the sample holds, with replacement, and counts each token as often as its sequence was
/// drawn. Loads of a resample are scaled to the profile's dispatches in that layer, so every resample has the fitted
/// total and only the split over experts (and pods) varies: how the workload may shift between fitting and serving.
/// </summary>
internal sealed class ResampledLoads
{
    private readonly WorkloadProfile _profile;
    private readonly int[][] _multiplicity;

    private ResampledLoads(WorkloadProfile profile, int[][] multiplicity)
    {
        _profile = profile;
        _multiplicity = multiplicity;
    }

    /// <summary>Resamples.</summary>
    public int Count => _multiplicity.Length;

    /// <summary>Draws <paramref name="resamples"/> bootstrap resamples of <paramref name="profile"/>'s sample; the same seed gives the same draws.</summary>
    public static ResampledLoads Create(WorkloadProfile profile, int resamples, int seed)
    {
        var sample = profile.Sample;
        var index = new Dictionary<int, int>();
        var tokenSequence = new int[sample.Tokens];
        for (var t = 0; t < sample.Tokens; t++)
        {
            if (!index.TryGetValue(sample.SeqIds[t], out var s))
            {
                s = index.Count;
                index[sample.SeqIds[t]] = s;
            }

            tokenSequence[t] = s;
        }

        var multiplicity = new int[resamples][];
        var drawn = new int[index.Count];
        for (var b = 0; b < resamples; b++)
        {
            Array.Clear(drawn);
            var random = new Random(unchecked((seed * 1_000_003) + b));
            for (var i = 0; i < drawn.Length; i++)
            {
                drawn[random.Next(drawn.Length)]++;
            }

            multiplicity[b] = tokenSequence.Select(s => drawn[s]).ToArray();
        }

        return new ResampledLoads(profile, multiplicity);
    }

    /// <summary>Expert loads of one layer in resample <paramref name="b"/>, scaled to the profile's dispatches in that layer.</summary>
    public double[] Load(int layer, int b)
    {
        var sample = _profile.Sample;
        var load = new double[_profile.Experts];
        var m = _multiplicity[b];
        for (var t = 0; t < sample.Tokens; t++)
        {
            if (m[t] == 0)
            {
                continue;
            }

            foreach (var e in sample.Slots(t, layer))
            {
                load[e] += m[t];
            }
        }

        var scale = Scale(layer, b);
        for (var e = 0; e < load.Length; e++)
        {
            load[e] *= scale;
        }

        return load;
    }

    /// <summary>
    /// The load EPLB's replication rule should see when hedging: fitted load + k · (standard deviation of the expert's
    /// load over the resamples), so that an expert whose load varies most gets extra replicas, not only the heaviest.
    /// </summary>
    public long[] RiskLoad(int layer, double deviations)
    {
        var experts = _profile.Experts;
        var sum = new double[experts];
        var squares = new double[experts];
        for (var b = 0; b < Count; b++)
        {
            var load = Load(layer, b);
            for (var e = 0; e < experts; e++)
            {
                sum[e] += load[e];
                squares[e] += load[e] * load[e];
            }
        }

        var risk = new long[experts];
        for (var e = 0; e < experts; e++)
        {
            var mean = sum[e] / Count;
            var deviation = Math.Sqrt(Math.Max(0, (squares[e] / Count) - (mean * mean)));
            risk[e] = _profile.LoadOf(layer, e) + (long)Math.Ceiling(deviations * deviation);
        }

        return risk;
    }

    /// <summary>The layer's resampled replica loads under the current homes, for the robust part of the layer model.</summary>
    public ResampledCaps Caps(int[] homes, int layer, int[] counts, int pods, long cap, bool concentrationAware, long penalty)
    {
        var sample = _profile.Sample;
        var experts = _profile.Experts;
        var weights = new long[Count][];
        var local = new double[experts * pods];
        for (var b = 0; b < Count; b++)
        {
            var load = Load(layer, b);
            var scale = Scale(layer, b);
            Array.Clear(local);
            if (concentrationAware)
            {
                var m = _multiplicity[b];
                for (var t = 0; t < sample.Tokens; t++)
                {
                    foreach (var e in sample.Slots(t, layer))
                    {
                        local[(e * pods) + homes[t]] += m[t];
                    }
                }
            }

            var w = new long[experts * pods];
            for (var e = 0; e < experts; e++)
            {
                var share = (long)Math.Ceiling(load[e] / counts[e]);
                for (var p = 0; p < pods; p++)
                {
                    w[(e * pods) + p] = Math.Max(share, (long)Math.Ceiling(local[(e * pods) + p] * scale));
                }
            }

            weights[b] = w;
        }

        return new ResampledCaps(weights, cap, penalty);
    }

    /// <summary>Profile dispatches in the layer per resampled sample dispatch.</summary>
    private double Scale(int layer, int b)
    {
        long drawn = 0;
        foreach (var m in _multiplicity[b])
        {
            drawn += m;
        }

        long total = 0;
        for (var e = 0; e < _profile.Experts; e++)
        {
            total += _profile.LoadOf(layer, e);
        }

        return drawn == 0 ? 0 : (double)total / (drawn * _profile.TopK);
    }
}
