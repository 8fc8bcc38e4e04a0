using k8s;
using Microsoft.Extensions.Logging.Abstractions;
using MoeCloud.Operator.Controllers;
using MoeCloud.Operator.Entities;
using MoeCloud.Operator.Tests.EndToEnd;
using MoeCloud.Operator.Tests.Support;

namespace MoeCloud.Operator.Tests.ApiServer;

/// <summary>The informer's list-then-watch against the in-process API server: resume after a dropped watch, re-list after 410 Gone.</summary>
public sealed class InformerTests
{
    [Fact]
    public async Task Run_WhenWatchDropped_ResumesFromLastVersionWithoutRelisting()
    {
        await using var cluster = await Cluster.StartAsync();
        var (informer, run, cts) = Start(cluster);
        await informer.Synced.WaitAsync(TimeSpan.FromSeconds(10));
        await CreateAsync(cluster, "a");
        await WaitForAsync(informer, "a");

        cluster.Api.Store.CloseWatches();
        await CreateAsync(cluster, "b");
        await WaitForAsync(informer, "b");

        Assert.Equal(1, informer.Lists);
        await cts.CancelAsync();
        await run;
    }

    [Fact]
    public async Task Run_WhenResourceVersionCompacted_RelistsAfterGone()
    {
        await using var cluster = await Cluster.StartAsync();
        var (informer, run, cts) = Start(cluster);
        await informer.Synced.WaitAsync(TimeSpan.FromSeconds(10));
        await CreateAsync(cluster, "a");
        await WaitForAsync(informer, "a");

        // A write the informer does not watch moves the global version on; compaction then drops the informer's
        // version from the history, so the watch it restarts after the drop answers 410 Gone and it re-lists.
        await cluster.Client.CoreV1.CreateNamespacedConfigMapAsync(new k8s.Models.V1ConfigMap { Metadata = new() { Name = "other" } }, "default");
        cluster.Api.Store.Compact();
        cluster.Api.Store.CloseWatches();
        await CreateAsync(cluster, "b");
        await WaitForAsync(informer, "b");
        await Eventually.WaitAsync(() => Task.FromResult<object?>(informer.Lists), l => (int)l >= 2, "a re-list");

        Assert.Equal(["a", "b"], informer.Items.Select(m => m.Metadata.Name).Order(StringComparer.Ordinal));
        await cts.CancelAsync();
        await run;
    }

    private static (Informer<MoeModel> Informer, Task Run, CancellationTokenSource Cts) Start(Cluster cluster)
    {
        var informer = new Informer<MoeModel>(cluster.Client, MoeCloudApi.MoeModels, TimeProvider.System, NullLogger.Instance);
        var cts = new CancellationTokenSource();
        return (informer, informer.RunAsync(cts.Token), cts);
    }

    private static Task CreateAsync(Cluster cluster, string name) =>
        cluster.Resources.CreateAsync(MoeCloudApi.MoeModels, "default", Scenario.Model(name), CancellationToken.None);

    private static Task WaitForAsync(Informer<MoeModel> informer, string name) =>
        Eventually.WaitAsync(() => Task.FromResult(informer.Get("default", name)), _ => true, $"informer sees {name}");
}
