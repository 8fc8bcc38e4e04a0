using MoeCloud.Cli.Cluster;

namespace MoeCloud.Cli.Tests.Commands;

/// <summary>The data path's options: each bad value is a usage error (exit 2) naming the option, before any work starts.</summary>
public sealed class DataPathOptionsTests
{
    [Theory]
    [InlineData("option '--link' takes a tc rate", "bench", "cluster", "--link", "fast")]
    [InlineData("option '--scale-pods' takes pod counts in [2, 64]", "bench", "datapath", "--shape", "deepseek-v3", "--scale-pods", "8,1")]
    [InlineData("option '--shape' must be one of demo, deepseek-v3", "bench", "datapath", "--shape", "v4")]
    [InlineData("option '--address' takes an IP address", "silo", "--pod", "0", "--address", "pod-zero")]
    [InlineData("option '--rehome' needs the models' profile traces", "silo", "--pod", "0", "--model", "m=/nonexistent", "--rehome")]
    [InlineData("option '--profile' takes name=dir", "silo", "--pod", "0", "--profile", "justadir")]
    [InlineData("option '--micro-batches' needs a whole number in [2, 4], got '1'", "bench", "datapath", "--micro-batches", "1")]
    [InlineData("option '--warmup' needs a number in [0, 600], got 'soon'", "bench", "datapath", "--warmup", "soon")]
    [InlineData("option '--warmup' needs a number in [0, 600], got '601'", "bench", "datapath", "--warmup", "601")]
    [InlineData("option '--warmup' needs a number in [0, 600], got 'long'", "bench", "cluster", "--warmup", "long")]
    [InlineData("option '--micro-batches' needs a whole number in [2, 4], got '8'", "bench", "cluster", "--micro-batches", "8")]
    [InlineData("option '--micro-batches' needs a whole number in [1, 4], got '0'", "silo", "--pod", "0", "--micro-batches", "0")]
    [InlineData("option '--micro-batch-min-tokens' needs a whole number in [1, 1048576], got 'few'", "silo", "--pod", "0", "--micro-batch-min-tokens", "few")]
    [InlineData("option '--micro-batches' needs a whole number in [1, 4], got '9'", "up", "--micro-batches", "9")]
    [InlineData("option '--warmup' needs a number in [0, 600], got 'later'", "up", "--warmup", "later")]
    [InlineData("option '--homes' must be one of token, request, auto", "up", "--homes", "pod")]
    [InlineData("option '--homes' must be one of token, request, auto", "bench", "elastic", "--homes", "sequence")]
    [InlineData("option '--rehome' needs --homes token (got request)", "up", "--homes", "request", "--rehome")]
    [InlineData("option '--rehome' needs --homes token (got auto)", "up", "--homes", "auto", "--rehome")]
    public async Task Command_WhenAnOptionIsBad_ExitsTwoNamingIt(string message, params string[] args)
    {
        var (code, _, error) = await MoectlRunner.Run(args);

        Assert.Equal(2, code);
        Assert.Contains(message, error, StringComparison.Ordinal);
    }

    [Fact]
    public void SiloLauncher_WhenMicroBatchesAreAsked_PassesThemToEverySiloProcessAndOtherwiseNothing()
    {
        var models = new Dictionary<string, string> { ["demo"] = "/models/demo" };

        var cut = new SiloLauncher("127.0.0.1:6379", "c", models, null, null, TextWriter.Null, null, microBatches: 3).Arguments(2);
        var whole = new SiloLauncher("127.0.0.1:6379", "c", models, null, null, TextWriter.Null, null).Arguments(2);

        Assert.Equal("3", cut[cut.ToList().IndexOf("--micro-batches") + 1]);
        Assert.DoesNotContain("--micro-batches", whole);
    }
}
