using System.Diagnostics;
using System.Globalization;
using MoeCloud.Placement.Metrics;
using MoeCloud.Placement.Plans;
using MoeCloud.Placement.Profiles;

namespace MoeCloud.Placement.Solvers;

/// <summary>
/// Scale changes under a move budget (DESIGN.md §3, the transition the <see cref="IncrementalPlanner"/> cannot make
/// because it keeps the pod count). Given a live plan on P pods, a target of Q pods and a budget of M moves, it returns
/// the next plan step:
/// <list type="bullet">
/// <item>scale-in (Q &lt; P): replicas on the leaving pods (ids ≥ Q) are moved first, heaviest per replica first, each
/// to the staying pod with room that gains most (balance, plus remote fraction with a sampled profile). While the
/// budget runs out first, the step is a plan on the P live pods whose leaving pods hold fewer replicas; the step that
/// empties them is a plan on Q pods. A redundant replica that no staying pod can take (every one holds the expert or is
/// full) is dropped, which costs no move.</item>
/// <item>scale-out (Q &gt; P): the plan is put on Q pods and at most M replicas move onto the new pods, greedily, each
/// move the one that most lowers load imbalance (sum of squared pod loads per layer) plus, with a profile holding
/// sampled tokens, the weighted remote fraction (tokens homed on the target pods as the ilp solver homes them).</item>
/// <item>same pod count: the same greedy moves between any pods — load-balancing re-placement for a load-only profile,
/// which <see cref="IncrementalPlanner"/> cannot score.</item>
/// </list>
/// A scale-in that empties the leaving pods spends the budget left on those moves too. Replica counts are kept (except
/// drops), at most one replica of an expert per pod, and every destination respects its pod's capacity and
/// <see cref="ScalingOptions.LayerSlots"/>. Deterministic: ties go to the lowest layer, expert and pod.
/// </summary>
/// <remarks>
/// The parts, each in its own file: <see cref="ScaleStepState"/> (replicas and pod counts while the step is built),
/// <see cref="ScaleObjective"/> (what a move gains), <see cref="LeavingPodEviction"/> (scale-in),
/// <see cref="RedundantReplicaDrop"/> (making room by dropping spare replicas) and <see cref="BalancingMoves"/>.
/// </remarks>
public static class ScalingPlanner
{
    /// <summary>The next step from <paramref name="live"/> towards <paramref name="targetPods"/> pods; bad input throws <see cref="ArgumentException"/>.</summary>
    public static ScalingStep Next(PlacementPlan live, int targetPods, int maxMoves, WorkloadProfile profile, ScalingOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(live);
        ArgumentNullException.ThrowIfNull(profile);
        options ??= new ScalingOptions();
        options.Validate();
        Validate(live, targetPods, maxMoves, profile);

        // 1. The step's state; it checks that the live plan fits the limits and the target pods can hold every expert.
        var watch = Stopwatch.StartNew();
        var state = new ScaleStepState(live, targetPods, profile, options);

        // 2. Scale-in: move (or drop) the replicas off the leaving pods first.
        var budget = maxMoves;
        var dropped = 0;
        if (targetPods < live.PodCount)
        {
            (budget, dropped) = LeavingPodEviction.Evict(state, budget);
        }

        // 3. Once no replica is left on a leaving pod, the budget left goes to balance.
        var complete = state.LeavingEmpty;
        var balanced = 0;
        if (complete && budget > 0)
        {
            balanced = BalancingMoves.Balance(state, budget);
        }

        // 4. The next plan and what it changes.
        return Summarize(live, targetPods, maxMoves, profile, options, state, complete, dropped, balanced, watch);
    }

    private static void Validate(PlacementPlan live, int targetPods, int maxMoves, WorkloadProfile profile)
    {
        if (targetPods < 1)
        {
            throw new ArgumentException($"the target pod count must be at least 1 (got {targetPods}).", nameof(targetPods));
        }

        if (maxMoves < 1)
        {
            throw new ArgumentException($"the move budget must be at least 1 (got {maxMoves}): a step that may move nothing cannot make progress.", nameof(maxMoves));
        }

        if (live.Layers != profile.Layers || live.Experts != profile.Experts)
        {
            throw new ArgumentException($"the live plan is [{live.Layers} layers x {live.Experts} experts], the profile [{profile.Layers} x {profile.Experts}].", nameof(profile));
        }
    }

    /// <summary>The step's plan (on the target pods once complete, else on the live pods), its moves, imbalance and remote fraction.</summary>
    private static ScalingStep Summarize(PlacementPlan live, int targetPods, int maxMoves, WorkloadProfile profile, ScalingOptions options, ScaleStepState state, bool complete, int dropped, int balanced, Stopwatch watch)
    {
        var podCount = complete ? targetPods : live.PodCount;
        var pods = Enumerable.Range(0, podCount).Select(p => new PodSpec(p, state.Capacity[p])).ToArray();
        var plan = new PlacementPlan(live.Info, pods, state.Assignment(podCount));
        var moves = live.MovesTo(plan);
        var imbalanceBefore = ExpertLoadImbalance.Predicted(live, profile, targetPods);
        var imbalanceAfter = ExpertLoadImbalance.Predicted(plan, profile, targetPods);
        var note = string.Create(CultureInfo.InvariantCulture,
            $"{live.PodCount} -> {targetPods} pods: {moves} move(s) of at most {maxMoves} ({balanced} for balance), {dropped} redundant replica(s) dropped, {(complete ? "complete" : "leaving pods not yet empty")}");
        var info = live.Info with
        {
            Version = live.Info.Version + 1,
            CreatedUtc = options.Time.GetUtcNow(),
            ProfileName = profile.Name,
            ProfileFingerprint = profile.Fingerprint(),
            Solve = new SolveSummary(SolveStatus.Feasible, imbalanceAfter, null, watch.Elapsed.TotalSeconds, note),
            Predicted = null,
        };
        var predicted = PlanBuilder.Predict(plan, profile);
        plan = plan.WithInfo(info with { Predicted = predicted });
        var remoteBefore = predicted is null ? (double?)null : PlanBuilder.Predict(live, profile)!.RemoteFraction;
        return new ScalingStep(plan, moves, dropped, complete, imbalanceBefore, imbalanceAfter, remoteBefore, predicted?.RemoteFraction, note);
    }
}
