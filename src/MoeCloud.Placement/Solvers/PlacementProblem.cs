using MoeCloud.Placement.Profiles;

namespace MoeCloud.Placement.Solvers;

/// <summary>
/// What a solver is asked: place every (layer, expert) of <see cref="Profile"/> on <see cref="Pods"/> pods with
/// <see cref="Redundant"/> extra replicas per layer (E + R replicas per layer, spread as evenly over the pods as the
/// capacities allow), at most one replica of an expert per pod, and at most <see cref="Capacities"/>[p] replicas on pod p.
/// <see cref="Groups"/> and <see cref="Nodes"/>, given together, ask the eplb solver for DeepSeek's hierarchical policy.
/// </summary>
public sealed record PlacementProblem
{
    /// <summary>Creates a problem; throws <see cref="ArgumentException"/> on malformed values (not on infeasible ones).</summary>
    /// <param name="profile">The workload to place.</param>
    /// <param name="pods">Pod count G.</param>
    /// <param name="redundant">Redundant replicas per layer R.</param>
    /// <param name="capacities">Capacity of each pod over all layers (default: an even share, rounded up).</param>
    /// <param name="groups">Expert groups per layer (experts split evenly, group g holds experts g × E/groups onward); with
    /// <paramref name="nodes"/> only.</param>
    /// <param name="nodes">Nodes the pods form (pods split evenly, node n holds pods n × G/nodes onward); it must divide
    /// <paramref name="groups"/>, as DeepSeek's hierarchical policy packs the same number of whole groups on each node.</param>
    public PlacementProblem(WorkloadProfile profile, int pods, int redundant = 0, IReadOnlyList<int>? capacities = null, int? groups = null, int? nodes = null)
    {
        ArgumentNullException.ThrowIfNull(profile);
        if (pods <= 0)
        {
            throw new ArgumentException($"pods must be positive (got {pods}).", nameof(pods));
        }

        if (redundant < 0)
        {
            throw new ArgumentException($"redundant replicas must not be negative (got {redundant}).", nameof(redundant));
        }

        if (capacities is not null && capacities.Count != pods)
        {
            throw new ArgumentException($"{capacities.Count} capacities given for {pods} pods (give one per pod, or one for all).", nameof(capacities));
        }

        if (capacities is not null && capacities.Any(c => c < 0))
        {
            throw new ArgumentException("capacities must not be negative.", nameof(capacities));
        }

        CheckHierarchy(profile.Experts, pods, groups, nodes);
        Profile = profile;
        Pods = pods;
        Groups = groups;
        Nodes = nodes;
        Redundant = redundant;
        var perLayer = (profile.Experts + redundant + pods - 1) / pods;
        Capacities = capacities?.ToArray() ?? Enumerable.Repeat(perLayer * profile.Layers, pods).ToArray();
    }

    /// <summary>The workload to place.</summary>
    public WorkloadProfile Profile { get; }

    /// <summary>Pod count G.</summary>
    public int Pods { get; }

    /// <summary>Redundant replicas per layer R.</summary>
    public int Redundant { get; }

    /// <summary>Expert groups per layer for EPLB's hierarchical policy, or null (the global policy); set with <see cref="Nodes"/>.</summary>
    public int? Groups { get; }

    /// <summary>Nodes (each <see cref="Pods"/> / Nodes consecutive pods) for EPLB's hierarchical policy, or null; set with <see cref="Groups"/>.</summary>
    public int? Nodes { get; }

    /// <summary>Capacity of each pod in replicas over all layers (default: an even share, rounded up).</summary>
    public IReadOnlyList<int> Capacities { get; }

    /// <summary>Seed of every random choice (the solver is deterministic for a seed).</summary>
    public int Seed { get; init; } = 1;

    /// <summary>
    /// Wall-clock guard for solvers that search (ilp): a solve still running after it stops with its best plan so far
    /// (status TimedOut). The ilp's work is set by <see cref="IlpOptions.DeterministicSeconds"/>, not by this limit.
    /// </summary>
    public TimeSpan TimeLimit { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>Clock for plan timestamps and for the ilp's wall-clock guard (<see cref="TimeLimit"/>).</summary>
    public TimeProvider Time { get; init; } = TimeProvider.System;

    /// <summary>Replicas per layer, E + R.</summary>
    public int ReplicasPerLayer => Profile.Experts + Redundant;

    /// <summary>
    /// Why the problem has no solution, or null: R beyond E × (G − 1) (an expert cannot have two replicas on one pod),
    /// or capacities that cannot hold L × (E + R) replicas.
    /// </summary>
    public string? Infeasibility()
    {
        int layers = Profile.Layers, experts = Profile.Experts;
        if ((long)Redundant > (long)experts * (Pods - 1))
        {
            return $"{Redundant} redundant replicas per layer cannot fit: with {Pods} pods an expert has at most {Pods} replicas, so at most {(long)experts * (Pods - 1)} redundant ones";
        }

        var needed = (long)layers * ReplicasPerLayer;
        var usable = Capacities.Sum(c => Math.Min((long)c, (long)layers * experts));
        return usable < needed
            ? $"the pods' capacities hold {Capacities.Sum(c => (long)c)} replicas (at most {experts} per pod and layer), the plan needs {layers} layers x {ReplicasPerLayer} = {needed}"
            : null;
    }

    private static void CheckHierarchy(int experts, int pods, int? groups, int? nodes)
    {
        if (groups is null && nodes is null)
        {
            return;
        }

        if (groups is not { } g || nodes is not { } n)
        {
            throw new ArgumentException($"groups and nodes go together: give both for the hierarchical policy, neither for the global one (got {(groups is null ? "nodes" : "groups")} only).", groups is null ? nameof(groups) : nameof(nodes));
        }

        if (g < 1 || n < 1)
        {
            throw new ArgumentException($"groups and nodes must be positive (got {g} groups, {n} nodes).", g < 1 ? nameof(groups) : nameof(nodes));
        }

        if (experts % g != 0)
        {
            throw new ArgumentException($"{experts} experts per layer do not split into {g} groups of equal size.", nameof(groups));
        }

        if (pods % n != 0)
        {
            throw new ArgumentException($"{pods} pods do not split into {n} nodes of equal size.", nameof(nodes));
        }

        if (g % n != 0)
        {
            throw new ArgumentException($"{g} groups do not spread evenly over {n} nodes: the hierarchical policy puts the same number of whole groups on each node, so nodes must divide groups.", nameof(nodes));
        }
    }
}
