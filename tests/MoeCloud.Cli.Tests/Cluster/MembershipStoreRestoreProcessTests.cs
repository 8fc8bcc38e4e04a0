using System.Text.Json;
using MoeCloud.Abstractions;
using MoeCloud.Cli.Cluster;
using MoeCloud.Cli.Tests.Commands;
using MoeCloud.Model.Synthetic;
using MoeCloud.Runtime.Hosting;
using MoeCloud.Testing;
using StackExchange.Redis;
using Xunit.Abstractions;

namespace MoeCloud.Cli.Tests.Cluster;

/// <summary>
/// A silo that dies while the Redis membership store is down, in a cluster of three silo processes: no death can be
/// written then, and the store comes back empty. The survivors write the table back from their copies, the dead silo's
/// row with it (as last written: active), so its probes fail again and it is voted dead through the restored table.
/// </summary>
[Collection(LocalClusterCollection.Name)]
public sealed class MembershipStoreRestoreProcessTests(ITestOutputHelper output)
{
    private const string Model = "tiny";
    private const int Pods = 3, Victim = 2;

    [Fact]
    public async Task SiloKilledWhileRedisIsDown_AndRedisBackEmpty_IsVotedDeadThroughTheRestoredTable_AndRepaired()
    {
        using var home = new TempDirectory();
        var (spec, vocabulary) = SyntheticModelPresets.Get(Model);
        SyntheticModelWriter.Write(home.Combine(Model), spec, vocabulary, new SyntheticModelOptions { Seed = 5 });
        var log = new StringWriter();
        var synced = TextWriter.Synchronized(log);
        await using var cluster = await ProcessCluster.Start(Pods, new Dictionary<string, string> { [Model] = home.Combine(Model) }, synced);
        // Every expert but 0 on one pod only, a third of them on the victim: its death needs a repair.
        await cluster.Publish(WirePlan.FromAssignment(Model, 1, Pods, spec.MoeLayers, spec.Experts, (l, e) => e == 0 ? [0, 1, 2] : [(e + l) % Pods]));

        // Each silo says when it holds a copy of the table to restore it from, and how many rows the copy has: every
        // silo's copy must hold all three (a silo's first copy can be taken before the last silo joined).
        var full = $"MembershipStoreRestore[5424] Holding a copy of the Redis membership table ({Pods} rows";
        for (var i = 0; i < 600 && !Enumerable.Range(0, Pods).All(p => Lines(synced, log, p).Any(l => l.Contains(full, StringComparison.Ordinal))); i++)
        {
            await Task.Delay(100);
        }

        Assert.All(Enumerable.Range(0, Pods), p => Assert.Contains(Lines(synced, log, p), l => l.Contains(full, StringComparison.Ordinal)));

        // The victim is killed (SIGKILL) while the store is down; the store then comes back with nothing in it.
        await cluster.RestartRedis(TimeSpan.FromSeconds(1), keepData: false, CancellationToken.None, whileDown: async ct =>
        {
            cluster.Kill(Victim);
            await cluster.WaitForExit(Victim, ct);
        });

        var registry = cluster.Grains.GetGrain<IPlanRegistryGrain>(Model);
        WirePlan? repaired = null;
        for (var i = 0; i < 1200 && repaired is null; i++)
        {
            repaired = await MembershipStoreRestoreTests.Repaired(registry);
            await Task.Delay(repaired is null ? 100 : 0);
        }

        await using var store = await ConnectionMultiplexer.ConnectAsync(cluster.Redis);
        var db = store.GetDatabase();
        var key = store.GetServer(store.GetEndPoints()[0]).Keys(pattern: "*").Single(k => db.KeyType(k) == RedisType.Hash); // the table, not the restore's mark
        async Task<Dictionary<int, int>> Rows() => (await db.HashGetAllAsync(key)).Where(r => r.Name != "Version")
            .Select(r => JsonDocument.Parse(r.Value.ToString()).RootElement)
            .ToDictionary(r => PodNames.PodOfSiloName(r.GetProperty("SiloName").GetString()), r => r.GetProperty("Status").GetInt32());

        // A survivor whose row came back from a copy taken before it was active writes itself back active within a
        // check period (MembershipStoreRestore.CheckEvery): the table settles then.
        var rows = await Rows();
        for (var i = 0; i < 150 && !(rows.GetValueOrDefault(0) == (int)SiloStatus.Active && rows.GetValueOrDefault(1) == (int)SiloStatus.Active); i++)
        {
            await Task.Delay(100);
            rows = await Rows();
        }

        output.WriteLine($"rows after the restore: {string.Join(", ", rows.Select(r => $"pod {r.Key}: {(SiloStatus)r.Value}"))}; repaired: {repaired is not null}");
        Assert.Equal((int)SiloStatus.Dead, rows[Victim]);
        Assert.Equal((int)SiloStatus.Active, rows[0]);
        Assert.Equal((int)SiloStatus.Active, rows[1]);
        Assert.Null(cluster.ExitCode(0));
        Assert.Null(cluster.ExitCode(1));
        Assert.NotNull(repaired);
        for (var l = 0; l < spec.MoeLayers; l++)
        {
            for (var e = 0; e < spec.Experts; e++)
            {
                Assert.DoesNotContain(Victim, repaired.ToPlacement().PodsOf(l, e).ToArray());
            }
        }
    }

    /// <summary>Pod <paramref name="pod"/>'s lines in the cluster's log so far.</summary>
    private static string[] Lines(TextWriter synced, StringWriter log, int pod)
    {
        string text;
        lock (synced)
        {
            text = log.ToString();
        }

        return text.Split('\n').Where(l => l.StartsWith($"[pod-{pod}] ", StringComparison.Ordinal)).ToArray();
    }
}
