using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using MoeCloud.Abstractions;
using MoeCloud.Cli.Cluster;
using MoeCloud.Model.Synthetic;
using MoeCloud.Runtime.Hosting;
using MoeCloud.Testing;
using Orleans.Clustering.Redis;
using Orleans.Configuration;
using StackExchange.Redis;
using Xunit.Abstractions;

namespace MoeCloud.Cli.Tests.Cluster;

/// <summary>
/// A Redis membership store that restarts empty (no persistence) under a running cluster: a real redis-server and three
/// silos with Redis clustering in this process. Without <see cref="MembershipStoreRestore"/> the table stays empty, every
/// read of it fails, and no later death can be declared.
/// </summary>
public sealed class MembershipStoreRestoreTests(ITestOutputHelper output)
{
    private const string Model = "tiny";
    private const int Pods = 3, Victim = 2;

    [Fact]
    public async Task RedisRestartedEmpty_TheSilosWriteThemselvesBack_AndALaterDeathIsDeclaredAndRepaired()
    {
        await using var setup = await Setup.Start();
        var (redis, cluster, spec, key) = (setup.Redis, setup.Cluster, setup.Spec, setup.Key);
        var services = cluster.Silos[0].App.Services;
        await using var store = await ConnectionMultiplexer.ConnectAsync(redis.ConnectionString);
        var db = store.GetDatabase();
        var before = await Rows(db, key);
        Assert.Equal(Pods, before.Count);

        await redis.Restart(TimeSpan.FromSeconds(1), keepData: false, CancellationToken.None);

        // Each silo writes its row back, under its own address, and the table's version again.
        var after = await Rows(db, key);
        for (var i = 0; i < 300 && after.Count < Pods; i++)
        {
            await Task.Delay(100);
            after = await Rows(db, key);
        }

        output.WriteLine($"rows after the empty restart: {after.Count} ({string.Join(", ", after)})");
        Assert.Equal(before.Order(), after.Order());
        Assert.True((await db.HashGetAsync(key, "Version")).HasValue, "the table has no version");

        // A silo killed now is declared dead through the restored table, and its experts are repaired.
        var victim = cluster.Silos[Victim].App.Services.GetRequiredService<ILocalSiloDetails>().SiloAddress;
        await cluster.Silos[Victim].App.StopAsync(new CancellationToken(canceled: true));
        var membership = services.GetRequiredService<IClusterMembershipService>();
        var registry = cluster.Grains.GetGrain<IPlanRegistryGrain>(Model);
        WirePlan? repaired = null;
        for (var i = 0; i < 1200 && repaired is null; i++)
        {
            repaired = membership.CurrentSnapshot.GetSiloStatus(victim) == SiloStatus.Dead && await registry.GetActive() is { Version: > 1 } active ? active : null;
            await Task.Delay(repaired is null ? 100 : 0);
        }

        Assert.Equal(SiloStatus.Dead, membership.CurrentSnapshot.GetSiloStatus(victim));
        Assert.NotNull(repaired);
        for (var l = 0; l < spec.MoeLayers; l++)
        {
            for (var e = 0; e < spec.Experts; e++)
            {
                Assert.DoesNotContain(Victim, repaired.ToPlacement().PodsOf(l, e).ToArray());
            }
        }
    }

    /// <summary>
    /// A real redis-server and three embedded silos with Redis clustering serving <c>tiny</c>, under a plan where every
    /// expert but 0 is on one pod only (a third of them on pod 2, so that its death needs a repair).
    /// </summary>
    private sealed class Setup(TempDirectory dir, LocalRedis redis, EmbeddedCluster cluster, MoeCloud.Model.Spec.ModelSpec spec, RedisKey key) : IAsyncDisposable
    {
        public LocalRedis Redis => redis;

        public EmbeddedCluster Cluster => cluster;

        public MoeCloud.Model.Spec.ModelSpec Spec => spec;

        /// <summary>The cluster's membership hash.</summary>
        public RedisKey Key => key;

        public static async Task<Setup> Start()
        {
            var dir = new TempDirectory();
            var (spec, vocab) = SyntheticModelPresets.Get(Model);
            SyntheticModelWriter.Write(dir.Combine(Model), spec, vocab, new SyntheticModelOptions { Seed = 5 });
            var redis = await LocalRedis.Start();
            EmbeddedCluster cluster;
            try
            {
                cluster = await EmbeddedCluster.Start(Pods, new Dictionary<string, string> { [Model] = dir.Combine(Model) }, configure: o =>
                {
                    o.Clustering = ClusteringMode.Redis;
                    o.RedisConnectionString = redis.ConnectionString;
                });
            }
            catch
            {
                await redis.DisposeAsync();
                dir.Dispose();
                throw;
            }

            await cluster.Publish(WirePlan.FromAssignment(Model, 1, Pods, spec.MoeLayers, spec.Experts, (l, e) => e == 0 ? [0, 1, 2] : [(e + l) % Pods]));
            var services = cluster.Silos[0].App.Services;
            var key = services.GetRequiredService<IOptions<RedisClusteringOptions>>().Value.CreateRedisKey(services.GetRequiredService<IOptions<ClusterOptions>>().Value);
            return new Setup(dir, redis, cluster, spec, key);
        }

        public async ValueTask DisposeAsync()
        {
            await cluster.DisposeAsync();
            await redis.DisposeAsync();
            dir.Dispose();
        }
    }

    /// <summary>
    /// The registry's active plan when a repair took effect (version above 1), else null; also null while a call to the
    /// registry is refused because its activation was on the silo that died and no one has declared that silo dead yet.
    /// </summary>
    private static async Task<WirePlan?> Repaired(IPlanRegistryGrain registry)
    {
        try
        {
            return await registry.GetActive() is { Version: > 1 } active ? active : null;
        }
        catch (Exception e) when (e is OrleansMessageRejectionException or TimeoutException)
        {
            return null;
        }
    }

    /// <summary>The silo rows of the membership hash (every field but the table's version).</summary>
    private static async Task<List<string>> Rows(IDatabase db, RedisKey key) =>
        (await db.HashKeysAsync(key)).Select(k => k.ToString()).Where(k => k != "Version").ToList();
}
