using System.Diagnostics;
using MoeCloud.Abstractions;

namespace MoeCloud.Cli.Commands;

/// <summary>The chaos scenarios whose fault is undone (a gateway replica, Redis, a silo's network link), and the kill of an expert's only replica.</summary>
public static partial class BenchChaosCommand
{
    /// <summary>How long kill-sole-replica waits for the repair plan before it reports that none came.</summary>
    private static readonly TimeSpan RepairBound = TimeSpan.FromSeconds(60);

    /// <summary>
    /// Two gateway replicas (two <c>LocalGateway</c>s, or two gateway containers) in front of one cluster and a client
    /// given both; one replica crashes (its connections aborted, no drain) and starts again at its address after the
    /// outage. Runs in every mode.
    /// </summary>
    private static async Task<ChaosResult> GatewayRestart(ChaosSetup setup, CancellationToken ct)
    {
        await using var rig = await StartRig(setup, TwoReplicas(setup), gateways: 2, network: false, ct);
        return await Measure("gateway replica crashed and restarted", rig.Client, setup, async clock =>
        {
            var at = clock.Elapsed.TotalSeconds;
            await rig.CrashGateway(ct);
            await Task.Delay(setup.Outage, ct);
            await rig.RestartGateway(ct);
            return new ChaosFault(at, clock.Elapsed.TotalSeconds, null, null);
        }, ct);
    }

    /// <summary>
    /// The membership store (redis-server, or the Redis container) crashes (SIGKILL, after a save) and starts again
    /// after the outage, with its data or empty (<see cref="ChaosSetup.RedisKeepsData"/>); the silos, the gateway and
    /// moectl's Orleans client reconnect on their own.
    /// </summary>
    private static async Task<ChaosResult> RedisRestart(ChaosSetup setup, CancellationToken ct)
    {
        await using var rig = await StartRig(setup, TwoReplicas(setup), gateways: 1, network: false, ct);
        return await Measure(setup.RedisKeepsData ? "Redis (membership) restarted" : "Redis (membership) restarted empty", rig.Client, setup, async clock =>
        {
            var at = clock.Elapsed.TotalSeconds;
            await rig.RestartRedis(setup.Outage, setup.RedisKeepsData, ct);
            var back = clock.Elapsed.TotalSeconds;
            var exited = new List<int>();
            for (var pod = 0; pod < setup.Silos; pod++)
            {
                if (await rig.SiloExitCode(pod, ct) is not null)
                {
                    exited.Add(pod);
                }
            }

            return new ChaosFault(at, back, null, exited.Count == 0 ? "every silo kept running" : $"silos exited: pods {string.Join(", ", exited)}");
        }, ct);
    }

    /// <summary>
    /// The last pod cut off the network for the outage, then healed: silo processes in network namespaces have their
    /// veth link set down (no traffic to or from the pod, Redis included), a silo container is disconnected from the
    /// podman network (<c>podman network disconnect</c>, then <c>connect</c> at its address). When its silo exits
    /// meanwhile (a silo declared dead by the others stops itself), it is started again as a StatefulSet would; the note
    /// says which happened.
    /// </summary>
    private static async Task<ChaosResult> Partition(ChaosSetup setup, CancellationToken ct)
    {
        var victim = setup.Silos - 1;
        await using var rig = await StartRig(setup, TwoReplicas(setup), gateways: 1, network: true, ct);
        return await Measure("one silo cut off the network, then healed", rig.Client, setup, async clock =>
        {
            var at = clock.Elapsed.TotalSeconds;
            await rig.SetLink(victim, up: false, ct);
            double? exitedAt = await WatchExit(rig, victim, clock, TimeSpan.FromSeconds(at) + setup.Outage, ct);
            await rig.SetLink(victim, up: true, ct);
            var healed = clock.Elapsed.TotalSeconds;
            exitedAt ??= await WatchExit(rig, victim, clock, setup.Duration, ct);
            if (exitedAt is not { } exit)
            {
                return new ChaosFault(at, healed, null, "the cut-off silo kept running; no restart was needed");
            }

            var code = await rig.SiloExitCode(victim, ct);
            await rig.RestartSilo(victim, ct);
            return new ChaosFault(at, healed, exit - at, $"the cut-off silo exited (code {code}) {exit - at:F1} s after the cut; restarted {clock.Elapsed.TotalSeconds - at:F1} s after the cut");
        }, ct);
    }

