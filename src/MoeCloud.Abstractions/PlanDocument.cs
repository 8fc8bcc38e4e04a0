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
public sealed record PlanDocument(
    [property: Id(0)] string Model,
    [property: Id(1)] int Version,
    [property: Id(2)] int Layers,
    [property: Id(3)] int Experts,
    [property: Id(4)] int Pods,
    [property: Id(5)] int[] Offsets,
    [property: Id(6)] int[] PodIds);

/// <summary>Where a plan switch stands.</summary>
/// <param name="Model">Model name.</param>
/// <param name="ActiveVersion">The version every pod serves with (0: none yet).</param>
/// <param name="PendingVersion">A version being rolled out, or null.</param>
/// <param name="Phase">Idle, Warming, Switching, Retiring or Failed.</param>
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
    Task<PlanRolloutStatus> Publish(PlanDocument plan);

    /// <summary>The plan every pod serves with, or null before the first publish.</summary>
    [Alias("active")]
    Task<PlanDocument?> GetActive();

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
    Task<string> Adopt(PlanDocument plan);

    /// <summary>
    /// The addresses the pod's silo serves on, advertised for the gateway's membership-based discovery. An agent that
    /// finds itself on another pod's silo (placed there while its own pod was away) deactivates so that the next call
    /// lands on the right silo.
    /// </summary>
    [Alias("describe")]
    Task<PodEndpoints> Describe();
}

/// <summary>Where a pod's silo serves.</summary>
/// <param name="SiloName">The silo that answered (its trailing number is its pod).</param>
/// <param name="Runner">The runner API (gRPC over HTTP/2).</param>
/// <param name="Ops">The ops endpoint (<c>/healthz</c>, <c>/readyz</c>, <c>/metrics</c>; HTTP/1.1).</param>
[GenerateSerializer, Immutable, Alias("moecloud.pod-endpoints")]
public sealed record PodEndpoints([property: Id(0)] string SiloName, [property: Id(1)] string Runner, [property: Id(2)] string Ops);
