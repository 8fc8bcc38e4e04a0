using MoeCloud.Contracts.Admin;
using MoeCloud.Operator.Entities;
using MoeCloud.Placement.Plans;

namespace MoeCloud.Operator.Placement;

/// <summary>
/// The one mapping between an ExpertPlacement's spec (per layer: the primary pod of each expert in <c>pods</c>, the
/// other replicas in <c>redundant</c>) and the Placement library's <see cref="PlacementPlan"/> (<c>[layer][expert] →
/// pods</c>, the primary first), and from it to the admin contract's <see cref="PlanPublication"/>.
/// </summary>
public static class ExpertPlacementMapping
{
    /// <summary>
    /// The plan an ExpertPlacement stores (pods without capacities: they were checked when it was solved). Throws
    /// <see cref="ArgumentException"/> naming the problem when the spec is not a valid plan.
    /// </summary>
    public static PlacementPlan ToPlan(ExpertPlacementSpec spec) =>
        PlacementPlan.WithoutCapacities(new PlanMetadata { Version = spec.Version, Solver = spec.Solver ?? "" }, spec.Pods, ToAssignment(spec));

    /// <summary>The spec's <c>[layer][expert] → pods</c>, the primary first; throws <see cref="ArgumentException"/>.</summary>
    public static int[][][] ToAssignment(ExpertPlacementSpec spec)
    {
        ArgumentNullException.ThrowIfNull(spec);
        var layers = spec.Layers.OrderBy(l => l.Layer).ToList();
        if (layers.Count == 0 || layers.Select(l => l.Layer).Where((l, i) => l != i).Any())
        {
            throw new ArgumentException($"the placement's layers must be numbered 0..{layers.Count - 1} (got {string.Join(", ", layers.Select(l => l.Layer))})", nameof(spec));
        }

        var replicas = layers.Select(l => l.Pods.Select(p => new List<int> { p }).ToArray()).ToArray();
        for (var l = 0; l < layers.Count; l++)
        {
            foreach (var r in layers[l].Redundant ?? [])
            {
                if (r.Expert < 0 || r.Expert >= replicas[l].Length)
                {
                    throw new ArgumentException($"layer {l}: redundant replica of expert {r.Expert}, but the layer has {replicas[l].Length} experts", nameof(spec));
                }

                replicas[l][r.Expert].Add(r.Pod);
            }
        }

        return [.. replicas.Select(l => l.Select(r => r.ToArray()).ToArray())];
    }

    /// <summary>The spec's layers of <paramref name="plan"/>: primaries in <c>pods</c>, the other replicas in <c>redundant</c> (null when none).</summary>
    public static IList<LayerPlacement> ToLayers(PlacementPlan plan)
    {
        ArgumentNullException.ThrowIfNull(plan);
        return [.. Enumerable.Range(0, plan.Layers).Select(l =>
        {
            var redundant = Enumerable.Range(0, plan.Experts).SelectMany(e => plan.PodsOf(l, e)[1..].ToArray().Select(p => new RedundantReplica { Expert = e, Pod = p })).ToList();
            return new LayerPlacement { Layer = l, Pods = [.. Enumerable.Range(0, plan.Experts).Select(e => plan.PodsOf(l, e)[0])], Redundant = redundant.Count > 0 ? redundant : null };
        })];
    }

    /// <summary>The admin contract's body that publishes <paramref name="spec"/> with the deployment's migration policy.</summary>
    public static PlanPublication ToPublication(ExpertPlacementSpec spec, MigrationPolicy migration)
    {
        ArgumentNullException.ThrowIfNull(spec);
        ArgumentNullException.ThrowIfNull(migration);
        return new PlanPublication(spec.Version, spec.PreviousVersion, spec.Pods, ToAssignment(spec), migration.BatchSize, migration.DrainSeconds);
    }
}