    /// <summary>
    /// kill -9 of the last pod's silo under a plan where it holds the only replica of a third of the experts (those
    /// with (layer + expert) mod pods = the last pod; every other expert on two pods). The silos ask the plan registry
    /// for a repair when the cluster declares the pod dead (<c>PlanRepairTrigger</c>), which rolls out
    /// <c>RepairPlanner</c>'s plan re-placing those experts on the survivors; meanwhile a step that needs one of them
    /// waits for that plan within its deadline. The result also gives the time from the kill until the repair plan was
    /// in effect (the registry's active plan newer than the one published).
    /// </summary>
    private static async Task<ChaosResult> KillSoleReplica(ChaosSetup setup, CancellationToken ct)
    {
        var victim = setup.Silos - 1;
        var plan = SoleReplicas(setup, victim);
        var sole = Enumerable.Range(0, setup.Layers).Sum(l => Enumerable.Range(0, setup.Experts).Count(e => (e + l) % setup.Silos == victim));
        await using var rig = await StartRig(setup, plan, gateways: 1, network: false, ct);
        var registry = rig.Cluster.Grains.GetGrain<IPlanRegistryGrain>(Model);
        return await Measure($"kill -9 of the {rig.Silo} holding the only replicas of some experts", rig.Client, setup, async clock =>
        {
            var at = clock.Elapsed.TotalSeconds;
            await rig.StopSilo(victim, kill: true, ct);
            var code = await WaitForSiloExit(rig, victim, ct);
            var exited = clock.Elapsed.TotalSeconds - at;
            var repaired = await WaitForRepair(registry, plan.Version, TimeSpan.FromSeconds(at) + RepairBound, clock, ct);
            var repairAt = clock.Elapsed.TotalSeconds;
            var what = $"{sole} experts had their only replica on pod {victim} (exit {code})";
            return repaired is null
                ? new ChaosFault(at, null, exited, $"{what}; no repair plan within {RepairBound.TotalSeconds:F0} s of the kill")
                : new ChaosFault(at, null, exited, $"{what}; repair plan {repaired.Version} in effect {repairAt - at:F2} s after the kill", repairAt - at);
        }, ct);
    }

    /// <summary>Every expert on two pods, except those with (layer + expert) mod pods = <paramref name="victim"/>: on that pod only.</summary>
    private static WirePlan SoleReplicas(ChaosSetup setup, int victim) =>
        WirePlan.FromAssignment(Model, 1, setup.Silos, setup.Layers, setup.Experts, (l, e) => (e + l) % setup.Silos == victim ? [victim] : [(e + l) % setup.Silos, (e + l + 1) % setup.Silos]);

    /// <summary>Polls the registry's active plan until one newer than <paramref name="published"/> is in effect, or <paramref name="until"/> on the clock; that plan, or null.</summary>
    private static async Task<WirePlan?> WaitForRepair(IPlanRegistryGrain registry, int published, TimeSpan until, Stopwatch clock, CancellationToken ct)
    {
        while (clock.Elapsed < until)
        {
            try
            {
                if (await registry.GetActive() is { } active && active.Version > published)
                {
                    return active;
                }
            }
            catch (Exception e) when (e is OrleansException or TimeoutException)
            {
                // The registry's activation was on the dead silo: the next call activates it elsewhere.
            }

            await Task.Delay(TimeSpan.FromMilliseconds(100), ct);
        }

        return null;
    }

    /// <summary>Polls pod <paramref name="pod"/>'s silo until <paramref name="until"/> on the clock; the time it exited, or null.</summary>
    private static async Task<double?> WatchExit(IChaosRig rig, int pod, Stopwatch clock, TimeSpan until, CancellationToken ct)
    {
        while (clock.Elapsed < until)
        {
            if (await rig.SiloExitCode(pod, ct) is not null)
            {
                return clock.Elapsed.TotalSeconds;
            }

            await Task.Delay(TimeSpan.FromMilliseconds(100), ct);
        }

        return await rig.SiloExitCode(pod, ct) is null ? null : clock.Elapsed.TotalSeconds;
    }
}
