using System.Globalization;
using System.Text.Json;
using MoeCloud.Cli.Cluster;
using MoeCloud.Runtime.Hosting;
using MoeCloud.Testing;

namespace MoeCloud.Cli.Tests.Commands;

/// <summary>
/// The local cluster through moectl itself: embedded silos, and silo processes with Redis membership (redis-server is
/// installed by infra/test.sh; without it these tests fail with the install command in the message).
/// </summary>
[Collection(LocalClusterCollection.Name)]
public sealed class RuntimeCommandsTests : IDisposable
{
    private static readonly TimeSpan StartBound = TimeSpan.FromMinutes(3);
    private readonly TempDirectory _home = new();
    private readonly TempDirectory _temp = new();

    public RuntimeCommandsTests() => Environment.SetEnvironmentVariable("MOECLOUD_HOME", _home.Path);

    public void Dispose()
    {
        Environment.SetEnvironmentVariable("MOECLOUD_HOME", null);
        _home.Dispose();
        _temp.Dispose();
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Up_WhenSmoke_WarmsThroughTheGatewayAndServesARequestOnEveryPod(bool processes)
    {
        string[] args = ["up", "--smoke", "--preset", "tiny", "--silos", "2", "--solver", "eplb", "--warmup", "1"];

        var (code, output, error) = await MoectlRunner.Run(processes ? [.. args, "--processes"] : args);

        Assert.True(code == 0, error);
        Assert.Matches(@"warmed: [1-9][0-9]* requests in [0-9.]+ s", error);
        Assert.Contains("pod-0", output, StringComparison.Ordinal);
        Assert.Contains("pod-1", output, StringComparison.Ordinal);
        Assert.Contains("infer --address http://127.0.0.1:", output, StringComparison.Ordinal);
        Assert.Contains("gateway", output, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("request", @"│ pod-[01]:16 +│")]
    [InlineData(null, @"│ pod-[01]:16 +│")] // auto, on the loopback link: splitting 16 tokens costs more messages than it saves
    [InlineData("token", @"│ pod-0:[0-9]+ pod-1:[0-9]+ +│")]
    public async Task Up_WithEachHomesChoice_TheGatewayHomesTheSixteenTokenSmokeRequestAsItSays(string? homes, string expected)
    {
        string[] args = ["up", "--smoke", "--preset", "tiny", "--silos", "2", "--solver", "eplb", "--warmup", "0"];
        var (code, output, error) = await MoectlRunner.Run(homes is null ? args : [.. args, "--homes", homes]);

        Assert.True(code == 0, error);
        var gatewayRow = output.Split('\n').Single(line => line.Contains("│ gateway", StringComparison.Ordinal));
        Assert.Matches(expected, gatewayRow);
    }

    [Fact]
    public async Task BenchDatapath_WhenEmbedded_PrintsTheIssuesKeys_ResultsEqualTheReference_AndBothGatewayArms()
    {
        var (code, output, error) = await MoectlRunner.Run("bench", "datapath", "--modes", "embedded", "--pods", "2", "--steps", "10", "--warmup", "0", "--json");

        Assert.True(code == 0, error);
        using var json = JsonDocument.Parse(output);
        var root = json.RootElement;
        Assert.Equal(16, root.GetProperty("tokens").GetInt32());
        Assert.Equal(2, root.GetProperty("pods").GetInt32());
        Assert.True(root.GetProperty("layers").GetInt32() > 0);
        Assert.True(root.GetProperty("referenceStepMs").GetDouble() > 0);
        Assert.True(root.GetProperty("echoLayerMs").GetDouble() > 0);
        Assert.True(root.GetProperty("copiesPerLayer").GetDouble() > 0);
        var embedded = root.GetProperty("embedded");
        foreach (var key in new[] { "stepP50Ms", "stepP99Ms", "layerP50Ms" })
        {
            Assert.True(embedded.GetProperty(key).GetDouble() > 0, key);
        }

        Assert.InRange(embedded.GetProperty("maxRelError").GetDouble(), 0, 1e-4);
        Assert.Equal(JsonValueKind.Null, root.GetProperty("processes").ValueKind);
        foreach (var arm in new[] { "gateway", "gatewayRequestHomes" })
        {
            var gateway = root.GetProperty(arm);
            Assert.True(gateway.GetProperty("gatewayP50Ms").GetDouble() > 0, arm);
            Assert.True(gateway.GetProperty("directP50Ms").GetDouble() > 0, arm);
            Assert.True(gateway.GetProperty("addedP99Ms").GetDouble() >= gateway.GetProperty("addedP50Ms").GetDouble(), arm);
        }
    }

    [Fact]
    public async Task BenchCluster_WhenTiny_MatchesTheReferenceAndTheSimulatorInBothModes()
    {
        var (code, output, error) = await MoectlRunner.Run("bench", "cluster", "--size", "tiny", "--silos", "2", "--requests", "6", "--tokens", "8", "--warmup", "0", "--json");

        Assert.True(code == 0, error);
        using var json = JsonDocument.Parse(output);
        var rows = json.RootElement.EnumerateArray().ToArray();
        Assert.Equal(["embedded", "embedded-plan-switch", "processes", "processes-plan-switch"], rows.Select(r => r.GetProperty("mode").GetString()));
        foreach (var row in rows)
        {
            foreach (var key in new[] { "tokensPerSecond", "referenceTokensPerSecond", "ratio", "p50Ms", "p99Ms", "remoteFraction", "maxRelError", "failed" })
            {
                Assert.True(row.TryGetProperty(key, out _), $"{row.GetProperty("mode")}: missing {key}");
            }

            Assert.Equal(0, row.GetProperty("failed").GetInt32());
            Assert.True(row.GetProperty("maxRelError").GetDouble() <= 1e-4);
        }

        foreach (var row in rows.Where(r => !r.GetProperty("mode").GetString()!.EndsWith("-plan-switch", StringComparison.Ordinal)))
        {
            Assert.Equal(row.GetProperty("simulatedRemoteFraction").GetDouble(), row.GetProperty("remoteFraction").GetDouble(), 12);
        }

        Assert.All([rows[1], rows[3]], r => Assert.True(r.GetProperty("replicaMoves").GetInt32() * 4 >= r.GetProperty("replicas").GetInt32()));
    }

    [Fact]
    public async Task BenchGateway_SpeculativeReplayEqualsTheSimulator_AndBeatsLeastRequests()
    {
        var trace = Path.Combine(_home.Path, "trace");
        await MoectlRunner.Run("trace", "synth", "--out", trace, "--layers", "4", "--experts", "16", "--top-k", "2", "--tokens", "600", "--sequences", "12");

        var (code, output, error) = await MoectlRunner.Run("bench", "gateway", "--trace", trace, "--silos", "2", "--tokens", "120", "--overhead-requests", "4", "--json");

        Assert.True(code == 0, error);
        using var json = JsonDocument.Parse(output);
        var root = json.RootElement;
        var speculative = root.GetProperty("speculative");
        var least = root.GetProperty("leastRequests");
        Assert.Equal(root.GetProperty("simulatedPredictionHitRate").GetDouble(), speculative.GetProperty("predictionHitRate").GetDouble(), 12);
        Assert.Equal(root.GetProperty("simulatedRemoteFraction").GetDouble(), speculative.GetProperty("remoteFraction").GetDouble(), 12);
        Assert.Equal(0, speculative.GetProperty("failed").GetInt32());
        Assert.Equal(0, least.GetProperty("failed").GetInt32());
        Assert.True(speculative.GetProperty("remoteFraction").GetDouble() < least.GetProperty("remoteFraction").GetDouble());
        foreach (var key in new[] { "gatewayP50Ms", "gatewayP99Ms", "directP50Ms", "directP99Ms" })
        {
            Assert.True(root.GetProperty("overhead").GetProperty(key).GetDouble() > 0);
        }

        Assert.True(root.TryGetProperty("remoteRatio", out _));
    }

    [Fact]
    public async Task Forward_WhenNothingListens_ExitsOneWithTheError()
    {
        var port = MoeCloud.Runtime.Hosting.FreePorts.Take(1)[0];

        var (code, _, error) = await MoectlRunner.Run("forward", "--address", $"http://127.0.0.1:{port}");

        Assert.Equal(1, code);
        Assert.Contains("moectl forward: error:", error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Gateway_WhenConfigurationIsInvalid_ExitsOneListingEveryProblem()
    {
        var config = Path.Combine(_home.Path, "gateway.json");
        File.WriteAllText(config, "{\"MoeCloud\": {\"Gateway\": {\"GrpcPort\": 7000, \"HttpPort\": 7000, \"PodRunnerTemplate\": \"http://s:5100\", \"PodOpsTemplate\": \"http://s-{pod}:9100\"}}}");

        var (code, _, error) = await MoectlRunner.Run("gateway", "--config", config, "--redis", "127.0.0.1:1");

        Assert.Equal(1, code);
        Assert.Contains("GrpcPort and HttpPort must be distinct", error, StringComparison.Ordinal);
        Assert.Contains("PodRunnerTemplate and PodOpsTemplate go together", error, StringComparison.Ordinal);
        Assert.Contains("At least one model is needed", error, StringComparison.Ordinal);
        Assert.Contains("No client API key is configured", error, StringComparison.Ordinal); // and how to set one
        Assert.Contains("MoeCloud__Gateway__ApiKeys__0__Sha256", error, StringComparison.Ordinal);
        Assert.Equal(2, (await MoectlRunner.Run("gateway", "--config", config)).Code);
    }

    [Fact]
    public async Task Up_WhenAutoscaleWithoutProcesses_ExitsTwoSayingWhyBeforeBuildingAModel()
    {
        var (code, _, error) = await MoectlRunner.Run("up", "--autoscale", "--preset", "tiny");

        Assert.Equal(2, code);
        Assert.Contains("'--autoscale' needs --processes", error, StringComparison.Ordinal);
        Assert.False(Directory.Exists(Path.Combine(_home.Path, "models")));
    }

    [Fact]
    public async Task Up_WhenAnAutoscaleOptionWithoutAutoscale_ExitsTwo()
    {
        var (code, _, error) = await MoectlRunner.Run("up", "--processes", "--standby", "1", "--preset", "tiny");

        Assert.Equal(2, code);
        Assert.Contains("'--standby' needs --autoscale", error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Up_WhenAutoscaleMinPodsExceedMaxPods_ExitsTwoNamingTheBounds()
    {
        var (code, _, error) = await MoectlRunner.Run("up", "--processes", "--autoscale", "--min-pods", "3", "--max-pods", "2", "--preset", "tiny");

        Assert.Equal(2, code);
        Assert.Contains("1 <= min <= max (min 3, max 2)", error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Up_WhenProcessesAutoscaleSmoke_JoinsTheStandbyAndStartsTheAutoscaler()
    {
        var (code, output, error) = await MoectlRunner.Run("up", "--smoke", "--processes", "--autoscale", "--standby", "1", "--target-p99-ms", "5000", "--min-pods", "2", "--preset", "tiny", "--silos", "2", "--solver", "eplb");

        Assert.True(code == 0, error);
        Assert.Contains("starting 1 standby silo(s)", error, StringComparison.Ordinal);
        Assert.Contains("autoscaling plan pods in 2..4 (p99 target 5000 ms", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Silo_WhenModelOptionIsMalformed_ExitsTwo()
    {
        var (code, _, error) = await MoectlRunner.Run("silo", "--pod", "0", "--model", "no-equals-sign");

        Assert.Equal(2, code);
        Assert.Contains("takes name=dir", error, StringComparison.Ordinal);
    }

    [Fact]
    public void LocalRedis_IsInstalled()
    {
        Assert.True(LocalRedis.FindServer() is not null, "redis-server is missing: run infra/test.sh (it installs it with apt-get) or set MOECLOUD_REDIS_SERVER.");
    }

    // How `moectl up` and `moectl silo` stop, with moectl as a real process (Linux: signals and /proc). Every bound
    // here is generous (several times the configured grace); none is a timing assertion.
    [Theory]
    [InlineData(false, "INT")]
    [InlineData(false, "TERM")]
    [InlineData(true, "INT")]
    [InlineData(true, "TERM")]
    public async Task Up_WhenSignalled_StopsEveryProcessItStarted(bool processes, string signal)
    {
        using var moectl = await StartUp(processes);
        var started = moectl.Started();
        try
        {
            Assert.True(!processes || started.Count >= 3, $"expected two silo processes and redis-server, found {started.Count}");

            await moectl.Signal(signal);
            var exited = await moectl.WaitForExit(TimeSpan.FromSeconds(90));
            var alive = await MoectlProcess.StillAlive(started, TimeSpan.FromSeconds(10));

            Assert.True(exited, $"moectl up still running after SIG{signal}: {moectl.Error}");
            Assert.True(alive.Count == 0, $"still alive after SIG{signal}: {string.Join(", ", alive)} of {string.Join(", ", started)}");
        }
        finally
        {
            await moectl.KillAll(started);
        }
    }

    [Fact]
    public async Task Up_WhenKilled_ItsSilosAndRedisStopOnTheirOwn()
    {
        using var moectl = await StartUp(processes: true);
        var started = moectl.Started();
        try
        {
            Assert.True(started.Count >= 3, $"expected two silo processes and redis-server, found {started.Count}");

            await moectl.Signal("KILL");
            var alive = await MoectlProcess.StillAlive(started, TimeSpan.FromSeconds(90));

            Assert.True(alive.Count == 0, $"outlived moectl: {string.Join(", ", alive)} of {string.Join(", ", started)}");
        }
        finally
        {
            await moectl.KillAll(started);
        }
    }

    [Fact]
    public async Task Silo_WhenRedisIsGoneAndSigterm_ExitsWithinTheGraceAndSaysWhatItCouldNotDo()
    {
        const int grace = 5;
        var redis = await LocalRedis.Start();
        var ports = FreePorts.Take(4).Select(p => p.ToString(CultureInfo.InvariantCulture)).ToArray();
        using var silo = MoectlProcess.Start(_home.Path, _temp.Path, "silo", "--pod", "0", "--redis", redis.ConnectionString, "--cluster-id", $"stop-{Guid.NewGuid():N}",
            "--silo-port", ports[0], "--gateway-port", ports[1], "--runner-port", ports[2], "--ops-port", ports[3], "--shutdown-timeout", grace.ToString(CultureInfo.InvariantCulture));
        try
        {
            Assert.True(await silo.WaitFor("pod-0 serving", StartBound), silo.Error);
            await redis.DisposeAsync();

            await silo.Signal("TERM");
            var exited = await silo.WaitForExit(TimeSpan.FromSeconds(3 * grace));

            Assert.True(exited, $"the silo was still running {3 * grace} s after SIGTERM: {silo.Error}");
            Assert.Contains("could not remove itself from membership", silo.Error, StringComparison.Ordinal);
        }
        finally
        {
            await silo.KillAll([]);
            await redis.DisposeAsync();
        }
    }

    private async Task<MoectlProcess> StartUp(bool processes)
    {
        string[] args = ["up", "--preset", "tiny", "--silos", "2", "--solver", "eplb", "--warmup", "0"];
        var moectl = MoectlProcess.Start(_home.Path, _temp.Path, processes ? [.. args, "--processes"] : args);
        if (!await moectl.WaitFor("Ctrl-C to stop.", StartBound))
        {
            await moectl.KillAll(moectl.Started());
            var error = moectl.Error;
            moectl.Dispose();
            Assert.Fail($"moectl up did not start serving: {error}");
        }

        return moectl;
    }
}

[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class LocalClusterCollection
{
    public const string Name = "local-cluster";
}
