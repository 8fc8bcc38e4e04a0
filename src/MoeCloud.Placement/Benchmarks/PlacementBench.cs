using MoeCloud.Model.Traces;
using MoeCloud.Placement.Plans;
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
/// <param name="Speculative">The speculative predictor's settings, tuned on the fitting half (<see cref="SpeculativeTuner"/>), for speculative rows.</param>
public sealed record BenchRow(string Trace, int Pods, string Solver, int Redundant, string Home, SimulationMetrics Metrics, double SolveSeconds, SolveStatus Status, SpeculativeOptions? Speculative = null);

/// <summary>The hierarchical-eplb rows' structure: expert groups per layer and pods per node (nodes = pods / PodsPerNode).</summary>
/// <param name="Groups">Expert groups per layer (experts split evenly into consecutive groups).</param>
/// <param name="PodsPerNode">Consecutive pods that form one node.</param>
public sealed record BenchHierarchy(int Groups, int PodsPerNode)
{
    /// <summary>
    /// The node count for <paramref name="pods"/> pods and <paramref name="experts"/> experts, or null when the hierarchical
    /// policy does not apply: fewer than two nodes, or groups that do not split the experts or spread over the nodes.
    /// </summary>
    public int? NodesFor(int pods, int experts)
    {
        if (Groups < 1 || PodsPerNode < 1 || pods % PodsPerNode != 0)
        {
            return null;
        }

        var nodes = pods / PodsPerNode;
        return nodes >= 2 && experts % Groups == 0 && Groups % nodes == 0 ? nodes : null;
    }
}

/// <summary>
/// The placement comparison of docs/BENCHMARKS.md: fit on a trace's even sequences, score on its odd ones, for each pod
/// count. Placement and home policy vary separately, so that each can be judged on its own: contiguous (no redundancy)
/// with random homes (vanilla expert parallelism) and with speculative homes; eplb, hierarchical eplb (when
/// <see cref="BenchHierarchy"/> applies) and ilp, each with random and with speculative homes; ilp with speculative
/// homes and re-homing. All plans are scored by <see cref="Simulator"/>. The speculative predictor's weights are tuned
/// per plan on the fitting half only (<see cref="SpeculativeTuner"/>: a held-out part of the even sequences), unless
/// <c>tune</c> is false.
/// </summary>
public static class PlacementBench
{
    /// <summary>
    /// The speculative settings the bench scores <paramref name="plan"/> with: tuned on <paramref name="trace"/>'s even
    /// sequences (the fitting half) alone, so nothing of the scoring half reaches them.
    /// </summary>
    public static SpeculativeTuning TuneOnFittingHalf(PlacementPlan plan, RoutingTrace trace, int seed = 1)
    {
        ArgumentNullException.ThrowIfNull(trace);
        return SpeculativeTuner.Tune(plan, trace.SplitEvenOdd().Even, seed: seed);
    }

    /// <summary>Runs every row for one trace and pod count; <paramref name="hierarchy"/> adds the hierarchical-eplb rows.</summary>
    public static IReadOnlyList<BenchRow> Run(RoutingTrace trace, int pods, int redundant, TimeSpan timeLimit, int seed = 1, IProgress<string>? progress = null, CancellationToken cancellationToken = default, BenchHierarchy? hierarchy = null, bool tune = true)
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
        var nodes = hierarchy?.NodesFor(pods, profile.Experts);
        const string Hierarchical = "eplb-hierarchical";
        (string Solver, int Redundant, HomePolicy Home, bool Rehome)[] all =
        [
            ("contiguous", 0, HomePolicy.Random, false),
            ("contiguous", 0, HomePolicy.Speculative, false),
            ("eplb", redundant, HomePolicy.Random, false),
            ("eplb", redundant, HomePolicy.Speculative, false),
            (Hierarchical, redundant, HomePolicy.Random, false),
            (Hierarchical, redundant, HomePolicy.Speculative, false),
            ("ilp", redundant, HomePolicy.Random, false),
            ("ilp", redundant, HomePolicy.Speculative, false),
            ("ilp", redundant, HomePolicy.Speculative, true),
        ];
        var cases = all.Where(c => c.Solver != Hierarchical || nodes is not null);
        var solved = new Dictionary<string, PlacementResult>();
        var tuned = new Dictionary<string, SpeculativeOptions>();
        foreach (var c in cases)
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (!solved.TryGetValue(c.Solver, out var result))
            {
                var problem = c.Solver == Hierarchical
                    ? new PlacementProblem(profile, pods, c.Redundant, groups: hierarchy!.Groups, nodes: nodes) { Seed = seed, TimeLimit = timeLimit }
                    : new PlacementProblem(profile, pods, c.Redundant) { Seed = seed, TimeLimit = timeLimit };
                result = PlacementSolvers.Create(c.Solver == Hierarchical ? "eplb" : c.Solver).Solve(problem, progress, cancellationToken);
                solved[c.Solver] = result;
            }

            if (result.Plan is null)
            {
                progress?.Report($"{trace.Manifest.Name}, {pods} pods, {c.Solver}: infeasible ({result.Summary.Note})");
                continue;
            }

            SpeculativeOptions? speculative = null;
            if (c.Home == HomePolicy.Speculative)
            {
                var key = c.Solver;
                if (!tuned.TryGetValue(key, out speculative))
                {
                    speculative = tune ? TuneOnFittingHalf(result.Plan, trace, seed).Options : new SpeculativeOptions();
                    tuned[key] = speculative;
                }
            }

            var options = new SimulationOptions { Home = c.Home, Rehome = c.Rehome, Seed = seed, Speculative = speculative ?? new SpeculativeOptions() };
            var metrics = Simulator.Run(result.Plan, eval, options, model);
            var home = c.Home switch { HomePolicy.Random => "random", HomePolicy.Speculative => "speculative", _ => c.Home.ToString() } + (c.Rehome ? "+rehome" : "");
            rows.Add(new BenchRow(trace.Manifest.Name, pods, c.Solver, c.Redundant, home, metrics, result.Summary.Seconds, result.Status, speculative));
            progress?.Report($"{trace.Manifest.Name}, {pods} pods, {c.Solver} R={c.Redundant}, {home}: remote {metrics.RemoteFraction:F4}, expert imbalance {metrics.ExpertLoadImbalance:F3}, home imbalance {metrics.HomeLoadImbalance:F3}, hit rate {metrics.PredictionHitRate:F3}, expert precision {metrics.ExpertPrecision:F3}");
        }

        return rows;
    }
}
