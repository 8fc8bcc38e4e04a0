using MoeCloud.Placement.Plans;
using MoeCloud.Placement.Profiles;
using MoeCloud.Placement.Simulation;

namespace MoeCloud.Placement.Solvers;

/// <summary>Turns a solver's assignment into a plan with provenance and the metrics the simulator predicts for it.</summary>
internal static class PlanBuilder
{
    /// <summary>Most sampled tokens replayed to predict a plan's metrics.</summary>
    private const int PredictionTokens = 8192;

    public static PlacementResult Result(PlacementProblem problem, string solver, int[][][] assignment, SolveStatus status, double objective, double? bound, TimeSpan elapsed, string note)
    {
        var summary = new SolveSummary(status, objective, bound, elapsed.TotalSeconds, note);
        var info = new PlanMetadata
        {
            Version = 1,
            CreatedUtc = problem.Time.GetUtcNow(),
            Solver = solver,
            ProfileName = problem.Profile.Name,
            ProfileFingerprint = problem.Profile.Fingerprint(),
            Seed = problem.Seed,
            Solve = summary,
        };
        var pods = problem.Capacities.Select((c, i) => new PodSpec(i, c)).ToArray();
        var plan = new PlacementPlan(info, pods, assignment);
        return new PlacementResult(status, plan.WithInfo(info with { Predicted = Predict(plan, problem.Profile) }), summary);
    }

    /// <summary>The simulator's metrics for <paramref name="plan"/> on the profile's sample (speculative homes), or null for a load-only profile.</summary>
    public static SimulationMetrics? Predict(PlacementPlan plan, WorkloadProfile profile)
    {
        if (profile.IsLoadOnly || profile.Sample.Tokens == 0)
        {
            return null;
        }

        var sample = profile.Sample.Tokens <= PredictionTokens ? profile.Sample : TokenSample.Concat(profile.Sample, TokenSample.Empty(profile.Layers, profile.TopK), PredictionTokens);
        return Simulator.Run(plan, sample, new SimulationOptions(), TransitionModel.FromProfile(profile));
    }
}
