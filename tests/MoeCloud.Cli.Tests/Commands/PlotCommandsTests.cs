using System.Buffers.Binary;
using System.Xml.Linq;
using MoeCloud.Cli.Hosting;
using MoeCloud.Cli.Plots;
using MoeCloud.Model.Traces;
using MoeCloud.Placement.Benchmarks;
using MoeCloud.Placement.Plans;
using MoeCloud.Placement.Profiles;
using MoeCloud.Placement.Simulation;
using MoeCloud.Placement.Solvers;
using MoeCloud.Testing;

namespace MoeCloud.Cli.Tests.Commands;

public sealed class PlotCommandsTests : IDisposable
{
    private const int Width = 640;
    private const int Height = 480;

    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    /// <summary>
    /// 6 tokens, 2 layers, 3 experts, top-1. Layer 0 picks 0, 0, 0, 1, 2, 2 (loads 3, 1, 2); layer 1 picks 1, 1, 1, 1, 0, 2
    /// (loads 1, 4, 1). Transitions 0 → 1: (0, 1) three times, (1, 1), (2, 0) and (2, 2) once each.
    /// </summary>
    private static RoutingTrace HandTrace(int layers = 2, int experts = 3)
    {
        short[] layer0 = [0, 0, 0, 1, 2, 2], layer1 = [1, 1, 1, 1, 0, 2];
        var ids = new short[6 * layers];
        for (var t = 0; t < 6; t++)
        {
            for (var l = 0; l < layers; l++)
            {
                ids[(t * layers) + l] = l % 2 == 0 ? layer0[t] : layer1[t];
            }
        }

        return new RoutingTrace(new TraceManifest { Name = "hand", Model = "test", Layers = layers, Experts = experts, TopK = 1, Tokens = 6 }, ids);
    }

    /// <summary>2 pods. Layer 0: expert 0 on pod 0, 1 on pod 0, 2 on pods 0 and 1. Layer 1: 0 on pod 1, 1 on pods 0 and 1, 2 on pod 0.</summary>
    private static PlacementPlan HandPlan() =>
        PlacementPlan.WithoutCapacities(new PlanMetadata { Solver = "hand" }, 2, [[[0], [0], [0, 1]], [[1], [0, 1], [0]]]);

    private string WriteTrace(RoutingTrace trace, string name = "trace")
    {
        var path = _dir.Combine(name);
        TraceDirectory.Write(path, trace);
        return path;
    }

    private string WritePlan(PlacementPlan plan, string name = "plan.json")
    {
        var path = _dir.Combine(name);
        PlanFile.Save(path, plan);
        return path;
    }

    private async Task<string> WriteBench()
    {
        static SimulationMetrics Metrics(double remote, double imbalance) => new(remote, imbalance, 1.1, 0.5, 12, 1000, (long)(remote * 1000), 0, 100);
        BenchRow[] rows =
        [
            new("hand", 4, "contiguous", 0, "random", Metrics(0.74, 1.9), 0.01, SolveStatus.Optimal),
            new("hand", 4, "eplb", 8, "speculative", Metrics(0.55, 1.05), 0.02, SolveStatus.Feasible),
        ];

        // Written as moectl bench placement --json writes them.
        var path = _dir.Combine("bench.json");
        await using (var writer = new StreamWriter(path))
        {
            await CliOutput.WriteJsonAsync(writer, rows);
        }

        return path;
    }

    private static void AssertPng(string path)
    {
        var bytes = File.ReadAllBytes(path);
        Assert.True(bytes.Length > 33, $"{path} holds {bytes.Length} bytes");
        Assert.Equal([0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A], bytes[..8]);
        Assert.Equal("IHDR"u8.ToArray(), bytes[12..16]);
        Assert.Equal(Width, BinaryPrimitives.ReadInt32BigEndian(bytes.AsSpan(16, 4)));
        Assert.Equal(Height, BinaryPrimitives.ReadInt32BigEndian(bytes.AsSpan(20, 4)));
    }

    private static void AssertSvgHasText(string path, params string[] texts)
    {
        var svg = XDocument.Load(path);
        Assert.Equal("svg", svg.Root?.Name.LocalName);
        var shown = svg.Descendants().Where(e => e.Name.LocalName == "text").Select(e => e.Value.Trim()).ToList();
        foreach (var text in texts)
        {
            var hint = shown.Count == 0 ? " (no text at all: is a font installed under /usr/share/fonts? infra/lib/deps.sh installs fonts-dejavu-core)" : "";
            Assert.True(shown.Any(s => s.Contains(text, StringComparison.Ordinal)), $"no <text> holds '{text}'{hint}; the texts are: {string.Join(" | ", shown)}");
        }
    }

