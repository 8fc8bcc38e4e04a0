using System.Globalization;
using MoeCloud.Cli.Hosting;
using MoeCloud.Model.Traces;
using MoeCloud.Placement.Benchmarks;
using MoeCloud.Placement.Solvers;

namespace MoeCloud.Cli.Commands;

/// <summary><c>moectl bench placement</c>: the placement comparison table of docs/BENCHMARKS.md, in one run.</summary>
public static class BenchPlacementCommand
{
    /// <summary>Registers the command.</summary>
    public static void Register(Moectl app)
    {
        ArgumentNullException.ThrowIfNull(app);
        app.Add(new CliCommand(
            "bench placement",
            "Compare contiguous, eplb and ilp plans (fit on even sequences, score on odd) on the shared or given traces.",
            "[<dir>...]",
            [
                new("pods", "<G,...> pod counts (default 4,8,16)"),
                new("redundant", "<R> redundant replicas per layer for eplb and ilp (default 8)"),
                new("time-limit", "<S> ilp wall-clock guard per plan (default 10)"),
                new("deterministic-seconds", "<D> ilp search budget per plan in CP-SAT deterministic seconds, every arm (default: IlpOptions' 1.5)"),
                new("seed", "<N> seed (default 1)"),
                new("deepseek", "<off|on> also the DeepSeek-V3-scale synthetic case: 58 layers x 256 experts, top-8 of the best 4 of 8 groups, 32 redundant (default on)"),
                new("deepseek-pods", "<G,...> pod counts of the DeepSeek-V3 case (default 64)"),
                new("deepseek-time-limit", "<S> ilp time limit of the DeepSeek-V3 case (default 30)"),
                new("ilp", "<arm,...> ilp arms as rows: default (the current defaults), v1 (no resampling, no hedging: the solver before them), nodes (the defaults with nodes of 4 pods); default 'default'"),
                new("json", "print JSON", IsFlag: true),
            ],
            Run,
            MinArguments: 0,
            MaxArguments: 64));
    }

    /// <summary>Hierarchical-eplb rows of the given traces: 8 expert groups, nodes of 4 pods.</summary>
    private static readonly BenchHierarchy TraceHierarchy = new(Groups: 8, PodsPerNode: 4);

    /// <summary>Hierarchical-eplb rows of the DeepSeek-V3 case: its 8 gating groups, nodes of 8 pods (one per 8-GPU node).</summary>
    private static readonly BenchHierarchy DeepSeekHierarchy = new(Groups: 8, PodsPerNode: 8);

    private static int[] PodCounts(CliArgs args, string option, string fallback) =>
        (args.Get(option) ?? fallback).Split(',').Select(p =>
            int.TryParse(p, NumberStyles.None, CultureInfo.InvariantCulture, out var g) && g is > 0 and <= 4096 ? g : throw new UsageException($"option '--{option}' needs pod counts in [1, 4096], got '{p}'")).ToArray();

    private static IReadOnlyList<IlpArm> IlpArms(CliArgs args)
    {
        var arms = new List<IlpArm>();
        double? budget = args.Has("deterministic-seconds") ? args.GetDouble("deterministic-seconds", 1, 0.001, 100_000) : null;
        foreach (var name in (args.Get("ilp") ?? "default").Split(','))
        {
            IlpArm arm = name switch
            {
                "default" => new("ilp", new IlpOptions()),
                "v1" => new("ilp-v1", new IlpOptions { Resamples = 0, HedgeDeviations = 0 }, AllHomes: false),
                "nodes" => new("ilp-nodes", new IlpOptions { PodsPerNode = TraceHierarchy.PodsPerNode }, AllHomes: false),
                _ => throw new UsageException($"option '--ilp' takes arms among default, v1 and nodes, got '{name}'"),
            };
            if (budget is { } d)
            {
                arm = arm with { Options = arm.Options with { DeterministicSeconds = d } };
            }

            if (arms.Any(a => a.Name == arm.Name))
            {
                throw new UsageException($"option '--ilp' names arm '{name}' twice");
            }

            arms.Add(arm);
        }

        return arms;
    }

