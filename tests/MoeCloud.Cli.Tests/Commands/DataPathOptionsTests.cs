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
    public async Task Command_WhenAnOptionIsBad_ExitsTwoNamingIt(string message, params string[] args)
    {
        var (code, _, error) = await MoectlRunner.Run(args);

        Assert.Equal(2, code);
        Assert.Contains(message, error, StringComparison.Ordinal);
    }
}
