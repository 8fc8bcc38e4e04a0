using System.Diagnostics;
using MoeCloud.Placement.Metrics;
using MoeCloud.Placement.Plans;

namespace MoeCloud.Placement.Solvers;

/// <summary>
/// DeepSeek's EPLB (<see cref="EplbPolicy"/>), per layer, in the mode the problem asks for: with
/// <see cref="PlacementProblem.Groups"/> and <see cref="PlacementProblem.Nodes"/> the hierarchical policy (groups packed
/// to nodes, then replication and packing within each node), else the global one (replicate the heaviest experts by load
/// per replica, then pack replicas, heaviest first, onto the least-loaded pod with a free slot). It optimises
/// expert-load balance only. The objective reported is the mean over layers of (max pod load / mean pod load) predicted
/// from the profile's loads.
/// </summary>
public sealed class EplbSolver : IPlacementSolver
{
    /// <inheritdoc />
    public string Name => "eplb";

    /// <inheritdoc />
    public PlacementResult Solve(PlacementProblem problem, IProgress<string>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(problem);
        var watch = Stopwatch.StartNew();
        if (Layouts(problem, out var infeasible) is not { } layouts)
        {
            return infeasible!;
        }

        var assignment = layouts.Select(layer => layer.PodsOf).ToArray();
        var imbalance = ExpertLoadImbalance.Predicted(problem.Profile, assignment, problem.Pods);
        var note = problem.Groups is { } groups
            ? $"hierarchical: {groups} groups on {problem.Nodes} nodes, replicate heaviest per node, balanced packing"
            : "global: replicate heaviest, balanced packing";
        return PlanBuilder.Result(problem, Name, assignment, SolveStatus.Feasible, imbalance, bound: null, watch.Elapsed, note);
    }

    /// <summary>
    /// The plan in DeepSeek's <c>phy2log</c> form: <c>[layer][physical replica] → expert</c>, physical replicas ordered by
    /// pod (0..P−1, the original's GPUs) and then by slot on the pod (the order the packing filled it); null when the
    /// problem is infeasible (<see cref="Solve"/> says why). The plan <see cref="Solve"/> returns holds the same replicas.
    /// For any plan (not only EPLB's), <see cref="PhysicalExpertMap.FromPlan"/> gives the map an engine loads.
    /// </summary>
    public static int[][]? PhysicalToLogical(PlacementProblem problem)
    {
        ArgumentNullException.ThrowIfNull(problem);
        return Layouts(problem, out _)?.Select(layer => PhysicalExpertMap.Concatenate(layer.OnPod)).ToArray();
    }

    /// <summary>Every layer placed, or null with the infeasible result.</summary>
    private static EplbLayer[]? Layouts(PlacementProblem problem, out PlacementResult? infeasible)
    {
        if (SlotLayout.ComputeOrExplain(problem, out infeasible) is not { } slots)
        {
            return null;
        }

        var profile = problem.Profile;
        var layouts = new EplbLayer[profile.Layers];
        for (var l = 0; l < profile.Layers; l++)
        {
            var load = profile.Load.AsSpan(l * profile.Experts, profile.Experts);
            if (EplbPolicy.Place(load, slots[l], problem.Groups ?? 1, problem.Nodes ?? 1, out var why) is not { } layer)
            {
                infeasible = PlacementResult.Infeasible($"layer {l}: {why}");
                return null;
            }

            layouts[l] = layer;
        }

        return layouts;
    }
}
