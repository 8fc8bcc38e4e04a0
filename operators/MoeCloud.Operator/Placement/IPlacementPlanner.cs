using MoeCloud.Placement.Plans;
using MoeCloud.Placement.Profiles;

namespace MoeCloud.Operator.Placement;

/// <summary>
/// The operator's view of placement: an initial plan, and the next plan under a move budget. <see cref="LibraryPlanner"/>
/// implements it with the Placement library's solvers.
/// </summary>
public interface IPlacementPlanner
{
    /// <summary>
    /// The first plan of a deployment on <see cref="PlanRequest.Pods"/> pods by the solver the request names (with its
    /// redundant replicas and time limit); contiguous when there is no profile. Throws <see cref="ArgumentException"/>
    /// when the request is malformed or no plan fits.
    /// </summary>
    PlanProposal Initial(PlanRequest request, WorkloadProfile? profile);

    /// <summary>
    /// The next plan towards <see cref="PlanRequest.Pods"/> pods that creates at most <see cref="PlanRequest.MaxMoves"/>
    /// replicas: replicas on pods at or above the target are moved first (scale-in, several steps when the budget
    /// demands; the plan stays on the current pods until they are empty), then the budget left goes to the moves that
    /// most lower load imbalance (onto the new pods when scaling out; between any pods for a re-placement).
    /// </summary>
    PlanProposal Next(PlacementPlan current, PlanRequest request, WorkloadProfile profile);
}

/// <summary>What the planner is asked for: the model's shape, the deployment's placement policy and the target pods.</summary>
/// <param name="Solver">Library solver for an initial plan: contiguous, eplb or ilp.</param>
/// <param name="Layers">MoE layers of the model.</param>
/// <param name="Experts">Routed experts per layer.</param>
/// <param name="TopK">Experts per token and layer.</param>
/// <param name="Pods">Target pod count.</param>
/// <param name="Capacity">Most replicas one pod holds per layer (<see cref="LibraryPlanner.Capacity"/>).</param>
/// <param name="RedundantReplicas">Extra replicas per layer for an initial plan (later steps keep the live plan's replicas).</param>
/// <param name="TimeLimit">Wall-clock budget of a searching solver (ilp).</param>
/// <param name="MaxMoves">Most replicas one step may create.</param>
public sealed record PlanRequest(string Solver, int Layers, int Experts, int TopK, int Pods, int Capacity, int RedundantReplicas, TimeSpan TimeLimit, int MaxMoves);

/// <summary>
/// A proposed plan with its cost (replicas created) and predicted effect (expert-load imbalance towards the target
/// pods before and after). <c>Complete</c> is true when no replica is left on a pod at or above the target pod count.
/// </summary>
public sealed record PlanProposal(PlacementPlan Plan, int Moves, double ImbalanceBefore, double ImbalanceAfter, bool Complete, string Solver)
{
    /// <summary>Simulated remote fraction of the live plan on the profile's sampled tokens (co-activation profiles only).</summary>
    public double? RemoteBefore { get; init; }

    /// <summary>The same for the proposed plan.</summary>
    public double? RemoteAfter { get; init; }

    /// <summary>
    /// The predicted gain: the relative drop in imbalance ((before - after) / before), or the relative drop in remote
    /// fraction when the step was scored by simulation and that is larger.
    /// </summary>
    public double Gain
    {
        get
        {
            var imbalance = ImbalanceBefore > 0 ? (ImbalanceBefore - ImbalanceAfter) / ImbalanceBefore : 0;
            var remote = RemoteBefore is > 0 && RemoteAfter is { } after ? (RemoteBefore.Value - after) / RemoteBefore.Value : 0;
            return Math.Max(imbalance, remote);
        }
    }
}
