using MoeCloud.Model.Traces;
using MoeCloud.Placement.Plans;
using MoeCloud.Placement.Profiles;

namespace MoeCloud.Placement.Simulation;

/// <summary>The outcome of <see cref="SpeculativeTuner.Tune"/>.</summary>
/// <param name="Options">The best settings found (the starting ones when nothing beat them).</param>
/// <param name="HeldOutHitRate">Their prediction hit rate on the held-out part of the fitting trace.</param>
/// <param name="StartHitRate">The starting settings' hit rate there.</param>
/// <param name="Candidates">Settings scored.</param>
public sealed record SpeculativeTuning(SpeculativeOptions Options, double HeldOutHitRate, double StartHitRate, int Candidates);

/// <summary>
/// Tunes the speculative predictor's mix weights for one plan on a fitting trace only: the trace's sequences are split
/// alternately into an inner fitting part (ordinals 0, 2, …), whose transition statistics the candidates use, and a
/// held-out part (1, 3, …), on which each candidate's prediction hit rate (<see cref="SimulationMetrics.PredictionHitRate"/>,
/// speculative homes, token granularity) is measured. A small grid (54 settings): horizon {1, 2, 3} × predicted weight
/// {0.5, 1, 2} × two-layer pseudo-count {one layer only, 1, 8} × previous-step weight {0.02, 0.25} (on the ESFT traces
/// horizons past 3 lost hit rate, one layer or two); the load
/// slack, affinity and re-homing settings are kept. Ties keep the earlier candidate, the starting settings first. The
/// trace the plan is scored on afterwards is never seen here.
/// </summary>
public static class SpeculativeTuner
{
    private static readonly int[] Horizons = [1, 2, 3];
    private static readonly double[] PredictedWeights = [0.5, 1, 2];
    private static readonly double[] PairBackoffs = [-1, 1, 8];
    private static readonly double[] PreviousStepWeights = [0.02, 0.25];

    /// <summary>
    /// Tunes on <paramref name="fit"/>; with fewer than 2 sequences (nothing to hold out) the starting settings come back
    /// unscored. Throws <see cref="ArgumentException"/> when the trace does not fit the plan.
    /// </summary>
    public static SpeculativeTuning Tune(PlacementPlan plan, RoutingTrace fit, SpeculativeOptions? start = null, int seed = 1)
    {
        ArgumentNullException.ThrowIfNull(plan);
        ArgumentNullException.ThrowIfNull(fit);
        start ??= new SpeculativeOptions();
        start.Validate();
        if (fit.Layers != plan.Layers || fit.Experts > plan.Experts)
        {
            throw new ArgumentException($"trace '{fit.Manifest.Name}' is [{fit.Layers} layers x {fit.Experts} experts], the plan [{plan.Layers} x {plan.Experts}].", nameof(fit));
        }

        if (fit.Sequences.Count < 2)
        {
            return new SpeculativeTuning(start, 0, 0, 0);
        }

        // 1. Inner fitting part and held-out part, and the held-out tokens' best homes in hindsight.
        var (inner, heldOut) = fit.SplitEvenOdd();
        var model = TransitionModel.FromProfile(WorkloadProfile.FromTrace(inner));
        var best = BestHome.OfTokens(plan, 0, heldOut.Layers, heldOut.TopK, heldOut.ExpertIds.AsSpan());

        // 2. Score the starting settings, then every grid point; keep the first best.
        double Score(SpeculativeOptions candidate)
        {
            var homes = Simulator.AssignHomes(plan, heldOut, new SimulationOptions { Home = HomePolicy.Speculative, Seed = seed, Speculative = candidate }, model);
            var hits = 0;
            for (var t = 0; t < homes.Length; t++)
            {
                hits += homes[t] == best[t] ? 1 : 0;
            }

            return homes.Length == 0 ? 0 : (double)hits / homes.Length;
        }

        var startRate = Score(start);
        var (bestOptions, bestRate, count) = (start, startRate, 1);
        foreach (var horizon in Horizons)
        {
            foreach (var weight in PredictedWeights)
            {
                foreach (var backoff in PairBackoffs)
                {
                    foreach (var previous in PreviousStepWeights)
                    {
                        var candidate = start with
                        {
                            Horizon = horizon,
                            PredictedWeight = weight,
                            TwoLayer = backoff >= 0,
                            PairBackoff = backoff >= 0 ? backoff : start.PairBackoff,
                            PreviousStepWeight = previous,
                        };
                        var rate = Score(candidate);
                        count++;
                        if (rate > bestRate)
                        {
                            (bestOptions, bestRate) = (candidate, rate);
                        }
                    }
                }
            }
        }

        return new SpeculativeTuning(bestOptions, bestRate, startRate, count);
    }
}
