using System.Diagnostics;
using MoeCloud.Placement.Metrics;

namespace MoeCloud.Placement.Solvers;

/// <summary>
/// DeepSeek's EPLB policy, written from its description (one node group, so the hierarchical step is the global one):
/// per layer, (1) give the R redundant replicas to the experts with the highest load per replica, one at a time;
/// (2) pack replicas, heaviest first, onto the least-loaded pod with a free slot. It optimises expert-load balance only.
/// The objective reported is the mean over layers of (max pod load / mean pod load) predicted from the profile's loads.
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
        var layout = SlotLayout.ComputeOrExplain(problem, out var infeasible);
        if (layout is null)
        {
            return infeasible!;
        }

        var profile = problem.Profile;
        var assignment = new int[profile.Layers][][];
        for (var l = 0; l < profile.Layers; l++)
        {
            var load = profile.Load.AsSpan(l * profile.Experts, profile.Experts);
            var counts = Replication.Counts(load, problem.Redundant, problem.Pods);
            if (Replication.Pack(load, counts, layout[l]) is not { } packed)
            {
                return PlacementResult.Infeasible($"layer {l}: balanced packing cannot place every replica in the slots the capacities leave");
            }

            assignment[l] = packed;
        }

        var imbalance = ExpertLoadImbalance.Predicted(profile, assignment, problem.Pods);
        return PlanBuilder.Result(problem, Name, assignment, SolveStatus.Feasible, imbalance, bound: null, watch.Elapsed, "replicate heaviest, balanced packing");
    }
}
