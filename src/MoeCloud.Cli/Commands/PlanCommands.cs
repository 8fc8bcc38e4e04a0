using System.Globalization;
using MoeCloud.Cli.Hosting;
using MoeCloud.Model.Traces;
using MoeCloud.Placement.Plans;
using MoeCloud.Placement.Solvers;

namespace MoeCloud.Cli.Commands;

/// <summary><c>moectl plan</c>: solve a placement (or an incremental re-placement) and write plan JSON.</summary>
public static class PlanCommands
{
    /// <summary>Registers the command.</summary>
    public static void Register(Moectl app)
    {
        ArgumentNullException.ThrowIfNull(app);
        app.Add(new CliCommand(
            "plan",
            "Place experts on pods (contiguous, eplb or ilp) from a trace or an SGLang count dump and write plan JSON.",
            "",
            [
                new("trace", "<dir|dump.json> routing trace directory, or an SGLang count dump (load-only: balance only) (required)"),
                new("pods", "<G> pods (required)"),
                new("solver", "<name> contiguous, eplb or ilp (default ilp)"),
                new("redundant", "<R> redundant replicas per layer (default 0)"),
                new("capacity", "<n|n0,n1,...> replicas per pod over all layers (default: an even share)"),
                new("groups", "<n> eplb: expert groups per layer for DeepSeek's hierarchical policy (with --nodes; default: the global policy)"),
                new("nodes", "<n> eplb: nodes of consecutive pods for the hierarchical policy (with --groups; must divide the pods and the groups)"),
                new("time-limit", "<S> ilp: wall-clock guard in seconds; a solve still running then stops with its best plan (status TimedOut: not reproducible) (default 10)"),
                new("deterministic-seconds", "<D> ilp: search budget in CP-SAT deterministic seconds, split over sweeps x layers; sets the work, so a seed reproduces the plan, in [0.001, 100000] (default 1.5)"),
                new("sweeps", "<N> ilp: most alternating sweeps (re-place every layer, re-home the tokens), in [1, 1000] (default 2)"),
                new("load-slack", "<x> ilp: a pod's expected expert load may reach (1 + x) x the mean, in [0, 10] (default 0.02)"),
                new("resamples", "<N> ilp: bootstrap resamples of the fitting sequences whose pod loads are kept near the cap, in [0, 256]; 0 = fitted loads only (default 8)"),
                new("resample-weight", "<x> ilp: local dispatches one dispatch of expected excess over the cap under resampling costs, in [0, 1000] (default 1)"),
                new("hedge", "<k> ilp: redundant replicas go to the highest (load + k x stddev over the resamples) per replica, in [0, 100] (default 1)"),
                new("pods-per-node", "<K> ilp: consecutive pods forming one node; dispatches within the home's node count --node-weight of a local one (default 0: no nodes)"),
                new("node-weight", "<x> ilp: worth of an intra-node dispatch relative to a local one, in [0, 1] (default 0.5)"),
                new("max-moves", "<M> incremental mode: move at most M replicas from the --from plan"),
                new("from", "<plan.json> incremental mode: the live plan"),
                new("gain-curve", "incremental mode: the moves-vs-gain curve instead of a plan, M = 0, 10, 20, 40, 80, 160 (no --max-moves; nothing written), scored on the other half too with --sequences even|odd", IsFlag: true),
                new("threshold", "<x> incremental mode: least remote-fraction gain worth applying (default 0.005)"),
                new("seed", "<N> seed (default 1)"),
                new("sequences", "<all|even|odd> sequences of the trace to fit on (default all)"),
                new("top-k", "<K> experts per token, for a count dump (default 8)"),
                new("out", "<plan.json> where to write the plan (required, except with --gain-curve)"),
                new("json", "print the summary as JSON", IsFlag: true),
            ],
            Plan));
    }

