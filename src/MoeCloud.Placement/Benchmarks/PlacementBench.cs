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
/// <param name="FittedExpertImbalance">Expert-load imbalance of the same plan and home policy replayed on the fitting half, beside the scored one in <paramref name="Metrics"/>.</param>
/// <param name="CrossNodeRemoteFraction">Dispatches (re-homes included) that leave the home's node, over all dispatches of the scoring half; null without nodes.</param>
/// <param name="Speculative">The speculative predictor's settings, tuned on the fitting half (<see cref="SpeculativeTuner"/>), for speculative rows.</param>
public sealed record BenchRow(string Trace, int Pods, string Solver, int Redundant, string Home, SimulationMetrics Metrics, double SolveSeconds, SolveStatus Status, double FittedExpertImbalance = 0, double? CrossNodeRemoteFraction = null, SpeculativeOptions? Speculative = null);

/// <summary>One ilp arm of the placement comparison: its row name and options.</summary>
/// <param name="Name">Solver name in the rows (<c>ilp</c> for the defaults).</param>
/// <param name="Options">The ilp options.</param>
/// <param name="AllHomes">Rows with every home policy (random, speculative, speculative + re-homing); else speculative only.</param>
public sealed record IlpArm(string Name, IlpOptions Options, bool AllHomes = true);

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
/// homes and re-homing; further ilp arms (<see cref="IlpArm"/>: other options in the same run). All plans are scored
/// by <see cref="Simulator"/> on the scoring half, and replayed on the fitting half for the fitted expert-load imbalance.
/// The speculative predictor's weights are tuned per plan on the fitting half only (<see cref="SpeculativeTuner"/>: a
/// held-out part of the even sequences), unless <c>tune</c> is false.
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
    public static IReadOnlyList<BenchRow> Run(RoutingTrace trace, int pods, int redundant, TimeSpan timeLimit, int seed = 1, IProgress<string>? progress = null, CancellationToken cancellationToken = default, BenchHierarchy? hierarchy = null, IReadOnlyList<IlpArm>? ilpArms = null, bool tune = true)
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
        ilpArms ??= [new IlpArm("ilp", new IlpOptions())];
        var podsPerNode = nodes is not null ? hierarchy!.PodsPerNode : 0;
        var arms = ilpArms.ToDictionary(a => a.Name, a => a.Options);
        List<(string Solver, int Redundant, HomePolicy Home, bool Rehome)> all =
        [
            ("contiguous", 0, HomePolicy.Random, false),
            ("contiguous", 0, HomePolicy.Speculative, false),
            ("eplb", redundant, HomePolicy.Random, false),
            ("eplb", redundant, HomePolicy.Speculative, false),
            (Hierarchical, redundant, HomePolicy.Random, false),
            (Hierarchical, redundant, HomePolicy.Speculative, false),
        ];
        foreach (var arm in ilpArms)
        {
            if (arm.AllHomes)
            {
                all.Add((arm.Name, redundant, HomePolicy.Random, false));
            }

            all.Add((arm.Name, redundant, HomePolicy.Speculative, false));
            if (arm.AllHomes)
            {
                all.Add((arm.Name, redundant, HomePolicy.Speculative, true));
            }
        }

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
                var solver = arms.TryGetValue(c.Solver, out var ilp) ? new IlpSolver(ilp) : PlacementSolvers.Create(c.Solver == Hierarchical ? "eplb" : c.Solver);
                result = solver.Solve(problem, progress, cancellationToken);
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
            var traffic = new PodTraffic(result.Plan.Layers, result.Plan.PodCount);
            var metrics = Simulator.Run(result.Plan, eval, options, model, traffic);
            var fitted = Simulator.Run(result.Plan, fit, options, model);
            var home = c.Home switch { HomePolicy.Random => "random", HomePolicy.Speculative => "speculative", _ => c.Home.ToString() } + (c.Rehome ? "+rehome" : "");
            double? crossNode = podsPerNode > 0 ? CrossNode(traffic, podsPerNode) / (double)Math.Max(1, metrics.Dispatches) : null;
            rows.Add(new BenchRow(trace.Manifest.Name, pods, c.Solver, c.Redundant, home, metrics, result.Summary.Seconds, result.Status, fitted.ExpertLoadImbalance, crossNode, speculative));
            progress?.Report($"{trace.Manifest.Name}, {pods} pods, {c.Solver} R={c.Redundant}, {home}: remote {metrics.RemoteFraction:F4}, expert imbalance {metrics.ExpertLoadImbalance:F3} (fitted {fitted.ExpertLoadImbalance:F3}), home imbalance {metrics.HomeLoadImbalance:F3}, hit rate {metrics.PredictionHitRate:F3}, expert precision {metrics.ExpertPrecision:F3}");
        }

        return rows;
    }

    /// <summary>Dispatches (and re-homes) from a pod to a pod of another node, nodes of <paramref name="podsPerNode"/> consecutive pods.</summary>
    private static long CrossNode(PodTraffic traffic, int podsPerNode)
    {
        long sum = 0;
        for (var l = 0; l < traffic.Layers; l++)
        {
            for (var from = 0; from < traffic.Pods; from++)
            {
                for (var to = 0; to < traffic.Pods; to++)
                {
                    sum += from / podsPerNode != to / podsPerNode ? traffic.Dispatches(l, from, to) : 0;
                }
            }
        }

        return sum;
    }
}
