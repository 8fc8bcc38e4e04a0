using MoeCloud.Placement.Plans;
using Orleans.Concurrency;

namespace MoeCloud.Abstractions;

/// <summary>
/// A placement plan on the wire, in compressed-row form: the pods holding replicas of (layer, expert) are
/// <c>PodIds[Offsets[l * Experts + e] .. Offsets[l * Experts + e + 1])</c>.
/// </summary>
/// <param name="Model">Model name.</param>
/// <param name="Version">Plan version; versions only grow.</param>
/// <param name="Layers">MoE layers.</param>
/// <param name="Experts">Routed experts per layer.</param>
/// <param name="Pods">Pods (silos) the plan places on: pod ids are 0 .. Pods-1.</param>
/// <param name="Offsets">Layers × Experts + 1 offsets into <paramref name="PodIds"/>.</param>
/// <param name="PodIds">Pods of every replica, grouped by (layer, expert).</param>
[GenerateSerializer, Immutable, Alias("moecloud.plan")]
public sealed record WirePlan(
    [property: Id(0)] string Model,
    [property: Id(1)] int Version,
    [property: Id(2)] int Layers,
    [property: Id(3)] int Experts,
    [property: Id(4)] int Pods,
    [property: Id(5)] int[] Offsets,
    [property: Id(6)] int[] PodIds)
{
    /// <summary>The wire form of <paramref name="plan"/> for <paramref name="model"/>, at <paramref name="version"/> (default: the plan's).</summary>
    public static WirePlan From(string model, PlacementPlan plan, int? version = null)
    {
        ArgumentNullException.ThrowIfNull(plan);
        var offsets = new int[(plan.Layers * plan.Experts) + 1];
        var ids = new int[plan.TotalReplicas];
        var n = 0;
        for (var l = 0; l < plan.Layers; l++)
        {
            for (var e = 0; e < plan.Experts; e++)
            {
                var pods = plan.PodsOf(l, e);
                pods.CopyTo(ids.AsSpan(n));
                n += pods.Length;
                offsets[(l * plan.Experts) + e + 1] = n;
            }
        }

        return new WirePlan(model, version ?? plan.Info.Version, plan.Layers, plan.Experts, plan.PodCount, offsets, ids);
    }

    /// <summary>
    /// The wire form of <paramref name="assignment"/> (<c>[layer][expert] → pods</c>, the primary replica first), checked
    /// as a plan without pod capacities (<see cref="PlacementPlan.WithoutCapacities"/>); throws <see cref="ArgumentException"/>.
    /// </summary>
    public static WirePlan FromAssignment(string model, int version, int pods, int[][][] assignment) =>
        From(model, PlacementPlan.WithoutCapacities(new PlanMetadata { Version = version }, pods, assignment));

    /// <summary>The wire form of the plan whose (layer, expert) replicas are on <paramref name="podsOf"/>(layer, expert), checked as above.</summary>
    public static WirePlan FromAssignment(string model, int version, int pods, int layers, int experts, Func<int, int, IEnumerable<int>> podsOf)
    {
        ArgumentNullException.ThrowIfNull(podsOf);
        return FromAssignment(model, version, pods, [.. Enumerable.Range(0, layers).Select(l => Enumerable.Range(0, experts).Select(e => podsOf(l, e).ToArray()).ToArray())]);
    }

    /// <summary>
    /// The Placement library's plan this message carries (pods without capacities), checked by the library's validator.
    /// Throws <see cref="ArgumentException"/> naming the problems, also when the offsets do not describe
    /// <see cref="Layers"/> × <see cref="Experts"/> cells over <see cref="PodIds"/>.
    /// </summary>
    public PlacementPlan ToPlacement()
    {
        var cells = (long)Layers * Experts;
        if (Layers < 1 || Experts < 1 || Offsets is null || PodIds is null || Offsets.LongLength != cells + 1 || Offsets[0] != 0 || Offsets[^1] != PodIds.Length)
        {
            throw new ArgumentException($"Plan offsets must have layers × experts + 1 = {cells + 1} entries rising from 0 to the number of replicas ({PodIds?.Length ?? 0}).");
        }

        var assignment = new int[Layers][][];
        for (var l = 0; l < Layers; l++)
        {
            assignment[l] = new int[Experts][];
            for (var e = 0; e < Experts; e++)
            {
                int start = Offsets[(l * Experts) + e], end = Offsets[(l * Experts) + e + 1];
                if (end < start)
                {
                    throw new ArgumentException($"Plan offsets fall at layer {l}, expert {e}.");
                }

                assignment[l][e] = PodIds[start..end];
            }
        }

        return PlacementPlan.WithoutCapacities(new PlanMetadata { Version = Version, Solver = "live" }, Pods, assignment);
    }
}

