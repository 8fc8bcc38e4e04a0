using MoeCloud.Cli.Hosting;
using MoeCloud.Model.Traces;

namespace MoeCloud.Cli.Commands;

/// <summary><c>moectl trace stats|synth|split|counts</c>.</summary>
public static class TraceCommands
{
    private static readonly CliOption JsonOption = new("json", "print JSON instead of a table", IsFlag: true);

    /// <summary>Registers the trace commands.</summary>
    public static void Register(Moectl app)
    {
        ArgumentNullException.ThrowIfNull(app);
        app.Add(new CliCommand(
            "trace stats",
            "Tokens, sequences, per-layer load skew and held-out successor hit rate of one or more traces.",
            "<dir>...",
            [JsonOption],
            Stats,
            MinArguments: 1,
            MaxArguments: 64));
        var defaults = new SyntheticTraceOptions();
        app.Add(new CliCommand(
            "trace synth",
            "Generate a synthetic routing trace with realistic load skew and cross-layer affinity.",
            "",
            [
                new("out", "<dir> where to write the trace (required)"),
                new("shape", "<default|deepseek-v3> starting point of the other options: default, or DeepSeek-V3's shape and gate (58 x 256, top-8, sigmoid + selection bias, top-4 of 8 groups)"),
                new("layers", $"<L> MoE layers (default {defaults.Layers})"),
                new("experts", $"<E> routed experts per layer (default {defaults.Experts})"),
                new("top-k", $"<K> experts per token (default {defaults.TopK})"),
                new("tokens", $"<T> tokens (default {defaults.Tokens})"),
                new("sequences", $"<S> sequences (default {defaults.Sequences})"),
                new("seed", $"<N> random seed (default {defaults.Seed})"),
                new("skew", $"<x> load skew: std of expert log-popularity, >= 0 (default {defaults.Skew})"),
                new("affinity", $"<x> cross-layer affinity in [0, 1) (default {defaults.Affinity})"),
                new("stickiness", $"<x> share of routing state common to a sequence, [0, 1) (default {defaults.Stickiness})"),
                new("sharpness", $"<x> gate logit scale, > 0 (default {defaults.Sharpness})"),
                new("dimension", $"<D> dimension of the routing state (default {defaults.Dimension})"),
                new("name", "<name> trace name (default: the folder name)"),
            ],
            Synth));
        app.Add(new CliCommand(
            "trace split",
            "Split a trace into even sequences (to fit on) and odd sequences (to score on).",
            "<dir>",
            [new("out-fit", "<dir> where the even sequences go (required)"), new("out-eval", "<dir> where the odd sequences go (required)")],
            Split,
            MinArguments: 1,
            MaxArguments: 1));
        app.Add(new CliCommand(
            "trace counts",
            "Read an SGLang expert-distribution count dump ({\"counts\": [layers][experts]} JSON or a logical_count .npy) as a load-only profile.",
            "<file.json|file.npy>",
            [JsonOption],
            Counts,
            MinArguments: 1,
            MaxArguments: 1));
    }

    internal static async Task<int> PrintStats(IReadOnlyList<TraceStats> stats, bool json, CliConsole console)
    {
        if (json)
        {
            var views = stats.Select(s => new
            {
                name = s.Name,
                tokens = s.Tokens,
                sequences = s.Sequences,
                layers = s.Layers,
                experts = s.Experts,
                topK = s.TopK,
                skewMean = s.SkewMean,
                skewMin = s.SkewMin,
                skewMax = s.SkewMax,
                successorHitHeldOut = s.SuccessorHitHeldOut,
                successorHitChance = s.SuccessorHitChance,
                top1FromGateWeights = s.Top1FromGateWeights,
                layerSkew = s.LayerSkew,
            }).ToArray();
            await (views.Length == 1 ? CliOutput.WriteJsonAsync(console.Out, views[0]) : CliOutput.WriteJsonAsync(console.Out, views));
            return Moectl.Ok;
        }

        var table = CliOutput.Table(
            ["trace", "tokens", "sequences", "layers", "experts", "topK", "skew mean", "skew min", "skew max", "successor hit (held-out)", "chance"],
            stats.Select(s => (IReadOnlyList<string>)
            [
                s.Name, CliOutput.Count(s.Tokens), CliOutput.Count(s.Sequences), s.Layers.ToString(), s.Experts.ToString(), s.TopK.ToString(),
                CliOutput.Num(s.SkewMean, 2), CliOutput.Num(s.SkewMin, 2), CliOutput.Num(s.SkewMax, 2),
                s.SuccessorHitHeldOut is { } h ? CliOutput.Num(h * 100, 1) + "%" : "n/a (1 sequence)",
                CliOutput.Num(s.SuccessorHitChance * 100, 1) + "%",
            ]));
        await console.Out.WriteLineAsync(table);
        await console.Out.WriteLineAsync();
        await console.Out.WriteLineAsync("skew = hottest expert's load / mean load per layer (all slots); successor hit = next-layer top-1 equals the most frequent successor of the current top-1, fitted on even sequences, scored on odd ones.");
        return Moectl.Ok;
    }

