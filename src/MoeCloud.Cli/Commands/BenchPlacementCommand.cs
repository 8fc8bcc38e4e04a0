using System.Globalization;
using MoeCloud.Cli.Hosting;
using MoeCloud.Model.Traces;
using MoeCloud.Placement.Benchmarks;

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
                new("time-limit", "<S> ilp time limit per plan (default 10)"),
                new("seed", "<N> seed (default 1)"),
                new("deepseek", "<off|on> also the DeepSeek-V3-scale synthetic case: 58 layers x 256 experts, top-8, 64 pods, 32 redundant, 60 s (default on)"),
                new("json", "print JSON", IsFlag: true),
            ],
            Run,
            MinArguments: 0,
            MaxArguments: 64));
    }

    private static async Task<int> Run(CliArgs args, CliConsole console, CancellationToken ct)
    {
        var pods = (args.Get("pods") ?? "4,8,16").Split(',').Select(p =>
            int.TryParse(p, NumberStyles.None, CultureInfo.InvariantCulture, out var g) && g is > 0 and <= 4096 ? g : throw new UsageException($"option '--pods' needs pod counts in [1, 4096], got '{p}'")).ToArray();
        var redundant = args.GetInt("redundant", 8, 0, 1 << 16);
        var limit = TimeSpan.FromSeconds(args.GetDouble("time-limit", 10, 0.1, 3600));
        var seed = args.GetInt("seed", 1);
        var deepseek = args.GetChoice("deepseek", "on", "on", "off") == "on";
        var progress = new ConsoleProgress(console.Error);
        var traces = new List<RoutingTrace>();
        var dirs = args.Positionals.Count > 0 ? args.Positionals : SharedTraces.All();
        if (dirs.Count == 0)
        {
            await console.Error.WriteLineAsync("no traces given and no ../shared/traces found: using a synthetic trace (moectl trace synth defaults)");
            traces.Add(SyntheticTraceGenerator.Generate(new SyntheticTraceOptions(), "synthetic-default"));
        }

        traces.AddRange(dirs.Select(TraceDirectory.Read));
        var rows = new List<BenchRow>();
        foreach (var trace in traces)
        {
            foreach (var g in pods)
            {
                rows.AddRange(await Task.Run(() => PlacementBench.Run(trace, g, redundant, limit, seed, progress, ct), ct));
            }
        }

        if (deepseek)
        {
            await console.Error.WriteLineAsync("generating the DeepSeek-V3-scale synthetic trace (58 layers x 256 experts, top-8, 8,192 tokens)");
            var big = SyntheticTraceGenerator.Generate(new SyntheticTraceOptions { Layers = 58, Experts = 256, TopK = 8, Tokens = 8192, Sequences = 64, Seed = seed }, "synthetic-deepseek-v3");
            rows.AddRange(await Task.Run(() => PlacementBench.Run(big, 64, 32, TimeSpan.FromSeconds(60), seed, progress, ct), ct));
        }

        if (args.Json)
        {
            await CliOutput.WriteJsonAsync(console.Out, rows);
            return Moectl.Ok;
        }

        await console.Out.WriteLineAsync(CliOutput.Table(
            ["trace", "pods", "solver", "R", "home", .. PlacementInputs.MetricHeaders, "solve s", "status"],
            rows.Select(r => (IReadOnlyList<string>)
            [
                r.Trace, r.Pods.ToString(CultureInfo.InvariantCulture), r.Solver, r.Redundant.ToString(CultureInfo.InvariantCulture), r.Home,
                .. PlacementInputs.MetricCells(r.Metrics), CliOutput.Num(r.SolveSeconds, 1), r.Status.ToString(),
            ])));
        await console.Out.WriteLineAsync();
        await console.Out.WriteLineAsync("fit on even sequences, scored on odd ones; remote = remote dispatches / all (re-homes count as remote dispatches); imbalances are max / mean (DESIGN.md §2).");
        return Moectl.Ok;
    }
}
