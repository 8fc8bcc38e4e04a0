using MoeCloud.Cli.Hosting;
using MoeCloud.Contracts.Models;
using MoeCloud.Model.Forward;
using MoeCloud.Model.Kernels;
using MoeCloud.Model.Spec;
using MoeCloud.Model.Synthetic;
using MoeCloud.Model.Traces;
using MoeCloud.Model.Weights;

namespace MoeCloud.Cli.Commands;

/// <summary><c>moectl model create|info|trace</c>.</summary>
public static class ModelCommands
{
    private static readonly string[] Families = [.. ModelFamilies.ModelTypes];

    /// <summary>Registers the model commands.</summary>
    public static void Register(Moectl app)
    {
        ArgumentNullException.ThrowIfNull(app);
        var defaults = new SyntheticModelOptions();
        app.Add(new CliCommand(
            "model create",
            "Write a synthetic checkpoint (config.json + safetensors shards in a family's real naming), deterministic by seed.",
            "",
            [
                new("out", "<dir> where to write the checkpoint (required)"),
                new("preset", $"<name> {string.Join(", ", SyntheticModelPresets.Names)} (default tiny)"),
                new("family", $"<model_type> naming and gating: {string.Join(", ", Families)} (default deepseek_v2)"),
                new("dtype", "<t> f32, bf16 or f16 (default: the preset's)"),
                new("seed", $"<N> random seed (default {defaults.Seed})"),
                new("skew", $"<x> std of expert log-popularity, [0, 5] (default {defaults.Skew})"),
                new("affinity", $"<x> cross-layer affinity of router rows, [0, 1] (default {defaults.Affinity})"),
                new("shard-mb", "<N> largest shard in MiB (default 2048)"),
                new("json", "print JSON instead of a table", IsFlag: true),
            ],
            Create));
        app.Add(new CliCommand(
            "model info",
            "Read a checkpoint's config.json: the model spec as MoeCloud reads it (family, layers, experts, gating).",
            "<dir>",
            [new("json", "print JSON instead of a table", IsFlag: true)],
            Info,
            MinArguments: 1,
            MaxArguments: 1));
        var trace = new ModelTraceOptions();
        app.Add(new CliCommand(
            "model trace",
            "Record the routing of a model's gates on synthetic token sequences as a trace (check it with 'moectl trace stats').",
            "",
            [
                new("model", "<dir> the checkpoint (required)"),
                new("out", "<dir> where to write the trace (required)"),
                new("tokens", $"<N> tokens (default {trace.Tokens})"),
                new("sequences", $"<S> sequences (default {trace.Sequences})"),
                new("seed", $"<N> seed of the token ids (default {trace.Seed})"),
            ],
            Trace));
    }

    private static async Task<int> Create(CliArgs args, CliConsole console, CancellationToken ct)
    {
        var outDir = args.Require("out");
        var preset = args.GetChoice("preset", "tiny", [.. SyntheticModelPresets.Names]);
        ModelFamilies.TryParse(args.GetChoice("family", ModelFamily.DeepseekV2.ModelType(), Families), out var family);
        WeightDType? dtype = args.Get("dtype") is { } d ? WeightDTypes.TryParse(d, out var parsed) ? parsed : throw new UsageException($"option '--dtype' must be f32, bf16 or f16; got '{d}'") : null;
        var options = new SyntheticModelOptions
        {
            Seed = args.GetInt("seed", 1),
            Skew = args.GetDouble("skew", new SyntheticModelOptions().Skew, 0, 5),
            Affinity = args.GetDouble("affinity", new SyntheticModelOptions().Affinity, 0, 1),
            MaxShardBytes = args.GetInt("shard-mb", 2048, 1, 65536) * (1L << 20),
        };
        var (spec, vocabulary) = SyntheticModelPresets.Get(preset, family, dtype);
        var summary = await CliProgress.RunAsync(
            console,
            $"writing {preset} ({family.ModelType()}, {spec.DType}) to {outDir}",
            _ => Task.Run(() => SyntheticModelWriter.Write(outDir, spec, vocabulary, options), ct));
        if (args.Json)
        {
            await CliOutput.WriteJsonAsync(console.Out, new { directory = summary.Directory, preset, family = family.ModelType(), dtype = spec.DType.ToString(), files = summary.Files.Count, tensors = summary.Tensors, bytes = summary.LogicalBytes });
            return Moectl.Ok;
        }

        await console.Out.WriteLineAsync(CliOutput.Table(
            ["directory", "preset", "family", "dtype", "files", "tensors", "bytes"],
            [[summary.Directory, preset, family.ModelType(), spec.DType.ToString(), summary.Files.Count.ToString(), CliOutput.Count(summary.Tensors), CliOutput.Count(summary.LogicalBytes)]]));
        return Moectl.Ok;
    }

