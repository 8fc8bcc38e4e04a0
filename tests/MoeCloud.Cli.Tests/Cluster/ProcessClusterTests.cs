using System.Net;
using System.Net.Sockets;
using MoeCloud.Abstractions;
using MoeCloud.Cli.Cluster;
using MoeCloud.Model.Synthetic;
using MoeCloud.Cli.Tests.Commands;
using MoeCloud.Runtime.Hosting;
using MoeCloud.Testing;

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

    [Fact]
    public async Task AddSilos_WhenThePodsAgentWasPlacedElsewhereBeforeItsSiloJoined_ReturnsWithTheAgentMovedOntoTheNewSilo()
    {
        using var home = new TempDirectory();
        var model = TinyModel(home);
        await using var cluster = await ProcessCluster.Start(2, new Dictionary<string, string> { ["tiny"] = model }, TextWriter.Null);
        var agent = cluster.Grains.GetGrain<IPodAgentGrain>("2");

        // Pod 2 has no silo yet: its agent is placed on another pod's silo, and callers keep that silo's address.
        var before = await agent.Describe();
        Assert.NotEqual(2, PodNames.PodOfSiloName(before.SiloName));

        await cluster.AddSilos(1, CancellationToken.None);

        Assert.Equal("pod-2", (await agent.Describe()).SiloName);
    }

    [Fact]
    public async Task Start_WhenAnotherProcessBoundASilosPortFirst_StartsItAgainOnOtherPortsUntilItIsHealthy()
    {
        // A free port is only checked, not held: here the first start's ops port is bound before the silo binds it.
        using var home = new TempDirectory();
        var model = TinyModel(home);
        using var taken = new TcpListener(IPAddress.Loopback, 0);
        taken.Start();
        var starts = 0;
        var log = new StringWriter();
        var synced = TextWriter.Synchronized(log);

        await using var cluster = await ProcessCluster.Start(1, new Dictionary<string, string> { ["tiny"] = model }, synced, ports: () =>
        {
            var ports = FreePorts.Take(4);
            if (Interlocked.Increment(ref starts) == 1)
            {
                ports[3] = ((IPEndPoint)taken.LocalEndpoint).Port;
            }

            return ports;
        });

        Assert.Equal(2, starts);
        Assert.Contains("address already in use", log.ToString(), StringComparison.OrdinalIgnoreCase);
        Assert.Contains("starting it again on other ports (start 2 of 3)", log.ToString(), StringComparison.Ordinal);
        Assert.NotEqual(((IPEndPoint)taken.LocalEndpoint).Port, cluster.Endpoints[0].Ops.Port);
    }

    /// <summary>Writes the synthetic <c>tiny</c> model (seed 1) into <paramref name="home"/> and returns its folder.</summary>
    private static string TinyModel(TempDirectory home)
    {
        var (spec, vocabulary) = SyntheticModelPresets.Get("tiny");
        var model = home.Combine("tiny");
        SyntheticModelWriter.Write(model, spec, vocabulary, new SyntheticModelOptions { Seed = 1 });
        return model;
    }
}
