using System.Globalization;
using System.Text.Json;
using MoeCloud.Cli.Hosting;
using MoeCloud.Cli.Plots;
using MoeCloud.Model.Traces;
using MoeCloud.Placement.Benchmarks;
using MoeCloud.Placement.Plans;
using MoeCloud.Placement.Profiles;

namespace MoeCloud.Cli.Commands;

/// <summary>
/// <c>moectl plot placement|transitions|frontier</c>: pictures of a plan's load per pod and layer, of a trace's
/// layer-to-layer transitions and of <c>moectl bench placement --json</c>'s rows, as PNG or SVG (the --out extension).
/// </summary>
public static class PlotCommands
{
    private const int DefaultWidth = 1000;
    private const int DefaultHeight = 700;

    /// <summary><c>moectl bench placement --json</c>'s options, strict: a missing or null field is an error, not a default.</summary>
    private static readonly JsonSerializerOptions BenchJson = new(CliOutput.Json)
    {
        RespectNullableAnnotations = true,
        RespectRequiredConstructorParameters = true,
    };

    /// <summary>Registers the commands.</summary>
    public static void Register(Moectl app)
    {
        ArgumentNullException.ThrowIfNull(app);
        app.Add(new CliCommand(
            "plot placement",
            "Draw a plan as a heatmap of layers x pods: each pod's load in each layer (with --trace) or its expert replicas.",
            "",
            [
                new("plan", "<plan.json> the plan (required)"),
                new("trace", "<dir> colour by this trace's dispatches, each expert's load split evenly over its replicas (default: replicas per pod)"),
                .. PictureOptions(required: true),
            ],
            Placement));
        app.Add(new CliCommand(
            "plot transitions",
            "Draw a trace's transitions from layer L to L+1 as a heatmap of experts x experts (co-activation counts).",
            "",
            [
                new("trace", "<dir> the routing trace (required)"),
                new("layer", "<L> the first layer of the pair, 0..layers-2 (required)"),
                .. PictureOptions(required: false),
            ],
            Transitions));
        app.Add(new CliCommand(
            "plot frontier",
            "Draw moectl bench placement --json's rows as remote fraction against expert-load imbalance, one labelled point per row.",
            "",
            [
                new("bench", "<bench.json> the output of moectl bench placement --json (required)"),
                .. PictureOptions(required: true),
            ],
            Frontier));
    }

    private static CliOption[] PictureOptions(bool required) =>
    [
        new("out", $"<file.png|file.svg> the picture; its extension picks the format ({(required ? "required" : "default transitions-layer<L>.png")})"),
        new("width", $"<px> width in pixels (default {DefaultWidth})"),
        new("height", $"<px> height in pixels (default {DefaultHeight})"),
    ];

    private static async Task<int> Placement(CliArgs args, CliConsole console, CancellationToken ct)
    {
        var planPath = args.Require("plan");
        var picture = Picture.From(args, args.Require("out"));
        var plan = PlanFile.Load(planPath);
        var tracePath = args.Get("trace");
        var trace = tracePath is null ? null : TraceDirectory.Read(tracePath);
        if (trace is not null && (trace.Layers != plan.Layers || trace.Experts != plan.Experts))
        {
            throw new InvalidDataException($"{tracePath}: the trace has {trace.Layers} layers x {trace.Experts} experts, the plan {planPath} {plan.Layers} x {plan.Experts}");
        }

        var values = await Task.Run(() => PlotMatrices.PodLoads(plan, trace), ct);
        var spec = trace is null
            ? new HeatmapSpec(values, $"Expert replicas per pod and layer: {plan.Info.Solver} plan, {plan.PodCount} pods", "pod", "layer", "expert replicas")
            : new HeatmapSpec(values, $"Load per pod and layer: {plan.Info.Solver} plan, {plan.PodCount} pods, trace {trace.Manifest.Name}", "pod", "layer", "dispatches (replicas share an expert's load evenly)");
        return await picture.Draw(console, () => PlotRenderer.Heatmap(spec, picture.Path, picture.Format, picture.Width, picture.Height));
    }

