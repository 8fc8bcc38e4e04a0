using MoeCloud.Placement.Solvers;

namespace MoeCloud.Placement.Plans;

/// <summary>One pod of a plan: its id (0-based, dense) and its capacity in expert replicas over all layers.</summary>
/// <param name="Id">Pod id, equal to its index in <see cref="PlacementPlan.Pods"/>.</param>
/// <param name="Capacity">Most expert replicas the pod may hold (all layers together).</param>
public sealed record PodSpec(int Id, int Capacity);

/// <summary>One expert replica: (layer, expert) and its replica index among that expert's replicas.</summary>
/// <param name="Layer">MoE layer.</param>
/// <param name="Expert">Expert within the layer.</param>
/// <param name="Replica">Replica index (0 = primary).</param>
public readonly record struct ReplicaRef(int Layer, int Expert, int Replica);

/// <summary>How a plan was solved.</summary>
/// <param name="Status">Solver outcome.</param>
/// <param name="Objective">The solver's objective on the fitting profile (solver-specific units; see the solver).</param>
/// <param name="Bound">A bound on <paramref name="Objective"/> where the solver proves one, else null.</param>
/// <param name="Seconds">Wall time spent.</param>
/// <param name="Note">A line of detail (iterations, relaxations, why it stopped).</param>
public sealed record SolveSummary(SolveStatus Status, double Objective, double? Bound, double Seconds, string Note);

/// <summary>
/// An immutable placement: every (layer, expert) maps to one or more distinct pods (its replicas), each pod holds at
/// most its capacity. Lookups are O(1): <see cref="PodsOf"/> gives replica index → pod for an expert, and
/// <see cref="ReplicasOn"/> gives a pod's replicas. Construction validates everything and throws
/// <see cref="ArgumentException"/> naming the first problems found.
/// </summary>
public sealed class PlacementPlan : IReplicaLookup
{
    private readonly int[] _offsets;
    private readonly int[] _pods;
    private readonly ReplicaRef[][] _byPod;
    private readonly ulong[][] _podMask;

    /// <summary>Creates a plan; <paramref name="assignment"/> is <c>[layer][expert] → pods</c>.</summary>
    public PlacementPlan(PlanMetadata info, IReadOnlyList<PodSpec> pods, int[][][] assignment)
    {
        ArgumentNullException.ThrowIfNull(info);
        ArgumentNullException.ThrowIfNull(pods);
        ArgumentNullException.ThrowIfNull(assignment);
        var problems = PlanValidator.Problems(pods, assignment);
        if (problems.Count > 0)
        {
            throw new ArgumentException(string.Join("; ", problems.Take(5)) + (problems.Count > 5 ? $" (and {problems.Count - 5} more)" : ""), nameof(assignment));
        }

        Info = info;
        Pods = pods.ToArray();
        Layers = assignment.Length;
        Experts = assignment[0].Length;
        _offsets = new int[(Layers * Experts) + 1];
        var flat = new List<int>();
        var byPod = Enumerable.Range(0, Pods.Count).Select(_ => new List<ReplicaRef>()).ToArray();
        var words = (Experts + 63) / 64;
        _podMask = Enumerable.Range(0, Pods.Count).Select(_ => new ulong[Layers * words]).ToArray();
        for (var l = 0; l < Layers; l++)
        {
            for (var e = 0; e < Experts; e++)
            {
                _offsets[(l * Experts) + e] = flat.Count;
                var replicas = assignment[l][e];
                for (var r = 0; r < replicas.Length; r++)
                {
                    var p = replicas[r];
                    flat.Add(p);
                    byPod[p].Add(new ReplicaRef(l, e, r));
                    _podMask[p][(l * words) + (e >> 6)] |= 1UL << (e & 63);
                }
            }
        }

        _offsets[^1] = flat.Count;
        _pods = flat.ToArray();
        _byPod = byPod.Select(b => b.ToArray()).ToArray();
        Redundant = (_pods.Length - (Layers * Experts)) / Layers;
    }

