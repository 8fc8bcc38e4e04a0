using Microsoft.Extensions.DependencyInjection;
using MoeCloud.Abstractions;
using MoeCloud.Cli.Cluster;
using MoeCloud.Cli.Commands;
using MoeCloud.Cli.Kube;
using MoeCloud.Gateway.Hosting;
using MoeCloud.Runtime.Hosting;
using MoeCloud.Runtime.Serving;
using MoeCloud.Testing;

namespace MoeCloud.Cli.Tests.Commands;

/// <summary>
/// The expert backend per pod that <c>kubectl moe status --admin</c> shows: read from a real gateway's admin API, which
/// learns it from each silo through membership discovery.
/// </summary>
[Collection(LocalClusterCollection.Name)]
public sealed class KubeBackendsTests : IDisposable
{
    private readonly TempDirectory _home = new();

    public KubeBackendsTests() => Environment.SetEnvironmentVariable("MOECLOUD_HOME", _home.Path);

    public void Dispose()
    {
        Environment.SetEnvironmentVariable("MOECLOUD_HOME", null);
        _home.Dispose();
    }

    [Fact]
    public async Task BackendsAsync_WhenAdminKeyGiven_ReturnsEachPodsBackendAndWithoutItSaysHowToPassOne()
    {
        var deployment = await DemoDeployment.Prepare(RuntimeCommands.DemoModel, "tiny", 1, 2, "eplb", TextWriter.Null, CancellationToken.None);
        await using var cluster = await EmbeddedCluster.Start(2, new Dictionary<string, string> { [RuntimeCommands.DemoModel] = deployment.ModelDirectory });
        await cluster.Publish(WirePlan.From(RuntimeCommands.DemoModel, deployment.Plan, version: 1));
        await using var gateway = await LocalGateway.Start(cluster, RuntimeCommands.DemoModel, deployment.ModelDirectory, deployment.Trace, HomePolicyName.Speculative, CancellationToken.None);
        var expected = cluster.Silos.ToDictionary(s => s.Pod, s => s.App.Services.GetRequiredService<ModelCatalog>().ExpertBackend);

        IReadOnlyDictionary<int, string> backends = new Dictionary<int, string>();
        for (var i = 0; i < 100 && backends.Count < expected.Count; i++)
        {
            backends = await KubeProfiles.BackendsAsync(gateway.HttpAddress, gateway.AdminKey, CancellationToken.None);
            await Task.Delay(backends.Count < expected.Count ? 100 : 0);
        }

        Assert.Equal(expected.OrderBy(p => p.Key), backends.OrderBy(p => p.Key));
        var refused = await Assert.ThrowsAsync<InvalidOperationException>(() => KubeProfiles.BackendsAsync(gateway.HttpAddress, key: null, CancellationToken.None));
        Assert.Contains("--admin-key", refused.Message, StringComparison.Ordinal);
    }
}
