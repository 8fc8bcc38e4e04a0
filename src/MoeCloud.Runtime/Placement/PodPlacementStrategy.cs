using Orleans.Placement;

namespace MoeCloud.Runtime.Placement;

/// <summary>
/// Places a grain on the pod its key names: expert replicas (<c>{model}/{layer}/{expert}@{pod}</c>) and pod agents
/// (key: the pod index). The pod of a silo is the trailing number of its silo name (<c>pod-3</c>, or a StatefulSet pod
/// name such as <c>moecloud-silo-3</c>).
/// </summary>
[Serializable, GenerateSerializer, Immutable, SuppressReferenceTracking]
public sealed class PodPlacementStrategy : PlacementStrategy
{
    /// <summary>The single instance.</summary>
    public static PodPlacementStrategy Instance { get; } = new();
}

/// <summary>Marks a grain class as placed by <see cref="PodPlacementStrategy"/>.</summary>
[AttributeUsage(AttributeTargets.Class, AllowMultiple = false)]
public sealed class PodPlacementAttribute() : PlacementAttribute(PodPlacementStrategy.Instance);