    private static async Task<int> Run(CliArgs args, CliConsole console, CancellationToken ct)
    {
        var ilpArms = IlpArms(args);
        var pods = PodCounts(args, "pods", "4,8,16");
        var deepseekPods = PodCounts(args, "deepseek-pods", "64");
        var deepseekLimit = TimeSpan.FromSeconds(args.GetDouble("deepseek-time-limit", 30, 0.1, 3600));
        var redundant = args.GetInt("redundant", 8, 0, 1 << 16);
        var limit = TimeSpan.FromSeconds(args.GetDouble("time-limit", 10, 0.1, 3600));
        var seed = args.GetInt("seed", 1);
        var deepseek = args.GetChoice("deepseek", "on", "on", "off") == "on";
        var traces = new List<RoutingTrace>();
        var dirs = args.Positionals.Count > 0 ? args.Positionals : SharedTraces.All();
        if (dirs.Count == 0)
        {
            await console.Error.WriteLineAsync("no traces given and no ../shared/traces found: using a synthetic trace (moectl trace synth defaults)");
            traces.Add(SyntheticTraceGenerator.Generate(new SyntheticTraceOptions(), "synthetic-default"));
        }

        traces.AddRange(dirs.Select(TraceDirectory.Read));
        var runs = (traces.Count * pods.Length) + (deepseek ? deepseekPods.Length : 0);
        var rows = await CliProgress.RunAsync(console, $"placement benchmark: {runs} run(s) of every solver", async progress =>
        {
            var rows = new List<BenchRow>();
            var done = 0;
            foreach (var trace in traces)
            {
                foreach (var g in pods)
                {
                    rows.AddRange(await Task.Run(() => PlacementBench.Run(trace, g, redundant, limit, seed, progress, ct, TraceHierarchy, ilpArms), ct));
                    progress.Advance(++done, runs, $"{done}/{runs} runs: {trace.Manifest.Name}, {g} pods done");
                }
            }

            if (deepseek)
            {
                progress.Report("generating the DeepSeek-V3-scale synthetic trace (58 layers x 256 experts, top-8 of the best 4 of 8 groups, sigmoid gate with selection bias, 8,192 tokens)");
                var big = SyntheticTraceGenerator.Generate(SyntheticTraceOptions.DeepSeekV3 with { Seed = seed }, "synthetic-deepseek-v3");
                foreach (var g in deepseekPods)
                {
                    rows.AddRange(await Task.Run(() => PlacementBench.Run(big, g, 32, deepseekLimit, seed, progress, ct, DeepSeekHierarchy, ilpArms), ct));
                    progress.Advance(++done, runs, $"{done}/{runs} runs: {big.Manifest.Name}, {g} pods done");
                }
            }

            return rows;
        });

        if (args.Json)
        {
            await CliOutput.WriteJsonAsync(console.Out, rows);
            return Moectl.Ok;
        }

        await console.Out.WriteLineAsync(CliOutput.Table(
            ["trace", "pods", "solver", "R", "home", .. PlacementInputs.MetricHeaders, "fitted expert imb", "cross-node", "solve s", "status"],
            rows.Select(r => (IReadOnlyList<string>)
            [
                r.Trace, r.Pods.ToString(CultureInfo.InvariantCulture), r.Solver, r.Redundant.ToString(CultureInfo.InvariantCulture), r.Home,
                .. PlacementInputs.MetricCells(r.Metrics), CliOutput.Num(r.FittedExpertImbalance, 3), r.CrossNodeRemoteFraction is { } x ? CliOutput.Num(x, 4) : "-",
                CliOutput.Num(r.SolveSeconds, 1), r.Status.ToString(),
            ])));
        await console.Out.WriteLineAsync();
        await console.Out.WriteLineAsync("fit on even sequences, scored on odd ones; remote = remote dispatches / all (re-homes count as remote dispatches); imbalances are max / mean (DESIGN.md §2); eplb-hierarchical: 8 expert groups, nodes of 4 pods (DeepSeek-V3 case: 8 pods); fitted expert imb: the same plan and home policy replayed on the fitting half; cross-node: dispatches leaving the home's node (nodes as eplb-hierarchical's) / all.");
        return Moectl.Ok;
    }
}
