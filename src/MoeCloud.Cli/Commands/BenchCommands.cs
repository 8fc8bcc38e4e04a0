using System.Globalization;
using MoeCloud.Cli.Hosting;
using MoeCloud.Model.Kernels;
using MoeCloud.Model.Spec;
using MoeCloud.Model.Synthetic;

namespace MoeCloud.Cli.Commands;

/// <summary><c>moectl bench kernel|layer|load</c>: the data plane's benchmarks, each against its baseline in one run.</summary>
public static class BenchCommands
{
    private static readonly CliOption JsonOption = new("json", "print JSON instead of a table", IsFlag: true);
    private static readonly CliOption ThreadsOption = new("threads", "<N> threads (default 2)");
    private static readonly CliOption RoundsOption = new("rounds", "<N> interleaved timing rounds; the median is reported (default 7)");

    /// <summary>Registers the bench commands.</summary>
    public static void Register(Moectl app)
    {
        ArgumentNullException.ThrowIfNull(app);
        app.Add(new CliCommand(
            "bench kernel",
            "SwiGLU expert FFN (fp32 and bf16 weights) against three OpenBLAS sgemm calls, side by side: GFLOP/s and ratio.",
            "",
            [
                new("hidden", "<d> hidden size (default 2048)"),
                new("intermediate", "<i> expert intermediate size (default 1408)"),
                new("tokens", "<list> token counts, comma-separated (default 1,16,256)"),
                new("bf16-streaming-max", $"<N> most tokens for the bf16 streaming kernel; above it bf16 is widened for OpenBLAS (default {new ExpertKernelOptions().Bf16StreamingMaxTokens})"),
                new("bf16-path", $"<p> bf16 streaming code: auto (the CPU's best, default) or one of {string.Join(", ", Bf16KernelPaths.All.Select(p => p.ToName()))}"),
                new("gemm", "<g> the expert kernel's fp32 GEMM: openblas (default) or managed (the code that runs where OpenBLAS is missing); the baseline is always OpenBLAS"),
                new("managed-gemm-max", $"<N> with --gemm openblas, calls of at most N tokens on a large weight take the managed GEMM (default {new ExpertKernelOptions().ManagedGemmMaxTokens}; 0: OpenBLAS for every call)"),
                ThreadsOption,
                RoundsOption,
                JsonOption,
            ],
            Kernel));
        app.Add(new CliCommand(
            "bench layer",
            "A whole MoE layer (gate, gather, experts, scatter) against the sum of its expert FFN times.",
            "",
            [
                new("experts", "<E> routed experts (default 64)"),
                new("top-k", "<K> experts per token (default 6)"),
                new("hidden", "<d> hidden size (default 2048)"),
                new("intermediate", "<i> expert intermediate size (default 1408)"),
                new("tokens", "<N> tokens (default 256)"),
                new("dtype", "<t> bf16 or fp32 (default bf16)"),
                new("work-dir", "<dir> where the temporary checkpoint goes (default: the system temp folder)"),
                ThreadsOption,
                RoundsOption,
                JsonOption,
            ],
            Layer));
        app.Add(new CliCommand(
            "bench load",
            "Load one expert from a multi-gigabyte checkpoint and count the page-cache bytes it touched (Linux).",
            "",
            [
                new("preset", $"<name> {string.Join(", ", SyntheticModelPresets.Names)} (default deepseek-v2-lite)"),
                new("layer", "<l> MoE layer to load (default 7)"),
                new("expert", "<e> expert to load (default 13)"),
                new("work-dir", "<dir> where the temporary checkpoint goes (default: the system temp folder)"),
                JsonOption,
            ],
            Load));
    }

    private static async Task<int> Kernel(CliArgs args, CliConsole console, CancellationToken ct)
    {
        var hidden = args.GetInt("hidden", 2048, 1, 65536);
        var inter = args.GetInt("intermediate", 1408, 1, 65536);
        var tokens = ParseList(args.Get("tokens") ?? "1,16,256");
        var threads = args.GetInt("threads", 2, 1, 256);
        var rounds = args.GetInt("rounds", 7, 1, 1000);
        var pathName = args.GetChoice("bf16-path", "auto", ["auto", .. Bf16KernelPaths.All.Select(p => p.ToName())]);
        var options = new ExpertKernelOptions
        {
            Threads = threads,
            Bf16StreamingMaxTokens = args.GetInt("bf16-streaming-max", new ExpertKernelOptions().Bf16StreamingMaxTokens, 0, 4096),
            Bf16Path = pathName == "auto" ? null : Bf16KernelPaths.Parse(pathName),
            Gemm = args.GetChoice("gemm", "openblas", "openblas", "managed") == "managed" ? GemmBackend.Managed : GemmBackend.OpenBlas,
            ManagedGemmMaxTokens = args.GetInt("managed-gemm-max", new ExpertKernelOptions().ManagedGemmMaxTokens, 0, 4096),
        };
        if (!OpenBlas.IsAvailable)
        {
            throw new UsageException($"bench kernel's baseline is OpenBLAS. {OpenBlas.MissingMessage}");
        }

        try
        {
            options.Validate();
        }
        catch (ArgumentException e)
        {
            throw new UsageException(e.Message);
        }

        var kernel = new CpuExpertKernel(options);
        await console.Error.WriteLineAsync($"expert FFN hidden {hidden}, intermediate {inter}, {threads} threads, OpenBLAS {OpenBlas.LibraryPath ?? "(not found)"} ({OpenBlas.IdleSpin})");
        await console.Error.WriteLineAsync($"CPU features: {CpuFeatures.Detected}; bf16 path: {kernel.Bf16Path.ToName()}; fp32 GEMM: {kernel.Gemm.ToString().ToLowerInvariant()}");
        var report = await Task.Run(() => KernelBenchmark.Run(hidden, inter, tokens, kernel, rounds, 0.15), ct);
        var rows = report.Rows;
        if (args.Json)
        {
            await CliOutput.WriteJsonAsync(console.Out, report);
            return Moectl.Ok;
        }

        await console.Out.WriteLineAsync(CliOutput.Table(
            ["tokens", "dtype", "ms/call", "GFLOP/s", "OpenBLAS GFLOP/s", "ratio", "tokens/s vs fp32"],
            rows.Select(r => (IReadOnlyList<string>)[r.Tokens.ToString(CultureInfo.InvariantCulture), r.DType, CliOutput.Num(r.MillisecondsPerCall), CliOutput.Num(r.Gflops, 1), CliOutput.Num(r.BaselineGflops, 1), CliOutput.Num(r.Ratio, 2) + "x", CliOutput.Num(r.VsFp32, 2) + "x"])));
        await console.Out.WriteLineAsync();
        await console.Out.WriteLineAsync("baseline: the same three GEMMs (gate, up, down) by OpenBLAS cblas_sgemm on fp32 weights; medians of interleaved rounds.");
        return Moectl.Ok;
    }

