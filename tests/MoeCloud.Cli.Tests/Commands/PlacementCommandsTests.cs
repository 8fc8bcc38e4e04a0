using System.Text.Json;
using MoeCloud.Model.Traces;
using MoeCloud.Placement.Plans;
using MoeCloud.Testing;

namespace MoeCloud.Cli.Tests.Commands;

public sealed class PlacementCommandsTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private async Task<string> Synth(string name = "t")
    {
        var traceDir = _dir.Combine(name);
        var (code, _, error) = await MoectlRunner.Run("trace", "synth", "--out", traceDir, "--tokens", "800", "--sequences", "16", "--layers", "4", "--experts", "16", "--top-k", "2");
        Assert.True(code == 0, error);
        return traceDir;
    }

    [Theory]
    [InlineData("contiguous")]
    [InlineData("eplb")]
    [InlineData("ilp")]
    public async Task PlanThenSimulate_WhenSyntheticTrace_WritesValidPlanAndDocumentedJsonKeys(string solver)
    {
        var trace = await Synth();
        var plan = _dir.Combine($"{solver}.json");

        var (code, _, error) = await MoectlRunner.Run("plan", "--trace", trace, "--pods", "4", "--solver", solver, "--redundant", "4", "--time-limit", "5", "--sequences", "even", "--out", plan);
        Assert.True(code == 0, error);
        Assert.Equal(solver, PlanFile.Load(plan).Info.Solver);

        var (simCode, output, simError) = await MoectlRunner.Run("simulate", "--plan", plan, "--trace", trace, "--sequences", "odd", "--json");
        Assert.True(simCode == 0, simError);
        using var json = JsonDocument.Parse(output);
        foreach (var key in new[] { "remoteFraction", "expertLoadImbalance", "homeLoadImbalance", "predictionHitRate", "expertPrecision", "replicasPerPodMax", "dispatches" })
        {
            Assert.True(json.RootElement.TryGetProperty(key, out _), $"missing key {key}");
        }

        var eval = TraceDirectory.Read(trace).SplitEvenOdd().Odd;
        Assert.Equal((long)eval.Tokens * eval.Layers * eval.TopK, json.RootElement.GetProperty("dispatches").GetInt64());
    }

    [Fact]
    public async Task Plan_WhenIlp_ShowsProgressOnStandardError()
    {
        var trace = await Synth();

        var (code, _, error) = await MoectlRunner.Run("plan", "--trace", trace, "--pods", "4", "--time-limit", "5", "--out", _dir.Combine("p.json"));

        Assert.Equal(0, code);
        Assert.Contains("ilp sweep 1", error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Plan_WhenCapacityTooSmall_FailsWithInfeasibleReason()
    {
        var trace = await Synth();

        var (code, _, error) = await MoectlRunner.Run("plan", "--trace", trace, "--pods", "2", "--capacity", "10", "--out", _dir.Combine("p.json"));

        Assert.Equal(1, code);
        Assert.Contains("infeasible", error, StringComparison.Ordinal);
        Assert.False(File.Exists(_dir.Combine("p.json")));
    }

    [Fact]
    public async Task Plan_WhenEplbWithGroupsAndNodes_KeepsEachGroupOnOneNode()
    {
        var trace = await Synth();
        var path = _dir.Combine("h.json");

        var (code, _, error) = await MoectlRunner.Run("plan", "--trace", trace, "--pods", "4", "--solver", "eplb", "--redundant", "4", "--groups", "4", "--nodes", "2", "--out", path);

        Assert.True(code == 0, error);
        var plan = PlanFile.Load(path);
        for (var l = 0; l < plan.Layers; l++)
        {
            for (var g = 0; g < 4; g++)
            {
                // Group g holds experts 4g..4g+3; node n holds pods 2n and 2n+1.
                var nodes = Enumerable.Range(4 * g, 4).SelectMany(e => plan.PodsOf(l, e).ToArray()).Select(p => p / 2).Distinct();
                Assert.Single(nodes);
            }
        }
    }

    [Fact]
    public async Task Plan_WhenNodesDoNotDivideGroups_FailsWithReason()
    {
        var trace = await Synth();

        var (code, _, error) = await MoectlRunner.Run("plan", "--trace", trace, "--pods", "4", "--solver", "eplb", "--groups", "2", "--nodes", "4", "--out", _dir.Combine("p.json"));

        Assert.Equal(1, code);
        Assert.Contains("2 groups do not spread evenly over 4 nodes", error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("--pods", "0")]
    [InlineData("--solver", "magic")]
    [InlineData("--capacity", "1,x")]
    [InlineData("--max-moves", "3")]
    [InlineData("--load-slack", "NaN")]
    [InlineData("--resamples", "-1")]
    [InlineData("--resamples", "257")]
    [InlineData("--resample-weight", "NaN")]
    [InlineData("--hedge", "-0.5")]
    [InlineData("--pods-per-node", "3")]
    [InlineData("--node-weight", "2")]
    [InlineData("--time-limit", "-1")]
    [InlineData("--deterministic-seconds", "0")]
    [InlineData("--deterministic-seconds", "NaN")]
    [InlineData("--sweeps", "0")]
    public async Task Plan_WhenArgumentIsBad_PrintsUsageAndExitsTwo(string option, string value)
    {
        var trace = await Synth();

        var (code, _, error) = await MoectlRunner.Run("plan", "--trace", trace, "--pods", "4", option, value, "--out", _dir.Combine("p.json"));

        Assert.Equal(2, code);
        Assert.Contains("moectl plan [options]", error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Plan_WhenCountDump_SaysLoadOnlyAndBalances()
    {
        var dump = _dir.Combine("counts.json");
        await File.WriteAllTextAsync(dump, "{\"counts\": [[9, 1, 1, 1], [1, 1, 1, 9]]}");

        var (code, _, error) = await MoectlRunner.Run("plan", "--trace", dump, "--pods", "2", "--redundant", "2", "--top-k", "2", "--out", _dir.Combine("p.json"));

        Assert.Equal(0, code);
        Assert.Contains("load-only", error, StringComparison.Ordinal);
        Assert.Equal(12, PlanFile.Load(_dir.Combine("p.json")).TotalReplicas);
    }

    [Fact]
    public async Task Plan_WhenIncremental_MovesAtMostTheBudget()
    {
        var before = await Synth("a");
        var after = _dir.Combine("b");
        await MoectlRunner.Run("trace", "synth", "--out", after, "--tokens", "800", "--sequences", "16", "--layers", "4", "--experts", "16", "--top-k", "2", "--seed", "9");
        var live = _dir.Combine("live.json");
        await MoectlRunner.Run("plan", "--trace", before, "--pods", "4", "--solver", "eplb", "--redundant", "4", "--out", live);

        var (code, output, error) = await MoectlRunner.Run("plan", "--trace", after, "--pods", "4", "--from", live, "--max-moves", "6", "--threshold", "0", "--out", _dir.Combine("next.json"), "--json");

        Assert.True(code == 0, error);
        using var json = JsonDocument.Parse(output);
        Assert.InRange(json.RootElement.GetProperty("moves").GetInt32(), 0, 6);
        var decision = json.RootElement.GetProperty("decision").GetString();
        Assert.Equal(decision == "apply", File.Exists(_dir.Combine("next.json")));
    }

    [Fact]
    public async Task Plan_WhenGainCurve_PrintsEveryBudgetWithMovesWithinItAndScoresTheOtherHalf()
    {
        var before = await Synth("a");
        var after = _dir.Combine("b");
        await MoectlRunner.Run("trace", "synth", "--out", after, "--tokens", "800", "--sequences", "16", "--layers", "4", "--experts", "16", "--top-k", "2", "--seed", "9");
        var live = _dir.Combine("live.json");
        await MoectlRunner.Run("plan", "--trace", before, "--pods", "4", "--solver", "eplb", "--redundant", "4", "--out", live);

        var (code, output, error) = await MoectlRunner.Run("plan", "--trace", after, "--sequences", "even", "--pods", "4", "--from", live, "--gain-curve", "--json");

        Assert.True(code == 0, error);
        using var json = JsonDocument.Parse(output);
        var points = json.RootElement.EnumerateArray().ToArray();
        Assert.Equal([0, 10, 20, 40, 80, 160], points.Select(p => p.GetProperty("maxMoves").GetInt32()));
        Assert.All(points, p => Assert.InRange(p.GetProperty("moves").GetInt32(), 0, p.GetProperty("maxMoves").GetInt32()));
        Assert.All(points, p => Assert.True(p.GetProperty("gain").GetDouble() >= 0));
        Assert.All(points, p => Assert.Equal(JsonValueKind.Number, p.GetProperty("scoredGain").ValueKind));
    }

    [Fact]
    public async Task Simulate_WhenTune_SaysWhatItTunedOnAndReportsExpertPrecision()
    {
        var trace = await Synth();
        var plan = _dir.Combine("p.json");
        await MoectlRunner.Run("plan", "--trace", trace, "--pods", "4", "--solver", "eplb", "--redundant", "4", "--sequences", "even", "--out", plan);

        var (code, output, error) = await MoectlRunner.Run("simulate", "--plan", plan, "--trace", trace, "--sequences", "odd", "--tune", "--json");

        Assert.True(code == 0, error);
        Assert.Contains("tuned on '", error, StringComparison.Ordinal);
        Assert.Contains("-even' (", error, StringComparison.Ordinal);
        using var json = JsonDocument.Parse(output);
        Assert.InRange(json.RootElement.GetProperty("expertPrecision").GetDouble(), 0, 1);
    }

    [Fact]
    public async Task Simulate_WhenPlanFileIsCorrupt_FailsNamingTheFile()
    {
        var trace = await Synth();
        var plan = _dir.Combine("bad.json");
        await File.WriteAllTextAsync(plan, "{\"format\": \"moecloud.plan/v1\", \"layers\": 1");

        var (code, _, error) = await MoectlRunner.Run("simulate", "--plan", plan, "--trace", trace);

        Assert.Equal(1, code);
        Assert.Contains(plan, error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Simulate_WhenLinkGiven_PrintsTimeAndTailAndWritesThemIntoThePlan()
    {
        var trace = await Synth();
        var plan = _dir.Combine("p.json");
        await MoectlRunner.Run("plan", "--trace", trace, "--pods", "4", "--solver", "eplb", "--redundant", "4", "--out", plan);
        var timed = _dir.Combine("timed.json");

        var (code, output, error) = await MoectlRunner.Run("simulate", "--plan", plan, "--trace", trace, "--home", "random", "--link", "ib400", "--hidden", "1024", "--write-plan", timed, "--json");

        Assert.True(code == 0, error);
        using var json = JsonDocument.Parse(output);
        var time = json.RootElement.GetProperty("time");
        Assert.Equal("ib400", time.GetProperty("link").GetString());
        Assert.Equal(4, time.GetProperty("layers").GetArrayLength());
        Assert.True(time.GetProperty("tail").GetProperty("seconds").GetDouble() > 0);
        var saved = PlanFile.Load(timed).Info.Predicted!.Time!;
        Assert.Equal(time.GetProperty("seconds").GetDouble(), saved.Seconds);
        Assert.Equal(1024, saved.Hidden);
    }

    [Theory]
    [InlineData("foo", "is not a preset")]
    [InlineData("-5,2", "bandwidth must be a positive number")]
    [InlineData("50", "no latency")]
    public async Task Simulate_WhenLinkIsBad_IsAUsageErrorSayingWhy(string link, string message)
    {
        var trace = await Synth();
        var plan = _dir.Combine("p.json");
        await MoectlRunner.Run("plan", "--trace", trace, "--pods", "4", "--solver", "contiguous", "--out", plan);

        var (code, _, error) = await MoectlRunner.Run("simulate", "--plan", plan, "--trace", trace, "--link", link);

        Assert.Equal(2, code);
        Assert.Contains(message, error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Simulate_WhenSequencePolicyPerRequest_IsAUsageError()
    {
        var trace = await Synth();
        var plan = _dir.Combine("p.json");
        await MoectlRunner.Run("plan", "--trace", trace, "--pods", "4", "--solver", "eplb", "--out", plan);

        var (code, _, error) = await MoectlRunner.Run("simulate", "--plan", plan, "--trace", trace, "--home", "sequence", "--granularity", "request");

        Assert.Equal(2, code);
        Assert.Contains("token granularity", error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Simulate_WhenAutoGranularity_PricesTheSplitOnTheLink_AndWithAnotherPolicyIsAUsageError()
    {
        var trace = await Synth();
        var plan = _dir.Combine("p.json");
        await MoectlRunner.Run("plan", "--trace", trace, "--pods", "4", "--solver", "eplb", "--out", plan);
        async Task<double> Remote(params string[] extra)
        {
            var (code, output, error) = await MoectlRunner.Run(["simulate", "--plan", plan, "--trace", trace, "--json", .. extra]);
            Assert.True(code == 0, error);
            using var json = System.Text.Json.JsonDocument.Parse(output);
            return json.RootElement.GetProperty("remoteFraction").GetDouble();
        }

        // Messages that cost nothing: every sequence is split as its tokens' homes say; a costly link: homed whole.
        var whole = await Remote("--granularity", "request");
        Assert.Equal(whole, await Remote("--granularity", "auto", "--link", "1,100000"));
        Assert.True(await Remote("--granularity", "auto", "--link", "1,0") < whole);

        var (badCode, _, badError) = await MoectlRunner.Run("simulate", "--plan", plan, "--trace", trace, "--home", "random", "--granularity", "auto");
        Assert.Equal(2, badCode);
        Assert.Contains("auto granularity prices the speculative policy's predictions", badError, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Simulate_WhenTraceHasOtherShape_FailsWithClearError()
    {
        var trace = await Synth();
        var plan = _dir.Combine("p.json");
        await MoectlRunner.Run("plan", "--trace", trace, "--pods", "4", "--solver", "eplb", "--out", plan);
        var other = _dir.Combine("other");
        await MoectlRunner.Run("trace", "synth", "--out", other, "--tokens", "100", "--layers", "3");

        var (code, _, error) = await MoectlRunner.Run("simulate", "--plan", plan, "--trace", other, "--home", "random");

        Assert.Equal(1, code);
        Assert.Contains("3 layers, the plan 4", error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task BenchPlacement_WhenSmallTrace_PrintsEveryRowAsJson()
    {
        var trace = await Synth();

        var (code, output, error) = await MoectlRunner.Run("bench", "placement", trace, "--pods", "8", "--redundant", "8", "--time-limit", "3", "--deepseek", "off", "--json");

        Assert.True(code == 0, error);
        using var json = JsonDocument.Parse(output);
        var rows = json.RootElement.EnumerateArray().Select(r => (r.GetProperty("solver").GetString() ?? "") + "/" + r.GetProperty("home").GetString()).ToArray();
        Assert.Equal(
            new[]
            {
                "contiguous/random", "contiguous/speculative", "eplb/random", "eplb/speculative", "eplb-hierarchical/random", "eplb-hierarchical/speculative",
                "ilp/random", "ilp/speculative", "ilp/speculative+rehome",
            },
            rows);
    }

    [Fact]
    public async Task BenchPlacement_WhenIlpArmsGiven_AddsTheirSpeculativeRowsWithFittedImbalanceAndCrossNodeFraction()
    {
        var trace = await Synth();

        var (code, output, error) = await MoectlRunner.Run("bench", "placement", trace, "--pods", "8", "--redundant", "8", "--time-limit", "2", "--deepseek", "off", "--ilp", "default,v1,nodes", "--json");

        Assert.True(code == 0, error);
        using var json = JsonDocument.Parse(output);
        var rows = json.RootElement.EnumerateArray().ToArray();
        var ilpRows = rows.Select(r => (r.GetProperty("solver").GetString() ?? "") + "/" + r.GetProperty("home").GetString()).Where(r => r.StartsWith("ilp", StringComparison.Ordinal)).ToArray();
        Assert.Equal(new[] { "ilp/random", "ilp/speculative", "ilp/speculative+rehome", "ilp-v1/speculative", "ilp-nodes/speculative" }, ilpRows);
        Assert.All(rows, r => Assert.True(r.GetProperty("fittedExpertImbalance").GetDouble() >= 1));
        Assert.All(rows, r => Assert.InRange(r.GetProperty("crossNodeRemoteFraction").GetDouble(), 0, 1));
    }

    [Fact]
    public async Task BenchPlacement_WhenIlpArmIsUnknown_PrintsUsageAndExitsTwo()
    {
        var (code, _, error) = await MoectlRunner.Run("bench", "placement", "--pods", "8", "--deepseek", "off", "--ilp", "default,magic");

        Assert.Equal(2, code);
        Assert.Contains("default, v1 and nodes, got 'magic'", error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task BenchPlacement_WhenTheDeterministicBudgetIsOutOfRange_PrintsUsageAndExitsTwo()
    {
        var (code, _, error) = await MoectlRunner.Run("bench", "placement", "--pods", "8", "--deepseek", "off", "--deterministic-seconds", "0");

        Assert.Equal(2, code);
        Assert.Contains("option '--deterministic-seconds'", error, StringComparison.Ordinal);
    }
}
