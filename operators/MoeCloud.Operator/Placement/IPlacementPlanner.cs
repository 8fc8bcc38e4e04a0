namespace MoeCloud.Operator.Placement;

/// <summary>
/// The operator's view of placement: an initial plan, and the next plan under a move budget. Kept small so that the
/// Placement library's solvers can stand behind it.
/// </summary>
public interface IPlacementPlanner
{
    /// <summary>The first plan of a deployment: contiguous without a profile, load-balanced with one.</summary>
    PlacementPlan Initial(int layers, int experts, int pods, int capacity, LoadProfile? profile);

    /// <summary>
    /// The next plan on <paramref name="targetPods"/> pods that moves at most <paramref name="maxMoves"/> replicas:
    /// experts on pods at or above <paramref name="targetPods"/> are moved first (scale-in), then the budget left
    /// goes to the moves that most reduce the hottest pod's load (scale-out and rebalancing).
    /// </summary>
    PlanStep Next(PlacementPlan current, int targetPods, int capacity, int maxMoves, LoadProfile profile);
}

/// <summary>
/// A proposed plan with its cost (replicas moved) and predicted effect (expert-load imbalance before and after).
/// <c>Complete</c> is true when no expert is left on a pod at or above the target pod count.
/// </summary>
public sealed record PlanStep(PlacementPlan Plan, int Moves, double ImbalanceBefore, double ImbalanceAfter, bool Complete, string Solver)
{
    /// <summary>Relative drop in imbalance ((before - after) / before).</summary>
    public double Gain => ImbalanceBefore > 0 ? (ImbalanceBefore - ImbalanceAfter) / ImbalanceBefore : 0;
}
