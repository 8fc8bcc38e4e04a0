using System.Diagnostics;
using System.Text.Json;
using MoeCloud.Model.Traces;
using MoeCloud.Testing;

namespace MoeCloud.Cli.Tests.Commands;

public sealed class TraceCommandsTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task Stats_WhenJson_HasTheDocumentedKeysAndAgreesWithTheLibrary()
    {
        var traceDir = _dir.Combine("t");
        await MoectlRunner.Run("trace", "synth", "--out", traceDir, "--tokens", "600", "--sequences", "12", "--layers", "4");

        var (code, output, _) = await MoectlRunner.Run("trace", "stats", traceDir, "--json");

        Assert.Equal(0, code);
        using var json = JsonDocument.Parse(output);
        var root = json.RootElement;
        foreach (var key in new[] { "tokens", "sequences", "layers", "experts", "topK", "skewMean", "skewMax", "successorHitHeldOut" })
        {
            Assert.True(root.TryGetProperty(key, out _), $"missing key {key}");
        }

        var expected = TraceStatistics.Compute(TraceDirectory.Read(traceDir));
        Assert.Equal(600, root.GetProperty("tokens").GetInt32());
        Assert.Equal(12, root.GetProperty("sequences").GetInt32());
        Assert.Equal(expected.SkewMean, root.GetProperty("skewMean").GetDouble(), 12);
        Assert.Equal(expected.SuccessorHitHeldOut!.Value, root.GetProperty("successorHitHeldOut").GetDouble(), 12);
    }

    [SharedTraceFact]
    public async Task Stats_WhenSharedTraces_PrintsOneRowEach()
    {
        var dirs = SharedTraces.All();

        var (code, output, _) = await MoectlRunner.Run(["trace", "stats", .. dirs]);

        Assert.Equal(0, code);
        foreach (var d in dirs)
        {
            Assert.Contains(Path.GetFileName(d), output, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task Stats_WhenTraceIsCorrupt_ExitsOneAndNamesTheFile()
    {
        var traceDir = _dir.Combine("bad");
        await MoectlRunner.Run("trace", "synth", "--out", traceDir, "--tokens", "50", "--sequences", "2");
        File.WriteAllText(Path.Combine(traceDir, "expert_ids.npy"), "garbage");

        var (code, _, error) = await MoectlRunner.Run("trace", "stats", traceDir);

        Assert.Equal(1, code);
        Assert.Contains("expert_ids.npy", error, StringComparison.Ordinal);
        Assert.Contains("wrong magic", error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Synth_WhenShapeDeepSeekV3_WritesV3ShapeWithEveryTokenInAtMostFourOfEightGroups()
    {
        var traceDir = _dir.Combine("v3");

        var (code, _, error) = await MoectlRunner.Run("trace", "synth", "--shape", "deepseek-v3", "--out", traceDir, "--layers", "2", "--tokens", "64", "--sequences", "4");

        Assert.True(code == 0, error);
        var trace = TraceDirectory.Read(traceDir);
        Assert.Equal((256, 8, 2), (trace.Experts, trace.TopK, trace.Layers));
        for (var t = 0; t < trace.Tokens; t++)
        {
            for (var l = 0; l < trace.Layers; l++)
            {
                Assert.InRange(trace.Slots(t, l).ToArray().Select(e => e / 32).Distinct().Count(), 1, 4);
            }
        }
    }

    [Fact]
    public async Task Split_WritesEvenAndOddSequences()
    {
        var traceDir = _dir.Combine("t");
        await MoectlRunner.Run("trace", "synth", "--out", traceDir, "--tokens", "500", "--sequences", "9", "--layers", "2");

        var (code, _, _) = await MoectlRunner.Run("trace", "split", traceDir, "--out-fit", _dir.Combine("fit"), "--out-eval", _dir.Combine("eval"));

        Assert.Equal(0, code);
        var fit = TraceDirectory.Read(_dir.Combine("fit"));
        var eval = TraceDirectory.Read(_dir.Combine("eval"));
        Assert.Equal(5, fit.Sequences.Count);
        Assert.Equal(4, eval.Sequences.Count);
        Assert.Equal(500, fit.Tokens + eval.Tokens);
        Assert.All(fit.SeqIds!, s => Assert.True(s % 2 == 0));
    }

    [Fact]
    public async Task Counts_WhenSglangDump_PrintsLoadOnlyProfile()
    {
        var path = _dir.Combine("dump.json");
        File.WriteAllText(path, "{\"counts\": [[1, 1, 4], [2, 2, 2]]}");

        var (code, output, _) = await MoectlRunner.Run("trace", "counts", path, "--json");

        Assert.Equal(0, code);
        using var json = JsonDocument.Parse(output);
        Assert.Equal(2.0, json.RootElement.GetProperty("skewMax").GetDouble(), 12);
        Assert.Equal(12, json.RootElement.GetProperty("dispatches").GetInt64());
    }

    [Theory]
    [InlineData(new string[0], "Required command was not provided")]
    [InlineData(new[] { "frobnicate" }, "Unrecognized command or argument 'frobnicate'")]
    [InlineData(new[] { "trace", "stats" }, "Required argument 'dir' missing for command: 'stats'")]
    [InlineData(new[] { "trace", "stats", "x", "--bogus" }, "Unrecognized command or argument '--bogus'")]
    [InlineData(new[] { "trace", "synth" }, "option '--out' is required")]
    [InlineData(new[] { "trace", "synth", "--out", "x", "--tokens", "ten" }, "needs a whole number")]
    [InlineData(new[] { "trace", "synth", "--out", "x", "--affinity", "1.5" }, "needs a number in [0, 0.999999]")]
    [InlineData(new[] { "trace", "synth", "--out", "x", "--top-k", "65" }, "top-k must be in [1, experts]")]
    [InlineData(new[] { "trace", "synth", "--out" }, "Required argument missing for option: '--out'")]
    [InlineData(new[] { "trace", "split", "x", "--out-fit", "a" }, "option '--out-eval' is required")]
    public async Task Run_WhenArgumentsAreBad_PrintsUsageAndExitsTwo(string[] args, string expected)
    {
        var (code, _, error) = await MoectlRunner.Run(args);

        Assert.Equal(2, code);
        Assert.Contains(expected, error, StringComparison.Ordinal);
        Assert.Contains("Usage:", error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Help_ListsCommandsAndExitsZero()
    {
        var (code, output, _) = await MoectlRunner.Run("--help");
        var (synthCode, synthHelp, _) = await MoectlRunner.Run("trace", "synth", "--help");

        Assert.Equal(0, code);
        Assert.Contains("trace", output, StringComparison.Ordinal);
        Assert.Contains("stats, synth", output, StringComparison.Ordinal);
        Assert.Equal(0, synthCode);
        Assert.Contains("--affinity", synthHelp, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Demo_PrintsTraceTable()
    {
        var (code, output, _) = await MoectlRunner.Run("demo");

        Assert.Equal(0, code);
        Assert.Contains("successor hit", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Process_WhenBadArguments_ExitsTwoFromTheRealEntryPoint()
    {
        var dll = Path.Combine(AppContext.BaseDirectory, "MoeCloud.Cli.dll");
        var start = new ProcessStartInfo("dotnet", [dll, "trace", "synth", "--tokens", "x"]) { RedirectStandardError = true, RedirectStandardOutput = true };
        using var process = Process.Start(start)!;
        var error = await process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();

        Assert.Equal(2, process.ExitCode);
        Assert.Contains("moectl trace synth [options]", error, StringComparison.Ordinal);
    }
}