    /// <summary>
    /// A plan received without pod capacities (over the wire, from a custom resource): every pod may hold as many
    /// replicas as the plan has; everything else is checked as for any plan.
    /// </summary>
    public static PlacementPlan WithoutCapacities(PlanMetadata info, int pods, int[][][] assignment)
    {
        ArgumentNullException.ThrowIfNull(assignment);
        ArgumentOutOfRangeException.ThrowIfLessThan(pods, 1);
        var replicas = assignment.Sum(l => l?.Sum(e => e?.Length ?? 0) ?? 0);
        return new PlacementPlan(info, Enumerable.Range(0, pods).Select(p => new PodSpec(p, replicas)).ToArray(), assignment);
    }

    /// <summary>Version, solver, provenance and predicted metrics.</summary>
    public PlanMetadata Info { get; }

    /// <summary>Pods, by id.</summary>
    public IReadOnlyList<PodSpec> Pods { get; }

    /// <summary>Pod count.</summary>
    public int PodCount => Pods.Count;

    /// <summary>MoE layers.</summary>
    public int Layers { get; }

    /// <summary>Experts per layer.</summary>
    public int Experts { get; }

    /// <summary>Redundant replicas per layer on average (total replicas − layers × experts) / layers.</summary>
    public int Redundant { get; }

    /// <summary>All replicas.</summary>
    public int TotalReplicas => _pods.Length;

    /// <summary>The pods holding replicas of (layer, expert): replica index → pod.</summary>
    public ReadOnlySpan<int> PodsOf(int layer, int expert)
    {
        var i = (layer * Experts) + expert;
        return _pods.AsSpan(_offsets[i], _offsets[i + 1] - _offsets[i]);
    }

    /// <summary>The replicas a pod holds, ordered by layer then expert.</summary>
    public IReadOnlyList<ReplicaRef> ReplicasOn(int pod) => _byPod[pod];

    /// <summary>Whether <paramref name="pod"/> holds a replica of (layer, expert).</summary>
    public bool Holds(int pod, int layer, int expert)
    {
        var words = (Experts + 63) / 64;
        return (_podMask[pod][(layer * words) + (expert >> 6)] & (1UL << (expert & 63))) != 0;
    }

    /// <summary>The most replicas on any pod.</summary>
    public int ReplicasPerPodMax => _byPod.Max(r => r.Length);

    /// <summary>The assignment as <c>[layer][expert] → pods</c> (a copy).</summary>
    public int[][][] ToAssignment() =>
        Enumerable.Range(0, Layers).Select(l => Enumerable.Range(0, Experts).Select(e => PodsOf(l, e).ToArray()).ToArray()).ToArray();

    /// <summary>The same assignment with other metadata.</summary>
    public PlacementPlan WithInfo(PlanMetadata info) => new(info, Pods, ToAssignment());

    /// <summary>Replicas on each pod (0..PodCount-1) in <paramref name="layer"/>.</summary>
    public int[] ReplicasPerPod(int layer)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(layer);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(layer, Layers);
        var counts = new int[PodCount];
        foreach (var p in _pods.AsSpan(_offsets[layer * Experts], _offsets[(layer + 1) * Experts] - _offsets[layer * Experts]))
        {
            counts[p]++;
        }

        return counts;
    }

    /// <summary>
    /// Replicas present in <paramref name="next"/> but not here: the replicas a migration must create (the migration cost
    /// of DESIGN.md §2). The plans may have different pod counts (a scaling step): a replica of <paramref name="next"/> on a
    /// pod this plan lacks, or on a pod that does not hold that expert here, is a move; replicas only this plan has are
    /// dropped, not moved. Throws <see cref="ArgumentException"/> when layers or experts differ.
    /// </summary>
    public int MovesTo(PlacementPlan next)
    {
        ArgumentNullException.ThrowIfNull(next);
        if (next.Layers != Layers || next.Experts != Experts)
        {
            throw new ArgumentException($"plans differ in shape ([{Layers} x {Experts}] vs [{next.Layers} x {next.Experts}]).", nameof(next));
        }

        var moves = 0;
        for (var l = 0; l < Layers; l++)
        {
            for (var e = 0; e < Experts; e++)
            {
                foreach (var p in next.PodsOf(l, e))
                {
                    moves += p < PodCount && Holds(p, l, e) ? 0 : 1;
                }
            }
        }

        return moves;
    }
}
