using System.Runtime.InteropServices;
using System.Text.Json;
using MoeCloud.Model.Spec;
using MoeCloud.Model.Synthetic;
using MoeCloud.Model.Traces;
using MoeCloud.Placement.Plans;
using MoeCloud.Testing;

namespace MoeCloud.Cli.Tests.Commands;

/// <summary><c>moectl export</c> and <c>moectl trace import</c> on hand-made files of each engine's format.</summary>
public sealed class EngineInteropCommandsTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task Export_WhenSglangWithModel_WritesEveryHiddenLayerAndReadsBackToThePlansReplicas()
    {
        var (planPath, plan) = WritePlan();
        var outPath = _dir.Combine("sglang.json");

        var (code, _, error) = await MoectlRunner.Run("export", "--plan", planPath, "--format", "sglang", "--ep-size", "2", "--model", WriteModel(), "--out", outPath);

        Assert.Equal(0, code);
        var map = EngineMapFile.Load(outPath);
        Assert.Equal(4, map.Length);
        Assert.Equal([0, 1, 2, 3, 4, 5, 6, 7, 0, 1], map[0]);
        AssertSameReplicas(plan, PhysicalExpertMap.ToPlan(map[1..], 2, 8, new PlanMetadata()));
        Assert.Contains("--ep-size 2 --ep-num-redundant-experts 2 --init-expert-location", error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Export_WhenSglangWithoutModel_WritesThePlansLayersAndSaysSo()
    {
        var (planPath, plan) = WritePlan();

        var (code, output, error) = await MoectlRunner.Run("export", "--plan", planPath, "--format", "sglang", "--ep-size", "2");

        Assert.Equal(0, code);
        var path = _dir.Combine("stdout.json");
        await File.WriteAllTextAsync(path, output);
        AssertSameReplicas(plan, PhysicalExpertMap.ToPlan(EngineMapFile.Load(path), 2, 8, new PlanMetadata()));
        Assert.Contains("no --model: wrote the plan's 3 MoE layers", error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Export_WhenVllmWithRedundant_WritesMoeLayersInEqualRankBlocks()
    {
        var (planPath, plan) = WritePlan();
        var outPath = _dir.Combine("vllm.json");

        var (code, _, error) = await MoectlRunner.Run("export", "--plan", planPath, "--format", "vllm", "--ep-size", "2", "--redundant", "4", "--model", WriteModel(), "--out", outPath);

        Assert.Equal(0, code);
        var map = EngineMapFile.Load(outPath);
        Assert.Equal(3, map.Length);
        Assert.All(map, row => Assert.Equal(12, row.Length));
        AssertSameReplicas(plan, PhysicalExpertMap.ToPlan(map, 2, 8, new PlanMetadata()));
        Assert.Contains("num_redundant_experts\": 4", error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("--ep-size", "4", "the plan has 2 pods and the EP size is 4")]
    [InlineData("--redundant", "1", "the physical expert count 9 does not divide by the EP size 2")]
    [InlineData("--redundant", "0", "at least 10 physical experts are needed")]
    public async Task Export_WhenRanksDoNotFitThePlan_ExitsOneNamingThePlan(string option, string value, string expected)
    {
        var (planPath, _) = WritePlan();
        string[] args = option == "--ep-size"
            ? ["export", "--plan", planPath, "--format", "sglang", "--ep-size", value]
            : ["export", "--plan", planPath, "--format", "sglang", "--ep-size", "2", option, value];

        var (code, _, error) = await MoectlRunner.Run(args);

        Assert.Equal(1, code);
        Assert.Contains(planPath, error, StringComparison.Ordinal);
        Assert.Contains(expected, error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Export_WhenModelHasOtherExperts_ExitsOneNamingBothShapes()
    {
        var (planPath, _) = WritePlan();
        var spec = SyntheticModelPresets.Get("tiny").Spec with { Experts = 16 };

        var (code, _, error) = await MoectlRunner.Run("export", "--plan", planPath, "--format", "vllm", "--ep-size", "2", "--model", WriteModel(spec));

        Assert.Equal(1, code);
        Assert.Contains("the plan has 3 MoE layers x 8 experts", error, StringComparison.Ordinal);
        Assert.Contains("has 3 x 16", error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task TraceImport_WhenSglangCountJsonOfStepsWithModel_KeepsTheMoeLayersSummed()
    {
        // [2 steps][4 hidden layers][8 experts]; hidden layer 0 is dense (all zero), layer l > 0 gives expert e l*10 + e per step.
        var steps = Enumerable.Range(0, 2).Select(_ => Enumerable.Range(0, 4).Select(l => Enumerable.Range(0, 8).Select(e => l == 0 ? 0 : (l * 10) + e).ToArray()).ToArray()).ToArray();
        var dump = _dir.Combine("dump.json");
        await File.WriteAllTextAsync(dump, JsonSerializer.Serialize(new { rank = 0, logical_count = steps }));
        var outPath = _dir.Combine("profile.json");

        var (code, _, error) = await MoectlRunner.Run("trace", "import", "--format", "sglang-count", dump, "--model", WriteModel(), "--out", outPath);

        Assert.Equal(0, code);
        var load = ExpertLoad.LoadSglangDump(outPath);
        Assert.Equal(3, load.Layers);
        Assert.Equal(2 * (10 + 3), load[0, 3]);
        Assert.Equal(2 * (30 + 7), load[2, 7]);
        Assert.Contains("kept the model's 3 MoE layers of the dump's 4 hidden layers", error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task TraceImport_WhenSglangCountNpyInt64WithoutModel_KeepsEveryRowAndFlagsTheEmptyOne()
    {
        long[] counts = [0, 0, 0, 0, 5, 1, 2, 3];
        var dump = _dir.Combine("dump.npy");
        NpyFile.Write(dump, new NpyArray(NpyDType.Int64, [2, 4], MemoryMarshal.AsBytes(counts.AsSpan()).ToArray()));
        var outPath = _dir.Combine("profile.json");

        var (code, _, error) = await MoectlRunner.Run("trace", "import", "--format", "sglang-count", dump, "--out", outPath);

        Assert.Equal(0, code);
        Assert.Equal(counts, ExpertLoad.LoadSglangDump(outPath).Counts);
        Assert.Contains("layers 0 saw no dispatches", error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("float.npy", "counts must be integers")]
    [InlineData("flat.npy", "has shape (8); [layers, experts] or [steps, layers, experts] expected")]
    [InlineData("negative.npy", "count at layer 1, expert 0 is negative (-3)")]
    [InlineData("dump.pt", "is a PyTorch pickle")]
    [InlineData("nokey.json", "has no 'counts' array")]
    [InlineData("ragged.json", "layer 1 of 'counts' does not have 2 experts")]
    public async Task TraceImport_WhenSglangCountIsMalformed_ExitsOneNamingTheFile(string file, string expected)
    {
        var path = _dir.Combine(file);
        switch (file)
        {
            case "float.npy": NpyFile.Write(path, NpyArray.FromFloat32(new float[8], 2, 4)); break;
            case "flat.npy": NpyFile.Write(path, NpyArray.FromInt32(new int[8], 8)); break;
            case "negative.npy": NpyFile.Write(path, NpyArray.FromInt32([1, 2, -3, 4], 2, 2)); break;
            case "dump.pt": await File.WriteAllBytesAsync(path, [0x50, 0x4b, 3, 4]); break;
            case "nokey.json": await File.WriteAllTextAsync(path, "{\"rank\": 0}"); break;
            default: await File.WriteAllTextAsync(path, "{\"logical_count\": [[1, 2], [3]]}"); break;
        }

        var (code, _, error) = await MoectlRunner.Run("trace", "import", "--format", "sglang-count", path, "--out", _dir.Combine("p.json"));

        Assert.Equal(1, code);
        Assert.Contains(path + ": ", error, StringComparison.Ordinal);
        Assert.Contains(expected, error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task TraceImport_WhenVllmRoutedFiles_WritesATraceWithOneSequencePerRequest()
    {
        var first = WriteRouted("r0.npy", [0, 1, 2, 3, 4, 5, 6, 7, 0, 2, 1, 3], tokens: 2);
        var second = WriteRouted("r1.npy", [7, 6, 5, 4, 3, 2], tokens: 1);
        var outDir = _dir.Combine("trace");

        var (code, _, error) = await MoectlRunner.Run("trace", "import", "--format", "vllm-routed", first, second, "--model", WriteModel(), "--out", outDir);

        Assert.Equal(0, code);
        var trace = TraceDirectory.Read(outDir);
        Assert.Equal((3, 3, 8, 2), (trace.Tokens, trace.Layers, trace.Experts, trace.TopK));
        Assert.Equal([0, 0, 1], trace.SeqIds!);
        Assert.Equal([0, 1, 0], trace.TokenPos!);
        Assert.Equal(new short[] { 5, 4 }, trace.Slots(2, 1).ToArray());
        Assert.Contains("3 tokens in 2 requests", error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("range", "expert id 9 at token 1, layer 0, slot 1 is outside [0, 8)")]
    [InlineData("negative", "expert id -1 at token 0, layer 0, slot 0 is outside [0, 8)")]
    [InlineData("dtype", "has dtype Float32; expert ids must be integers")]
    [InlineData("shape", "has shape (2, 6); vLLM's routed experts are [tokens, MoE layers, top-k]")]
    [InlineData("layers", "has 2 MoE layers and top-2")]
    public async Task TraceImport_WhenVllmRoutedIsMalformed_ExitsOneNamingTheFile(string kind, string expected)
    {
        var good = WriteRouted("good.npy", [0, 1, 2, 3, 4, 5], tokens: 1);
        var path = _dir.Combine($"{kind}.npy");
        switch (kind)
        {
            case "range": NpyFile.Write(path, NpyArray.FromInt16([0, 1, 2, 3, 4, 5, 0, 9, 2, 3, 4, 5], 2, 3, 2)); break;
            case "negative": NpyFile.Write(path, NpyArray.FromInt32([-1, 1, 2, 3, 4, 5], 1, 3, 2)); break;
            case "dtype": NpyFile.Write(path, NpyArray.FromFloat32(new float[6], 1, 3, 2)); break;
            case "shape": NpyFile.Write(path, NpyArray.FromInt32(new int[12], 2, 6)); break;
            default: NpyFile.Write(path, NpyArray.FromInt32([0, 1, 2, 3], 1, 2, 2)); break;
        }

        var (code, _, error) = await MoectlRunner.Run("trace", "import", "--format", "vllm-routed", good, path, "--experts", "8", "--out", _dir.Combine("t"));

        Assert.Equal(1, code);
        Assert.Contains(path + ": ", error, StringComparison.Ordinal);
        Assert.Contains(expected, error, StringComparison.Ordinal);
    }

    private static void AssertSameReplicas(PlacementPlan expected, PlacementPlan actual)
    {
        Assert.Equal((expected.Layers, expected.Experts), (actual.Layers, actual.Experts));
        for (var l = 0; l < expected.Layers; l++)
        {
            for (var e = 0; e < expected.Experts; e++)
            {
                Assert.Equal(expected.PodsOf(l, e).ToArray().Order(), actual.PodsOf(l, e).ToArray().Order());
            }
        }
    }

    /// <summary>3 MoE layers x 8 experts on 2 pods: expert e on pod e mod 2, expert 0 also on pod 1 (pods hold 4 and 5).</summary>
    private (string Path, PlacementPlan Plan) WritePlan()
    {
        var layer = Enumerable.Range(0, 8).Select(e => e == 0 ? new[] { 0, 1 } : [e % 2]).ToArray();
        var plan = PlacementPlan.WithoutCapacities(new PlanMetadata { Solver = "hand" }, 2, [layer, layer, layer]);
        var path = _dir.Combine("plan.json");
        PlanFile.Save(path, plan);
        return (path, plan);
    }

    /// <summary>A checkpoint directory holding only config.json (default: the tiny preset, 4 layers, layer 0 dense, 8 experts).</summary>
    private string WriteModel(ModelSpec? spec = null)
    {
        var dir = _dir.Combine($"model-{Guid.NewGuid():N}");
        Directory.CreateDirectory(dir);
        File.WriteAllText(Path.Combine(dir, "config.json"), HuggingFaceConfigWriter.ToJson(spec ?? SyntheticModelPresets.Get("tiny").Spec));
        return dir;
    }

    private string WriteRouted(string name, int[] ids, int tokens)
    {
        var path = _dir.Combine(name);
        NpyFile.Write(path, NpyArray.FromInt32(ids, tokens, 3, 2));
        return path;
    }
}