    private static async Task<int> Transitions(CliArgs args, CliConsole console, CancellationToken ct)
    {
        var tracePath = args.Require("trace");
        args.Require("layer");
        var layer = args.GetInt("layer", 0, 0);

        var picture = Picture.From(args, args.Get("out") ?? $"transitions-layer{layer.ToString(CultureInfo.InvariantCulture)}.png");
        var trace = TraceDirectory.Read(tracePath);
        if (layer > trace.Layers - 2)
        {
            throw new UsageException(trace.Layers < 2
                ? $"option '--layer': trace {tracePath} has 1 layer, so no layer-to-layer transitions"
                : $"option '--layer' must be in 0..{trace.Layers - 2} for trace {tracePath} ({trace.Layers} layers), got {layer}");
        }

        var values = await Task.Run(() => PlotMatrices.Transitions(WorkloadProfile.FromTrace(trace, sampleCap: 0), layer), ct);
        var next = layer + 1;
        var spec = new HeatmapSpec(
            values,
            $"Transitions from layer {layer} to layer {next}: trace {trace.Manifest.Name}, top-{trace.TopK}",
            $"expert at layer {next}",
            $"expert at layer {layer}",
            "tokens (every k x k slot pair counted)");
        return await picture.Draw(console, () => PlotRenderer.Heatmap(spec, picture.Path, picture.Format, picture.Width, picture.Height));
    }

    private static async Task<int> Frontier(CliArgs args, CliConsole console, CancellationToken ct)
    {
        var benchPath = args.Require("bench");
        var picture = Picture.From(args, args.Require("out"));
        var rows = ReadBenchRows(benchPath);
        var points = rows
            .Select(r => new ScatterPoint($"{r.Trace}, {r.Pods.ToString(CultureInfo.InvariantCulture)} pods", $"{r.Solver} {r.Home}", r.Metrics.ExpertLoadImbalance, r.Metrics.RemoteFraction))
            .ToArray();
        ct.ThrowIfCancellationRequested();
        return await picture.Draw(console, () => PlotRenderer.Scatter(
            "Placement frontier: remote fraction against expert-load imbalance",
            "expert-load imbalance (max / mean over pods)",
            "remote fraction (remote dispatches / all)",
            points,
            picture.Path,
            picture.Format,
            picture.Width,
            picture.Height));
    }

    /// <summary>The rows <c>moectl bench placement --json</c> writes (a JSON array of <see cref="BenchRow"/>), at least one.</summary>
    private static List<BenchRow> ReadBenchRows(string path)
    {
        List<BenchRow?>? rows;
        try
        {
            rows = JsonSerializer.Deserialize<List<BenchRow?>>(File.ReadAllText(path), BenchJson);
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{path}: is not the JSON of moectl bench placement --json ({e.Message})", e);
        }

        if (rows is null || rows.Count == 0)
        {
            throw new InvalidDataException($"{path}: holds no rows (moectl bench placement --json writes a non-empty array)");
        }

        var bad = rows.FindIndex(r => r is null);
        return bad >= 0 ? throw new InvalidDataException($"{path}: row {bad} is null") : [.. rows.OfType<BenchRow>()];
    }

    /// <summary>Where and how big the picture is; the extension of <paramref name="Path"/> is checked when it is parsed.</summary>
    private sealed record Picture(string Path, PlotFormat Format, int Width, int Height)
    {
        public static Picture From(CliArgs args, string path)
        {
            var format = PlotRenderer.FormatOf(path)
                ?? throw new UsageException($"option '--out' must end in .png or .svg (the extension picks the format), got '{path}'");
            return new Picture(path, format, args.GetInt("width", DefaultWidth, 100, 10000), args.GetInt("height", DefaultHeight, 100, 10000));
        }

        public async Task<int> Draw(CliConsole console, Action render)
        {
            if (!PlotRenderer.HasFonts)
            {
                await console.Error.WriteLineAsync("warning: no fonts found under /usr/share/fonts, so the picture has no text (on Debian: apt-get install fonts-dejavu-core)");
            }

            render();
            await console.Error.WriteLineAsync($"wrote {Path}");
            return Moectl.Ok;
        }
    }
}
