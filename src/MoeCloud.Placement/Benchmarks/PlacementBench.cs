using MoeCloud.Model.Traces;
using MoeCloud.Placement.Profiles;
using MoeCloud.Placement.Simulation;
using MoeCloud.Placement.Solvers;

namespace MoeCloud.Placement.Benchmarks;

/// <summary>One row of the placement comparison.</summary>
/// <param name="Trace">Trace name.</param>
/// <param name="Pods">Pods.</param>
/// <param name="Solver">Solver name.</param>
/// <param name="Redundant">Redundant replicas per layer.</param>
/// <param name="Home">Home policy (with "+rehome" when re-homing).</param>
/// <param name="Metrics">Simulated metrics on the scoring half.</param>
/// <param name="SolveSeconds">Wall time of the solve.</param>
/// <param name="Status">Solver status.</param>
public sealed record BenchRow(string Trace, int Pods, string Solver, int Redundant, string Home, SimulationMetrics Metrics, double SolveSeconds, SolveStatus Status);

/// <summary>
/// The placement comparison of docs/BENCHMARKS.md: fit on a trace's even sequences, score on its odd ones, for each pod
/// count: contiguous (no redundancy) with random homes (vanilla expert parallelism), eplb with random and speculative
/// homes, ilp with speculative homes, with and without re-homing. All plans are scored by <see cref="Simulator"/>.
/// </summary>
public static class PlacementBench
{
    /// <summary>Runs every row for one trace and pod count.</summary>
    public static IReadOnlyList<BenchRow> Run(RoutingTrace trace, int pods, int redundant, TimeSpan timeLimit, int seed = 1, IProgress<string>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(trace);
        if (trace.Sequences.Count < 2)
        {
            throw new ArgumentException($"trace '{trace.Manifest.Name}' has {trace.Sequences.Count} sequence(s); fitting on even and scoring on odd sequences needs at least 2.", nameof(trace));
        }

        var (fit, eval) = trace.SplitEvenOdd();
        var profile = WorkloadProfile.FromTrace(fit);
        var model = TransitionModel.FromProfile(profile);
        var rows = new List<BenchRow>();
        (string Solver, int Redundant, HomePolicy Home, bool Rehome)[] cases =
        [
            ("contiguous", 0, HomePolicy.Random, false),
            ("eplb", redundant, HomePolicy.Random, false),
            ("eplb", redundant, HomePolicy.Speculative, false),
            ("ilp", redundant, HomePolicy.Speculative, false),
            ("ilp", redundant, HomePolicy.Speculative, true),
        ];
        var solved = new Dictionary<(string, int), PlacementResult>();
        foreach (var c in cases)
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (!solved.TryGetValue((c.Solver, c.Redundant), out var result))
            {
                var problem = new PlacementProblem(profile, pods, c.Redundant) { Seed = seed, TimeLimit = timeLimit };
                result = PlacementSolvers.Create(c.Solver).Solve(problem, progress, cancellationToken);
                solved[(c.Solver, c.Redundant)] = result;
            }

            if (result.Plan is null)
            {
                progress?.Report($"{trace.Manifest.Name}, {pods} pods, {c.Solver}: infeasible ({result.Summary.Note})");
                continue;
            }

            var options = new SimulationOptions { Home = c.Home, Rehome = c.Rehome, Seed = seed };
            var metrics = Simulator.Run(result.Plan, eval, options, model);
            var home = c.Home switch { HomePolicy.Random => "random", HomePolicy.Speculative => "speculative", _ => c.Home.ToString() } + (c.Rehome ? "+rehome" : "");
            rows.Add(new BenchRow(trace.Manifest.Name, pods, c.Solver, c.Redundant, home, metrics, result.Summary.Seconds, result.Status));
            progress?.Report($"{trace.Manifest.Name}, {pods} pods, {c.Solver} R={c.Redundant}, {home}: remote {metrics.RemoteFraction:F4}, expert imbalance {metrics.ExpertLoadImbalance:F3}, home imbalance {metrics.HomeLoadImbalance:F3}");
        }

        return rows;
    }
}