    private static async Task<int> Plan(CliArgs args, CliConsole console, CancellationToken ct)
    {
        var tracePath = args.Require("trace");
        var outPath = args.Has("gain-curve") ? "" : args.Require("out");
        var pods = args.GetInt("pods", 0, 1, 65536);
        if (!args.Has("pods"))
        {
            throw new UsageException("option '--pods' is required");
        }

        var solverName = args.GetChoice("solver", "ilp", [.. PlacementSolvers.Names]);
        var redundant = args.GetInt("redundant", 0, 0, 1 << 20);
        var timeLimit = args.GetDouble("time-limit", 10, 0.1, 86400);
        var seed = args.GetInt("seed", 1);
        var sequences = args.GetChoice("sequences", "all", PlacementInputs.SequenceChoices);
        var topK = args.GetInt("top-k", 8, 1, short.MaxValue);
        if (args.Has("gain-curve") && (!args.Has("from") || args.Has("max-moves")))
        {
            throw new UsageException("option '--gain-curve' needs '--from' and takes its own budgets (no '--max-moves')");
        }

        if (!args.Has("gain-curve") && args.Has("max-moves") != args.Has("from"))
        {
            throw new UsageException("incremental mode needs both '--max-moves' and '--from'");
        }

        var capacities = PlacementInputs.Capacities(args, pods);
        int? groups = args.Has("groups") ? args.GetInt("groups", 1, 1, 1 << 20) : null;
        int? nodes = args.Has("nodes") ? args.GetInt("nodes", 1, 1, 65536) : null;

        var (profile, fitted) = PlacementInputs.LoadProfile(tracePath, sequences, topK);
        if (profile.IsLoadOnly)
        {
            await console.Error.WriteLineAsync($"{tracePath}: a load-only profile (no routing): only expert-load balance can be optimised");
        }

        if (args.Has("gain-curve"))
        {
            var scoring = fitted is not null && sequences != "all" ? PlacementInputs.Select(TraceDirectory.Read(tracePath), sequences == "even" ? "odd" : "even", tracePath) : null;
            return await GainCurve(args, console, profile, scoring, seed);
        }

        if (args.Has("from"))
        {
            return await Incremental(args, console, profile, outPath, seed);
        }

        var problem = new PlacementProblem(profile, pods, redundant, capacities, groups, nodes) { Seed = seed, TimeLimit = TimeSpan.FromSeconds(timeLimit) };
        var solver = PlacementSolvers.Create(solverName, IlpOptionsFrom(args, pods));
        var result = await CliProgress.RunAsync(
            console,
            $"solving {solverName}: {profile.Layers} layers x {profile.Experts} experts on {pods} pods, {redundant} redundant per layer",
            progress => Task.Run(() => solver.Solve(problem, progress, ct), ct));
        if (result.Plan is null)
        {
            await console.Error.WriteLineAsync($"moectl plan: infeasible: {result.Summary.Note}");
            return Moectl.Failed;
        }

        PlanFile.Save(outPath, result.Plan);
        await PrintPlan(args.Json, console, result.Plan, outPath);
        return Moectl.Ok;
    }

    /// <summary>The ilp options of the command line, range-checked (a bad value is a usage error).</summary>
    internal static IlpOptions IlpOptionsFrom(CliArgs args, int pods)
    {
        var defaults = new IlpOptions();
        var podsPerNode = args.GetInt("pods-per-node", defaults.PodsPerNode, 0, 4096);
        if (podsPerNode > 0 && pods % podsPerNode != 0)
        {
            throw new UsageException($"option '--pods-per-node' must divide the {pods} pods, got '{podsPerNode}'");
        }

        return new IlpOptions
        {
            Sweeps = args.GetInt("sweeps", defaults.Sweeps, 1, 1000),
            DeterministicSeconds = args.GetDouble("deterministic-seconds", defaults.DeterministicSeconds, 0.001, 100_000),
            LoadSlack = args.GetDouble("load-slack", defaults.LoadSlack, 0, 10),
            Resamples = args.GetInt("resamples", defaults.Resamples, 0, 256),
            ResampleWeight = args.GetDouble("resample-weight", defaults.ResampleWeight, 0, 1000),
            HedgeDeviations = args.GetDouble("hedge", defaults.HedgeDeviations, 0, 100),
            PodsPerNode = podsPerNode,
            NodeWeight = args.GetDouble("node-weight", defaults.NodeWeight, 0, 1),
        };
    }

