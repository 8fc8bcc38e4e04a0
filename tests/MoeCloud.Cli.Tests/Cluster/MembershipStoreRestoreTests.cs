using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
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
/// view ignores it (its version is below theirs), and no later death can be declared.
/// </summary>
public sealed class MembershipStoreRestoreTests(ITestOutputHelper output)
{
    private const string Model = "tiny";
    private const int Pods = 3, Victim = 2;

    [Fact]
    public async Task RedisRestartedEmpty_EveryRowComesBackAtOnce_AndALaterDeathIsDeclaredAndRepaired()
    {
        await using var setup = await Setup.Start();
        var (redis, cluster, key) = (setup.Redis, setup.Cluster, setup.Key);
        await using var store = await ConnectionMultiplexer.ConnectAsync(redis.ConnectionString);
        var db = store.GetDatabase();
        var before = await Rows(db, key);
        Assert.Equal(Pods, before.Count);
        var versionBefore = (long)await db.HashGetAsync(key, "Version");
        await setup.WaitForCopies();

        await redis.Restart(TimeSpan.FromSeconds(1), keepData: false, CancellationToken.None);

        // Every row is back, in one write with a version above every silo's view: no silo found itself missing from a
        // newer view (Orleans stops a silo that does), so all three are still running and active.
        var after = await Rows(db, key);
        for (var i = 0; i < 300 && after.Count < Pods; i++)
        {
            await Task.Delay(100);
            after = await Rows(db, key);
        }

        output.WriteLine($"rows after the empty restart: {after.Count} ({string.Join(", ", after)})");
        Assert.Equal(before.Order(), after.Order());
        Assert.True((long)await db.HashGetAsync(key, "Version") > versionBefore, "the restored table's version is not above the lost one");
        foreach (var silo in cluster.Silos)
        {
            var membership = silo.App.Services.GetRequiredService<IClusterMembershipService>();
            var self = silo.App.Services.GetRequiredService<ILocalSiloDetails>().SiloAddress;
            Assert.Equal(SiloStatus.Active, membership.CurrentSnapshot.GetSiloStatus(self));
        }

        // A silo killed now is declared dead through the restored table, and its experts are repaired.
        await setup.KillVictimAndAwaitRepair(output);
    }

    [Fact]
    public async Task SiloMissingFromANewerTableThatNoRestoreMarked_IsNotWrittenBack()
    {
        await using var setup = await Setup.Start();
        await setup.WaitForCopies();
        await using var store = await ConnectionMultiplexer.ConnectAsync(setup.Redis.ConnectionString);
        var db = store.GetDatabase();
        var victim = setup.VictimAddress.ToString();

        // What a death declaration and the cleanup of its row leave: the row gone from a table that moved on.
        var cleanup = db.CreateTransaction();
        _ = cleanup.HashDeleteAsync(setup.Key, victim);
        _ = cleanup.HashIncrementAsync(setup.Key, "Version");
        Assert.True(await cleanup.ExecuteAsync());
        var removed = DateTime.UtcNow;

        // The victim's next check finds its row gone and writes nothing, unless Orleans's own fence stops the victim
        // first (it stops a silo that reads a newer table without it): either way no dead silo is written back.
        var services = setup.Cluster.Silos[Victim].App.Services;
        var restore = services.GetServices<IHostedService>().OfType<MembershipStoreRestore>().Single();
        var stopping = services.GetRequiredService<IHostApplicationLifetime>().ApplicationStopping;
        for (var i = 0; i < 600 && !(restore.LastCheck > removed) && !stopping.IsCancellationRequested; i++)
        {
            await Task.Delay(100);
        }

        output.WriteLine(stopping.IsCancellationRequested ? "the victim was fenced by Orleans and stopped" : $"the victim checked the store at {restore.LastCheck:O}");
        Assert.True(restore.LastCheck > removed || stopping.IsCancellationRequested, "the victim neither checked the store nor stopped within 60 s");
        Assert.False(await db.HashExistsAsync(setup.Key, victim), "the restore wrote back a silo that a newer table no longer has");
    }

