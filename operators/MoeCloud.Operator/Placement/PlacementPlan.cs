using MoeCloud.Operator.Entities;
using LibraryPlan = MoeCloud.Placement.Plans.PlacementPlan;
using LibraryPlanInfo = MoeCloud.Placement.Plans.PlanInfo;
using LibraryPodSpec = MoeCloud.Placement.Plans.PodSpec;

namespace MoeCloud.Operator.Placement;

/// <summary>
/// An immutable plan as the ExpertPlacement resource stores it: per layer and expert, the pod ordinals of its replicas
/// (pods 0..Pods-1), the primary first and then the redundant ones. At most one replica of an expert per pod.
/// </summary>
public sealed class PlacementPlan
{
    private readonly int[][][] _replicas;

    /// <summary>A plan with one replica per expert: <c>assignment[layer][expert]</c> is its pod.</summary>
    public PlacementPlan(int pods, int[][] assignment)
        : this(pods, Wrap(assignment))
    {
    }

    private PlacementPlan(int pods, int[][][] replicas)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(pods, 1);
        if (replicas.Length == 0 || replicas.Any(l => l is null || l.Length != replicas[0].Length || l.Length == 0))
        {
            throw new ArgumentException("a plan needs at least one layer, and every layer the same non-zero number of experts", nameof(replicas));
        }

        for (var l = 0; l < replicas.Length; l++)
        {
            for (var e = 0; e < replicas[l].Length; e++)
            {
                var r = replicas[l][e];
                if (r is null || r.Length == 0)
                {
                    throw new ArgumentException($"layer {l}, expert {e} has no replica", nameof(replicas));
                }

                if (r.Any(p => p < 0 || p >= pods))
                {
                    throw new ArgumentException($"every expert must be on a pod in 0..{pods - 1} (layer {l}, expert {e} is on {string.Join(", ", r)})", nameof(replicas));
                }

                if (r.Distinct().Count() != r.Length)
                {
                    throw new ArgumentException($"layer {l}, expert {e} has two replicas on one pod ({string.Join(", ", r)})", nameof(replicas));
                }
            }
        }

        Pods = pods;
        _replicas = replicas.Select(l => l.Select(r => r.ToArray()).ToArray()).ToArray();
    }

    public int Pods { get; }

    public int Layers => _replicas.Length;

    public int Experts => _replicas[0].Length;

    /// <summary>The pod of the expert's primary replica.</summary>
    public int PodOf(int layer, int expert) => _replicas[layer][expert][0];

    /// <summary>Pods of every replica of the expert, the primary first.</summary>
    public IReadOnlyList<int> ReplicasOf(int layer, int expert) => _replicas[layer][expert];

    /// <summary>Redundant replicas (beyond one per expert) summed over the layers.</summary>
    public int RedundantReplicas => _replicas.Sum(l => l.Sum(r => r.Length - 1));

    /// <summary>Pods actually holding a replica: the highest ordinal in use + 1.</summary>
    public int PodsInUse => _replicas.SelectMany(l => l).SelectMany(r => r).Max() + 1;

    /// <summary>The primaries' pods, <c>[layer][expert]</c> (a copy).</summary>
    public int[][] ToArrays() => _replicas.Select(l => l.Select(r => r[0]).ToArray()).ToArray();

    /// <summary>Replicas on each pod (0..Pods-1) in one layer.</summary>
    public int[] ReplicasPerPod(int layer)
    {
        var counts = new int[Pods];
        foreach (var p in _replicas[layer].SelectMany(r => r))
        {
            counts[p]++;
        }

        return counts;
    }

    /// <summary>Replicas this plan has that <paramref name="previous"/> lacks: the migration cost in replicas created.</summary>
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
                moves += _replicas[l][e].Count(p => !previous._replicas[l][e].Contains(p));
            }
        }

        return moves;
    }

    /// <summary>
    /// Expert-load imbalance towards <paramref name="pods"/> pods: mean over layers of (max pod load / (layer load /
    /// pods)), each expert's load split evenly over its replicas; a layer without load counts 1.
    /// </summary>
    public double Imbalance(LoadProfile profile, int pods)
    {
        ArgumentNullException.ThrowIfNull(profile);
        ArgumentOutOfRangeException.ThrowIfLessThan(pods, 1);
        profile.EnsureShape(Layers, Experts);
        var total = 0.0;
        for (var l = 0; l < Layers; l++)
        {
            var loads = new double[Math.Max(pods, Pods)];
            for (var e = 0; e < Experts; e++)
            {
                foreach (var p in _replicas[l][e])
                {
                    loads[p] += profile.Load[l][e] / _replicas[l][e].Length;
                }
            }

            var mean = loads.Sum() / pods;
            total += mean > 0 ? loads.Max() / mean : 1.0;
        }

        return total / Layers;
    }

    /// <summary>The plan of an ExpertPlacement spec (primaries from <c>layers[].pods</c>, the rest from <c>layers[].redundant</c>).</summary>
    public static PlacementPlan FromSpec(ExpertPlacementSpec spec)
    {
        ArgumentNullException.ThrowIfNull(spec);
        var layers = spec.Layers.OrderBy(l => l.Layer).ToList();
        var replicas = layers.Select(l => l.Pods.Select(p => new List<int> { p }).ToArray()).ToArray();
        for (var l = 0; l < layers.Count; l++)
        {
            foreach (var r in layers[l].Redundant ?? [])
            {
                if (r.Expert < 0 || r.Expert >= replicas[l].Length)
                {
                    throw new ArgumentException($"layer {layers[l].Layer}: redundant replica of expert {r.Expert}, but the layer has {replicas[l].Length} experts", nameof(spec));
                }

                replicas[l][r.Expert].Add(r.Pod);
            }
        }

        return new PlacementPlan(spec.Pods, replicas.Select(l => l.Select(r => r.ToArray()).ToArray()).ToArray());
    }

    /// <summary>The spec's layers: primaries in <c>pods</c>, the other replicas in <c>redundant</c> (null when there are none).</summary>
    public IList<LayerPlacement> ToSpecLayers() =>
        _replicas.Select((layer, l) =>
        {
            var redundant = layer.SelectMany((r, e) => r.Skip(1).Select(p => new RedundantReplica { Expert = e, Pod = p })).ToList();
            return new LayerPlacement { Layer = l, Pods = layer.Select(r => r[0]).ToList(), Redundant = redundant.Count > 0 ? redundant : null };
        }).ToList();

    /// <summary>The Placement library's view of this plan, every pod with the same capacity (replicas over all layers).</summary>
    public LibraryPlan ToLibrary(int podCapacity, string solver) =>
        new(new LibraryPlanInfo { Solver = solver }, Enumerable.Range(0, Pods).Select(p => new LibraryPodSpec(p, podCapacity)).ToArray(),
            _replicas.Select(l => l.Select(r => r.ToArray()).ToArray()).ToArray());

    /// <summary>A library plan as the operator stores it (its first replica of each expert is the primary).</summary>
    public static PlacementPlan FromLibrary(LibraryPlan plan)
    {
        ArgumentNullException.ThrowIfNull(plan);
        return new PlacementPlan(plan.PodCount, plan.ToAssignment());
    }

    private static int[][][] Wrap(int[][] assignment)
    {
        ArgumentNullException.ThrowIfNull(assignment);
        return assignment.Select(l => (l ?? []).Select(p => new[] { p }).ToArray()).ToArray();
    }
}
