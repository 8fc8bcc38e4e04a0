using MoeCloud.Cli.Cluster;
using MoeCloud.Cli.Tests.Commands;

namespace MoeCloud.Cli.Tests.Cluster;

[Collection(LocalClusterCollection.Name)]
public sealed class ProcessClusterTests
{
    [Fact]
    public async Task Start_WhenASiloExitsBeforeItIsHealthy_TheErrorCarriesTheSilosLastLines()
    {
        var missing = Path.Combine(Path.GetTempPath(), $"moecloud-missing-{Guid.NewGuid():N}");

        var error = await Assert.ThrowsAsync<InvalidOperationException>(async () =>
        {
            await using var cluster = await ProcessCluster.Start(1, new Dictionary<string, string> { ["tiny"] = missing }, TextWriter.Null);
        });

        Assert.Contains("silo process of pod 0 exited with code", error.Message, StringComparison.Ordinal);
        Assert.Contains("Its last lines:", error.Message, StringComparison.Ordinal);
        Assert.Contains(missing, error.Message, StringComparison.Ordinal);
    }
}
