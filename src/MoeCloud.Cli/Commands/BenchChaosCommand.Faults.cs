using System.Diagnostics;
using MoeCloud.Cli.Cluster;
using MoeCloud.Client;
using MoeCloud.Gateway.Hosting;
using MoeCloud.Runtime.Hosting;

namespace MoeCloud.Cli.Commands;

/// <summary>The chaos scenarios whose fault is undone: a gateway replica, Redis, a silo's network link.</summary>
public static partial class BenchChaosCommand
{
    /// <summary>
    /// Two gateway replicas in front of one cluster and a client given both; one replica crashes (its connections
    /// aborted, no drain) and starts again on the same ports after the outage. Runs on either cluster mode.
    /// </summary>
    private static async Task<ChaosResult> GatewayRestart(ChaosSetup setup, CancellationToken ct)
    {
        await using var cluster = await LocalClusters.Start(setup.Mode, setup.Silos, new Dictionary<string, string> { [Model] = setup.ModelDirectory }, rehomeProfiles: null, ct, quiet: true);
        await PublishTwoReplicas(cluster, setup);
        await using var survivor = await LocalGateway.Start(cluster, Model, setup.ModelDirectory, profile: null, HomePolicyName.Speculative, ct);
        var victim = await survivor.StartReplica(ct);
        try
        {
            using var client = new MoeCloudClient([victim.GrpcAddress, survivor.GrpcAddress], ClientOptions(survivor));
            return await Measure("gateway replica crashed and restarted", client, setup, async clock =>
            {
                var at = clock.Elapsed.TotalSeconds;
                await victim.Crash();
                await Task.Delay(setup.Outage, ct);
                victim = await victim.Restart(ct);
                return new ChaosFault(at, clock.Elapsed.TotalSeconds, null, null);
            }, ct);
        }
        finally
        {
            await victim.DisposeAsync();
        }
    }

    /// <summary>
    /// The membership store (redis-server) crashes (SIGKILL, after a save) and starts again on its port after the
    /// outage, with its data or empty (<see cref="ChaosSetup.RedisKeepsData"/>); the silos, the gateway and moectl's
    /// Orleans client reconnect on their own.
    /// </summary>
    private static async Task<ChaosResult> RedisRestart(ChaosSetup setup, CancellationToken ct)
    {
        await using var cluster = await ProcessCluster.Start(setup.Silos, new Dictionary<string, string> { [Model] = setup.ModelDirectory }, TextWriter.Null, ct);
        await PublishTwoReplicas(cluster, setup);
        await using var gateway = await LocalGateway.Start(cluster, Model, setup.ModelDirectory, profile: null, HomePolicyName.Speculative, ct);
        using var client = new MoeCloudClient(gateway.GrpcAddress, ClientOptions(gateway));
        return await Measure(setup.RedisKeepsData ? "Redis (membership) restarted" : "Redis (membership) restarted empty", client, setup, async clock =>
        {
            var at = clock.Elapsed.TotalSeconds;
            await cluster.RestartRedis(setup.Outage, setup.RedisKeepsData, ct);
            var back = clock.Elapsed.TotalSeconds;
            var exited = Enumerable.Range(0, setup.Silos).Where(p => cluster.ExitCode(p) is not null).ToArray();
            return new ChaosFault(at, back, null, exited.Length == 0 ? "every silo kept running" : $"silo processes exited: pods {string.Join(", ", exited)}");
        }, ct);
    }

    /// <summary>
    /// The last pod cut off the network (its veth link down: no traffic to or from it, Redis included) for the outage,
    /// then healed. When its silo process exits meanwhile (a silo declared dead by the others stops itself), it is
    /// started again as a StatefulSet would; the note says which happened.
    /// </summary>
    private static async Task<ChaosResult> Partition(ChaosSetup setup, CancellationToken ct)
    {
        var victim = setup.Silos - 1;
        await using var network = await ShapedNetwork.Create(setup.Silos, "1gbit", ct);
        await using var cluster = await ProcessCluster.Start(setup.Silos, new Dictionary<string, string> { [Model] = setup.ModelDirectory }, TextWriter.Null, ct, network: network);
        await PublishTwoReplicas(cluster, setup);
        await using var gateway = await LocalGateway.Start(cluster, Model, setup.ModelDirectory, profile: null, HomePolicyName.Speculative, ct);
        using var client = new MoeCloudClient(gateway.GrpcAddress, ClientOptions(gateway));
        return await Measure("one silo cut off the network, then healed", client, setup, async clock =>
        {
            var at = clock.Elapsed.TotalSeconds;
            await cluster.SetLink(victim, up: false, ct);
            double? exitedAt = await WatchExit(cluster, victim, clock, TimeSpan.FromSeconds(at) + setup.Outage, ct);
            await cluster.SetLink(victim, up: true, ct);
            var healed = clock.Elapsed.TotalSeconds;
            exitedAt ??= await WatchExit(cluster, victim, clock, setup.Duration, ct);
            if (exitedAt is not { } exit)
            {
                return new ChaosFault(at, healed, null, "the cut-off silo kept running; no restart was needed");
            }

            var code = cluster.ExitCode(victim);
            await cluster.Restart(victim, ct);
            return new ChaosFault(at, healed, exit - at, $"the cut-off silo exited (code {code}) {exit - at:F1} s after the cut; restarted {clock.Elapsed.TotalSeconds - at:F1} s after the cut");
        }, ct);
    }

    /// <summary>Polls pod <paramref name="pod"/>'s silo process until <paramref name="until"/> on the clock; the time it exited, or null.</summary>
    private static async Task<double?> WatchExit(ProcessCluster cluster, int pod, Stopwatch clock, TimeSpan until, CancellationToken ct)
    {
        while (clock.Elapsed < until)
        {
            if (cluster.ExitCode(pod) is not null)
            {
                return clock.Elapsed.TotalSeconds;
            }

            await Task.Delay(TimeSpan.FromMilliseconds(100), ct);
        }

        return cluster.ExitCode(pod) is null ? null : clock.Elapsed.TotalSeconds;
    }
}
