using MoeCloud.Placement.Plans;

namespace MoeCloud.Placement.Solvers;

/// <summary>One step of a scale change (or of a load-balancing re-placement on the same pods).</summary>
/// <param name="Plan">The next plan (version = live + 1): on the live pods while a scale-in still has replicas on leaving pods, else on the target pods.</param>
/// <param name="Moves">Replicas the next plan creates that the live plan lacks (never more than the budget).</param>
/// <param name="Dropped">Redundant replicas on leaving pods that no staying pod could take, removed (they cost no move).</param>
/// <param name="Complete">True when no replica is left on a pod at or above the target pod count (the plan is on the target pods).</param>
/// <param name="ImbalanceBefore">Expert-load imbalance of the live plan towards the target: mean over layers of max pod load / (layer load / target pods).</param>
/// <param name="ImbalanceAfter">The same for the next plan.</param>
/// <param name="RemoteBefore">Simulated remote fraction of the live plan on the profile's sample; null for a load-only profile.</param>
/// <param name="RemoteAfter">The same for the next plan.</param>
/// <param name="Note">A line of detail.</param>
public sealed record ScalingStep(PlacementPlan Plan, int Moves, int Dropped, bool Complete, double ImbalanceBefore, double ImbalanceAfter, double? RemoteBefore, double? RemoteAfter, string Note)
{
    /// <summary>Relative drop in imbalance ((before − after) / before); 0 when before is 0.</summary>
    public double Gain => ImbalanceBefore > 0 ? (ImbalanceBefore - ImbalanceAfter) / ImbalanceBefore : 0;
}
