using Microsoft.Extensions.Logging;
using MoeCloud.Abstractions;
using Orleans.Placement;
using Orleans.Runtime;
using Orleans.Runtime.Placement;

namespace MoeCloud.Runtime.Placement;

/// <summary>
/// Places a control-plane grain (the plan registry, the telemetry) on the member silo with the lowest pod index.
/// Scale-in and standby removal always stop the highest pods, so these grains, whose state lives in memory, are not on a
/// pod that leaves on purpose; only a crash of the lowest pod moves them (the registry then recovers through repair).
/// </summary>
[Serializable, GenerateSerializer, Immutable, SuppressReferenceTracking]
public sealed class LowestPodPlacementStrategy : PlacementStrategy
{
    /// <summary>The single instance.</summary>
    public static LowestPodPlacementStrategy Instance { get; } = new();
}

/// <summary>Marks a grain class as placed by <see cref="LowestPodPlacementStrategy"/>.</summary>
[AttributeUsage(AttributeTargets.Class, AllowMultiple = false)]
public sealed class LowestPodPlacementAttribute() : PlacementAttribute(LowestPodPlacementStrategy.Instance);

/// <summary>Chooses the compatible silo whose name has the lowest pod index (ties and unnamed silos: by address).</summary>
public sealed class LowestPodPlacementDirector(IClusterMembershipService membership) : IPlacementDirector
{
    /// <inheritdoc />
    public Task<SiloAddress> OnAddActivation(PlacementStrategy strategy, PlacementTarget target, IPlacementContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var compatible = context.GetCompatibleSilos(target);
        if (compatible.Length == 0)
        {
            throw new OrleansException($"No silo can host {target.GrainIdentity}: the cluster has no compatible silo.");
        }

        var snapshot = membership.CurrentSnapshot;
        return Task.FromResult(Lowest(compatible.Select(s => (s, snapshot.Members.TryGetValue(s, out var m) ? m.Name : null))));
    }

    /// <summary>The silo with the lowest pod index by its name; silos whose name gives no pod come last.</summary>
    public static SiloAddress Lowest(IEnumerable<(SiloAddress Silo, string? Name)> silos) =>
        silos.OrderBy(s => PodNames.PodOfSiloName(s.Name) is var pod && pod >= 0 ? pod : int.MaxValue)
            .ThenBy(s => s.Silo.ToString(), StringComparer.Ordinal)
            .First().Silo;
}