/// <summary>Where a plan switch stands.</summary>
/// <param name="Model">Model name.</param>
/// <param name="ActiveVersion">The version every pod serves with (0: none yet).</param>
/// <param name="PendingVersion">A version being rolled out, or null.</param>
/// <param name="Phase">Idle, Warming, Switching, Draining, Retiring or Failed.</param>
/// <param name="ReplicasWarmed">New replicas warmed so far in the pending switch.</param>
/// <param name="ReplicasRetired">Old replicas retired so far.</param>
/// <param name="ReplicasMoved">Replicas that differ between the active and the pending plan (added plus removed).</param>
[GenerateSerializer, Immutable, Alias("moecloud.plan-status")]
public sealed record PlanRolloutStatus(
    [property: Id(0)] string Model,
    [property: Id(1)] int ActiveVersion,
    [property: Id(2)] int? PendingVersion,
    [property: Id(3)] string Phase,
    [property: Id(4)] int ReplicasWarmed,
    [property: Id(5)] int ReplicasRetired,
    [property: Id(6)] int ReplicasMoved)
{
    /// <summary>The last version whose rollout failed (the active plan kept serving), or null.</summary>
    [Id(7)]
    public int? FailedVersion { get; init; }

    /// <summary>Why <see cref="FailedVersion"/> failed.</summary>
    [Id(8)]
    public string? Error { get; init; }

    /// <summary>The rollout policy of the version in effect (or being rolled out).</summary>
    [Id(9)]
    public RolloutPolicy? Policy { get; init; }

    /// <summary>The most new replicas that were warming at the same time in the last rollout.</summary>
    [Id(10)]
    public int PeakWarmups { get; init; }

    /// <summary>Steps still running on the previous plan when the last drain stopped waiting (0: drained).</summary>
    [Id(11)]
    public int Undrained { get; init; }

    /// <summary>Versions accepted by <see cref="IPlanRegistryGrain.Start"/> whose rollout has not begun yet.</summary>
    [Id(12)]
    public IReadOnlyList<int> Queued { get; init; } = [];
}

/// <summary>
/// The plan registry of one model (key: model name): publishes plan versions with make-before-break —
/// warm the replicas new to a pod, switch every pod, then retire the replicas that left.
/// </summary>
[Alias("moecloud.plan-registry")]
public interface IPlanRegistryGrain : IGrainWithStringKey
{
    /// <summary>
    /// Rolls <paramref name="plan"/> out and returns when every pod serves it. A rollout under load warms a few
    /// replicas at a time and can take minutes, hence the long response timeout; <see cref="GetStatus"/> reports progress.
    /// </summary>
    [Alias("publish")]
    [ResponseTimeout("00:30:00")]
    Task<PlanRolloutStatus> Publish(WirePlan plan, RolloutPolicy policy);

    /// <summary>
    /// Checks <paramref name="plan"/> and <paramref name="policy"/>, queues the rollout and returns at once: the version
    /// is in <see cref="PlanRolloutStatus.Queued"/> until its rollout starts, and <see cref="GetStatus"/> follows it from
    /// there (the admin API's PUT). Throws <see cref="ArgumentException"/> for a plan that cannot be rolled out.
    /// </summary>
    [Alias("start")]
    Task<PlanRolloutStatus> Start(WirePlan plan, RolloutPolicy policy);