    private async Task AssertRendered(string format, string[] args, params string[] svgTexts)
    {
        var path = _dir.Combine($"out.{format}");

        var (code, _, error) = await MoectlRunner.Run([.. args, "--out", path, "--width", $"{Width}", "--height", $"{Height}"]);

        Assert.True(code == 0, error);
        if (format == "png")
        {
            AssertPng(path);
        }
        else
        {
            AssertSvgHasText(path, svgTexts);
        }
    }

    [Fact]
    public void PodLoads_WhenTraceGiven_SumsEachPodsExpertLoadsSplittingReplicasEvenly()
    {
        var matrix = PlotMatrices.PodLoads(HandPlan(), HandTrace());

        // Layer 0: pod 0 holds 0 (3), 1 (1) and half of 2 (2 / 2); pod 1 the other half of 2.
        // Layer 1: pod 0 holds half of 1 (4 / 2) and 2 (1); pod 1 holds 0 (1) and half of 1.
        Assert.Equal(new double[,] { { 5, 1 }, { 3, 3 } }, matrix);
    }

    [Fact]
    public void PodLoads_WhenNoTrace_CountsReplicasPerPodAndLayer()
    {
        var matrix = PlotMatrices.PodLoads(HandPlan(), trace: null);

        Assert.Equal(new double[,] { { 3, 1 }, { 2, 2 } }, matrix);
    }

    [Fact]
    public void Transitions_WhenLayerZero_CountsTokensMovingFromEachExpertToEachNext()
    {
        var matrix = PlotMatrices.Transitions(WorkloadProfile.FromTrace(HandTrace(), sampleCap: 0), 0);

        Assert.Equal(new double[,] { { 0, 3, 0 }, { 0, 1, 0 }, { 1, 0, 1 } }, matrix);
    }

    [Theory]
    [InlineData("png")]
    [InlineData("svg")]
    public async Task PlotPlacement_WhenTraceGiven_WritesPictureWithTitleAndAxisLabels(string format)
    {
        var plan = WritePlan(HandPlan());
        var trace = WriteTrace(HandTrace());

        await AssertRendered(format, ["plot", "placement", "--plan", plan, "--trace", trace], "Load per pod and layer: hand plan, 2 pods, trace hand", "pod", "layer", "dispatches");
    }

    [Theory]
    [InlineData("png")]
    [InlineData("svg")]
    public async Task PlotPlacement_WhenNoTrace_WritesReplicaCountPicture(string format)
    {
        var plan = WritePlan(HandPlan());

        await AssertRendered(format, ["plot", "placement", "--plan", plan], "Expert replicas per pod and layer", "expert replicas");
    }

    [Theory]
    [InlineData("png")]
    [InlineData("svg")]
    public async Task PlotTransitions_WhenLayerInRange_WritesPictureWithTitleAndAxisLabels(string format)
    {
        var trace = WriteTrace(HandTrace());

        await AssertRendered(format, ["plot", "transitions", "--trace", trace, "--layer", "0"], "Transitions from layer 0 to layer 1", "expert at layer 0", "expert at layer 1");
    }

    [Theory]
    [InlineData("png")]
    [InlineData("svg")]
    public async Task PlotFrontier_WhenBenchJson_WritesOneLabelledPointPerRow(string format)
    {
        var bench = await WriteBench();

        await AssertRendered(format, ["plot", "frontier", "--bench", bench], "Placement frontier", "expert-load imbalance", "remote fraction", "contiguous random", "eplb speculative", "hand, 4 pods");
    }