    private static async Task<int> Incremental(CliArgs args, CliConsole console, Placement.Profiles.WorkloadProfile profile, string outPath, int seed)
    {
        var live = PlanFile.Load(args.Require("from"));
        var maxMoves = args.GetInt("max-moves", 0, 0, int.MaxValue);
        var threshold = args.GetDouble("threshold", 0.005, 0, 1);
        var result = await CliProgress.RunAsync(
            console,
            $"re-planning from {args.Require("from")}: at most {maxMoves} move(s)",
            progress => Task.Run(() => IncrementalPlanner.Plan(live, profile, maxMoves, threshold, seed: seed, progress: progress)));
        if (result.Decision == ReplacementDecision.Apply)
        {
            PlanFile.Save(outPath, result.Candidate);
        }

        if (args.Json)
        {
            await CliOutput.WriteJsonAsync(console.Out, new
            {
                decision = result.Decision == ReplacementDecision.Apply ? "apply" : "keep",
                moves = result.Moves,
                maxMoves,
                liveRemoteFraction = result.LiveRemoteFraction,
                candidateRemoteFraction = result.CandidateRemoteFraction,
                gain = result.Gain,
                version = result.Candidate.Info.Version,
                written = result.Decision == ReplacementDecision.Apply ? outPath : null,
            });
            return Moectl.Ok;
        }

        await console.Out.WriteLineAsync(result.Decision == ReplacementDecision.Apply
            ? $"apply: plan version {result.Candidate.Info.Version} written to {outPath}; {result.Note}"
            : $"keep: the live plan stays (nothing written); {result.Note}");
        return Moectl.Ok;
    }

    private static async Task<int> GainCurve(CliArgs args, CliConsole console, Placement.Profiles.WorkloadProfile profile, RoutingTrace? scoring, int seed)
    {
        var live = PlanFile.Load(args.Require("from"));
        int[] budgets = [0, 10, 20, 40, 80, 160];
        var points = await CliProgress.RunAsync(
            console,
            $"gain curve from {args.Require("from")}: M = {string.Join(", ", budgets)}",
            progress => Task.Run(() => IncrementalPlanner.GainCurve(live, profile, budgets, scoring, seed: seed, progress: progress)));
        if (args.Json)
        {
            await CliOutput.WriteJsonAsync(console.Out, points);
            return Moectl.Ok;
        }

        static string Cell(double? value) => value is { } v ? CliOutput.Num(v, 4) : "-";
        await console.Out.WriteLineAsync(CliOutput.Table(
            ["M", "moves", "rounds", "live remote", "candidate remote", "gain", "scored live", "scored candidate", "scored gain"],
            points.Select(p => (IReadOnlyList<string>)
            [
                p.MaxMoves.ToString(CultureInfo.InvariantCulture), p.Moves.ToString(CultureInfo.InvariantCulture), p.Rounds.ToString(CultureInfo.InvariantCulture),
                Cell(p.LiveRemoteFraction), Cell(p.CandidateRemoteFraction), Cell(p.Gain), Cell(p.LiveScoredRemoteFraction), Cell(p.CandidateScoredRemoteFraction), Cell(p.ScoredGain),
            ])));
        await console.Out.WriteLineAsync(scoring is null
            ? "remote fractions on the profile's sampled tokens (in-sample), speculative homes."
            : $"remote fractions on the profile's sampled tokens (in-sample) and, scored, on '{scoring.Manifest.Name}', speculative homes.");
        return Moectl.Ok;
    }

    private static async Task PrintPlan(bool json, CliConsole console, PlacementPlan plan, string outPath)
    {
        var solve = plan.Info.Solve!;
        var predicted = plan.Info.Predicted;
        if (json)
        {
            await CliOutput.WriteJsonAsync(console.Out, new
            {
                @out = outPath,
                solver = plan.Info.Solver,
                status = solve.Status.ToString(),
                objective = solve.Objective,
                bound = solve.Bound,
                seconds = solve.Seconds,
                note = solve.Note,
                pods = plan.PodCount,
                redundant = plan.Redundant,
                replicasPerPodMax = plan.ReplicasPerPodMax,
                predicted,
            });
            return;
        }

        await console.Out.WriteLineAsync(string.Create(CultureInfo.InvariantCulture,
            $"{plan.Info.Solver}: {solve.Status}, objective {solve.Objective:F4}{(solve.Bound is { } b ? $", bound {b:F4}" : "")}, {solve.Seconds:F1} s ({solve.Note}); wrote {outPath}"));
        if (predicted is not null)
        {
            await console.Out.WriteLineAsync(CliOutput.Table(PlacementInputs.MetricHeaders, [PlacementInputs.MetricCells(predicted)]));
            await console.Out.WriteLineAsync("predicted on the fitting profile's sampled tokens with speculative homes (in-sample).");
        }
    }
}