    private static async Task<int> Layer(CliArgs args, CliConsole console, CancellationToken ct)
    {
        var experts = args.GetInt("experts", 64, 1, 4096);
        var topK = args.GetInt("top-k", 6, 1, experts);
        var dtype = args.GetChoice("dtype", "bf16", "bf16", "fp32") == "bf16" ? WeightDType.BF16 : WeightDType.F32;
        var result = await Task.Run(
            () => LayerBenchmark.Run(experts, topK, args.GetInt("hidden", 2048, 1, 65536), args.GetInt("intermediate", 1408, 1, 65536), args.GetInt("tokens", 256, 1, 65536), dtype,
                args.GetInt("threads", 2, 1, 256), args.GetInt("rounds", 7, 1, 1000), 0.3, args.Get("work-dir") ?? Path.GetTempPath()),
            ct);
        if (args.Json)
        {
            await CliOutput.WriteJsonAsync(console.Out, result);
            return Moectl.Ok;
        }

        await console.Out.WriteLineAsync(CliOutput.Table(
            ["tokens", "experts", "top-k", "dtype", "active", "layer ms", "expert FFNs ms", "gate ms", "ratio", "layer tokens/s"],
            [[result.Tokens.ToString(CultureInfo.InvariantCulture), result.Experts.ToString(CultureInfo.InvariantCulture), result.TopK.ToString(CultureInfo.InvariantCulture), result.DType, result.ActiveExperts.ToString(CultureInfo.InvariantCulture),
                CliOutput.Num(result.LayerMs, 2), CliOutput.Num(result.ExpertSumMs, 2), CliOutput.Num(result.GateMs, 2), CliOutput.Num(result.Ratio, 2) + "x", CliOutput.Num(result.LayerTokensPerSecond, 0)]]));
        await console.Out.WriteLineAsync();
        await console.Out.WriteLineAsync("ratio = sum of the expert FFN times on the layer's own per-expert batches / whole-layer time (1 = no gating, gather or scatter overhead).");
        return Moectl.Ok;
    }

    private static async Task<int> Load(CliArgs args, CliConsole console, CancellationToken ct)
    {
        var preset = args.GetChoice("preset", "deepseek-v2-lite", [.. SyntheticModelPresets.Names]);
        var (spec, _) = SyntheticModelPresets.Get(preset);
        var layer = args.GetInt("layer", Math.Min(7, spec.MoeLayers - 1), 0, spec.MoeLayers - 1);
        var expert = args.GetInt("expert", Math.Min(13, spec.Experts - 1), 0, spec.Experts - 1);
        await console.Error.WriteLineAsync($"writing a sparse {preset} checkpoint (only MoE layer {layer}, (layer, expert) = ({layer}, {expert}) dense) and loading that expert");
        var r = await Task.Run(() => LoadBenchmark.Run(preset, layer, expert, args.Get("work-dir") ?? Path.GetTempPath()), ct);
        if (args.Json)
        {
            await CliOutput.WriteJsonAsync(console.Out, r);
            return Moectl.Ok;
        }

        await console.Out.WriteLineAsync(CliOutput.Table(
            ["preset", "files", "checkpoint bytes", "layer", "expert", "expert bytes", "resident before", "resident after", "touched bytes", "touched / expert", "load ms"],
            [[r.Preset, r.Files.ToString(CultureInfo.InvariantCulture), CliOutput.Count(r.CheckpointBytes), r.Layer.ToString(CultureInfo.InvariantCulture), r.Expert.ToString(CultureInfo.InvariantCulture), CliOutput.Count(r.ExpertBytes),
                CliOutput.Count(r.ResidentBeforeBytes), CliOutput.Count(r.ResidentAfterBytes), CliOutput.Count(r.TouchedBytes), CliOutput.Num((double)r.TouchedBytes / r.ExpertBytes, 3) + "x", CliOutput.Num(r.LoadMs, 1)]]));
        return Moectl.Ok;
    }

    private static int[] ParseList(string text)
    {
        var parts = text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        var values = parts.Select(p => int.TryParse(p, NumberStyles.Integer, CultureInfo.InvariantCulture, out var v) && v is >= 1 and <= 65536 ? v : -1).ToArray();
        return values.Length == 0 || values.Any(v => v < 0) ? throw new UsageException($"option '--tokens' needs comma-separated whole numbers in [1, 65536], got '{text}'") : values;
    }
}