    private static async Task<int> Info(CliArgs args, CliConsole console, CancellationToken ct)
    {
        using var checkpoint = ModelCheckpoint.Open(args.Positionals[0]);
        var s = checkpoint.Spec;
        var view = new
        {
            family = s.Family.ModelType(),
            layers = s.Layers,
            moeLayers = s.MoeLayers,
            firstMoeLayer = s.FirstMoeLayer,
            experts = s.Experts,
            topK = s.TopK,
            hidden = s.Hidden,
            expertIntermediate = s.ExpertIntermediate,
            sharedExperts = s.SharedExperts,
            sharedIntermediate = s.SharedIntermediate,
            dtype = s.DType.ToString(),
            gating = JsonGating.From(ModelInfos.Gating(s.Gating)),
            expertBytes = s.ExpertBytes(s.DType == WeightDType.BF16 ? WeightDType.BF16 : WeightDType.F32),
        };
        ct.ThrowIfCancellationRequested();
        if (args.Json)
        {
            await CliOutput.WriteJsonAsync(console.Out, view);
            return Moectl.Ok;
        }

        await console.Out.WriteLineAsync(CliOutput.Table(
            ["key", "value"],
            Rows(view, prefix: "")));
        return Moectl.Ok;
    }

    // One row per property; the gating object's properties as gating.<name>, never its ToString().
    private static IEnumerable<IReadOnlyList<string>> Rows(object view, string prefix) =>
        view.GetType().GetProperties().SelectMany(p => p.GetValue(view) is JsonGating gating
            ? Rows(gating, $"{prefix}{p.Name}.")
            : [[prefix + p.Name, Convert.ToString(p.GetValue(view), System.Globalization.CultureInfo.InvariantCulture) ?? ""]]);

    private static async Task<int> Trace(CliArgs args, CliConsole console, CancellationToken ct)
    {
        var modelDir = args.Require("model");
        var outDir = args.Require("out");
        var options = new ModelTraceOptions
        {
            Tokens = args.GetInt("tokens", 4096, 1, 1_000_000),
            Sequences = args.GetInt("sequences", 32, 1, 1_000_000),
            Seed = args.GetInt("seed", 1),
        };
        if (options.Sequences > options.Tokens)
        {
            throw new UsageException($"option '--sequences' ({options.Sequences}) cannot exceed '--tokens' ({options.Tokens})");
        }

        using var checkpoint = ModelCheckpoint.Open(modelDir);
        var model = await CliProgress.RunAsync(
            console,
            $"loading {checkpoint.Spec.MoeLayers} MoE layers × {checkpoint.Spec.Experts} experts from {modelDir}",
            _ => Task.Run(() => InMemoryModel.Load(checkpoint), ct));
        var trace = await CliProgress.RunAsync(
            console,
            $"recording {options.Tokens} tokens in {options.Sequences} sequences",
            _ => Task.Run(() => ModelTraceRecorder.Record(checkpoint, new ReferenceForward(model, new CpuExpertKernel()), options, Path.GetFileName(Path.TrimEndingDirectorySeparator(Path.GetFullPath(outDir)))), ct));
        TraceDirectory.Write(outDir, trace);
        var stats = TraceStatistics.Compute(trace);
        return await TraceCommands.PrintStats([stats], json: false, console);
    }
}
