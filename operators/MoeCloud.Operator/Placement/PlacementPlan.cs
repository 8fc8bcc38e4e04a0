using MoeCloud.Operator.Entities;

namespace MoeCloud.Operator.Placement;

/// <summary>
/// An immutable plan: the pod ordinal of each expert's primary replica, per layer
/// (<c>Assignment[layer][expert]</c>, pods 0..Pods-1).
/// </summary>
public sealed class PlacementPlan
{
    private readonly int[][] _assignment;

    public PlacementPlan(int pods, int[][] assignment)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(pods, 1);
        ArgumentNullException.ThrowIfNull(assignment);
        if (assignment.Length == 0 || assignment.Any(l => l.Length != assignment[0].Length || l.Length == 0))
        {
            throw new ArgumentException("a plan needs at least one layer, and every layer the same non-zero number of experts", nameof(assignment));
        }

        if (assignment.SelectMany(l => l).Any(p => p < 0 || p >= pods))
        {
            throw new ArgumentException($"every expert must be on a pod in 0..{pods - 1}", nameof(assignment));
        }

        Pods = pods;
        _assignment = assignment.Select(l => l.ToArray()).ToArray();
    }

    public int Pods { get; }

    public int Layers => _assignment.Length;

    public int Experts => _assignment[0].Length;

    public int PodOf(int layer, int expert) => _assignment[layer][expert];

    /// <summary>Pods actually holding an expert: the highest ordinal in use + 1.</summary>
    public int PodsInUse => _assignment.SelectMany(l => l).Max() + 1;

    public int[][] ToArrays() => _assignment.Select(l => l.ToArray()).ToArray();

    /// <summary>Expert replicas whose pod differs between the two plans (the migration cost in replicas).</summary>
    public int MovesFrom(PlacementPlan previous)
    {
        ArgumentNullException.ThrowIfNull(previous);
        if (previous.Layers != Layers || previous.Experts != Experts)
        {
            throw new ArgumentException("plans of different shapes cannot be compared", nameof(previous));
        }

        var moves = 0;
        for (var l = 0; l < Layers; l++)
        {
            for (var e = 0; e < Experts; e++)
            {
                moves += _assignment[l][e] != previous._assignment[l][e] ? 1 : 0;
            }
        }

        return moves;
    }

    /// <summary>Expert-load imbalance on <paramref name="pods"/> pods: mean over layers of (max pod load / mean pod load).</summary>
    public double Imbalance(LoadProfile profile, int pods)
    {
        var total = 0.0;
        for (var l = 0; l < Layers; l++)
        {
            var loads = new double[Math.Max(pods, PodsInUse)];
            for (var e = 0; e < Experts; e++)
            {
                loads[_assignment[l][e]] += profile.Load[l][e];
            }

            var mean = loads.Take(pods).Sum() / pods;
            total += mean > 0 ? loads.Max() / mean : 1.0;
        }

        return total / Layers;
    }

    public static PlacementPlan FromSpec(ExpertPlacementSpec spec)
    {
        ArgumentNullException.ThrowIfNull(spec);
        return new PlacementPlan(spec.Pods, spec.Layers.OrderBy(l => l.Layer).Select(l => l.Pods.ToArray()).ToArray());
    }

    public IList<LayerPlacement> ToSpecLayers() =>
        _assignment.Select((pods, layer) => new LayerPlacement { Layer = layer, Pods = pods.ToList() }).ToList();
}