    private static async Task<int> Stats(CliArgs args, CliConsole console, CancellationToken ct)
    {
        var stats = new List<TraceStats>();
        foreach (var dir in args.Positionals)
        {
            ct.ThrowIfCancellationRequested();
            stats.Add(TraceStatistics.Compute(TraceDirectory.Read(dir)));
        }

        return await PrintStats(stats, args.Json, console);
    }

    private static async Task<int> Synth(CliArgs args, CliConsole console, CancellationToken ct)
    {
        var outDir = args.Require("out");
        var d = args.GetChoice("shape", "default", "default", "deepseek-v3") == "deepseek-v3" ? SyntheticTraceOptions.DeepSeekV3 : new SyntheticTraceOptions();
        var options = d with
        {
            Layers = args.GetInt("layers", d.Layers, 1, 4096),
            Experts = args.GetInt("experts", d.Experts, 1, short.MaxValue),
            TopK = args.GetInt("top-k", d.TopK, 1, short.MaxValue),
            Tokens = args.GetInt("tokens", d.Tokens, 1, int.MaxValue),
            Sequences = args.GetInt("sequences", d.Sequences, 1, int.MaxValue),
            Seed = args.GetInt("seed", d.Seed),
            Skew = args.GetDouble("skew", d.Skew, 0, 10),
            Affinity = args.GetDouble("affinity", d.Affinity, 0, 0.999999),
            Stickiness = args.GetDouble("stickiness", d.Stickiness, 0, 0.999999),
            Sharpness = args.GetDouble("sharpness", d.Sharpness, 0.001, 100),
            Dimension = args.GetInt("dimension", d.Dimension, 1, 256),
        };
        try
        {
            options.Validate();
        }
        catch (ArgumentException e)
        {
            throw new UsageException(e.Message);
        }

        var name = args.Get("name") ?? new DirectoryInfo(Path.GetFullPath(outDir)).Name;
        var trace = await Task.Run(() => SyntheticTraceGenerator.Generate(options, name), ct);
        TraceDirectory.Write(outDir, trace);
        await console.Error.WriteLineAsync($"wrote {trace.Tokens} tokens in {trace.Sequences.Count} sequences ({trace.Layers} layers × {trace.Experts} experts, top-{trace.TopK}) to {outDir}");
        return Moectl.Ok;
    }

    private static async Task<int> Split(CliArgs args, CliConsole console, CancellationToken ct)
    {
        var fitDir = args.Require("out-fit");
        var evalDir = args.Require("out-eval");
        var trace = TraceDirectory.Read(args.Positionals[0]);
        if (trace.Sequences.Count < 2)
        {
            throw new InvalidDataException($"{args.Positionals[0]}: has {trace.Sequences.Count} sequence(s); a split needs at least 2");
        }

        var (even, odd) = trace.SplitEvenOdd();
        TraceDirectory.Write(fitDir, even);
        TraceDirectory.Write(evalDir, odd);
        await console.Error.WriteLineAsync($"fit:  {even.Tokens} tokens, {even.Sequences.Count} sequences -> {fitDir}");
        await console.Error.WriteLineAsync($"eval: {odd.Tokens} tokens, {odd.Sequences.Count} sequences -> {evalDir}");
        return Moectl.Ok;
    }

    private static async Task<int> Counts(CliArgs args, CliConsole console, CancellationToken ct)
    {
        var load = ExpertLoad.LoadSglangDump(args.Positionals[0]);
        var skews = Enumerable.Range(0, load.Layers).Select(load.Skew).ToArray();
        if (args.Json)
        {
            await CliOutput.WriteJsonAsync(console.Out, new
            {
                layers = load.Layers,
                experts = load.Experts,
                dispatches = load.Counts.Sum(),
                skewMean = skews.Average(),
                skewMax = skews.Max(),
                layerSkew = skews,
            });
            return Moectl.Ok;
        }

        await console.Out.WriteLineAsync(CliOutput.Table(
            ["layer", "dispatches", "hottest expert", "skew"],
            Enumerable.Range(0, load.Layers).Select(l =>
            {
                var row = load.Counts.AsSpan(l * load.Experts, load.Experts);
                var hottest = row.IndexOf(row.ToArray().Max());
                return (IReadOnlyList<string>)[l.ToString(), CliOutput.Count(row.ToArray().Sum()), hottest.ToString(), CliOutput.Num(skews[l], 2)];
            })));
        return Moectl.Ok;
    }
}
