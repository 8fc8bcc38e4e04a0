using System.Text.Json;
using MoeCloud.Model.Kernels;
using MoeCloud.Testing;

namespace MoeCloud.Cli.Tests.Commands;

public sealed class ModelAndBenchCommandsTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task ModelCreateInfoTrace_WhenTinyPreset_WritesReadsAndRecords()
    {
        var model = _dir.Combine("model");
        var trace = _dir.Combine("trace");

        var create = await MoectlRunner.Run("model", "create", "--out", model, "--preset", "tiny", "--family", "qwen2_moe", "--seed", "4", "--json");
        var info = await MoectlRunner.Run("model", "info", model, "--json");
        var record = await MoectlRunner.Run("model", "trace", "--model", model, "--out", trace, "--tokens", "256", "--sequences", "4");
        var stats = await MoectlRunner.Run("trace", "stats", trace, "--json");

        Assert.Equal(0, create.Code);
        Assert.Equal("qwen2_moe", JsonDocument.Parse(create.Out).RootElement.GetProperty("family").GetString());
        Assert.Equal(0, info.Code);
        Assert.Equal(8, JsonDocument.Parse(info.Out).RootElement.GetProperty("experts").GetInt32());
        Assert.Equal("none", JsonDocument.Parse(info.Out).RootElement.GetProperty("gating").GetProperty("groupSelection").GetString());
        Assert.Equal(0, record.Code);
        Assert.Equal(0, stats.Code);
        Assert.Equal(256, JsonDocument.Parse(stats.Out).RootElement.GetProperty("tokens").GetInt32());
    }

    [Fact]
    public async Task ModelInfo_WhenConfigIsCorrupt_ExitsOneNamingTheFile()
    {
        Directory.CreateDirectory(_dir.Combine("m"));
        await File.WriteAllTextAsync(_dir.Combine("m", "config.json"), "{\"model_type\": \"gpt2\"}");

        var (code, _, error) = await MoectlRunner.Run("model", "info", _dir.Combine("m"));

        Assert.Equal(1, code);
        Assert.Contains("config.json: model_type 'gpt2' is not supported", error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ModelCreate_WhenPresetIsUnknown_ExitsTwoWithUsage()
    {
        var (code, _, error) = await MoectlRunner.Run("model", "create", "--out", _dir.Combine("x"), "--preset", "huge");

        Assert.Equal(2, code);
        Assert.Contains("moectl model create [options]", error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task BenchKernel_WhenJson_PrintsThePathTheCpuFeaturesAndOneRowPerTokenCountAndDType()
    {
        var (code, output, _) = await MoectlRunner.Run("bench", "kernel", "--hidden", "64", "--intermediate", "32", "--tokens", "1,3", "--rounds", "1", "--json");

        Assert.Equal(0, code);
        var report = JsonDocument.Parse(output).RootElement;
        Assert.Equal(CpuFeatures.Detected.Best.ToName(), report.GetProperty("bf16Path").GetString());
        Assert.Equal("openblas", report.GetProperty("gemm").GetString());
        Assert.Equal(CpuFeatures.Detected.Avx512F, report.GetProperty("cpu").GetProperty("avx512F").GetBoolean());
        Assert.Equal(CpuFeatures.Detected.Avx2, report.GetProperty("cpu").GetProperty("avx2").GetBoolean());
        Assert.Equal(CpuFeatures.Detected.Fma, report.GetProperty("cpu").GetProperty("fma").GetBoolean());
        Assert.Equal(CpuFeatures.Detected.F16C, report.GetProperty("cpu").GetProperty("f16C").GetBoolean());
        var rows = report.GetProperty("rows").EnumerateArray().ToArray();
        Assert.Equal(4, rows.Length);
        Assert.Equal([1, 1, 3, 3], rows.Select(r => r.GetProperty("tokens").GetInt32()));
        Assert.Equal(["fp32", "bf16", "fp32", "bf16"], rows.Select(r => r.GetProperty("dtype").GetString()));
        Assert.All(rows, r => Assert.True(r.GetProperty("gflops").GetDouble() > 0 && r.GetProperty("baselineGflops").GetDouble() > 0));
        Assert.All(rows, r => Assert.Equal(r.GetProperty("gflops").GetDouble() / r.GetProperty("baselineGflops").GetDouble(), r.GetProperty("ratio").GetDouble(), 6));
    }

    [Theory]
    [InlineData(null, null, "OPENBLAS_THREAD_TIMEOUT=18")]
    [InlineData("25", null, "OPENBLAS_THREAD_TIMEOUT=25")]
    [InlineData(null, "7", "GOTO_THREAD_TIMEOUT=7")]
    public async Task BenchKernel_AsAProcess_ReportsTheIdleSpinOpenBlasReads_ShortUnlessTheUserSetOne(string? threadTimeout, string? legacy, string expected)
    {
        // moectl's Main sets the variable in its native environment before OpenBLAS loads; only a process of its own
        // shows that (in this test process OpenBLAS is loaded already).
        var environment = new Dictionary<string, string?> { ["OPENBLAS_THREAD_TIMEOUT"] = threadTimeout, ["GOTO_THREAD_TIMEOUT"] = legacy };
        using var process = MoectlProcess.Start(_dir.Combine("home"), _dir.Path, environment, "bench", "kernel", "--hidden", "64", "--intermediate", "32", "--tokens", "1", "--rounds", "1", "--json");

        Assert.True(await process.WaitForExit(TimeSpan.FromSeconds(120)), process.Error);
        Assert.Equal(0, process.ExitCode);
        Assert.Equal(expected, JsonDocument.Parse(process.Out).RootElement.GetProperty("openBlasIdleSpin").GetString());
        Assert.Contains($"({expected})", process.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task BenchKernel_WhenBf16PathIsForced_PrintsThatPathAndTheCpuFeatures()
    {
        var (code, _, error) = await MoectlRunner.Run("bench", "kernel", "--hidden", "64", "--intermediate", "32", "--tokens", "1", "--rounds", "1", "--bf16-path", "portable");

        Assert.Equal(0, code);
        Assert.Contains($"CPU features: {CpuFeatures.Detected}; bf16 path: portable", error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task BenchKernel_WhenGemmIsManaged_RunsAndNamesTheManagedGemm()
    {
        var (code, output, error) = await MoectlRunner.Run("bench", "kernel", "--hidden", "64", "--intermediate", "32", "--tokens", "1", "--rounds", "1", "--gemm", "managed", "--json");

        Assert.Equal(0, code);
        Assert.Contains("fp32 GEMM: managed", error, StringComparison.Ordinal);
        Assert.Equal("managed", JsonDocument.Parse(output).RootElement.GetProperty("gemm").GetString());
    }

    [Fact]
    public async Task BenchKernel_WhenBf16PathIsUnknown_ExitsTwo()
    {
        var (code, _, error) = await MoectlRunner.Run("bench", "kernel", "--bf16-path", "sse");

        Assert.Equal(2, code);
        Assert.Contains("option '--bf16-path' must be one of auto, portable, avx2-fma, avx512", error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task BenchKernel_WhenTokenListIsBad_ExitsTwo()
    {
        var (code, _, error) = await MoectlRunner.Run("bench", "kernel", "--tokens", "1,x");

        Assert.Equal(2, code);
        Assert.Contains("option '--tokens'", error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task BenchLayer_WhenSmallShapes_ReportsLayerAgainstExpertSum()
    {
        var (code, output, _) = await MoectlRunner.Run("bench", "layer", "--experts", "8", "--top-k", "2", "--hidden", "64", "--intermediate", "32", "--tokens", "16", "--rounds", "1", "--work-dir", _dir.Path, "--json");

        Assert.Equal(0, code);
        var r = JsonDocument.Parse(output).RootElement;
        Assert.Equal(16, r.GetProperty("tokens").GetInt32());
        Assert.InRange(r.GetProperty("activeExperts").GetInt32(), 1, 8);
        Assert.True(r.GetProperty("layerMs").GetDouble() > 0 && r.GetProperty("expertSumMs").GetDouble() > 0);
    }

    [Fact]
    public async Task BenchLoad_WhenTinyPreset_TouchesAboutTheExpertsBytes()
    {
        var (code, output, _) = await MoectlRunner.Run("bench", "load", "--preset", "tiny", "--layer", "1", "--expert", "3", "--work-dir", _dir.Path, "--json");

        Assert.Equal(0, code);
        var r = JsonDocument.Parse(output).RootElement;
        Assert.Equal(3 * 64 * 32 * 4, r.GetProperty("expertBytes").GetInt64());
        Assert.Equal(0, r.GetProperty("residentBeforeBytes").GetInt64());
        Assert.InRange(r.GetProperty("touchedBytes").GetInt64(), 1, r.GetProperty("checkpointBytes").GetInt64());
    }
}