    /// <summary>
    /// Asks for a repair (DESIGN.md §5, failures) and returns at once: after the rollout in progress, if any, when the
    /// active plan has experts whose every replica is on a pod without an active silo, the registry rolls out the
    /// Placement library's repair plan (<c>RepairPlanner</c>, version active + 1) like any plan; otherwise nothing
    /// happens, so asking twice for one death repairs once. <paramref name="served"/> is the plan the asking pod serves:
    /// a registry that lost its state (its silo died) takes it as the active plan.
    /// </summary>
    [Alias("repair")]
    Task Repair(WirePlan? served);

    /// <summary>The plan every pod serves with, or null before the first publish.</summary>
    [Alias("active")]
    Task<WirePlan?> GetActive();

    /// <summary>The rollout state.</summary>
    [Alias("status")]
    Task<PlanRolloutStatus> GetStatus();
}

/// <summary>
/// The plan agent of one pod (key: the pod index as text), placed on that pod's silo: sets the silo's plan snapshot.
/// </summary>
[Alias("moecloud.pod-agent")]
public interface IPodAgentGrain : IGrainWithStringKey
{
    /// <summary>Makes <paramref name="plan"/> the pod's active plan; returns the silo name that adopted it.</summary>
    [Alias("adopt")]
    Task<string> Adopt(WirePlan plan);

    /// <summary>
    /// The plan of <paramref name="model"/> the pod's silo serves, or null when it serves none: a plan registry whose
    /// silo left (scale-in, a crash) activates elsewhere without state, and takes the newest of these as its active plan.
    /// </summary>
    [Alias("served")]
    Task<WirePlan?> Served(string model);

    /// <summary>
    /// The addresses the pod's silo serves on, advertised for the gateway's membership-based discovery. An agent that
    /// finds itself on another pod's silo (placed there while its own pod was away) deactivates so that the next call
    /// lands on the right silo.
    /// </summary>
    [Alias("describe")]
    Task<PodEndpoints> Describe();

    /// <summary>
    /// Waits until no request step of <paramref name="model"/> that started on a plan older than
    /// <paramref name="version"/> still runs on this pod, or until <paramref name="timeout"/> passed; returns the steps
    /// still running then (0 when drained).
    /// </summary>
    [Alias("drain")]
    [AlwaysInterleave]
    [ResponseTimeout("01:05:00")]
    Task<int> Drain(string model, int version, TimeSpan timeout);
}

/// <summary>How a plan version is rolled out (the MoeDeployment's <c>spec.migration</c>).</summary>
/// <param name="BatchSize">Most new replicas warmed at once while a plan serves (the first plan warms at full width).</param>
/// <param name="Drain">Most time to wait, after every pod switched, for steps still running on the previous plan before its replicas retire.</param>
[GenerateSerializer, Immutable, Alias("moecloud.rollout-policy")]
public sealed record RolloutPolicy([property: Id(0)] int BatchSize, [property: Id(1)] TimeSpan Drain)
{
    /// <summary>The MoeDeployment CRD's defaults: 8 replicas at a time, 30 s of drain.</summary>
    public static RolloutPolicy Default { get; } = new(8, TimeSpan.FromSeconds(30));
}

/// <summary>Where a pod's silo serves.</summary>
/// <param name="SiloName">The silo that answered (its trailing number is its pod).</param>
/// <param name="Runner">The runner API (gRPC over HTTP/2).</param>
/// <param name="Ops">The ops endpoint (<c>/healthz</c>, <c>/readyz</c>, <c>/metrics</c>; HTTP/1.1).</param>
[GenerateSerializer, Immutable, Alias("moecloud.pod-endpoints")]
public sealed record PodEndpoints([property: Id(0)] string SiloName, [property: Id(1)] string Runner, [property: Id(2)] string Ops)
{
    /// <summary>The expert backend the silo runs (for example <c>cpu-avx2-fma</c>); null from a silo that does not say.</summary>
    [Id(3)]
    public string? ExpertBackend { get; init; }
}
