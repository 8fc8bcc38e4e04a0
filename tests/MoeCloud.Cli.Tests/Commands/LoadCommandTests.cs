using System.Text.Json;
using MoeCloud.Abstractions;
using MoeCloud.Cli.Cluster;
using MoeCloud.Cli.Commands;
using MoeCloud.Gateway.Hosting;
using MoeCloud.Runtime.Hosting;
using MoeCloud.Testing;

namespace MoeCloud.Cli.Tests.Commands;

/// <summary><c>moectl load</c>: its argument checks, and a short run against an embedded cluster and gateway.</summary>
[Collection(LocalClusterCollection.Name)]
public sealed class LoadCommandTests : IDisposable
{
    private readonly TempDirectory _home = new();

    public LoadCommandTests() => Environment.SetEnvironmentVariable("MOECLOUD_HOME", _home.Path);

    public void Dispose()
    {
        Environment.SetEnvironmentVariable("MOECLOUD_HOME", null);
        _home.Dispose();
    }

    [Fact]
    public async Task Load_AgainstALocalClusterForTwoSeconds_ServesEveryRequestAndPrintsTheDocumentedJson()
    {
        var deployment = await DemoDeployment.Prepare(RuntimeCommands.DemoModel, "tiny", 1, 2, "eplb", TextWriter.Null, CancellationToken.None);
        await using var cluster = await LocalClusters.Start("embedded", 2, new Dictionary<string, string> { [RuntimeCommands.DemoModel] = deployment.ModelDirectory }, null, CancellationToken.None, quiet: true);
        await cluster.Publish(WirePlan.From(RuntimeCommands.DemoModel, deployment.Plan, version: 1));
        await using var gateway = await LocalGateway.Start(cluster, RuntimeCommands.DemoModel, deployment.ModelDirectory, deployment.Trace, HomePolicyName.Speculative, CancellationToken.None);

        var (code, output, error) = await MoectlRunner.Run(
            "load", "--address", gateway.GrpcAddress.ToString(), "--api-key", gateway.ApiKey, "--pattern", "step", "--rate", "10", "--peak", "20", "--duration", "2", "--window", "1", "--tokens", "4", "--slo-ms", "60000", "--json");

        Assert.True(code == 0, error);
        using var json = JsonDocument.Parse(output);
        var root = json.RootElement;
        foreach (var key in new[] { "pattern", "rate", "peak", "periodSeconds", "durationSeconds", "tokens", "sloMs", "windowSeconds", "windows", "totals" })
        {
            Assert.True(root.TryGetProperty(key, out _), $"no '{key}' in {output}");
        }

        Assert.Equal("step", root.GetProperty("pattern").GetString());
        var totals = root.GetProperty("totals");
        foreach (var key in new[] { "requests", "served", "failed", "dropped", "late", "requestsPerSecond", "tokensPerSecond", "p50Ms", "p95Ms", "p99Ms", "sloAttainment", "windowSloAttainment" })
        {
            Assert.True(totals.TryGetProperty(key, out _), $"no totals.'{key}' in {output}");
        }

        // Step 10 → 20 → 10 req/s with a period of 2/3 s over 2 s: Λ(2) = (10 + 20 + 10) · 2/3 ≈ 26.7, so 27 requests.
        Assert.Equal(27, totals.GetProperty("requests").GetInt64());
        Assert.Equal(0, totals.GetProperty("failed").GetInt64());
        Assert.Equal(0, totals.GetProperty("dropped").GetInt64());
        Assert.Equal(27, totals.GetProperty("served").GetInt64());
        var windows = root.GetProperty("windows").EnumerateArray().ToArray();
        Assert.Equal(2, windows.Length);
        Assert.Equal(27, windows.Sum(w => w.GetProperty("requests").GetInt64()));
        Assert.All(windows, w => Assert.True(w.TryGetProperty("p99Ms", out _) && w.TryGetProperty("withinSlo", out _) && w.TryGetProperty("tokensPerSecond", out _)));
        Assert.Contains("sent", error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("--pattern", "burst", "constant, step, ramp or sine")]
    [InlineData("--rate", "-5", "the rate must be more than 0")]
    [InlineData("--duration", "0", "the duration must be more than 0")]
    public async Task Load_WhenAnArgumentIsBad_ExitsTwoSayingWhy(string option, string value, string expected)
    {
        var args = new Dictionary<string, string> { ["--pattern"] = "constant", ["--rate"] = "10", ["--duration"] = "5" };
        args[option] = value;

        var (code, _, error) = await MoectlRunner.Run(["load", "--address", "http://127.0.0.1:1", .. args.SelectMany(a => new[] { a.Key, a.Value })]);

        Assert.Equal(2, code);
        Assert.Contains(expected, error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Load_WhenThePeakIsBelowTheRate_ExitsTwoSayingWhy()
    {
        var (code, _, error) = await MoectlRunner.Run("load", "--address", "http://127.0.0.1:1", "--pattern", "ramp", "--rate", "10", "--peak", "5", "--duration", "5");

        Assert.Equal(2, code);
        Assert.Contains("the peak must be at least the rate", error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Load_WithoutARate_ExitsTwoSayingItIsRequired()
    {
        var (code, _, error) = await MoectlRunner.Run("load", "--address", "http://127.0.0.1:1", "--duration", "5");

        Assert.Equal(2, code);
        Assert.Contains("'--rate' is required", error, StringComparison.Ordinal);
    }
}