    [Fact]
    public async Task RowRestoredFromACopyTakenWhileItsSiloWasJoining_IsWrittenBackActiveByThatSilo()
    {
        await using var setup = await Setup.Start();
        await setup.WaitForCopies();
        await using var store = await ConnectionMultiplexer.ConnectAsync(setup.Redis.ConnectionString);
        var db = store.GetDatabase();
        var silo = setup.Cluster.Silos[1].App.Services.GetRequiredService<ILocalSiloDetails>().SiloAddress.ToString();

        // What a restore from a copy taken before pod 1 became active leaves: its row as it was then (joining), in a
        // table at a newer version.
        var row = System.Text.Json.Nodes.JsonNode.Parse((await db.HashGetAsync(setup.Key, silo)).ToString())!;
        Assert.Equal((int)SiloStatus.Active, row["Status"]!.GetValue<int>());
        row["Status"] = (int)SiloStatus.Joining;
        var restore = db.CreateTransaction();
        _ = restore.HashSetAsync(setup.Key, silo, row.ToJsonString());
        _ = restore.HashIncrementAsync(setup.Key, "Version");
        Assert.True(await restore.ExecuteAsync());

        // Pod 1's own view reads the joining row before its next check (as a periodic refresh may): the check still runs.
        await setup.Cluster.Silos[1].App.Services.GetRequiredService<IClusterMembershipService>().Refresh();

        var status = SiloStatus.Joining;
        for (var i = 0; i < 300 && status != SiloStatus.Active; i++)
        {
            await Task.Delay(100);
            status = (SiloStatus)System.Text.Json.Nodes.JsonNode.Parse((await db.HashGetAsync(setup.Key, silo)).ToString())!["Status"]!.GetValue<int>();
        }

        Assert.Equal(SiloStatus.Active, status);

        // Every silo's view counts all three active (views follow the table within their refresh).
        var addresses = setup.Cluster.Silos.Select(s => s.App.Services.GetRequiredService<ILocalSiloDetails>().SiloAddress).ToArray();
        var views = setup.Cluster.Silos.Select(s => s.App.Services.GetRequiredService<IClusterMembershipService>()).ToArray();
        bool AllActive() => views.All(v => addresses.All(a => v.CurrentSnapshot.GetSiloStatus(a) == SiloStatus.Active));
        for (var i = 0; i < 300 && !AllActive(); i++)
        {
            await Task.Delay(100);
        }

        Assert.True(AllActive(), string.Join("; ", views.Select(v => string.Join(", ", addresses.Select(a => v.CurrentSnapshot.GetSiloStatus(a))))));
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

        /// <summary>The victim pod's silo.</summary>
        public SiloAddress VictimAddress => cluster.Silos[Victim].App.Services.GetRequiredService<ILocalSiloDetails>().SiloAddress;

        /// <summary>Waits until every silo holds a copy of the table to restore it from (one check period after it is active).</summary>
        public async Task WaitForCopies()
        {
            var restores = cluster.Silos.Select(s => s.App.Services.GetServices<IHostedService>().OfType<MembershipStoreRestore>().Single()).ToArray();
            for (var i = 0; i < 600 && !restores.All(r => r.HoldsCopy); i++)
            {
                await Task.Delay(100);
            }

            Assert.True(restores.All(r => r.HoldsCopy), "a silo took no copy of the membership table");
        }

        /// <summary>Stops the victim's silo at once (no drain), then <see cref="AwaitRepair"/>.</summary>
        public async Task KillVictimAndAwaitRepair(ITestOutputHelper output)
        {
            await cluster.Silos[Victim].App.StopAsync(new CancellationToken(canceled: true));
            await AwaitRepair(output);
        }

        /// <summary>
        /// Waits until pod 0's view has the victim dead and the registry serves a repair (a version above 1), then
        /// checks that the repair placed no replica on the victim.
        /// </summary>
        public async Task AwaitRepair(ITestOutputHelper output)
        {
            var victim = VictimAddress;
            var membership = cluster.Silos[0].App.Services.GetRequiredService<IClusterMembershipService>();
            var registry = cluster.Grains.GetGrain<IPlanRegistryGrain>(Model);
            WirePlan? repaired = null;
            for (var i = 0; i < 1200 && repaired is null; i++)
            {
                repaired = membership.CurrentSnapshot.GetSiloStatus(victim) == SiloStatus.Dead ? await Repaired(registry) : null;
                await Task.Delay(repaired is null ? 100 : 0);
            }

            output.WriteLine($"the victim's status in pod 0's view: {membership.CurrentSnapshot.GetSiloStatus(victim)}; plan repaired: {repaired is not null}");
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
    internal static async Task<WirePlan?> Repaired(IPlanRegistryGrain registry)
    {
        try
        {
            return await registry.GetActive().WaitAsync(TimeSpan.FromSeconds(10)) is { Version: > 1 } active ? active : null;
        }
        catch (Exception e) when (e is OrleansMessageRejectionException or TimeoutException or SiloUnavailableException)
        {
            return null;
        }
    }

    /// <summary>The silo rows of the membership hash (every field but the table's version).</summary>
    private static async Task<List<string>> Rows(IDatabase db, RedisKey key) =>
        (await db.HashKeysAsync(key)).Select(k => k.ToString()).Where(k => k != "Version").ToList();
}