    [Theory]
    [InlineData("placement")]
    [InlineData("transitions")]
    [InlineData("frontier")]
    public async Task Plot_WhenOutExtensionIsNeitherPngNorSvg_PrintsUsageAndExitsTwo(string command)
    {
        string[] inputs = command switch
        {
            "placement" => ["--plan", WritePlan(HandPlan())],
            "transitions" => ["--trace", WriteTrace(HandTrace()), "--layer", "0"],
            _ => ["--bench", await WriteBench()],
        };

        var (code, _, error) = await MoectlRunner.Run(["plot", command, .. inputs, "--out", _dir.Combine("out.jpg")]);

        Assert.Equal(2, code);
        Assert.Contains("must end in .png or .svg", error, StringComparison.Ordinal);
        Assert.Contains($"moectl plot {command} [options]", error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task PlotPlacement_WhenPlanFileMissing_FailsNamingIt()
    {
        var missing = _dir.Combine("missing.json");

        var (code, _, error) = await MoectlRunner.Run("plot", "placement", "--plan", missing, "--out", _dir.Combine("p.png"));

        Assert.Equal(1, code);
        Assert.Contains(missing, error, StringComparison.Ordinal);
        Assert.False(File.Exists(_dir.Combine("p.png")));
    }

    [Fact]
    public async Task PlotPlacement_WhenPlanJsonMalformed_FailsSayingSo()
    {
        var plan = _dir.Combine("bad.json");
        await File.WriteAllTextAsync(plan, "{ \"format\": \"moecloud.plan/v1\", \"layers\": [");

        var (code, _, error) = await MoectlRunner.Run("plot", "placement", "--plan", plan, "--out", _dir.Combine("p.png"));

        Assert.Equal(1, code);
        Assert.Contains("is not a valid plan JSON", error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(3, 3, "3 layers x 3 experts")]
    [InlineData(2, 4, "2 layers x 4 experts")]
    public async Task PlotPlacement_WhenTraceShapeDiffersFromPlan_FailsNamingBothShapes(int layers, int experts, string traceShape)
    {
        var plan = WritePlan(HandPlan());
        var trace = WriteTrace(HandTrace(layers, experts));

        var (code, _, error) = await MoectlRunner.Run("plot", "placement", "--plan", plan, "--trace", trace, "--out", _dir.Combine("p.png"));

        Assert.Equal(1, code);
        Assert.Contains($"the trace has {traceShape}, the plan {plan} 2 x 3", error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task PlotPlacement_WhenTraceDirectoryMissing_FailsNamingIt()
    {
        var plan = WritePlan(HandPlan());
        var missing = _dir.Combine("no-trace");

        var (code, _, error) = await MoectlRunner.Run("plot", "placement", "--plan", plan, "--trace", missing, "--out", _dir.Combine("p.png"));

        Assert.Equal(1, code);
        Assert.Contains(missing, error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("1")]
    [InlineData("-1")]
    public async Task PlotTransitions_WhenLayerHasNoNextLayer_PrintsUsageAndExitsTwo(string layer)
    {
        var trace = WriteTrace(HandTrace());

        var (code, _, error) = await MoectlRunner.Run("plot", "transitions", "--trace", trace, "--layer", layer, "--out", _dir.Combine("t.png"));

        Assert.Equal(2, code);
        Assert.Contains("option '--layer'", error, StringComparison.Ordinal);
        Assert.False(File.Exists(_dir.Combine("t.png")));
    }

    [Fact]
    public async Task PlotTransitions_WhenLayerMissing_PrintsUsageAndExitsTwo()
    {
        var trace = WriteTrace(HandTrace());

        var (code, _, error) = await MoectlRunner.Run("plot", "transitions", "--trace", trace, "--out", _dir.Combine("t.png"));

        Assert.Equal(2, code);
        Assert.Contains("option '--layer' is required", error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("[{\"trace\": \"hand\",", "is not the JSON of moectl bench placement --json")]
    [InlineData("[{\"trace\": \"hand\", \"pods\": 4}]", "is not the JSON of moectl bench placement --json")]
    [InlineData("[]", "holds no rows")]
    [InlineData("[null]", "row 0 is null")]
    public async Task PlotFrontier_WhenBenchJsonIsNotBenchRows_FailsSayingWhy(string json, string expected)
    {
        var bench = _dir.Combine("bench.json");
        await File.WriteAllTextAsync(bench, json);

        var (code, _, error) = await MoectlRunner.Run("plot", "frontier", "--bench", bench, "--out", _dir.Combine("f.png"));

        Assert.Equal(1, code);
        Assert.Contains(expected, error, StringComparison.Ordinal);
        Assert.Contains(bench, error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task PlotFrontier_WhenBenchFileMissing_FailsNamingIt()
    {
        var missing = _dir.Combine("missing-bench.json");

        var (code, _, error) = await MoectlRunner.Run("plot", "frontier", "--bench", missing, "--out", _dir.Combine("f.png"));

        Assert.Equal(1, code);
        Assert.Contains(missing, error, StringComparison.Ordinal);
    }
}
