using System.Globalization;
using MoeCloud.Cli.Hosting;
using MoeCloud.Model.Traces;

namespace MoeCloud.Cli.Commands;

/// <summary>
/// <c>moectl trace import</c>: SGLang's expert-distribution counts into a load-only profile
/// (<see cref="ExpertLoad.LoadSglangDump"/>, the reader of <c>trace counts</c> and <c>plan --trace</c>), or vLLM's
/// per-request routed experts into a trace directory (<see cref="VllmRoutedExperts"/>, <see cref="TraceDirectory"/>).
/// </summary>
public static class TraceImportCommand
{
    /// <summary>Registers the command.</summary>
    public static void Register(Moectl app)
    {
        ArgumentNullException.ThrowIfNull(app);
        app.Add(new CliCommand(
            "trace import",
            "Import SGLang logical_count dumps (.json/.npy) as a load-only profile, or vLLM routed-experts .npy files as a trace.",
            "<file>...",
            [
                new("format", "<sglang-count|vllm-routed> what the files are (required)"),
                new("out", "<path> sglang-count: the profile file (.json) to write; vllm-routed: the trace directory (required)"),
                new("model", "<dir> checkpoint directory: sglang-count keeps its MoE layers of all hidden layers; both check the shape"),
                new("experts", "<E> vllm-routed: routed experts per layer (default: from --model, else the largest id + 1)"),
                new("name", "<name> vllm-routed: trace name (default: the folder name)"),
            ],
            Run,
            MinArguments: 1,
            MaxArguments: 65536));
    }

    private static async Task<int> Run(CliArgs args, CliConsole console, CancellationToken ct)
    {
        var format = args.GetChoice("format", "", "sglang-count", "vllm-routed");
        var outPath = args.Require("out");
        return format == "sglang-count" ? await SglangCount(args, outPath, console) : await VllmRouted(args, outPath, console, ct);
    }

    private static async Task<int> SglangCount(CliArgs args, string outPath, CliConsole console)
    {
        if (args.Positionals.Count != 1 || args.Has("experts") || args.Has("name"))
        {
            throw new UsageException("--format sglang-count takes one dump file and neither --experts nor --name");
        }

        var path = args.Positionals[0];
        var load = ExpertLoad.LoadSglangDump(path);
        var spec = EngineModel.Read(args.Get("model"));
        var inv = CultureInfo.InvariantCulture;
        if (spec is not null)
        {
            if (load.Experts != spec.Experts)
            {
                throw new InvalidDataException($"{path}: has {load.Experts} experts per layer, the model has {spec.Experts}");
            }

            if (load.Layers == spec.Layers && spec.Layers != spec.MoeLayers)
            {
                load = load.SelectLayers(spec.MoeLayerIndices);
                await console.Error.WriteLineAsync(string.Create(inv, $"kept the model's {spec.MoeLayers} MoE layers of the dump's {spec.Layers} hidden layers"));
            }
            else if (load.Layers != spec.MoeLayers)
            {
                throw new InvalidDataException($"{path}: has {load.Layers} layers; the model has {spec.Layers} hidden layers, {spec.MoeLayers} of them MoE");
            }
        }
        else
        {
            var empty = Enumerable.Range(0, load.Layers).Where(l => Enumerable.Range(0, load.Experts).All(e => load[l, e] == 0)).ToArray();
            if (empty.Length > 0)
            {
                await console.Error.WriteLineAsync($"layers {string.Join(", ", empty)} saw no dispatches (dense layers, as SGLang counts every hidden layer?); pass --model to keep the MoE layers only");
            }
        }

        load.Save(outPath);
        await console.Error.WriteLineAsync(string.Create(inv,
            $"wrote a load-only profile [{load.Layers} layers][{load.Experts} experts], {load.Counts.Sum()} dispatches, to {outPath} (read by plan/simulate --trace and trace counts)"));
        return Moectl.Ok;
    }

    private static async Task<int> VllmRouted(CliArgs args, string outPath, CliConsole console, CancellationToken ct)
    {
        var files = new List<string>();
        foreach (var p in args.Positionals)
        {
            files.AddRange(Directory.Exists(p) ? Directory.GetFiles(p, "*.npy").Order(StringComparer.Ordinal) : [p]);
        }

        if (files.Count == 0)
        {
            throw new InvalidDataException($"{string.Join(", ", args.Positionals)}: no .npy files");
        }

        var spec = EngineModel.Read(args.Get("model"));
        int? experts = args.Has("experts") ? args.GetInt("experts", 0, 1, short.MaxValue) : spec?.Experts;
        var name = args.Get("name") ?? new DirectoryInfo(Path.GetFullPath(outPath)).Name;
        var trace = await Task.Run(() => VllmRoutedExperts.Read(files, experts, name, spec?.Family.ToString() ?? ""), ct);
        if (spec is not null && trace.Layers != spec.MoeLayers)
        {
            throw new InvalidDataException($"{files[0]}: has {trace.Layers} MoE layers, the model has {spec.MoeLayers}");
        }

        if (experts is null)
        {
            await console.Error.WriteLineAsync(string.Create(CultureInfo.InvariantCulture, $"no --experts or --model: took {trace.Experts} experts per layer from the largest id"));
        }

        TraceDirectory.Write(outPath, trace);
        await console.Error.WriteLineAsync(string.Create(CultureInfo.InvariantCulture,
            $"wrote {trace.Tokens} tokens in {trace.Sequences.Count} requests ({trace.Layers} MoE layers x {trace.Experts} experts, top-{trace.TopK}) to {outPath}"));
        return Moectl.Ok;
    }
}
